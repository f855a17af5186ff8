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

import base64
import difflib
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import math
import re
import secrets
import sys
import time
import types
import typing
from pathlib import Path
from typing import Any, Callable

import attrs
import pandas as pd

from .data import Dataset, require_labels
from .errors import ConfigError, TrainingError
from .model import Network
from .train import Snapshot, TrainState, result_model_state, result_params

__all__ = ["load_pipeline", "module_name", "path_of", "fields", "parse_value", "apply_overrides",
           "resolve_seed", "to_json", "Result", "Stop", "check", "run", "diverged"]

STAGES = ("Config", "load", "split", "init_state", "train", "evaluate")


PACKAGE = "funcnet._pipelines"


def module_name(path: str | Path) -> str:
    """The module name a pipeline file is imported under: one per absolute path.

    The name spells the path (base32), so that another process, given only
    the name (as pickle gives it), imports the same file again; this is how
    a pipeline's ``Config`` pickles by reference into a worker process.

    >>> module_name("/p/mnist.py")
    'funcnet._pipelines.mnist_f5yc63lonfzxiltqpe'
    >>> path_of(module_name("/p/mnist.py"))
    PosixPath('/p/mnist.py')
    """
    path = Path(path).absolute()
    code = base64.b32encode(str(path).encode("utf-8")).decode("ascii").rstrip("=").lower()
    stem = re.sub(r"\W", "_", path.stem)
    return f"{PACKAGE}.{stem}_{code}"


