"""``funcnet ensemble RUN_DIR... --out DIR``: finished runs made into one model, presented."""

from __future__ import annotations

import click

from .. import experiments, runs
from ..model import describe
from .exits import handle_errors
from .lines import echo_lines, figure_text, plural


def member_line(k: int, folder, params, metrics: dict | None) -> str:
    """``member K: FOLDER (network; test accuracy A)``.

    >>> from funcnet import model, rng
    >>> member_line(1, "runs/a", model.init(rng.key(0), (4, 3)), {"test_accuracy": 0.91})
    'member 1: runs/a (4-3; test accuracy 0.9100)'
    """
    score = (metrics or {}).get("test_accuracy")
    tail = f"; test accuracy {figure_text(score)}" if score is not None else ""
    return f"member {k}: {folder} ({describe(params)}{tail})"


@click.command()
@click.argument("run_dirs", metavar="RUN_DIR...", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="The folder to write the ensemble into (new or empty; see --overwrite).")
@click.option("--overwrite", is_flag=True,
              help="Replace the ensemble DIR holds (a folder holding anything else is never "
                   "replaced).")
@handle_errors
def ensemble(run_dirs, out_dir, overwrite):
    """Make the finished runs RUN_DIR... into one model: the mean of their probabilities.

    DIR gets a copy of each run's model.safetensors (members/NAME.safetensors)
    and ensemble.json, which says how they combine: the mean of the members'
    softmax probabilities. funcnet evaluate, predict (CSV and --images) and
    serve take DIR wherever they take a run folder.

    Each RUN_DIR must hold a run that ran to its end. Members must take the
    same examples (the same input shape, or an MLP's rows and a CNN's images
    of the same pixels) and have the same classes; else one line and exit 2,
    nothing written.
    """
    folder = experiments.ensemble(run_dirs, out_dir, overwrite=overwrite)
    params, info = runs.load_model(folder)
    lines = [member_line(k, d, net, runs.read_metrics(d))
             for k, (d, net) in enumerate(zip(run_dirs, params.members), 1)]
    lines.append(f"wrote {folder}: an ensemble of {plural(len(run_dirs), 'member')}, the mean "
                 f"of their probabilities; judge it with funcnet evaluate {folder}")
    echo_lines(lines)
