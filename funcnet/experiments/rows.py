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
PAUSED = "paused"  # metrics.json's ``stopped`` of a run stopped at its budget, to be continued
BUDGETS = ("epochs", "iterations")  # the Config fields a run's length is counted in, by preference


def budget_field(config_cls: type) -> str | None:
    """The Config field a run's length (its budget) is counted in: ``epochs`` (minibatch
    pipelines), else ``iterations`` (full-batch ones); None if it has neither.

    >>> budget_field(attrs.make_class("C", {"iterations": attrs.field(default=5)}))
    'iterations'
    >>> budget_field(attrs.make_class("C", {"steps": attrs.field(default=5)})) is None
    True
    """
    names = {f.name for f in attrs.fields(config_cls)}
    return next((name for name in BUDGETS if name in names), None)


def reached(snap, unit: str) -> int:
    """The budget a snapshot has spent in ``unit``: whole epochs done, or iterations.

    >>> import types
    >>> snap = types.SimpleNamespace(state=types.SimpleNamespace(step=10), epoch=3, batch=2, per_epoch=4)
    >>> reached(snap, "epochs"), reached(snap, "iterations")
    (2, 10)
    """
    if unit == "iterations":
        return int(snap.state.step)
    return int(snap.epoch) if int(snap.batch) == int(snap.per_epoch) else int(snap.epoch) - 1


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
    if metrics is not None and metrics.get("stopped") not in ("interrupted", PAUSED):
        return None  # it ended: run again, it starts afresh
    try:
        resumed = runs.resume(folder, pipe)
    except FuncnetError:
        return None
    return resumed if fpipeline.to_json(resumed.config) == fpipeline.to_json(config) else None


