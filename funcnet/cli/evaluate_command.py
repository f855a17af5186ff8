"""``funcnet evaluate``: accuracy, per-class report and confusion matrix of a model."""

from __future__ import annotations

import click

from .. import report as freport
from ..errors import DataError
from ..model import num_outputs
from ..runtime import quiet_numpy
from .exits import debugging, handle_errors
from .lines import accuracy_lines, echo_lines
from .model_data import (check_inputs, load_examples, load_model, model_line, probabilities,
                         warn_other_data)

@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.option("--data", type=click.Path(), default=None,
              help="A labelled CSV or a folder of IDX files (its test split). "
                   "Default: the data the model was trained on.")
@click.option("--split", type=click.Choice(["test", "train"]), default=None,
              help="Which split of an IDX folder to use (default: test).")
@handle_errors
def evaluate(model_path, data, split):
    """Judge MODEL on labelled data: accuracy, per-class report, confusion matrix.

    MODEL is a model.safetensors file, a run folder holding one, or an
    ensemble folder (as written by funcnet ensemble --out).
    """
    from .. import evaluate as fevaluate

    params, info = load_model(model_path)
    ds, description = load_examples(data, info, split)
    check_inputs(params, ds, description)
    warn_other_data(info, ds)
    if ds.y is None:
        raise DataError(f"{ds.source or data}: no labels to evaluate against "
                        "(use funcnet predict for unlabelled data)")
    with quiet_numpy(not debugging()):
        pred = probabilities(params, ds.x, info["model_state"]).argmax(axis=1)
    k = num_outputs(params)
    names = freport.class_names(info["config"].get("dataset"))
    lines = [model_line(model_path, params), f"data: {description}",
             *accuracy_lines(ds.y, pred), "",
             "per-class report", *freport.report_lines(fevaluate.report(ds.y, pred, k), names), "",
             "confusion matrix (rows: true class, columns: predicted class)",
             *freport.confusion_lines(fevaluate.confusion_matrix(ds.y, pred, k))]
    echo_lines(lines)

