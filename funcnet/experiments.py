"""Experiments as data: tasks, lists of tasks, and one engine that runs them.

A :class:`Task` is a small picklable record: a pipeline file, config
overrides (a dict of typed values) and a seed. :func:`seeds`,
:func:`ablation` and :func:`grid` build lists of tasks; :func:`execute`
runs them (here, in local worker processes, or on a Dask cluster) and
yields one row per task as each finishes; :func:`sweep` runs a grid and
returns the rows as a DataFrame (and, with ``out``, keeps ``results.csv``
and every task's run folder); :func:`summarize` gives mean ± sd per grid
point.

Results are a pure function of the tasks: a task's row holds the same
numbers, bit for bit, wherever it runs. BLAS sums depend on the number of
threads that split them (OpenBLAS gives other last bits with 1 and 2
threads), so every task runs with ``threads`` BLAS threads (default 1),
set with threadpoolctl in whichever process runs it; local workers default
to one per core, so that workers × threads = cores.

>>> t = Task("/p/mnist.py", {"learning_rate": 0.05}, seed=1)
>>> t.overrides, t.seed, folder_name(t, ["learning_rate"])
({'learning_rate': 0.05}, 1, 'learning_rate=0.05_seed-1')
"""

from __future__ import annotations

import contextlib
import itertools
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import attrs
import pandas as pd

from . import pipeline as fpipeline
from . import report as freport
from . import runs
from .errors import ConfigError, FuncnetError

__all__ = ["Task", "METRICS", "seeds", "ablation", "ablation_variants", "grid", "parse_grid",
           "parse_sets", "value_text", "folder_name", "run_task", "trained", "execute", "sweep", "summarize",
           "read_results", "connect", "local_cluster", "close"]

METRICS = ("train_accuracy", "dev_accuracy", "test_accuracy", "loss", "seconds")
STATUSES = ("ok", "error", "interrupted")


@attrs.frozen
class Task:
    """One run: the pipeline file, the Config fields it changes, the seed, a variant name.

    ``overrides`` maps field names to typed values (``{"sizes": (784, 32, 10)}``);
    ``variant`` names an ablation's variant ("" otherwise).
    """

    pipeline: str
    overrides: dict = attrs.field(factory=dict, converter=dict)
    seed: int | None = None
    variant: str = ""


# ---------------------------------------------------------------- building tasks


