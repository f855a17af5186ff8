"""Resuming a run: its config and the changes allowed, its state, early stopping's best."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pandas as pd

from .. import checkpoint
from .. import pipeline as fpipeline
from ..errors import ConfigError
from .files import BEST, CONFIG, EXTENDING, HISTORY, LENGTH, NO_WINDOW, STATE
from .folders import describe, is_complete


def read_config(folder, config_cls) -> Any:
    """The config saved in ``folder/config.json`` as a ``config_cls`` instance.

    Raises ConfigError if the folder holds no complete run (saying what it
    holds), the JSON is damaged, or it has keys ``config_cls`` lacks.
    """
    out = Path(folder)
    path = out / CONFIG
    if not is_complete(out):
        raise ConfigError(f"{out}: no saved run to resume: it holds {describe(out)}")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(saved, dict):
        raise ConfigError(f"{path}: expected a JSON object of config fields")
    known = {name for name, *_ in fpipeline.fields(config_cls)}
    unknown = sorted(set(saved) - known)
    if unknown:
        raise ConfigError(f"{path}: keys not in this pipeline's Config: {', '.join(unknown)}")
    items = [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in saved.items()]
    return fpipeline.apply_overrides(config_cls(), items)


def _text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def check_resume(saved, config, folder=None) -> None:
    """Refuse a resumed config that changes more than the run's length.

    Only the fields in :data:`EXTENDING` may differ between ``saved`` (the
    run's config) and ``config``; the others define the data, the split,
    the model or the schedule. ``epochs``/``iterations`` may change only
    when the learning rate does not decay over them (no ``schedule`` field,
    or ``schedule=constant``): the schedule belongs to the run.

    >>> import attrs
    >>> C = attrs.make_class("C", {"seed": attrs.field(default=0),
    ...     "epochs": attrs.field(default=2), "schedule": attrs.field(default="cosine")})
    >>> check_resume(C(), C(seed=0))
    >>> check_resume(C(), C(seed=1))
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: --resume: seed cannot change (the run has 0, asked for 1): ...
    >>> check_resume(C(), C(epochs=4))
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: --resume: epochs cannot change under schedule=cosine ...
    >>> check_resume(C(schedule="constant"), C(schedule="constant", epochs=4))
    """
    where = f"--resume {folder}" if folder is not None else "--resume"
    old, new = fpipeline.to_json(saved), fpipeline.to_json(config)
    for name in old:
        if old[name] == new.get(name):
            continue
        if name not in EXTENDING:
            raise ConfigError(f"{where}: {name} cannot change (the run has {_text(old[name])}, "
                              f"asked for {_text(new.get(name))}): it defines the data, the split, "
                              "the model or the schedule; start a new run with --out to change it")
        schedule = old.get("schedule")
        if name in LENGTH and schedule is not None and schedule != "constant":
            raise ConfigError(
                f"{where}: {name} cannot change under schedule={schedule} (the run has "
                f"{old[name]}, asked for {new.get(name)}): its learning rate decays over the "
                f"run's {name}, and a resumed run keeps its schedule; start a new run with --out, "
                "or train with schedule=constant to extend runs")


def _names(info: dict, template) -> Any:
    """The tensor names of a state file written for the tutorial's MLP record (see
    :func:`funcnet.checkpoint.legacy_names`), or None for today's names."""
    if "architecture" in info["metadata"] and checkpoint.is_legacy_mlp(info):
        return checkpoint.legacy_names(template.params)
    return None


def load_state(folder, template) -> tuple[Any, tuple]:
    """``(state, window)``: the training state saved in ``folder`` and its partial window.

    ``template`` is the pipeline's fresh state (``pipe.init_state(config)``);
    ``window`` is ``(Σ loss·count, Σ correct, Σ count, batches)`` since the
    last history row (zeros when the state was saved at a row).
    """
    path = Path(folder) / STATE
    info = checkpoint.read_info(path)
    state = checkpoint.load(path, like=template, names=_names(info, template))
    meta = info["metadata"]
    window = meta.get("window") or NO_WINDOW
    if not (isinstance(window, list) and len(window) == 4):
        window = NO_WINDOW
    return state, (float(window[0]), int(window[1]), int(window[2]), int(window[3]))


def load_best(folder, template, state) -> tuple | None:
    """``(best state, best score, records without a better one)``: early stopping's bookkeeping
    saved in ``folder`` with ``state`` (the state's metadata ``best = [score, bad, step]``;
    the best is ``state`` itself when its step is the state's, else ``best.safetensors``), or
    None if the run keeps none or the best file does not hold the recorded step (a save cut
    short between the state and the best: the resumed run then counts afresh).
    ``template`` is the pipeline's fresh state."""
    out = Path(folder)
    best = checkpoint.read_info(out / STATE)["metadata"].get("best")
    if not (isinstance(best, list) and len(best) == 3):
        return None
    score, bad, step = float(best[0]), int(best[1]), int(best[2])
    if step == int(state.step):
        return state, score, bad
    if not (out / BEST).is_file():
        return None
    kept = checkpoint.load(out / BEST, like=template,
                           names=_names(checkpoint.read_info(out / BEST), template))
    return (kept, score, bad) if int(kept.step) == step else None


def history(folder, upto: int | None = None) -> pd.DataFrame | None:
    """The rows of ``folder/history.csv`` (up to step ``upto``), or None if there are none."""
    path = Path(folder) / HISTORY
    try:
        old = pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return None
    if "step" not in old:
        return None
    return old if upto is None else old[old["step"] <= upto]


def join_history(earlier: pd.DataFrame | None, later: pd.DataFrame) -> pd.DataFrame:
    """A resumed run's history: the earlier rows, then the new ones with ``elapsed`` carried on.

    >>> a = pd.DataFrame({"step": [10], "elapsed": [1.5]})
    >>> join_history(a, pd.DataFrame({"step": [20], "elapsed": [1.0]}))["elapsed"].tolist()
    [1.5, 2.5]
    """
    if earlier is None or not len(earlier):
        return later
    if not len(later):
        return earlier.reset_index(drop=True)
    if "elapsed" in earlier and "elapsed" in later:
        later = later.assign(elapsed=later["elapsed"] + float(earlier["elapsed"].iloc[-1]))
    return pd.concat([earlier, later], ignore_index=True)


@attrs.frozen(eq=False)
class Resumed:
    """A run to continue: its config (saved, then the allowed changes), its
    training state, the partial history window and the history so far."""

    config: Any
    state: Any
    window: tuple
    history: pd.DataFrame | None
    best: tuple | None = None  # early stopping's (best state, best score, bad records)


def resume(folder, pipe, overrides=()) -> Resumed:
    """The run saved in ``folder``, ready to continue with ``pipeline.run(..., state=...)``.

    ``overrides`` (``key=value`` strings) are applied to the saved config and
    checked by :func:`check_resume`.
    """
    saved = read_config(folder, pipe.Config)
    config = fpipeline.apply_overrides(saved, list(overrides))
    check_resume(saved, config, folder)
    template = pipe.init_state(config)
    state, window = load_state(folder, template)
    return Resumed(config, state, window, history(folder, int(state.step)),
                   load_best(folder, template, state))
