"""Run folders: save a run, load its model and state, resume it; never clobber one.

A run folder (``funcnet run --out DIR``) holds one run:

- ``config.json``: the run's config (every field, the seed resolved);
- ``model.safetensors``: the parameters the run delivers (a checkpoint whose
  metadata holds ``sizes`` and ``activation``);
- ``state.safetensors``: the whole training state (parameters, optimizer
  state, step, key), to resume from; its metadata also holds ``window``, the
  training figures summed since the last history row, so that an epoch cut
  by Ctrl-C reports the whole epoch once resumed;
- ``best.safetensors``: with early stopping, the state with the best
  monitored score so far (its score and the records since are in the
  state's metadata, ``best``), so that a resumed run stops where the uncut
  run would and delivers the same parameters;
- ``history.csv``: one row per history record (per epoch, or every
  ``log_every`` iterations);
- ``metrics.json``: the final figures (only once the run has ended);
- ``curves.png``, ``confusion.png``, ``mistakes.png``, ``weights.png``.

The rules:

- **One run per folder, one writer at a time.** :func:`lock` holds the
  folder (a ``.funcnet.lock`` file beside the run) while a run writes it; a
  second run is refused at once. :func:`refuse_to_clobber` refuses a folder
  that already holds a run; :func:`clear` removes every file of an old run
  before a new one is written (``--overwrite``), so a folder never mixes two.
- **Saved as it goes.** :func:`save_progress` writes config, history, model
  and state at every history record, each file atomically and the state
  last, so a killed run can always be resumed from its last record.
  :func:`save` writes the finished run (and its pictures).
- **A run is complete** when ``config.json``, ``model.safetensors`` and
  ``state.safetensors`` are all there (:func:`is_complete`); a folder with
  only some of them is the remains of a save cut short (:func:`describe`).
- **Resume continues the same run.** :func:`check_resume` allows only the
  fields in :data:`EXTENDING` (``iterations``, ``epochs``, ``log_every``,
  ``patience``) to change; every other field defines the data, the split,
  the model or the schedule. The schedule belongs to the run: a learning
  rate that decays over the run's length (``schedule`` cosine, step or
  exponential) would change shape in mid-run, so such a run keeps its
  ``epochs`` (and ``iterations``); with ``schedule=constant`` (warm-up
  included) or no schedule they may grow.

The API, for the command line and for experiments alike:

- ``claim(folder, overwrite=, resuming=)``: a context manager holding the
  folder for one run (``check_writable``, ``lock``, then ``clear`` or
  ``refuse_to_clobber``, and ``clean_temp``); ``lock(folder)`` alone.
- ``save_progress(folder, state, config, history=)`` at each record;
  ``save(folder, result, config, history=, pictures=, names=)`` at the end.
- ``resume(folder, pipe, overrides) -> Resumed(config, state, window,
  history)``; pass ``state`` and ``window`` to :func:`funcnet.pipeline.run`
  and the new rows to ``join_history(resumed.history, result.history)``.
- ``load(folder) -> Saved(folder, config, metrics, history, params, info)``;
  ``load_model(path) -> (params, info)``, the one way a model is read.
- ``is_complete(folder)`` (resumable), ``is_finished(folder)`` (ran to its
  end), ``describe(folder)``, ``contents(folder)``, ``read_metrics(folder)``.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> is_complete(folder), describe(folder)
(False, 'nothing of a run')
>>> with lock(folder):
...     check_writable(folder)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, Iterator

import attrs
import numpy as np
import pandas as pd

from . import checkpoint
from . import data as fdata
from . import pipeline as fpipeline
from . import plots as fplots
from .errors import CheckpointError, ConfigError

__all__ = ["CONFIG", "MODEL", "STATE", "METRICS", "HISTORY", "BEST", "PICTURES", "SUMMARIES",
           "LOCK", "EXTENDING", "DECAYING", "Resumed", "model_file", "load_model", "is_complete",
           "contents", "describe", "check_writable", "lock", "claim", "refuse_to_clobber", "clean_temp",
           "clear", "read_config", "check_resume", "load_state", "load_best", "history", "join_history",
           "save_progress", "save", "resume", "read_metrics", "is_finished", "Saved", "load",
           "write_atomic", "to_json_text"]

CONFIG, MODEL, STATE = "config.json", "model.safetensors", "state.safetensors"
METRICS, HISTORY, BEST = "metrics.json", "history.csv", "best.safetensors"
PICTURES = tuple(f"{name}.png" for name in fplots.SIZES)
SUMMARIES = ("seeds.csv", "ablation.csv")
RUN_FILES = (CONFIG, MODEL, STATE, METRICS, HISTORY, BEST, *PICTURES)
REQUIRED = (CONFIG, MODEL, STATE)
LOCK = ".funcnet.lock"
EXTENDING = ("iterations", "epochs", "log_every", "patience")
DECAYING = ("cosine", "step", "exponential")
LENGTH = ("iterations", "epochs")
NO_WINDOW = (0.0, 0, 0, 0)


# ---------------------------------------------------------------- small files


def write_atomic(path: Path, text: str | bytes) -> Path:
    """Write ``text`` to ``path`` through a temp file in the same folder and os.replace."""
    return fplots.write_atomic(path, text)


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def to_json_text(obj) -> str:
    """``obj`` as indented JSON text (NumPy scalars and arrays as numbers and lists).

    >>> to_json_text({"a": np.int64(1)})
    '{\\n  "a": 1\\n}\\n'
    """
    return json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n"


# ---------------------------------------------------------------- models


def model_file(path) -> Path:
    """The model checkpoint ``path`` names: the file, or ``model.safetensors`` in a run folder."""
    p = Path(path)
    if p.is_dir():
        if not (p / MODEL).is_file():
            raise CheckpointError(f"{p}: no model.safetensors in this folder "
                                  "(expected a funcnet run folder, as written by funcnet run --out)")
        return p / MODEL
    return p


def load_model(path):
    """``(params, info)``: a model file rebuilt from the file alone.

    ``path`` is a ``model.safetensors`` file or a run folder holding one. The
    network is rebuilt by :func:`funcnet.checkpoint.load_network` from the
    architecture in its metadata (older MLP files: their sizes, config or
    tensor shapes); ``info`` is :func:`funcnet.checkpoint.read_info`'s dict
    with ``info["model_state"]`` the model state saved with it (batch norm's
    running statistics; None for the MLP). Every model funcnet reads goes
    through this function.
    """
    params, model_state, info = checkpoint.load_network(model_file(path))
    return params, {**info, "model_state": model_state}


def _model_metadata(params) -> dict:
    """What a state file records of its model: the architecture (and an MLP's sizes)."""
    from . import model

    meta = {"architecture": model.architecture(params)}
    if isinstance(params, model.Params):
        meta.update(sizes=list(params.sizes), activation=params.activation)
    return meta


# ---------------------------------------------------------------- what a folder holds


def contents(folder) -> list[str]:
    """The run files in ``folder`` (and in its ``seed-*/`` runs), sorted, as relative paths."""
    out = Path(folder)
    if not out.is_dir():
        return []
    names = (*RUN_FILES, *SUMMARIES)
    return sorted({p.relative_to(out).as_posix() for name in names
                   for p in (*out.glob(name), *out.glob(f"seed-*/{name}"))})


def is_complete(folder) -> bool:
    """Whether ``folder`` holds a saved run that can be loaded and resumed.

    That is: ``config.json``, ``model.safetensors`` and ``state.safetensors``
    are all there (``metrics.json`` only once the run has ended).

    >>> is_complete("/nonexistent/run")
    False
    """
    return all((Path(folder) / name).is_file() for name in REQUIRED)


def _listed(names, limit: int = 3) -> str:
    """The first ``limit`` names joined by commas, then ``...`` if there are more.

    >>> _listed(["a", "b"]), _listed(["a", "b", "c", "d"])
    ('a, b', 'a, b, c, ...')
    """
    names = list(names)
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def describe(folder) -> str:
    """What ``folder`` holds, in a few words: a run, an incomplete run, runs of seeds, nothing.

    >>> describe("/nonexistent/run")
    'nothing of a run'
    """
    out = Path(folder)
    found = contents(out)
    if not found:
        return "nothing of a run"
    if is_complete(out):
        return f"a run ({_listed(found)})"
    top = [n for n in found if "/" not in n]
    if any(n in SUMMARIES or n.startswith("seed-") for n in found) and not any(
            n in REQUIRED for n in top):
        return f"the runs of several seeds or an ablation ({_listed(found)})"
    missing = [n for n in REQUIRED if n not in top]
    return (f"an incomplete run, the remains of a save cut short ({_listed(top)}; "
            f"no {', '.join(missing)})")


# ---------------------------------------------------------------- claiming a folder


def check_writable(folder) -> None:
    """Make sure ``folder`` can be written: create it, write and remove a probe file.

    Raises ConfigError (one line naming the folder and the reason) otherwise,
    so that an unwritable ``--out`` is found before any training.
    """
    out = Path(folder)
    probe = out / f".funcnet-probe-{secrets.token_hex(6)}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        raise ConfigError(f"{out}: cannot write a run here ({exc.strerror or exc}); "
                          "choose another --out") from None