def value_text(value: Any) -> str:
    """A value as ``--set`` would take it: tuples as ``a,b,c``.

    >>> value_text((784, 10)), value_text(0.1), value_text(None), value_text(True)
    ('784,10', '0.1', 'none', 'true')
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


def parse_sets(config_cls: type, items: Iterable[str] | Mapping[str, Any],
               flag: str = "--set") -> dict:
    """``key=value`` items (or a dict) as a dict of values typed as their Config fields.

    Raises ConfigError naming the key (with the nearest valid one) or the
    field and type a value does not convert to.
    """
    pairs = items.items() if isinstance(items, Mapping) else [_split(i, flag) for i in items]
    return {key: fpipeline.parse_field(config_cls, key, value, flag) for key, value in pairs}


def _split(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise ConfigError(f"{flag} {item!r}: expected key=value")
    return key.strip(), value


def parse_grid(config_cls: type, items: Iterable[str]) -> dict[str, list]:
    """``--grid KEY=V1,V2`` items as ``{field: [typed values]}``, in the order given.

    A tuple-valued field takes its values separated by ``;``
    (``sizes=784,32,10;784,64,10``); a KEY given twice adds values.
    """
    table = {name: tp for name, tp, *_ in fpipeline.fields(config_cls)}
    out: dict[str, list] = {}
    for item in items:
        key, text = _split(item, "--grid")
        fpipeline.check_key(table, key, "--grid")
        sep = ";" if fpipeline.is_tuple(table[key]) else ","
        values = [v for v in text.split(sep) if v.strip()]
        if not values:
            raise ConfigError(f"--grid {key}: expected values such as {key}=V1{sep}V2")
        out.setdefault(key, []).extend(
            fpipeline.parse_field(config_cls, key, v.strip(), "--grid") for v in values)
    return out


def _load(path: str | Path):
    pipe = fpipeline.load_pipeline(path)
    return pipe, str(Path(path).absolute())


def seeds(pipeline: str | Path, seeds: Sequence[int], overrides=None) -> list[Task]:
    """One task per seed, each with the same overrides (a dict, or ``key=value`` items)."""
    pipe, path = _load(pipeline)
    fixed = parse_sets(pipe.Config, overrides or {})
    return [Task(path, fixed, int(s)) for s in seeds]


def grid(pipeline: str | Path, grid: Mapping[str, Sequence], seeds: Sequence[int] = (0,),
         overrides=None) -> list[Task]:
    """One task per point of the grid (first key slowest) and seed (fastest).

    >>> import pathlib
    >>> tasks = grid(pathlib.Path("pipelines/mnist.py"), {"learning_rate": [0.1, 0.2]}, [0, 1])
    >>> [(t.overrides["learning_rate"], t.seed) for t in tasks]
    [(0.1, 0), (0.1, 1), (0.2, 0), (0.2, 1)]
    """
    pipe, path = _load(pipeline)
    fixed = parse_sets(pipe.Config, overrides or {})
    axes = {k: [fpipeline.parse_field(pipe.Config, k, v, "--grid") for v in vs]
            for k, vs in grid.items()}
    points = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    return [Task(path, {**fixed, **point}, int(s)) for point in points for s in seeds]


_grid_tasks = grid  # sweep's argument ``grid`` hides the function


def ablation_variants(pipe, path: str) -> tuple[list[tuple[str, dict]], str | None]:
    """The runs of the tutorial's ablation: ``[(name, Config changes)]`` and a note.

    A pipeline whose Config has ``tutorial_quirks`` can be ablated. If it
    also lists its quirks in a module dict ``QUIRKS`` (name → description)
    and its Config has ``fixes: tuple[str, ...]`` (the quirks fixed anyway
    under ``tutorial_quirks``), the runs are: all quirks, each fix alone,
    all fixes. Otherwise only all quirks against all fixes, with a note.
    """
    names = {name for name, *_ in fpipeline.fields(pipe.Config)}
    if "tutorial_quirks" not in names:
        raise ConfigError(f"{path}: --ablation needs a pipeline whose Config has tutorial_quirks "
                          "(such as pipelines/mnist.py)")
    quirks = getattr(pipe, "QUIRKS", None)
    if not (quirks and "fixes" in names):
        return ([("tutorial (all quirks)", {"tutorial_quirks": True}),
                 ("all fixes", {"tutorial_quirks": False})],
                f"{path} cannot toggle single fixes (it defines no QUIRKS dict and Config "
                "field fixes): comparing all quirks with all fixes only")
    return ([("tutorial (all quirks)", {"tutorial_quirks": True, "fixes": ()})]
            + [(f"fix {q}", {"tutorial_quirks": True, "fixes": (q,)}) for q in quirks]
            + [("all fixes", {"tutorial_quirks": False, "fixes": ()})], None)


def ablation(pipeline: str | Path, seeds: Sequence[int] = (0, 1, 2), overrides=None) -> list[Task]:
    """The ablation's tasks: each variant (:func:`ablation_variants`) over each seed."""
    pipe, path = _load(pipeline)
    fixed = parse_sets(pipe.Config, overrides or {})
    variants, _ = ablation_variants(pipe, str(pipeline))
    return [Task(path, {**fixed, **changes}, int(s), name)
            for name, changes in variants for s in seeds]


