"""A model and the examples ``predict`` and ``evaluate`` run it on: load them, check them, predict.

Models are read by :func:`funcnet.runs.load_model` (re-exported here).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError
from ..runs import load_model, model_file

__all__ = ["load_model", "model_file", "load_examples", "probabilities", "check_inputs",
           "model_line", "warn_other_data"]


def load_examples(data, info, split: str | None):
    """``(dataset, description)``: the examples to predict or judge.

    ``data`` is a CSV file or a folder of IDX files; without it, the data
    the model was trained on (its config's ``data``, else
    ``$FUNCNET_DATA/<dataset>``). From a folder the ``test`` split is used
    unless ``split`` says otherwise; a CSV file holds one set.
    """
    from .. import data as fdata

    cfg = info["config"]
    dataset = cfg.get("dataset") or "mnist"
    path = data if data is not None else cfg.get("data")
    sets = fdata.load(dataset, path)
    name = split or ("test" if "test" in sets else "train")
    if name not in sets:
        where = path or dataset
        raise DataError(f"{where}: no {name} split: a CSV file holds one set of examples")
    ds = sets[name]
    kind = f"{name} split" if len(sets) > 1 else ("labelled" if ds.y is not None else "unlabelled")
    return ds, f"{ds.source or path or dataset} ({kind}, {len(ds)} images)"


def probabilities(params, x: np.ndarray, model_state=None) -> np.ndarray:
    """Class probabilities for every row of ``x`` (pixels scaled to [0, 1] chunk by chunk).

    >>> from funcnet import model, rng
    >>> probabilities(model.init(rng.key(0), (4, 3)), np.zeros((5, 4), np.uint8)).shape
    (5, 3)
    """
    from ..model import predict_proba

    return predict_proba(params, x, model_state=model_state)


def check_inputs(params, ds, description: str) -> None:
    """A DataError naming ``description`` unless ``ds`` has as many pixels per image as the
    model takes, and labels (if any) among the model's classes."""
    from ..model import input_shape, num_outputs

    expected = math.prod(input_shape(params))
    if ds.num_features != expected:
        raise DataError(f"{description}: {ds.num_features} pixels per image, but the model "
                        f"expects {expected} (input shape {input_shape(params)})")
    classes = num_outputs(params)
    if ds.y is not None and len(ds.y) and int(ds.y.max()) >= classes:
        raise DataError(f"{description}: labels go up to {int(ds.y.max())}, but the model has "
                        f"{classes} outputs (classes 0..{classes - 1})")


def model_line(path, params) -> str:
    """``model: FILE (what the network is)``, the first line ``predict`` and ``evaluate`` print."""
    from ..model import describe

    return f"model: {model_file(path)} ({describe(params)})"


def warn_other_data(info, ds) -> None:
    """One warning line on stderr if ``ds`` is a known data set other than the model's."""
    import click

    from .. import checkpoint, data as fdata

    warning = fdata.other_data_warning(checkpoint.trained_on(info), ds)
    if warning:
        click.echo(f"funcnet: warning: {warning}", err=True)
