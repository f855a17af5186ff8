"""Checkpoints: save and load a pytree of arrays, with its config, atomically.

A checkpoint is a `safetensors <https://huggingface.co/docs/safetensors>`_
file: one tensor per leaf, named by the leaf's dotted path
(:func:`funcnet.tree.flatten_with_path`, e.g. ``'params.layers.0.w'``), and a
header of text metadata. There is no pickle anywhere: a checkpoint holds
arrays and JSON only, so loading one runs no code.

The metadata fields (all strings, as safetensors requires):

- ``format``: ``"funcnet-checkpoint"``;
- ``format_version``: ``"1"`` (JSON for the integer 1);
- ``funcnet_version``: the funcnet that wrote the file, or ``"unknown"``;
- ``config``: a JSON object, the run's config, to rebuild the model;
- ``metadata``: a JSON object of free-form facts (sizes, activation, ``dataset``:
  the known data set a model was trained on, see :func:`trained_on`, ...);
- ``content_sha256``: SHA-256 over the other fields and every tensor's name,
  dtype, shape and bytes, so that damage anywhere is found.

Python and NumPy scalars are stored as 0-d arrays and come back as the
template's type. Since the file holds no structure, :func:`load` takes a
template tree of the same kind (e.g. freshly initialised parameters) and
checks every name, shape and dtype against it; :func:`read_info` reads the
header alone, so that a caller can rebuild the template from the config.

>>> import tempfile, numpy as np
>>> from funcnet import tree
>>> folder = tempfile.mkdtemp()
>>> params = {"w": np.ones((2, 3), np.float32), "b": np.zeros(3, np.float32)}
>>> path = save(f"{folder}/net.safetensors", params, config={"sizes": [2, 3]})
>>> sorted(read_info(path)["tensors"])
['b', 'w']
>>> tree.equal(load(path, params), params)
True
"""

from .fileformat import FORMAT, FORMAT_VERSION
from .loading import load, read_info
from .networks import is_legacy_mlp, legacy_names, load_network, save_network, trained_on
from .saving import save

__all__ = ["save", "load", "read_info", "save_network", "load_network", "trained_on",
           "is_legacy_mlp", "legacy_names", "FORMAT",
           "FORMAT_VERSION"]
