"""The package pipeline files are imported into, one module per file path.

``funcnet.pipeline.load_pipeline("pipelines/mnist.py")`` imports the file as
``funcnet._pipelines.mnist_<base32 of its path>``. Importing this package
puts the finder for those names on ``sys.meta_path``, so that a fresh
process (a worker unpickling a pipeline's ``Config``) imports the file by
name alone.
"""

from ..pipeline import install_finder

install_finder()
