"""Saving a run: at every history record as it goes, and once it has ended (with its pictures)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import checkpoint
from .. import data as fdata
from .. import pipeline as fpipeline
from .. import plots as fplots
from .files import (BEST, CONFIG, HISTORY, METRICS, MODEL, NO_WINDOW, STATE, to_json_text,
                    write_atomic)
from .resuming import join_history


def _model_metadata(params) -> dict:
    """What a state file records of its model: the architecture."""
    from .. import model

    return {"architecture": model.architecture(params)}


def _window_of(snapshot) -> list:
    window = getattr(snapshot, "window", None) or NO_WINDOW
    return [float(window[0]), int(window[1]), int(window[2]), int(window[3])]


def save_progress(folder, state, config, *, params=None, history=None, window=None,
                  dataset=None, model_state=None, best: tuple | None = None) -> None:
    """Save a run in progress (at a history record): config, history, model, state.

    Each file is written atomically and the state last: a run killed at any
    moment can be resumed from the last state written, and the history
    holds every row up to it. ``params`` is the model to deliver (default
    ``state.params``); ``window`` the figures summed since the last row; ``dataset`` the known
    data set trained on (recorded in the model file's metadata);
    ``model_state`` the model state delivered with ``params`` (default
    ``state.model_state``); ``best`` early stopping's ``(best state, best
    score, bad records)``, so that a resumed run stops where the uncut run
    would: the state's metadata records ``best = [score, bad, best step]``,
    and when the best is an earlier state than ``state`` it is written to
    ``best.safetensors`` after the state file (a best from this very step is
    the state itself). :func:`funcnet.runs.load_best` takes the best file only
    if it holds the recorded step, so a save cut between the two files never
    pairs a state with another record's best.
    """
    out = Path(folder)
    cfg = fpipeline.to_json(config)
    params = state.params if params is None else params
    model_state = getattr(state, "model_state", None) if model_state is None else model_state
    meta = _model_metadata(params)
    model_meta = {"dataset": dataset} if dataset else {}
    write_atomic(out / CONFIG, to_json_text(cfg))
    if history is not None:
        write_atomic(out / HISTORY, history.to_csv(index=False))
    checkpoint.save_network(out / MODEL, params, model_state, config=cfg, metadata=model_meta)
    state_meta = {**meta, "window": list(window) if window is not None else list(NO_WINDOW)}
    has_best = best is not None and best[0] is not None
    if has_best:
        state_meta["best"] = [float(best[1]), int(best[2]), int(best[0].step)]
    checkpoint.save(out / STATE, state, config=cfg, metadata=state_meta)
    if has_best and int(best[0].step) != int(state.step):
        checkpoint.save(out / BEST, best[0], config=cfg, metadata=_model_metadata(best[0].params))


def _best_of(snapshot) -> tuple | None:
    """Early stopping's bookkeeping in a snapshot: (best state, best score, bad records)."""
    if snapshot is None or getattr(snapshot, "best", None) is None:
        return None
    return snapshot.best, snapshot.best_score, snapshot.bad


def recorder(folder, config, earlier: pd.DataFrame | None = None):
    """``observe(snapshot)`` for a training stream: at every history record, :func:`save_progress`
    of the run into ``folder``, its history joined to ``earlier`` (the history of the run it
    continues, if any). Between records it does nothing."""
    rows: list = []

    def observe(snap) -> None:
        if snap.record is None:
            return
        rows.append(snap.record)
        save_progress(folder, snap.state, config,
                      history=join_history(earlier, pd.DataFrame.from_records(rows)),
                      best=_best_of(snap))

    return observe


def _judge_set(result):
    """``(name, dataset)`` of the labelled split the pictures judge the model on: test, else
    dev; ``(None, None)`` without one."""
    for name in ("test", "dev"):
        ds = result.splits.get(name)
        if ds is not None and getattr(ds, "y", None) is not None:
            return name, ds
    return None, None


def _draw(out: Path, history: pd.DataFrame, result, names) -> list[Path]:
    """The run's pictures, judged on the test split (else dev), if matplotlib is there."""
    split, dataset = _judge_set(result)
    if dataset is None or not fplots.available():
        return []
    return fplots.figures(out, history, result.params, dataset, names,
                          getattr(result, "model_state", None), split)


def save(folder, result, config=None, *, history=None, pictures: bool = True,
         names=None) -> list[Path]:
    """Write a finished (or stopped) run into ``folder``: config, history, model, state, metrics.

    ``result`` is a :class:`funcnet.pipeline.Result`; ``config`` defaults to
    ``result.config``; ``history`` to ``result.history`` (pass the joined
    history of a resumed run). With ``pictures`` (and matplotlib), an ended
    run (not interrupted) also gets its four pictures, judged on the test
    split (else dev); ``names`` are class names for them. Returns the
    pictures drawn. Each file is written atomically.
    """
    out = Path(folder)
    config = result.config if config is None else config
    history = result.history if history is None else history
    save_progress(out, result.state, config, params=result.params, history=history,
                  window=_window_of(result.snapshot),
                  dataset=fdata.identify(*result.splits.values()),
                  model_state=getattr(result, "model_state", None), best=_best_of(result.snapshot))
    metrics = {**result.metrics, "stopped": result.stopped}
    if "loss" in metrics:  # which loss: the pipelines' evaluate takes it over the training set
        metrics.setdefault("loss_split", "train")
    write_atomic(out / METRICS, to_json_text(metrics))
    if pictures and result.stopped != "interrupted":
        return _draw(out, history, result, names)
    return []