@contextlib.contextmanager
def lock(folder) -> Iterator[Path]:
    """Hold ``folder`` for one run: a context manager; refuses at once if another holds it.

    The lock is a ``filelock`` on ``folder/.funcnet.lock`` (created with the
    folder if needed); it is released when the block ends, also on errors
    and when the process dies. Raises ConfigError naming the folder if
    another run (another process, or another lock in this one) holds it.
    """
    from filelock import FileLock, Timeout

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    held = FileLock(str(out / LOCK), timeout=0)
    try:
        held.acquire(timeout=0)
    except Timeout:
        raise ConfigError(f"{out}: another run holds this folder (it is being written "
                          "right now); wait for it to end or choose another --out") from None
    try:
        yield out
    finally:
        held.release()


@contextlib.contextmanager
def claim(folder, *, overwrite: bool = False, resuming: bool = False) -> Iterator[Path]:
    """Hold ``folder`` for a new run (or the run resumed in it): a context manager.

    In order: :func:`check_writable`, :func:`lock`; then, unless
    ``resuming`` the run saved there, :func:`clear` with ``overwrite``,
    else :func:`refuse_to_clobber`; and :func:`clean_temp`. Raises
    ConfigError (nothing written) if the folder cannot be written, another
    run holds it, or it holds a run and ``overwrite`` is not set.

    >>> import tempfile
    >>> with claim(Path(tempfile.mkdtemp()) / "run") as out:
    ...     out.name
    'run'
    """
    out = Path(folder)
    check_writable(out)
    with lock(out):
        if not resuming:
            (clear if overwrite else refuse_to_clobber)(out)
        clean_temp(out)
        yield out