def path_of(name: str) -> Path:
    """The pipeline file a :func:`module_name` names."""
    code = name.rpartition(".")[2].rpartition("_")[2].upper()
    return Path(base64.b32decode(code + "=" * (-len(code) % 8)).decode("utf-8"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Loader(importlib.machinery.SourceFileLoader):
    """Executes a pipeline file, stamping the module with the digest of its source."""

    def exec_module(self, module: types.ModuleType) -> None:
        module.__funcnet_digest__ = _digest(Path(self.path))
        super().exec_module(module)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``funcnet._pipelines.<stem>_<base32 path>`` modules: the file the name spells."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(PACKAGE + "."):
            return None
        file = path_of(fullname)
        return importlib.util.spec_from_file_location(fullname, file, loader=_Loader(fullname, str(file)))


def install_finder() -> None:
    """Put the pipeline finder on ``sys.meta_path`` (once per process)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())


def _did_you_mean(path: Path) -> str:
    """``; did you mean pipelines/mnist_cnn.py?`` when a pipeline file of that name exists
    where the name was probably meant (``mnist_cnn``, ``mnist_cnn.py``, ``pipelines/mnist_cnn``).

    >>> _did_you_mean(Path("surely-no-such-pipeline"))
    ''
    """
    stem = path.name[:-3] if path.name.endswith(".py") else path.name
    places = [path.with_name(f"{stem}.py"), Path("pipelines") / f"{stem}.py",
              path.parent / "pipelines" / f"{stem}.py"]
    found = next((p for p in places if p != path and p.is_file()), None)
    return f"; did you mean {found}?" if found else ""


def load_pipeline(path: str | Path) -> types.ModuleType:
    """Import a pipeline file by path and check it defines Config and the stages.

    The module is ``sys.modules[module_name(path)]``; a file imported before
    and unchanged since (same SHA-256) is not executed again, so its
    ``Config`` class stays the one pickled instances refer to.
    """
    shown = Path(path)
    if not shown.is_file():
        raise ConfigError(f"{shown}: no such pipeline file{_did_you_mean(shown)}")
    if shown.suffix != ".py":
        raise ConfigError(f"{shown}: expected a Python pipeline file ending in .py "
                          "(such as pipelines/mnist.py)")
    install_finder()
    name = module_name(shown)
    module = sys.modules.get(name)
    if module is None or getattr(module, "__funcnet_digest__", None) != _digest(shown.absolute()):
        module = _execute(name, shown)
    missing = [s for s in STAGES if not hasattr(module, s)]
    if missing:
        raise ConfigError(f"{shown}: a pipeline defines {', '.join(STAGES)}; missing {', '.join(missing)}")
    return module


def _execute(name: str, shown: Path) -> types.ModuleType:
    """Execute the pipeline file afresh as ``sys.modules[name]``."""
    file = str(shown.absolute())
    spec = importlib.util.spec_from_file_location(name, file, loader=_Loader(name, file))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # attrs and typing resolve names through sys.modules
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a broken pipeline file is the user's config error
        sys.modules.pop(name, None)
        raise ConfigError(f"{shown}: cannot import the pipeline: {type(exc).__name__}: {exc}") from exc
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
    >>> parse_value(tuple[int, ...], "784,,10")
    Traceback (most recent call last):
    ...
    ValueError: an empty item in '784,,10' (a stray comma?)
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
        inner = text.strip().strip("()[]")
        parts = inner.split(",") if inner.strip() else []
        if any(not p.strip() for p in parts):
            raise ValueError(f"an empty item in {text!r} (a stray comma?)")
        return tuple(parse_value(args[0] if args else str, p.strip()) for p in parts)
    if tp is bool:
        return _parse_bool(text)
    if tp in (int, float, str):
        return tp(text)
    return text


def is_tuple(tp: Any) -> bool:
    """Whether a field type is a tuple (its ``--set`` text is comma-separated).

    >>> is_tuple(tuple[int, ...]), is_tuple(tuple[int, ...] | None), is_tuple(float)
    (True, True, False)
    """
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(is_tuple(a) for a in typing.get_args(tp))
    return origin is tuple or tp is tuple


def check_key(table, key: str, flag: str = "--set") -> None:
    """A ConfigError naming the nearest valid key if ``key`` is not a Config field."""
    if key not in table:
        near = difflib.get_close_matches(key, table, n=1, cutoff=0.7)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise ConfigError(f"{flag} {key}: unknown config key{hint}; "
                          f"valid keys: {', '.join(table)}")


def parse_field(config_cls: type, key: str, value: Any, flag: str = "--set") -> Any:
    """``value`` for the field ``key`` of ``config_cls``: text is parsed as its type, else kept.

    >>> import attrs
    >>> C = attrs.make_class("C", {"lr": attrs.field(type=float, default=0.1)})
    >>> parse_field(C, "lr", "0.5"), parse_field(C, "lr", 2)
    (0.5, 2)
    """
    table = {name: tp for name, tp, *_ in fields(config_cls)}
    check_key(table, key, flag)
    if not isinstance(value, str):
        return value
    tp = table[key]
    try:
        return parse_value(tp, value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{flag} {key}={value}: expected {_type_name(tp)}: {exc}") from None


def apply_overrides(config: Any, overrides: list[str] | tuple[str, ...]) -> Any:
    """A new config with ``key=value`` overrides applied, each value typed as its field.

    Raises ConfigError for an unknown key (naming the nearest valid one) or
    a value that does not convert.
    """
    changes = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected key=value")
        changes[key.strip()] = parse_field(type(config), key.strip(), value)
    try:
        return attrs.evolve(config, **changes)
    except (ValueError, TypeError) as exc:  # a Config validator: the message names the field
        raise ConfigError(f"config: {exc}") from None


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
    loss of its first step (the parameters it started from, on the first
    batch; None if it took no step), and the model state delivered with the
    parameters (None for the MLP)."""

    config: Any
    metrics: dict
    history: pd.DataFrame
    params: Network
    state: TrainState
    snapshot: Snapshot | None
    splits: dict
    stopped: str | None = None
    first_loss: float | None = None
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


def _takes(fn: Callable, name: str) -> bool:
    """Whether ``fn`` accepts the keyword argument ``name``.

    >>> _takes(lambda a, window=None: a, "window"), _takes(lambda a, **kw: a, "window")
    (True, True)
    >>> _takes(lambda a: a, "window")
    False
    """
    params = inspect.signature(fn).parameters.values()
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def _train_stream(pipe, config, splits: dict, state, window, best=None, donate=False):
    """``pipe.train(config, splits, state)``, with ``window=`` and ``best=`` if given and the
    stage takes them."""
    extra = {}
    if window is not None and any(window) and _takes(pipe.train, "window"):
        extra["window"] = tuple(window)
    if best is not None and _takes(pipe.train, "best"):
        extra["best"] = tuple(best)
    if donate and _takes(pipe.train, "donate"):
        extra["donate"] = True
    return pipe.train(config, splits, state, **extra)


def _require_training_labels(data: Any) -> None:
    """Refuse loaded data whose training set has no labels (a DataError naming the file)."""
    train = data.get("train") if isinstance(data, dict) else None
    if isinstance(train, Dataset):
        require_labels(train)


def check(pipe: types.ModuleType, config: Any) -> dict:
    """Load and split the data as ``config`` asks, raising what a run would raise first.

    Lets an experiment refuse bad data or a bad split (a DataError or
    ConfigError, with its own exit code) before any task starts. Returns
    the loaded data.
    """
    data = pipe.load(config)
    _require_training_labels(data)
    pipe.split(config, data)
    return data


def _plan(config: Any, splits: dict) -> tuple:
    """``(total steps, steps an epoch)`` a config asks for: ``epochs`` of ``batch_size``
    batches, or ``iterations`` of full-batch steps; None where it does not say."""
    train = splits.get("train")
    size, epochs = getattr(config, "batch_size", None), getattr(config, "epochs", None)
    if size and epochs and train is not None:
        per_epoch = -(-len(train) // min(int(size), max(len(train), 1)))
        return int(epochs) * per_epoch, per_epoch
    iterations = getattr(config, "iterations", None)
    return (int(iterations), 1) if iterations else (None, None)


def run(pipe: types.ModuleType, config: Any, observe: Callable[[Snapshot], None] = lambda s: None,
        state: TrainState | None = None, data: dict | None = None,
        window: tuple | None = None, best: tuple | None = None,
        on_start: Callable | None = None, donate: bool = False) -> Result:
    """load → split → train → evaluate, watching the training stream with ``observe``.

    ``state`` continues a saved run; ``window`` (the figures summed since
    its last history row, see :func:`funcnet.runs.load_state`) and ``best``
    (early stopping's bookkeeping, :func:`funcnet.runs.load_best`) are passed
    on to a ``train`` stage that takes them.

    ``on_start(splits, state, total, per_epoch)`` is called once the data are
    split and the state made, before the first step (the total steps and
    steps an epoch the config asks for, None where it does not say).

    Training stops early, keeping the last good state, when the observer
    raises :class:`Stop` or KeyboardInterrupt ("interrupted") or the loss
    goes non-finite (the TrainingError's message); ``Result.stopped`` says why.

    ``donate=True`` asks a ``train`` stage that takes ``donate`` for its fast
    road, a step that writes each state into the last one's arrays
    (``make_step(..., donate=True)``): ``state`` is then the run's to write
    over. ``funcnet run`` and the experiments' tasks ask for it. A
    KeyboardInterrupt that lands while such a step writes its state leaves it
    half written: the run then keeps the copy made at the last history row.
    """
    data = pipe.load(config) if data is None else data
    _require_training_labels(data)
    splits = pipe.split(config, data)
    state = pipe.init_state(config) if state is None else state
    if on_start is not None:
        on_start(splits, state, *_plan(config, splits))
    records: list = []
    seen: list = [Snapshot(state, 0, 0, 1)]
    watch = _watch(observe, records, seen, time.perf_counter)
    start = time.perf_counter()
    stopped, first = None, []
    try:
        for snap in map(watch, _train_stream(pipe, config, splits, state, window, best, donate)):
            first[:] = first or [getattr(snap.state, "loss", None)]
    except Stop:
        stopped = "interrupted"
    except KeyboardInterrupt as exc:
        stopped = "interrupted"
        kept = seen[-1].kept  # set only when the step writes over its states
        if getattr(exc, "torn", False) and kept is not None:  # cut while writing: the last row's
            seen[:] = [attrs.evolve(seen[-1], state=kept, window=(0.0, 0, 0, 0))]
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
    first_loss = None if not first or first[0] is None else float(first[0])
    return Result(config, metrics, pd.DataFrame.from_records(records), params,
                  snap.state, snap, splits, stopped, first_loss,
                  model_state)


def _last_loss(result: Result) -> float | None:
    """The run's final training loss: ``metrics["loss"]``, else the history's last train_loss."""
    last = result.metrics.get("loss")
    if last is None and "train_loss" in result.history and len(result.history):
        last = result.history["train_loss"].iloc[-1]
    return None if last is None else float(last)


def diverged(result: Result) -> str | None:
    """A one-line warning if the run's loss ended higher than it started, else None.

    Diverged means L_end > L_start, where L_start is the loss of the first
    step (the starting parameters on the first batch) and L_end the final
    training loss. A run stopped on a non-finite loss is not judged here
    (it already stops with an error).

    >>> from types import SimpleNamespace as NS
    >>> run = NS(first_loss=2.4, metrics={"loss": 435913.7}, history=pd.DataFrame(),
    ...          stopped=None, config=NS(learning_rate=1e6))
    >>> diverged(run)
    'training diverged: the loss rose from 2.4 to 4.359e+05; try a smaller learning rate, e.g. --set learning_rate=1e+05'
    >>> diverged(NS(**{**vars(run), "metrics": {"loss": 0.3}})) is None
    True
    """
    first, last = result.first_loss, _last_loss(result)
    if result.stopped not in (None, "interrupted") or first is None or last is None:
        return None
    if not (math.isfinite(first) and math.isfinite(last)) or last <= first:
        return None
    lr = getattr(result.config, "learning_rate", None)
    hint = f", e.g. --set learning_rate={lr / 10:.3g}" if isinstance(lr, (int, float)) else ""
    return (f"training diverged: the loss rose from {first:.4g} to {last:.4g}; "
            f"try a smaller learning rate{hint}")
