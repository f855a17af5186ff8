"""A task's row: :func:`run_task` runs one task (its config, its data kept for the next
task of the same kind) and returns the row :func:`make_row` builds, whose figures are
:data:`METRICS` and whose status is one of :data:`STATUSES`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Mapping

import attrs

from .. import pipeline as fpipeline
from .. import runs, runtime
from ..errors import ConfigError, FuncnetError
from .layout import save_run
from .tasks import Task, value_text

METRICS = ("train_accuracy", "dev_accuracy", "test_accuracy", "loss", "seconds")
STATUSES = ("ok", "error", "interrupted")


def task_config(pipe, task: Task):
    """The pipeline's Config with the task's overrides and seed (ConfigError if refused).

    >>> import types
    >>> C = attrs.make_class("C", {"seed": attrs.field(default=None), "lr": attrs.field(default=0.1)})
    >>> task_config(types.SimpleNamespace(Config=C), Task("p.py", {"lr": 0.5}, seed=3))
    C(seed=3, lr=0.5)
    >>> task_config(types.SimpleNamespace(Config=C), Task("p.py", {"depth": 2}, seed=3))
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: bad config value: ...
    """
    changes = dict(task.overrides)
    if task.seed is not None:
        changes["seed"] = task.seed
    try:
        return fpipeline.resolve_seed(attrs.evolve(pipe.Config(), **changes))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad config value: {exc}") from None


def _data_key(pipe, config) -> tuple:
    """What a pipeline's ``load`` is assumed to depend on: everything but the seed."""
    fields = {k: v for k, v in attrs.asdict(config).items() if k != "seed"}
    return pipe.__name__, getattr(pipe, "__funcnet_digest__", None), repr(sorted(fields.items()))


def _load_data(pipe, config, cache: dict | None):
    """``pipe.load(config)``, kept in ``cache`` (one entry) for the next task."""
    if cache is None:
        return pipe.load(config)
    key = _data_key(pipe, config)
    if key not in cache:
        cache.clear()
        cache[key] = pipe.load(config)
    return cache[key]


def make_row(task: Task, metrics: Mapping, status: str, error: str, seconds: float,
             warning: str = "") -> dict:
    """One result row: overrides (as text for tuples), variant, seed, metrics, status, error,
    and a warning (the run diverged: :func:`funcnet.pipeline.diverged`), empty if none.

    A metric named like an overridden field (a Config field ``steps``) is
    kept as ``metric_<name>``.

    >>> make_row(Task("p.py", {"sizes": (784, 10), "steps": 5}, 1), {"steps": 5, "loss": 0.5},
    ...          "ok", "", 1.23456)
    {'sizes': '784,10', 'steps': 5, 'seed': 1, 'metric_steps': 5, 'loss': 0.5, 'seconds': 1.235, 'status': 'ok', 'error': '', 'warning': ''}
    """
    cells = {k: (value_text(v) if isinstance(v, (tuple, list)) else v) for k, v in task.overrides.items()}
    variant = {"variant": task.variant} if task.variant else {}
    shown = {(f"metric_{k}" if k in cells else k): v for k, v in metrics.items() if k != "seed"}
    return {**cells, **variant, "seed": task.seed, **shown,
            "seconds": metrics.get("seconds", round(seconds, 3)), "status": status, "error": error,
            "warning": warning}


def trained(row: Mapping) -> bool:
    """Whether a row's task trained (it has metrics), as opposed to failing before.

    >>> trained({"status": "error", "stopped": "non-finite loss at step 3"}), trained({"error": "x"})
    (True, False)
    """
    return "stopped" in row or "metric_stopped" in row


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, FuncnetError) else f"unexpected {type(exc).__name__}: {text}"


def unfinished(folder: Path | None, pipe, config) -> runs.Resumed | None:
    """The unfinished run of exactly ``config`` saved in ``folder`` — an earlier try of the
    task that was interrupted, or killed after a history record — ready to continue; else None.

    >>> unfinished(None, None, None) is None
    True
    """
    if folder is None or not runs.is_complete(folder):
        return None
    metrics = runs.read_metrics(folder)
    if metrics is not None and metrics.get("stopped") != "interrupted":
        return None  # it ended: run again, it starts afresh
    try:
        resumed = runs.resume(folder, pipe)
    except FuncnetError:
        return None
    return resumed if fpipeline.to_json(resumed.config) == fpipeline.to_json(config) else None


def run_task(task: Task, folder: str | Path | None = None, *, threads: int | None = 1,
             plots: bool = False, stop: Callable[[], bool] | None = None,
             cache: dict | None = None) -> dict:
    """Run one task and return its row; with ``folder``, save its run folder there.

    Never raises for a failing task: a FuncnetError or any exception becomes
    ``status="error"`` with the one-line message, a non-finite loss too
    (``stopped`` says where); a stop asked for by ``stop()`` or Ctrl-C
    gives ``status="interrupted"`` (the last good state is saved).
    ``threads`` BLAS threads compute it (None: as the process is set).

    With ``folder`` the run is saved there at every history record, as
    ``funcnet run --out`` saves it, so a task whose process is killed keeps
    its last record; a folder holding an :func:`unfinished` run of the
    same config is continued from it, else its old files are removed first.
    """
    start = time.perf_counter()
    try:
        with runtime.blas_threads(threads), runtime.quiet_numpy():
            pipe = fpipeline.load_pipeline(task.pipeline)
            config = task_config(pipe, task)
            data = _load_data(pipe, config, cache)
            folder = Path(folder) if folder is not None else None
            earlier = unfinished(folder, pipe, config)
            if folder is not None and earlier is None:
                runs.clear(folder)
            watch = _stopper(stop, folder, config, earlier)
            result = fpipeline.run(pipe, config, watch, data=data,
                                   state=earlier.state if earlier else None,
                                   window=earlier.window if earlier else None,
                                   best=earlier.best if earlier else None)
            if folder is not None:
                save_run(folder, result, plots=plots,
                         history=runs.join_history(earlier.history if earlier else None,
                                                   result.history))
    except KeyboardInterrupt:
        return make_row(task, {}, "interrupted", "interrupted before training", time.perf_counter() - start)
    except Exception as exc:  # a failing task is a row, never the end of the experiment
        return make_row(task, {}, "error", _one_line(exc), time.perf_counter() - start)
    metrics = {**result.metrics, "stopped": result.stopped or ""}
    status = "ok" if not result.stopped else "interrupted" if result.stopped == "interrupted" else "error"
    return make_row(task, metrics, status, "" if status == "ok" else result.stopped,
                time.perf_counter() - start, fpipeline.diverged(result) or "")


def _stopper(stop: Callable[[], bool] | None, folder: Path | None = None, config=None,
             earlier: runs.Resumed | None = None):
    """The task's watcher: the run saved in ``folder`` at every record, then a Stop if asked."""
    record = (runs.recorder(folder, config, earlier.history if earlier else None)
              if folder is not None else None)

    def observe(snap) -> None:
        if record is not None:
            record(snap)
        if runtime.stop_requested() or (stop is not None and stop()):
            raise fpipeline.Stop()
    return observe