def refuse_to_clobber(folder) -> None:
    """A ConfigError if ``folder`` already holds a run (its files would be replaced)."""
    out = Path(folder)
    found = contents(out)
    if not found:
        return
    if is_complete(out):
        raise ConfigError(f"{out}: already holds a run ({_listed(found)}); continue it with "
                          f"--resume {out}, replace it with --overwrite, or choose another --out")
    raise ConfigError(f"{out}: holds {describe(out)}; replace it with --overwrite "
                      "or choose another --out")


def clean_temp(folder) -> list[Path]:
    """Remove the temp files (``.*.tmp``) an atomic write left behind when its process died.

    Call it while holding :func:`lock`: no other run is writing then.
    Returns the files removed.
    """
    out = Path(folder)
    stale = [p for p in (*out.glob(".*.tmp"), *out.glob("seed-*/.*.tmp")) if p.is_file()]
    for p in stale:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return stale


def clear(folder) -> list[str]:
    """Remove every file of the run in ``folder`` (and its ``seed-*/`` runs) and stale temp files.

    Only files funcnet writes are touched (the run files, the pictures,
    ``seeds.csv``, ``ablation.csv``); anything else stays. Call it while
    holding :func:`lock`. Returns the relative paths removed.
    """
    out = Path(folder)
    found = contents(out)
    clean_temp(out)
    for name in found:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    for sub in out.glob("seed-*"):
        if sub.is_dir():
            clean_temp(sub)
            with contextlib.suppress(OSError):
                (sub / LOCK).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # unless it holds files of the user's
                sub.rmdir()
    return found


# ---------------------------------------------------------------- resume


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


def load_state(folder, template) -> tuple[Any, tuple]:
    """``(state, window)``: the training state saved in ``folder`` and its partial window.

    ``template`` is the pipeline's fresh state (``pipe.init_state(config)``);
    ``window`` is ``(Σ loss·count, Σ correct, Σ count, batches)`` since the
    last history row (zeros when the state was saved at a row).
    """
    path = Path(folder) / STATE
    state = checkpoint.load(path, like=template)
    meta = checkpoint.read_info(path)["metadata"]
    window = meta.get("window") or NO_WINDOW
    if not (isinstance(window, list) and len(window) == 4):
        window = NO_WINDOW
    return state, (float(window[0]), int(window[1]), int(window[2]), int(window[3]))


def load_best(folder, template) -> tuple | None:
    """``(best state, best score, records without a better one)``: early stopping's bookkeeping
    saved in ``folder`` (``best.safetensors`` and the state's metadata), or None if the run
    keeps none. ``template`` is the pipeline's fresh state."""
    out = Path(folder)
    best = checkpoint.read_info(out / STATE)["metadata"].get("best")
    if not (isinstance(best, list) and len(best) == 2 and (out / BEST).is_file()):
        return None
    return checkpoint.load(out / BEST, like=template), float(best[0]), int(best[1])


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
                   load_best(folder, template))


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


# ---------------------------------------------------------------- saving


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
    score, bad records)``, saved to ``best.safetensors`` when there is a best
    state, so that a resumed run stops where the uncut run would.
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
    if best is not None and best[0] is not None:
        checkpoint.save(out / BEST, best[0], config=cfg, metadata=meta)
        state_meta["best"] = [float(best[1]), int(best[2])]
    checkpoint.save(out / STATE, state, config=cfg, metadata=state_meta)


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
    """The labelled split the pictures judge the model on: test, else dev."""
    for name in ("test", "dev"):
        ds = result.splits.get(name)
        if ds is not None and getattr(ds, "y", None) is not None:
            return ds
    return None


def _draw(out: Path, history: pd.DataFrame, result, names) -> list[Path]:
    """The run's pictures, judged on the test split (else dev), if matplotlib is there."""
    dataset = _judge_set(result)
    if dataset is None or not fplots.available():
        return []
    return fplots.figures(out, history, result.params, dataset, names,
                          getattr(result, "model_state", None))


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
    write_atomic(out / METRICS, to_json_text(metrics))
    if pictures and result.stopped != "interrupted":
        return _draw(out, history, result, names)
    return []

