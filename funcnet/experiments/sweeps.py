"""Sweeps: a grid × seeds run into a folder (results.csv, run folders); their summary."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd

from .. import report as freport
from .. import runs
from .engine import execute
from .folders import prepare_sweep, write_results
from .task import METRICS
from .tasks import Task, folder_name, grid as _grid_tasks


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