def folder_name(task: Task, keys: Sequence[str] = ()) -> str:
    """A task's run folder: the values of ``keys``, then the seed (``lr=0.1_seed-0``).

    >>> folder_name(Task("p.py", {"sizes": (784, 10), "data": "a/b"}, 2), ["sizes", "data"])
    'sizes=784-10_data=a-b_seed-2'
    """
    parts = [f"{k}={value_text(task.overrides.get(k)).replace(',', '-')}" for k in keys]
    name = "_".join(parts + [f"seed-{task.seed}"])
    return re.sub(r"[^\w.=+-]", "-", name)


# ---------------------------------------------------------------- running one task


def _config(pipe, task: Task):
    """The pipeline's Config with the task's overrides and seed (ConfigError if refused)."""
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


def _row(task: Task, metrics: Mapping, status: str, error: str, seconds: float) -> dict:
    """One result row: overrides (as text for tuples), variant, seed, metrics, status, error.

    A metric named like an overridden field (a Config field ``steps``) is
    kept as ``metric_<name>``.
    """
    cells = {k: (value_text(v) if isinstance(v, (tuple, list)) else v) for k, v in task.overrides.items()}
    variant = {"variant": task.variant} if task.variant else {}
    shown = {(f"metric_{k}" if k in cells else k): v for k, v in metrics.items() if k != "seed"}
    return {**cells, **variant, "seed": task.seed, **shown,
            "seconds": metrics.get("seconds", round(seconds, 3)), "status": status, "error": error}


def trained(row: Mapping) -> bool:
    """Whether a row's task trained (it has metrics), as opposed to failing before.

    >>> trained({"status": "error", "stopped": "non-finite loss at step 3"}), trained({"error": "x"})
    (True, False)
    """
    return "stopped" in row or "metric_stopped" in row


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, FuncnetError) else f"unexpected {type(exc).__name__}: {text}"


def run_task(task: Task, folder: str | Path | None = None, *, threads: int | None = 1,
             plots: bool = False, stop: Callable[[], bool] | None = None,
             cache: dict | None = None) -> dict:
    """Run one task and return its row; with ``folder``, save its run folder there.

    Never raises for a failing task: a FuncnetError or any exception becomes
    ``status="error"`` with the one-line message, a non-finite loss too
    (``stopped`` says where); a stop asked for by ``stop()`` or Ctrl-C
    gives ``status="interrupted"`` (the last good state is saved).
    ``threads`` BLAS threads compute it (None: as the process is set).
    """
    from ._runfolder import save_run
    from ._workers import blas_threads, quiet_numpy

    start = time.perf_counter()
    try:
        with blas_threads(threads), quiet_numpy():
            pipe = fpipeline.load_pipeline(task.pipeline)
            config = _config(pipe, task)
            data = _load_data(pipe, config, cache)
            result = fpipeline.run(pipe, config, _stopper(stop), data=data)
            if folder is not None:
                save_run(Path(folder), result, plots=plots)
    except KeyboardInterrupt:
        return _row(task, {}, "interrupted", "interrupted before training", time.perf_counter() - start)
    except Exception as exc:  # a failing task is a row, never the end of the experiment
        return _row(task, {}, "error", _one_line(exc), time.perf_counter() - start)
    metrics = {**result.metrics, "stopped": result.stopped or ""}
    status = "ok" if not result.stopped else "interrupted" if result.stopped == "interrupted" else "error"
    return _row(task, metrics, status, "" if status == "ok" else result.stopped,
                time.perf_counter() - start)


def _stopper(stop: Callable[[], bool] | None):
    from ._workers import stop_requested

    def observe(snap) -> None:
        if stop_requested() or (stop is not None and stop()):
            raise fpipeline.Stop()
    return observe


# ---------------------------------------------------------------- running many


