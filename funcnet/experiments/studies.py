"""Studies of a pipeline, each run into a folder it owns (:mod:`.layout`), each returning
one row per task: a sweep (a grid × seeds), the runs of several seeds, the tutorial's
ablation; their tables and the text of them."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import pandas as pd

from .. import pipeline as fpipeline
from .. import report as freport
from .. import runs
from .engine import execute
from .layout import adopt_legacy, prepare_sweep, seed_folder, write_results, write_table
from .rows import METRICS, task_config
from .tasks import (ABLATION_SEEDS, BASELINE, Task, ablation as _ablation_tasks, folder_name,
                    grid as _grid_tasks, parse_sets, seeds as _seeds_tasks)

OnRow = Callable[[int, Task, dict], None]


def sweep(pipeline: str | Path, grid: Mapping[str, Sequence] | None = None,
          seeds: Sequence[int] = (0,), overrides=None, *, client=None, workers: int | None = None,
          threads: int = 1, out: str | Path | None = None, overwrite: bool = False,
          plots: bool = False, on_row: OnRow | None = None,
          stop: Callable[[], bool] | None = None) -> pd.DataFrame:
    """Run every point of ``grid`` × ``seeds`` and return one row per task.

    Each row: every overridden field, the seed, every metric of
    ``metrics.json``, ``seconds``, ``status`` (ok / error / interrupted) and
    ``error`` (one line). With ``out``: task i's run folder is
    ``out/<folder_name>``, ``out/results.csv`` is rewritten atomically as
    each task finishes, tasks whose folder is complete are not run again,
    and a folder holding another sweep is refused unless ``overwrite`` (the
    same grid with its values in another order is the same sweep). The run
    folders of a sweep written before folder names had a digest are adopted
    (:func:`funcnet.experiments.layout.adopt_legacy`); ``frame.attrs["notes"]``
    names the old folders left alone. ``on_row(i, task, row)`` is called as
    each task finishes.
    """
    grid = dict(grid or {})
    tasks = _grid_tasks(pipeline, grid, seeds, overrides)
    keys = list(grid)
    folders: list = [None] * len(tasks)
    notes: list[str] = []
    rows: dict[int, dict] = {}
    with runs.lock(out) if out is not None else contextlib.nullcontext():
        if out is not None:
            out = Path(out)
            named = prepare_sweep(out, tasks[0].pipeline if tasks else str(pipeline), tasks, keys,
                                  overwrite)
            if tasks and not overwrite:
                pipe = fpipeline.load_pipeline(tasks[0].pipeline)
                notes = adopt_legacy(out, tasks, named, lambda t: task_config(pipe, t))
            folders = [out / folder_name(t, named) for t in tasks]
        for i, row in execute(tasks, workers=workers, client=client, threads=threads,
                              folders=folders, plots=plots, stop=stop,
                              skip_complete=out is not None and not overwrite):
            rows[i] = row
            if out is not None and row["error"] != "not started":
                write_results(out, list(rows.values()))
            if on_row is not None:
                on_row(i, tasks[i], row)
        frame = _frame(rows[i] for i in sorted(rows))
        if out is not None:
            write_results(out, [r for r in frame.to_dict("records") if r["error"] != "not started"])
    frame.attrs["by"] = keys
    frame.attrs["notes"] = notes
    return frame


def _frame(rows: Iterable[dict]) -> pd.DataFrame:
    """Rows as a DataFrame, ``steps`` as nullable integers (a task that failed has none)."""
    frame = pd.DataFrame(list(rows))
    if "steps" in frame:
        frame["steps"] = frame["steps"].astype("Int64")
    return frame


def _in_order(tasks: Sequence[Task], folders, on_row: OnRow | None, **where) -> pd.DataFrame:
    """Run ``tasks`` (:func:`execute`), calling ``on_row`` as each one's turn comes; their rows."""
    rows = []
    for i, row in execute(tasks, folders=folders, ordered=True, **where):
        rows.append(row)
        if on_row is not None:
            on_row(i, tasks[i], row)
    return _frame(rows)


def _check_data(task: Task) -> None:
    """Load and split the data as ``task`` would (:func:`funcnet.pipeline.check`): bad data
    or a bad split raise their own error here, once, instead of failing every task."""
    pipe = fpipeline.load_pipeline(task.pipeline)
    fpipeline.check(pipe, task_config(pipe, task))


def _claimed(out: Path | None, overwrite: bool):
    """The study's folder held (:func:`funcnet.runs.claim`), or nothing to hold."""
    return runs.claim(out, overwrite=overwrite) if out is not None else contextlib.nullcontext()


def run_seeds(pipeline: str | Path, seeds: Sequence[int], overrides=None, *,
              out: str | Path | None = None, overwrite: bool = False, client=None,
              workers: int | None = None, threads: int = 1, plots: bool = False,
              on_row: OnRow | None = None, stop: Callable[[], bool] | None = None) -> pd.DataFrame:
    """Run ``pipeline`` once per seed, with the same ``overrides``; one row per seed, in order.

    Rows as :func:`sweep`'s (status ok / error / interrupted; a seed never
    started is interrupted). The data and its split are checked first:
    bad data raises its DataError (or a bad split its ConfigError) before
    any seed runs. With ``out`` the folder is claimed
    (:func:`funcnet.runs.claim`: a folder holding a run is refused unless
    ``overwrite``), seed S's run is saved in ``out/seed-S/`` and
    ``out/seeds.csv`` holds :func:`trained_runs`. ``on_row(i, task, row)``
    is called as each seed's turn comes (in seed order).
    """
    tasks = _seeds_tasks(pipeline, seeds, overrides)
    out = Path(out) if out is not None else None
    with _claimed(out, overwrite):
        if tasks:
            _check_data(tasks[0])
        folders = [seed_folder(out, t.seed) if out is not None else None for t in tasks]
        frame = _in_order(tasks, folders, on_row, client=client, workers=workers,
                          threads=threads, plots=plots, stop=stop)
        if out is not None:
            write_table(out / runs.SEEDS_TABLE, trained_runs(frame, "seed"))
    return frame


