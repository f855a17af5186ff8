"""Pipeline files: a Config record and four stages, composed here.

A pipeline file (``pipelines/mnist.py``) defines a frozen attrs ``Config``
and four plain functions::

    load(config) -> dict of Datasets             # reads files: an edge
    split(config, data) -> dict of Datasets      # "train", "dev", "test"
    train(config, splits, state=None) -> Iterator[Snapshot]   # lazy, pure
    evaluate(config, splits, params) -> dict of metrics

and ``init_state(config)`` (the state training starts from; the template
a checkpoint is read back into). :func:`run` composes them, timing
the stream as it goes by and letting an observer (the CLI) watch it.
Each stage can also be called by itself in a REPL.
"""

from __future__ import annotations

import difflib
import importlib.util
import secrets
import sys
import time
import types
import typing
from pathlib import Path
from typing import Any, Callable

import attrs
import pandas as pd

from .errors import ConfigError, TrainingError
from .model import Params
from .train import Snapshot, TrainState, result_model_state, result_params

__all__ = ["load_pipeline", "fields", "parse_value", "apply_overrides", "resolve_seed",
           "to_json", "Result", "Stop", "run"]

STAGES = ("Config", "load", "split", "init_state", "train", "evaluate")


def load_pipeline(path: str | Path) -> types.ModuleType:
    """Import a pipeline file by path and check it defines Config and the stages."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such pipeline file")
    name = f"funcnet_pipeline_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # attrs and typing resolve names through sys.modules
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a broken pipeline file is the user's config error
        raise ConfigError(f"{path}: cannot import the pipeline: {type(exc).__name__}: {exc}") from exc
    missing = [s for s in STAGES if not hasattr(module, s)]
    if missing:
        raise ConfigError(f"{path}: a pipeline defines {', '.join(STAGES)}; missing {', '.join(missing)}")
    return module


def fields(config_cls: type) -> list[tuple[str, Any, Any, str]]:
    """``(name, type, default, help)`` for every field of a Config class."""
    hints = typing.get_type_hints(config_cls)
    return [(f.name, hints.get(f.name, f.type), f.default, f.metadata.get("help", ""))
            for f in attrs.fields(config_cls)]


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) if isinstance(tp, type) else str(tp).replace("typing.", "")


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parse_value(tp: Any, text: str) -> Any:
    """Convert the text of a ``--set`` value to the type ``tp``.

    Handles bool, int, float, str, ``X | None`` (``none``), tuples of ints
    or floats (``784,128,10``) and ``typing.Literal`` choices.

    >>> parse_value(int, "7"), parse_value(bool, "true"), parse_value(tuple[int, ...], "784,10,10")
    (7, True, (784, 10, 10))
    >>> parse_value(float | None, "none") is None
    True
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if text.strip().lower() in ("none", "null", "") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return parse_value(inner[0], text) if len(inner) == 1 else text
    if origin is typing.Literal:
        if text not in args:
            raise ValueError(f"expected one of {', '.join(map(str, args))}")
        return text
    if origin is tuple:
        parts = [p for p in text.strip().strip("()[]").split(",") if p.strip()]
        return tuple(parse_value(args[0] if args else str, p.strip()) for p in parts)
    if tp is bool:
        return _parse_bool(text)
    if tp in (int, float, str):
        return tp(text)
    return text


def apply_overrides(config: Any, overrides: list[str] | tuple[str, ...]) -> Any:
    """A new config with ``key=value`` overrides applied, each value typed as its field.

    Raises ConfigError for an unknown key (naming the nearest valid one) or
    a value that does not convert.
    """
    table = {name: (tp, help_) for name, tp, _, help_ in fields(type(config))}
    changes = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"--set {item!r}: expected key=value")
        if key not in table:
            near = difflib.get_close_matches(key, table, n=1, cutoff=0.7)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ConfigError(f"--set {key}: unknown config key{hint}; "
                              f"valid keys: {', '.join(table)}")
        tp = table[key][0]
        try:
            changes[key] = parse_value(tp, value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"--set {key}={value}: expected {_type_name(tp)}: {exc}") from None
    try:
        return attrs.evolve(config, **changes)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--set: {exc}") from None


def resolve_seed(config: Any) -> Any:
    """Fix ``seed=None``: 0, or with ``tutorial_quirks`` a fresh seed from the OS.

    The tutorial seeds nothing; its quirks mode reproduces that by drawing a
    seed at this edge (not pure), recorded in the resolved config.
    """
    if getattr(config, "seed", 0) is not None:
        return config
    fresh = getattr(config, "tutorial_quirks", False)
    return attrs.evolve(config, seed=secrets.randbits(31) if fresh else 0)


def to_json(config: Any) -> dict:
    """The config as a JSON-able dict (tuples become lists)."""
    return attrs.asdict(config, value_serializer=lambda inst, f, v: list(v) if isinstance(v, tuple) else v)


@attrs.frozen(eq=False)
class Result:
    """What a run delivers: config, metrics, history (one row per record),
    the delivered parameters, the last state and early-stopping bookkeeping,
    the splits, why it stopped early (None when it ran to the end), and the
    model state delivered with the parameters (None for the MLP)."""

    config: Any
    metrics: dict
    history: pd.DataFrame
    params: Params
    state: TrainState
    snapshot: Snapshot | None
    splits: dict
    stopped: str | None = None
    model_state: Any = None


class Stop(Exception):
    """Raised by an observer to end a run after the current step (Ctrl-C)."""


def _watch(observe: Callable, records: list, seen: list, clock: Callable):
    t0 = clock()
    last = [t0]

    def watch(snap: Snapshot) -> Snapshot:
        if snap.record is not None:
            now = clock()
            snap.record.update(seconds=round(now - last[0], 4), elapsed=round(now - t0, 4))
            last[0] = now
            records.append(snap.record)
        seen[:] = [snap]
        observe(snap)
        return snap

    return watch


def run(pipe: types.ModuleType, config: Any, observe: Callable[[Snapshot], None] = lambda s: None,
        state: TrainState | None = None, data: dict | None = None) -> Result:
    """load → split → train → evaluate, watching the training stream with ``observe``.

    Training stops early, keeping the last good state, when the observer
    raises :class:`Stop` or KeyboardInterrupt ("interrupted") or the loss
    goes non-finite (the TrainingError's message); ``Result.stopped`` says why.
    """
    data = pipe.load(config) if data is None else data
    splits = pipe.split(config, data)
    state = pipe.init_state(config) if state is None else state
    records: list = []
    seen: list = [Snapshot(state, 0, 0, 1)]
    watch = _watch(observe, records, seen, time.perf_counter)
    start = time.perf_counter()
    stopped = None
    try:
        for _ in map(watch, pipe.train(config, splits, state)):
            pass
    except (Stop, KeyboardInterrupt):
        stopped = "interrupted"
    except TrainingError as exc:
        stopped = str(exc)
        good = getattr(exc, "state", None)
        if good is not None and good is not seen[-1].state:
            seen[:] = [attrs.evolve(seen[-1], state=good)]
    seconds = time.perf_counter() - start
    snap = seen[-1]
    params, model_state = result_params(snap), result_model_state(snap)
    judged = (pipe.evaluate(config, splits, params) if model_state is None else
              pipe.evaluate(config, splits, params, model_state=model_state))
    metrics = {**judged, "seconds": round(seconds, 3),
               "seed": getattr(config, "seed", None), "steps": int(snap.state.step)}
    return Result(config, metrics, pd.DataFrame.from_records(records), params,
                  snap.state, snap, splits, stopped, model_state)
