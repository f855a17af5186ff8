"""Where an experiment's files go: the tasks' run folders and the studies' result files,
written atomically, never clobbered.

A task's run folder is a :mod:`funcnet.runs` folder; it counts as finished
(a sweep run again skips it) when it is complete, holds ``metrics.json``
and the run was not interrupted. The studies' folders:

- a sweep's: ``sweep.json`` (what it runs: pipeline, grid, overrides),
  ``results.csv`` (one row per finished task) and a run folder per task
  (:func:`funcnet.experiments.folder_name`);
- a seeds study's: ``seeds.csv`` (the runs that trained) and seed S's run
  folder ``seed-S/``;
- an ablation's: ``ablation.csv`` (the runs that trained), no run folders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from .. import report, runs
from ..errors import ConfigError
from ..runs import to_json_text, write_atomic

RUN_FILES = (runs.MODEL, runs.STATE, runs.METRICS)
RESULTS, SWEEP = "results.csv", "sweep.json"


def save_run(folder: Path, result, plots: bool = False, history=None) -> None:
    """Write a finished (or stopped) run into ``folder`` (:func:`funcnet.runs.save`);
    ``history`` is the whole history of a continued run (default ``result.history``)."""
    names = report.class_names(getattr(result.config, "dataset", None))
    runs.save(folder, result, history=history, pictures=plots, names=names)


def finished_metrics(folder: Path) -> dict | None:
    """The metrics of the complete run in ``folder``; None if it is not one."""
    metrics = runs.read_metrics(folder) if runs.is_complete(folder) else None
    if metrics is None or metrics.get("stopped") == "interrupted":
        return None
    return metrics


def _text(value) -> str | list:
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else value


def _identity(pipeline: str, tasks: Sequence, keys: Sequence[str]) -> dict:
    """What makes a sweep this sweep: the pipeline, the grid and the fixed overrides."""
    grid = {k: list(dict.fromkeys(_text(t.overrides[k]) for t in tasks)) for k in keys}
    fixed = {k: _text(v) for k, v in (tasks[0].overrides.items() if tasks else ()) if k not in keys}
    return {"pipeline": pipeline, "grid": grid, "overrides": fixed}


def prepare_sweep(out: Path, pipeline: str, tasks: Sequence, keys: Sequence[str],
                  overwrite: bool) -> None:
    """Claim ``out`` for this sweep: refuse another sweep's or a run's folder unless ``overwrite``."""
    mine = _identity(pipeline, tasks, keys)
    marker = out / SWEEP
    if out.is_dir() and not overwrite:
        try:
            theirs = json.loads(marker.read_text(encoding="utf-8"))
        except FileNotFoundError:
            theirs = None
        except ValueError:
            raise ConfigError(f"{marker}: not valid JSON; pass --overwrite to start afresh") from None
        if theirs is None and any((out / name).exists() for name in RUN_FILES + (RESULTS,)):
            raise ConfigError(f"{out}: holds a run, not a sweep; choose another --out "
                              "or pass --overwrite")
        if theirs is not None and theirs != mine:
            what = [k for k in ("pipeline", "grid", "overrides") if theirs.get(k) != mine[k]]
            verb = "differs" if len(what) == 1 else "differ"
            raise ConfigError(f"{out}: holds another sweep (its {' and '.join(what)} {verb}: "
                              f"{', '.join(f'{k} {theirs.get(k)}' for k in what)}); choose another "
                              "--out or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        (out / RESULTS).unlink(missing_ok=True)
    write_atomic(marker, to_json_text(mine))


def write_results(out: Path, rows: list[dict]) -> None:
    """``out/results.csv``: one row per task, floats written exactly."""
    write_table(out / RESULTS, pd.DataFrame(rows))


def write_table(path: Path, table: pd.DataFrame) -> None:
    """``table`` as a CSV file at ``path`` (written atomically), floats written exactly."""
    write_atomic(path, table.to_csv(index=False))


def seed_folder(out: Path, seed: int) -> Path:
    """Seed ``seed``'s run folder in a seeds study's folder ``out``.

    >>> seed_folder(Path("runs/mlp"), 3).as_posix()
    'runs/mlp/seed-3'
    """
    return Path(out) / f"seed-{seed}"