def execute(tasks: Sequence[Task], *, workers: int | None = None, client=None, threads: int = 1,
            folders: Sequence[Path | None] | None = None, plots: bool = False,
            skip_complete: bool = False, stop: Callable[[], bool] | None = None,
            ordered: bool = False) -> Iterator[tuple[int, dict]]:
    """Run ``tasks``, yielding ``(index, row)`` as each finishes (in task order if ``ordered``).

    Where: on the Dask ``client`` if given; else one task (or ``workers=1``)
    in this process; else ``workers`` local processes (default: one per
    core). ``folders[i]`` is task i's run folder (None: not saved); with
    ``skip_complete`` a complete folder's row is read back instead of run.
    After a stop (``stop()`` true, Ctrl-C, or a task interrupted) no task
    starts; those never started get ``status="interrupted"``, error "not started".
    """
    from . import _workers

    folders = list(folders) if folders is not None else [None] * len(tasks)
    done = {}
    if skip_complete:
        done = {i: row for i, row in ((i, _complete_row(t, f)) for i, (t, f)
                                       in enumerate(zip(tasks, folders))) if row is not None}
    todo = [i for i in range(len(tasks)) if i not in done]
    runner = _workers.where(len(todo), workers, client)
    rows = itertools.chain(((i, done[i]) for i in sorted(done)),
                           runner(tasks, todo, folders, threads=threads, plots=plots, stop=stop))
    seen = set()
    for i, row in (_in_order(rows, len(tasks)) if ordered else rows):
        seen.add(i)
        yield i, row
    for i in range(len(tasks)):
        if i not in seen:
            yield i, _row(tasks[i], {}, "interrupted", "not started", 0.0)


def _in_order(pairs: Iterable[tuple[int, dict]], count: int) -> Iterator[tuple[int, dict]]:
    """``(index, row)`` pairs for indices ``0..count-1`` in index order, each as soon as its turn comes.

    Rows still waiting when the pairs run out (an index never came) follow in order.

    >>> [i for i, _ in _in_order([(1, {}), (0, {}), (3, {}), (2, {})], 4)]
    [0, 1, 2, 3]
    >>> [i for i, _ in _in_order([(2, {}), (0, {})], 4)]
    [0, 2]
    """
    waiting, nxt = {}, 0
    for i, row in pairs:
        waiting[i] = row
        while nxt in waiting:
            yield nxt, waiting.pop(nxt)
            nxt += 1
    yield from sorted(waiting.items())


def _complete_row(task: Task, folder: Path | None) -> dict | None:
    """The row of a finished run saved in ``folder`` (None if there is none to reuse)."""
    from ._runfolder import finished_metrics

    metrics = finished_metrics(folder) if folder is not None else None
    if metrics is None:
        return None
    stopped = metrics.get("stopped") or ""
    return _row(task, {**metrics, "stopped": stopped}, "error" if stopped else "ok", stopped, 0.0)


# ---------------------------------------------------------------- sweeps


def sweep(pipeline: str | Path, grid: Mapping[str, Sequence] | None = None,
          seeds: Sequence[int] = (0,), overrides=None, *, client=None, workers: int | None = None,
          threads: int = 1, out: str | Path | None = None, overwrite: bool = False,
          plots: bool = False, on_row: Callable[[int, Task, dict], None] | None = None,
          stop: Callable[[], bool] | None = None) -> pd.DataFrame:
    """Run every point of ``grid`` × ``seeds`` and return one row per task.

    Each row: every overridden field, the seed, every metric of
    ``metrics.json``, ``seconds``, ``status`` (ok / error / interrupted) and
    ``error`` (one line). With ``out``: task i's run folder is
    ``out/<folder_name>``, ``out/results.csv`` is rewritten atomically as
    each task finishes, tasks whose folder is complete are not run again,
    and a folder holding another sweep is refused unless ``overwrite``.
    ``on_row(i, task, row)`` is called as each task finishes.
    """
    from ._runfolder import prepare_sweep, write_results

    grid = dict(grid or {})
    tasks = _grid_tasks(pipeline, grid, seeds, overrides)
    keys = list(grid)
    folders = [None] * len(tasks)
    if out is not None:
        out = Path(out)
        prepare_sweep(out, tasks[0].pipeline if tasks else str(pipeline), tasks, keys, overwrite)
        folders = [out / folder_name(t, keys) for t in tasks]
    rows: dict[int, dict] = {}
    with runs.lock(out) if out is not None else contextlib.nullcontext():
        for i, row in execute(tasks, workers=workers, client=client, threads=threads,
                              folders=folders, plots=plots, stop=stop,
                              skip_complete=out is not None and not overwrite):
            rows[i] = row
            if out is not None and row["error"] != "not started":
                write_results(out, list(rows.values()))
            if on_row is not None:
                on_row(i, tasks[i], row)
        frame = pd.DataFrame([rows[i] for i in sorted(rows)])
        if "steps" in frame:
            frame["steps"] = frame["steps"].astype("Int64")
        if out is not None:
            write_results(out, [r for r in frame.to_dict("records") if r["error"] != "not started"])
    frame.attrs["by"] = keys
    return frame


