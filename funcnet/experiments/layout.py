"""Where an experiment's files go: the tasks' run folders and the studies' result files,
written atomically, never clobbered.

A task's run folder is a :mod:`funcnet.runs` folder; it counts as finished
(a sweep run again skips it) when it is complete, holds ``metrics.json``
and the run was neither interrupted nor paused at a budget. The studies' folders:

- a sweep's: ``sweep.json`` (what it runs: pipeline, grid, overrides),
  ``results.csv`` (one row per finished task) and a run folder per task
  (:func:`funcnet.experiments.folder_name`: a readable prefix and a digest
  of the task; the folders of sweeps written before, named by the prefix
  alone, are renamed when their config is the task's: :func:`adopt_legacy`);
- a seeds study's: ``seeds.csv`` (the runs that trained) and seed S's run
  folder ``seed-S/``;
- an ablation's: ``ablation.csv`` (the runs that trained), no run folders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from .. import pipeline as fpipeline
from .. import report, runs
from ..errors import ConfigError, FuncnetError
from ..runs import to_json_text, write_atomic
from .tasks import folder_name, legacy_folder_name

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
    if metrics is None or metrics.get("stopped") in ("interrupted", "paused"):
        return None
    metrics.pop("loss_split", None)  # what the file says of its loss, not a figure of the row
    return metrics


def _text(value) -> str | list:
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else value


def _identity(pipeline: str, tasks: Sequence, keys: Sequence[str]) -> dict:
    """What makes a sweep this sweep: the pipeline, the grid and the fixed overrides."""
    grid = {k: list(dict.fromkeys(_text(t.overrides[k]) for t in tasks)) for k in keys}
    fixed = {k: _text(v) for k, v in (tasks[0].overrides.items() if tasks else ()) if k not in keys}
    return {"pipeline": pipeline, "grid": grid, "overrides": fixed}


def _as_sets(identity: dict) -> dict:
    """A sweep's identity with each grid field's values as a set: the order of the values
    given does not make another sweep.

    >>> _as_sets({"grid": {"lr": [0.2, 0.1]}}) == _as_sets({"grid": {"lr": [0.1, 0.2]}})
    True
    """
    grid = identity.get("grid")
    if not isinstance(grid, dict):
        return identity
    sets = {k: frozenset(json.dumps(v) for v in vs) if isinstance(vs, list) else vs
            for k, vs in grid.items()}
    return {**identity, "grid": sets}


def _shown(identity: dict, key: str) -> str:
    """What an identity holds under ``key``, as text for a message.

    >>> _shown({"grid": {"lr": [0.1, 0.2], "h": [8]}}, "grid")
    'lr=0.1,0.2 h=8'
    """
    value = identity.get(key)
    if key == "grid" and isinstance(value, dict):
        return " ".join(f"{k}={','.join(map(str, vs))}" for k, vs in value.items()) or "none"
    if key == "overrides" and isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)


def prepare_sweep(out: Path, pipeline: str, tasks: Sequence, keys: Sequence[str],
                  overwrite: bool, identity: dict | None = None) -> list[str]:
    """Claim ``out`` for this sweep: refuse another sweep's or a run's folder unless ``overwrite``.

    The sweep is what ``identity`` says (default: the pipeline, the grid of
    ``keys`` over ``tasks`` and their fixed overrides); a folder holding the
    same sweep, its grid fields and values perhaps in another order, is this
    sweep's. Returns the grid's fields in the order the folder names spell
    them: the order the sweep in ``out`` was first given, else ``keys``'.
    """
    mine = identity if identity is not None else _identity(pipeline, tasks, keys)
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
        if theirs is not None and not isinstance(theirs, dict):
            raise ConfigError(f"{marker}: expected a JSON object; pass --overwrite to start afresh")
        if theirs is not None and _as_sets(theirs) != _as_sets(mine):
            names = list(dict.fromkeys([*mine, *theirs]))
            what = [k for k in names if _as_sets(theirs).get(k) != _as_sets(mine).get(k)]
            verb = "differs" if len(what) == 1 else "differ"
            raise ConfigError(f"{out}: holds another sweep (its {' and '.join(what)} {verb}: "
                              + "; ".join(f"{k} {_shown(theirs, k)} there, {_shown(mine, k)} here"
                                          for k in what)
                              + "); choose another --out or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        (out / RESULTS).unlink(missing_ok=True)
    elif theirs_same := _read_marker(marker):
        if _as_sets(theirs_same) == _as_sets(mine):
            return [k for k in theirs_same.get("grid", {}) if k in keys]
    write_atomic(marker, to_json_text(mine))
    return list(keys)


def _read_marker(marker: Path) -> dict | None:
    """The identity a sweep folder's ``sweep.json`` holds (None if none can be read)."""
    try:
        theirs = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return theirs if isinstance(theirs, dict) else None


def _config_of(folder: Path) -> dict | None:
    """The config saved in a run folder, as JSON; None if there is none to read."""
    try:
        saved = json.loads((folder / runs.CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder; False also when its name cannot be one (too long).

    >>> _is_dir(Path("x" * 300)), _is_dir(Path("."))
    (False, True)
    """
    try:
        return path.is_dir()
    except OSError:
        return False


def adopt_legacy(out: Path, tasks: Sequence, keys: Sequence[str], config_of) -> list[str]:
    """Rename the run folders an older sweep named by :func:`legacy_folder_name` to their tasks'
    :func:`folder_name`, so that a rerun continues them; returns a note per old folder left alone.

    An old folder is a task's when its ``config.json`` is the task's config
    (``config_of(task)``, as JSON); two tasks whose old names collided
    (``data=/x/a-b.csv`` and ``data=/x/a/b.csv``) are told apart this way.
    A folder that is no task's (or whose task already has its folder) stays,
    and its task runs afresh in its own folder.
    """
    notes = []
    for task in tasks:
        old, new = out / legacy_folder_name(task, keys), out / folder_name(task, keys)
        if new.exists() or not _is_dir(old):
            continue
        saved = _config_of(old)
        try:
            mine = fpipeline.to_json(config_of(task))
        except FuncnetError:
            continue
        if saved is not None and json.loads(to_json_text(saved)) == json.loads(to_json_text(mine)):
            old.rename(new)
    for task in tasks:
        old = out / legacy_folder_name(task, keys)
        if _is_dir(old) and _config_of(old) is not None:
            notes.append(f"{old}: a run folder of an older sweep whose config is no task's of this "
                         "sweep; left as it is")
    return list(dict.fromkeys(notes))


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