def run_ablation(pipeline: str | Path, seeds: Sequence[int] = ABLATION_SEEDS, overrides=None, *,
                 out: str | Path | None = None, overwrite: bool = False, client=None,
                 workers: int | None = None, threads: int = 1, on_row: OnRow | None = None,
                 stop: Callable[[], bool] | None = None) -> pd.DataFrame:
    """Run the tutorial's ablation of ``pipeline`` (:func:`ablation`: each variant over each
    seed); one row per run, variant by variant, with a ``variant`` column.

    As :func:`run_seeds`, but no run folders are kept: with ``out`` (claimed
    as there), ``out/ablation.csv`` holds :func:`trained_runs`.
    """
    tasks = _ablation_tasks(pipeline, seeds, overrides)
    out = Path(out) if out is not None else None
    with _claimed(out, overwrite):
        if tasks:
            pipe = fpipeline.load_pipeline(tasks[0].pipeline)
            _check_data(Task(tasks[0].pipeline, parse_sets(pipe.Config, overrides or {}),
                             tasks[0].seed))
        frame = _in_order(tasks, [None] * len(tasks), on_row, client=client, workers=workers,
                          threads=threads, stop=stop)
        if out is not None:
            write_table(out / runs.ABLATION_TABLE, trained_runs(frame, "variant"))
    return frame


def trained_runs(frame: pd.DataFrame, first: str = "seed") -> pd.DataFrame:
    """The runs of ``frame`` that ended after training — status ok, or error with ``stopped``
    saying where the loss turned non-finite — as ``seeds.csv`` and ``ablation.csv`` hold them:
    columns ``first``, seed, the :data:`METRICS`, steps, stopped.

    >>> f = pd.DataFrame({"seed": [0, 1, 2], "loss": [0.5, None, 0.7], "steps": [9, None, 4],
    ...                   "status": ["ok", "error", "error"], "stopped": ["", None, "non-finite"]})
    >>> trained_runs(f)[["seed", "loss", "steps", "stopped"]].to_dict("list")
    {'seed': [0, 2], 'loss': [0.5, 0.7], 'steps': [9.0, 4.0], 'stopped': ['', 'non-finite']}
    """
    stopped = frame["stopped"].fillna("") if "stopped" in frame else pd.Series("", frame.index)
    status = frame["status"]
    ended = (status == "ok") | ((status == "error") & (stopped != ""))
    columns = [*dict.fromkeys([first, "seed"]), *METRICS, "steps", "stopped"]
    return frame.loc[ended].reindex(columns=columns).reset_index(drop=True)


def _present(table: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The ``columns`` of ``table`` that hold at least one figure.

    >>> _present(pd.DataFrame({"a": [None, 0.5], "b": [None, None]}), ["a", "b", "c"])
    ['a']
    """
    return [c for c in columns if c in table and pd.to_numeric(table[c], errors="coerce").notna().any()]


def seeds_lines(table: pd.DataFrame) -> list[str]:
    """A seeds study's table (:func:`trained_runs`) as text: a row per seed, then mean ± sd,
    of each metric that has a figure (:func:`funcnet.report.seeds_table`).

    >>> print("\\n".join(seeds_lines(pd.DataFrame({"seed": [0, 1], "loss": [0.5, 0.7],
    ...                                              "test_accuracy": [None, None]}))))
    seed                  loss
    0                   0.5000
    1                   0.7000
    mean ± sd  0.6000 ± 0.1414
    """
    return freport.seeds_table(table, _present(table, METRICS))


def ablation_lines(table: pd.DataFrame, quirks: Mapping[str, str] | None = None) -> list[str]:
    """An ablation's table (:func:`trained_runs`) as text: mean ± sd of each accuracy per
    variant and the change in the last one from the tutorial's (:func:`funcnet.report.ablation_table`),
    then what each fix of ``quirks`` (name → description) does.

    >>> t = pd.DataFrame({"variant": [BASELINE, "fix m"], "seed": [0, 0],
    ...                   "dev_accuracy": [0.5, 0.75]})
    >>> print("\\n".join(ablation_lines(t, {"m": "divide by the rows trained on"})))
    variant                dev_accuracy    Δ dev
    tutorial (all quirks)        0.5000        -
    fix m                        0.7500  +0.2500
    <BLANKLINE>
    fix m: divide by the rows trained on
    """
    accs = _present(table, METRICS[:3])
    lines = freport.ablation_table(table, accs, BASELINE, accs[-1] if accs else None)
    return lines + ([""] + [f"fix {q}: {d}" for q, d in quirks.items()] if quirks else [])


def read_results(path: str | Path) -> pd.DataFrame:
    """A ``results.csv`` read back: every float exactly as written, empty texts as ``""``."""
    exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
    texts = {c: str for c in ("variant", "stopped", "status", "error", "warning")}
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