def read_results(path: str | Path) -> pd.DataFrame:
    """A ``results.csv`` read back: every float exactly as written, empty texts as ``""``."""
    exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
    texts = {c: str for c in ("variant", "stopped", "status", "error")}
    frame = pd.read_csv(path, dtype=texts, **exact)
    for c in texts:
        if c in frame:
            frame[c] = frame[c].fillna("")
    if "steps" in frame:
        frame["steps"] = frame["steps"].astype("Int64")
    return frame


def summarize(frame: pd.DataFrame, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and sd (n − 1) of each metric per group of ``by``, best mean dev accuracy first.

    ``by`` defaults to the grid's fields (``frame.attrs["by"]``, set by
    :func:`sweep`). Only rows with status ok are averaged; ``runs`` counts
    them and ``failed`` the rows with status error. Columns: ``by``, runs, failed, then
    ``<metric>`` (mean) and ``<metric>_sd`` for each metric present.

    >>> f = pd.DataFrame({"lr": [0.1, 0.1, 0.2, 0.2], "seed": [0, 1, 0, 1],
    ...                   "dev_accuracy": [0.8, 0.9, 0.95, 0.97], "status": ["ok"] * 4})
    >>> summarize(f, by="lr")[["lr", "runs", "dev_accuracy", "dev_accuracy_sd"]]
        lr  runs  dev_accuracy  dev_accuracy_sd
    0  0.2     2          0.96         0.014142
    1  0.1     2          0.85         0.070711
    """
    by = list(frame.attrs.get("by", [])) if by is None else [by] if isinstance(by, str) else list(by)
    status = frame["status"] if "status" in frame else pd.Series("ok", index=frame.index)
    metrics = [m for m in METRICS if m in frame]
    groups = frame.groupby(by, sort=False, dropna=False) if by else [((), frame)]
    rows = []
    for key, part in groups:
        good = part[status[part.index] == "ok"]
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row.update(runs=len(good), failed=int((status[part.index] == "error").sum()))
        for m in metrics:
            row[m], row[f"{m}_sd"] = freport.mean_sd(pd.to_numeric(good[m], errors="coerce"))
        rows.append(row)
    table = pd.DataFrame(rows)
    if "dev_accuracy" in table:
        table = table.sort_values("dev_accuracy", ascending=False, kind="stable", na_position="last")
    return table.reset_index(drop=True)


# ---------------------------------------------------------------- clusters


def connect(address: str, timeout: float = 5.0):
    """A dask.distributed Client of the scheduler at ``address`` (within ``timeout`` seconds)."""
    from ._workers import connect as _connect
    return _connect(address, timeout)


def local_cluster(workers: int | None = None):
    """A Client of a new dask.distributed LocalCluster: ``workers`` processes, one thread each."""
    from ._workers import local_cluster as _local
    return _local(workers)


def close(client) -> None:
    """Close a client of :func:`connect` or :func:`local_cluster` (and the cluster it started)."""
    from ._workers import close as _close
    _close(client)