def run_task(task: Task, folder: str | Path | None = None, *, threads: int | None = 1,
             plots: bool = False, stop: Callable[[], bool] | None = None,
             cache: dict | None = None, stop_at: int | None = None) -> dict:
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

    ``stop_at`` pauses the run once it has spent that budget (whole epochs,
    or iterations: :func:`budget_field`) while its Config keeps the whole
    length, so that its schedule is the whole run's: the row is ok, with
    ``stopped="paused"`` and ``budget``, the folder's ``metrics.json`` too,
    and the same task with a larger ``stop_at`` continues it, bit for bit
    as if it had never paused. A folder already at ``stop_at`` (a task cut
    off between its last record and its row) is judged without training.
    """
    start = time.perf_counter()
    try:
        with runtime.blas_threads(threads), runtime.quiet_numpy():
            pipe = fpipeline.load_pipeline(task.pipeline)
            config = task_config(pipe, task)
            unit = _unit(pipe, stop_at)
            data = _load_data(pipe, config, cache)
            folder = Path(folder) if folder is not None else None
            earlier = unfinished(folder, pipe, config)
            ended = _ended(folder, pipe, config) if stop_at is not None and earlier is None else None
            if ended is not None:
                return make_row(task, ended, "ok" if not ended["stopped"] else "error",
                                ended["stopped"], 0.0)
            if folder is not None and earlier is None:
                runs.clear(folder)
            spent = _spent(earlier, unit)
            if stop_at is not None and spent is not None and spent > stop_at:
                earlier, spent = None, None  # saved past the budget asked for: afresh
                runs.clear(folder)
            if stop_at is not None and spent is not None and spent >= stop_at:
                result = _judged(pipe, config, data, earlier)
            else:
                watch = _stopper(stop, folder, config, earlier, stop_at, unit)
                result = fpipeline.run(pipe, config, watch, data=data,
                                       state=earlier.state if earlier else None,
                                       window=earlier.window if earlier else None,
                                       best=earlier.best if earlier else None,
                                       donate=True)
                result = _paused(result, watch)
            history = runs.join_history(earlier.history if earlier else None, result.history)
            if folder is not None:
                save_run(folder, result, plots=plots and result.stopped != PAUSED, history=history)
            if stop_at is not None:  # judged on the whole run's history, wherever it resumed
                result = attrs.evolve(result, first_loss=_first_loss(history))
    except KeyboardInterrupt:
        return make_row(task, {}, "interrupted", "interrupted before training", time.perf_counter() - start)
    except Exception as exc:  # a failing task is a row, never the end of the experiment
        return make_row(task, {}, "error", _one_line(exc), time.perf_counter() - start)
    metrics = {**result.metrics, "stopped": result.stopped or ""}
    ended = result.stopped in (None, PAUSED)
    status = "ok" if ended else "interrupted" if result.stopped == "interrupted" else "error"
    return make_row(task, metrics, status, "" if status == "ok" else result.stopped,
                    time.perf_counter() - start, fpipeline.diverged(result) or "")


def _first_loss(history) -> float | None:
    """The training loss of a run's first history row (None if it has none).

    >>> import pandas as pd
    >>> _first_loss(pd.DataFrame({"train_loss": [2.5, 1.0]})), _first_loss(None)
    (2.5, None)
    """
    if history is None or "train_loss" not in history or not len(history):
        return None
    return float(history["train_loss"].iloc[0])


def _ended(folder: Path | None, pipe, config) -> dict | None:
    """The metrics of the run of exactly ``config`` that ended in ``folder`` (None if none)."""
    if folder is None or not runs.is_complete(folder):
        return None
    metrics = runs.read_metrics(folder)
    if metrics is None or metrics.get("stopped") in ("interrupted", PAUSED):
        return None
    try:
        saved = runs.read_config(folder, pipe.Config)
    except FuncnetError:
        return None
    if fpipeline.to_json(saved) != fpipeline.to_json(config):
        return None
    return {**metrics, "stopped": metrics.get("stopped") or ""}


def _unit(pipe, stop_at: int | None) -> str | None:
    """The unit ``stop_at`` counts in for ``pipe`` (ConfigError if its Config has none)."""
    if stop_at is None:
        return None
    unit = budget_field(pipe.Config)
    if unit is None:
        raise ConfigError(f"{Path(pipe.__file__).name}: a run paused at a budget needs a Config "
                          f"field {' or '.join(BUDGETS)} (the run's length)")
    return unit


def _spent(earlier: runs.Resumed | None, unit: str | None) -> int | None:
    """The budget the saved run ``earlier`` had spent at its last record (None: unknown).

    Minibatch pipelines record at the end of each epoch (the row's ``epoch``);
    full-batch ones count iterations (its ``step``).
    """
    if unit is None or earlier is None or earlier.history is None or not len(earlier.history):
        return None
    last = earlier.history.iloc[-1]
    column = "step" if unit == "iterations" else "epoch"
    return int(last[column]) if column in last else None


def _judged(pipe, config, data, earlier: runs.Resumed):
    """The saved run ``earlier`` judged as its run would deliver it, without a step more."""
    from ..train import Snapshot, result_model_state, result_params

    splits = pipe.split(config, data)
    best = earlier.best[0] if earlier.best else None
    snap = Snapshot(earlier.state, 0, 0, 1, best=best)
    params, model_state = result_params(snap), result_model_state(snap)
    judged = (pipe.evaluate(config, splits, params) if model_state is None else
              pipe.evaluate(config, splits, params, model_state=model_state))
    metrics = {**judged, "seconds": 0.0, "seed": getattr(config, "seed", None),
               "steps": int(earlier.state.step), "budget": _spent(earlier, budget_field(type(config)))}
    return fpipeline.Result(config, metrics, earlier.history.iloc[:0], params, earlier.state, snap,
                            splits, PAUSED, None, model_state)


def _paused(result, watch):
    """``result`` of a run the watcher paused at its budget: stopped ``paused``, with its budget."""
    if watch.spent is None:
        return result
    metrics = {**result.metrics, "budget": watch.spent}
    return attrs.evolve(result, metrics=metrics, stopped=PAUSED if watch.paused else result.stopped)


class _Watch:
    """The task's watcher: the run saved in ``folder`` at every record, then a Stop if asked,
    or (``stop_at``) once a record has spent that budget before the run's last step."""

    def __init__(self, stop, record, stop_at: int | None, unit: str | None):
        self.stop, self.record, self.stop_at, self.unit = stop, record, stop_at, unit
        self.spent: int | None = None
        self.paused = False

    def __call__(self, snap) -> None:
        if self.record is not None:
            self.record(snap)
        if self.unit is not None and snap.record is not None:
            self.spent = reached(snap, self.unit)
            if self.spent >= self.stop_at and int(snap.state.step) < int(snap.total) and not snap.stop:
                self.paused = True
                raise fpipeline.Stop()
        if runtime.stop_requested() or (self.stop is not None and self.stop()):
            raise fpipeline.Stop()


def _stopper(stop: Callable[[], bool] | None, folder: Path | None = None, config=None,
             earlier: runs.Resumed | None = None, stop_at: int | None = None,
             unit: str | None = None) -> _Watch:
    """The task's watcher (:class:`_Watch`), saving the run in ``folder`` as it goes."""
    record = (runs.recorder(folder, config, earlier.history if earlier else None)
              if folder is not None else None)
    return _Watch(stop, record, stop_at, unit)
