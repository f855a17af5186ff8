"""The ``funcnet`` command: the edge where printing, files and signals live.

Commands, one module each, named ``<command>_command.py``: ``run`` (train a
pipeline; also over several seeds, or the tutorial's ablation), ``sweep`` (a
grid of Config values × seeds, in parallel), ``predict`` (Kaggle submission
CSV, digits drawn in the terminal; one's own pictures in
``predict_pictures.py``), ``evaluate`` (accuracy, per-class report,
confusion matrix), ``ensemble`` (finished runs made into one model),
``show`` (a pipeline's Config fields), ``serve`` (a
page to draw a digit on and watch the network decide) and ``tune`` (the
layouts of the hot passes measured on this machine). What they share:
``exits`` (one line on stderr and an exit code; Ctrl-C and SIGTERM),
``lines`` (what they print), ``options`` (``--seeds``, ``--workers``,
``--scheduler``, ``--dask``) and ``model_data`` (a model and its examples).

The exit codes (0, 1, 2 bad config, 3 bad data, 4 bad checkpoint, 5 failed
download, 6 non-finite loss, 130 Ctrl-C, 143 SIGTERM) are listed once, in
:mod:`funcnet.cli.exits`.
"""

from __future__ import annotations

import click

from .ensemble_command import ensemble
from .evaluate_command import evaluate
from .exits import FuncnetGroup, handle_errors
from .model_data import load_examples, load_model, model_file, probabilities
from .predict_command import predict, submission_csv
from .run_command import run
from .serve_command import serve
from .show_command import show
from .sweep_command import sweep
from .tune_command import tune

__all__ = ["cli", "main", "handle_errors", "load_model", "load_examples", "model_file",
           "probabilities", "submission_csv"]


@click.group(cls=FuncnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="funcnet")
def cli(debug: bool) -> None:
    """funcnet: neural networks from scratch in NumPy, as pure functions.

    Run a pipeline file (load → split → train → evaluate), then use the model:

    \b
        funcnet run pipelines/mnist.py --seed 0 --out runs/mnist
        funcnet sweep pipelines/mnist.py --grid learning_rate=0.05,0.1 --seeds 0,1 --out runs/lr
        funcnet evaluate runs/mnist
        funcnet ensemble runs/seeds/seed-0 runs/seeds/seed-1 --out runs/ens
        funcnet predict runs/mnist --data test.csv --out submission.csv --show 6
        funcnet predict runs/mnist --images my-digits/ --out preds.csv
        funcnet serve runs/mnist
        funcnet show pipelines/mnist.py
        funcnet tune --refresh

    Data is read from --data, else $FUNCNET_DATA/<dataset>/.

    \b
    Exit codes: 0 ok, 1 I/O or unexpected error, 2 bad config or usage,
    3 bad or missing data, 4 bad checkpoint, 5 download failed,
    6 non-finite loss, 130 interrupted, 143 terminated (last good state kept).
    """


for _command in (run, sweep, predict, evaluate, ensemble, show, serve, tune):
    cli.add_command(_command)


def main() -> None:  # pragma: no cover - console entry point
    """Run the ``funcnet`` command with the process's arguments."""
    cli(prog_name="funcnet")
