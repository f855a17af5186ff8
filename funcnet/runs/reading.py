"""Reading a saved run back: its model, its final metrics, the whole run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pandas as pd

from .. import checkpoint
from ..errors import CheckpointError, ConfigError
from . import ensemble_folders
from .ensemble_folders import ENSEMBLE
from .files import CONFIG, METRICS, MODEL
from .folders import describe, is_complete
from .resuming import history


def model_file(path) -> Path:
    """The model file ``path`` names: the file, ``model.safetensors`` in a run folder, or
    ``ensemble.json`` in an ensemble folder (:mod:`funcnet.runs.ensemble_folders`)."""
    p = Path(path)
    if not p.is_dir():
        return p
    run, ensemble = (p / MODEL).is_file(), (p / ENSEMBLE).is_file()
    if run and ensemble:
        raise CheckpointError(f"{p}: holds both a run's model.safetensors and an ensemble.json: "
                              "pass the file you mean")
    if not (run or ensemble):
        raise CheckpointError(f"{p}: no model.safetensors in this folder "
                              "(expected a funcnet run folder, as written by funcnet run --out, "
                              "or an ensemble folder, as written by funcnet ensemble --out)")
    return p / (MODEL if run else ENSEMBLE)


def load_model(path):
    """``(params, info)``: a model rebuilt from its file alone.

    ``path`` is a ``model.safetensors`` file or a run folder holding one. The
    network is rebuilt by :func:`funcnet.checkpoint.load_network` from the
    architecture in its metadata (older MLP files: their sizes, config or
    tensor shapes); ``info`` is :func:`funcnet.checkpoint.read_info`'s dict
    with ``info["model_state"]`` the model state saved with it (batch norm's
    running statistics; None for the MLP). Every model funcnet reads goes
    through this function. A model of one output is refused: a classifier has
    one output per class.

    ``path`` may also be an ensemble folder (or its ``ensemble.json``): then
    ``params`` is a :class:`funcnet.model.Ensemble` of the members and
    ``info["model_state"]`` the tuple of their model states
    (:func:`funcnet.runs.ensemble_folders.load`); inference takes it as it
    takes a network.
    """
    from ..model import num_outputs

    file = model_file(path)
    if ensemble_folders.is_ensemble(file):
        params, info = ensemble_folders.load(file)
    else:
        params, model_state, info = checkpoint.load_network(file)
        info = {**info, "model_state": model_state}
    if num_outputs(params) < 2:
        raise CheckpointError(f"{file}: the model has {num_outputs(params)} output; a classifier "
                              "has one per class (at least 2)")
    return params, info


def read_metrics(folder) -> dict | None:
    """``folder/metrics.json`` as a dict, or None while the run has not ended (or it is damaged)."""
    try:
        metrics = json.loads((Path(folder) / METRICS).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return metrics if isinstance(metrics, dict) else None


def is_finished(folder) -> bool:
    """Whether ``folder`` holds a complete run that ran to its end (not stopped early by a
    signal or a non-finite loss): one that need not run again.

    >>> is_finished("/nonexistent/run")
    False
    """
    metrics = read_metrics(folder) if is_complete(folder) else None
    return metrics is not None and metrics.get("stopped") is None


@attrs.frozen(eq=False)
class Saved:
    """A saved run as read back by :func:`load`: its config (as saved, a dict), the
    final metrics (None while it has not ended), the history, the model and its header."""

    folder: Path
    config: dict
    metrics: dict | None
    history: pd.DataFrame | None
    params: Any
    info: dict


def load(folder) -> Saved:
    """The run saved in ``folder``: config, metrics, history and model (see :class:`Saved`).

    Raises ConfigError if the folder holds no complete run (saying what it
    holds), CheckpointError if its model cannot be read.
    """
    out = Path(folder)
    if not is_complete(out):
        raise ConfigError(f"{out}: no saved run: it holds {describe(out)}")
    try:
        config = json.loads((out / CONFIG).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{out / CONFIG}: not valid JSON: {exc}") from None
    params, info = load_model(out)
    return Saved(out, config, read_metrics(out), history(out), params, info)
