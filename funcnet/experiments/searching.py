"""A search: trials drawn from a space, pruned by successive halving, run on the engine's pools.

:func:`search` draws ``trials`` configurations of a pipeline's Config
(:mod:`.spaces`), runs each to the first rung's budget, and continues the
best 1/η of each rung from their saved runs up to the pipeline's whole
budget (:mod:`.halving`). It returns one row per trial, rung and seed, the
rows :func:`best_trials` ranks; with ``out`` the folder holds ``sweep.json``
(what the search is), ``results.csv`` (every row, rewritten atomically as
rows come), a run folder per trial and seed (``trial-<T>_<folder name>``)
and, with ``plots``, ``parallel.png`` and ``curves.png``. The same command
run again (after Ctrl-C or ``kill -9``) reads the rows back and goes on
where the search stood, with the same decisions.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd

from .. import plots as fplots
from .. import rng, runs
from ..errors import ConfigError
from . import runners
from .halving import Ladder, mean_dev, rungs
from .layout import RESULTS, prepare_sweep, write_table
from .rows import budget_field, task_config
from .spaces import parse_space, space_text
from .tasks import Task, _load, check_fixed, folder_name, parse_sets, value_text

OnRow = Callable[[tuple, Task, dict], None]
FIRST = ("trial",)
LAST = ("seed", "rung", "budget")
PICTURES = ("parallel.png", "curves.png")


def _budgets(pipe, path: str, fixed: dict, space: Mapping, seeds, halving: int | None,
             min_budget: int | None) -> tuple[str | None, list]:
    """The budget's field and the rungs: one rung (the whole run) without halving."""
    unit = budget_field(pipe.Config)
    if halving is None:
        if min_budget is not None:
            raise ConfigError("a minimum budget (--min-epochs, --min-iterations) needs --halving")
        if unit is None or unit in space:
            return None, [None]
        return unit, [int(getattr(task_config(pipe, Task(path, fixed, seeds[0])), unit))]
    if unit is None:
        raise ConfigError(f"{path}: --halving needs a Config field epochs or iterations "
                          "(the budget a rung grants)")
    if unit in space:
        raise ConfigError(f"--space {unit}: halving spends {unit} as its budget; it cannot be "
                          "searched too")
    whole = int(getattr(task_config(pipe, Task(path, fixed, seeds[0])), unit))
    low = max(1, whole // int(halving) ** 2) if min_budget is None else int(min_budget)
    return unit, rungs(low, whole, int(halving))


def _identity(path: str, space, trials, seeds, fixed, sampler, seed, halving, unit, budgets) -> dict:
    """What makes a search this search (``sweep.json``)."""
    return {"pipeline": path, "space": space_text(space), "trials": int(trials),
            "sampler": sampler, "seed": int(seed), "seeds": [int(s) for s in seeds],
            "halving": halving, "budget": unit, "rungs": budgets,
            "overrides": {k: value_text(v) if isinstance(v, (tuple, list)) else v
                          for k, v in fixed.items()}}


def trial_folder(out: Path, trial: int, task: Task, keys: Sequence[str]) -> Path:
    """Trial ``trial``'s run folder for ``task``'s seed: ``trial-<T>_`` and its folder name.

    >>> trial_folder(Path("s"), 3, Task("p.py", {"lr": 0.5}, 0), ["lr"]).name
    'trial-3_lr=0.5_seed-0_f750a1005e'
    """
    return Path(out) / f"trial-{trial}_{folder_name(task, keys)}"


def search(pipeline: str | Path, space: Mapping, trials: int, *, halving: int | None = 3,
           min_budget: int | None = None, seeds: Sequence[int] = (0,), overrides=None,
           sampler: str = "random", seed: int = 0, client=None, workers: int | None = None,
           threads: int = 1, out: str | Path | None = None, overwrite: bool = False,
           plots: bool = False, on_row: OnRow | None = None,
           stop: Callable[[], bool] | None = None) -> pd.DataFrame:
    """Search ``space`` (``{field: Dimension or --space spec}``) with ``trials`` configurations
    of ``pipeline``, each run with every seed; one row per trial, rung and seed.

    ``halving`` is η (None: every trial runs its whole budget); the rungs
    spend ``min_budget`` (default: the whole budget // η², at least 1)
    times powers of η of the Config's ``epochs`` (or ``iterations``) while
    the Config keeps its whole length (the schedule is the whole run's).
    ``sampler`` is Optuna's ``random`` or ``tpe``, seeded from ``seed``.
    Rows: ``trial``, the searched fields and the fixed ones, ``seed``,
    ``rung``, ``budget``, the figures of ``metrics.json``, ``status``,
    ``error``, ``warning`` and ``decision`` (promoted, pruned, done,
    failed). A failing trial is rows with status error (the search goes
    on); a stop (``stop()`` true, Ctrl-C) ends the search after the running
    runs stop, their rows ``interrupted``. The data and split are checked
    before any trial runs. ``on_row((trial, rung, seed), task, row)`` is
    called as each row comes. Without ``out`` the runs are kept in a
    temporary folder (removed at the end) so that promoted trials continue;
    on a Dask cluster pass an ``out`` its workers see at the same path.
    """
    pipe, path = _load(pipeline)
    space = parse_space(pipe.Config, space)
    fixed = parse_sets(pipe.Config, overrides or {})
    check_fixed(fixed, space, "--space")
    seeds = tuple(int(s) for s in seeds)
    if not space or int(trials) < 1 or not seeds:
        raise ConfigError("search: expected a space of at least one field, --trials ≥ 1 and a seed")
    unit, budgets = _budgets(pipe, path, fixed, space, seeds, halving, min_budget)
    if out is None and len(budgets) > 1:  # promoted trials continue their saved runs
        with tempfile.TemporaryDirectory(prefix="funcnet-search-") as scratch:
            return search(pipeline, space, trials, halving=halving, min_budget=min_budget,
                          seeds=seeds, overrides=fixed, sampler=sampler, seed=seed, client=client,
                          workers=workers, threads=threads, out=scratch, overwrite=True,
                          plots=False, on_row=on_row, stop=stop)
    from .studies import _check_data

    _check_data(Task(path, fixed, seeds[0]))
    keys = list(space)
    ladder = Ladder(space, trials, seeds, budgets, halving or 2, sampler, rng.key(seed))
    where = runners.pool(int(trials) * len(seeds), workers, client, threads=threads, plots=plots,
                         stop=stop)
    out = Path(out) if out is not None else None
    identity = _identity(path, space, trials, seeds, fixed, sampler, seed, halving, unit, budgets)
    with runs.lock(out) if out is not None else contextlib.nullcontext():
        if out is not None:
            prepare_sweep(out, path, [], [], overwrite, identity=identity)
            if not overwrite:
                _read_back(out, ladder, keys)
        job = _jobber(ladder, path, fixed, keys, out, budgets)
        interrupted = _drive(ladder, where, job, stop, on_row, lambda: _write(out, ladder, fixed, keys))
        frame = _frame(ladder, fixed, keys, interrupted)
        frame.attrs.update(by=keys, budgets=budgets, unit=unit)
        if out is not None:
            write_table(out / RESULTS, frame)
            if plots and fplots.available() and len(frame):
                sweep_pictures(out, frame, space)
    return frame


def _jobber(ladder: Ladder, path: str, fixed: dict, keys, out: Path | None, budgets):
    """``job(trial, rung, seed) -> (Task, Job)``: the run to do for a piece of the search."""
    def job(t: int, r: int, s: int):
        task = Task(path, {**fixed, **ladder.configs[t]}, s)
        folder = trial_folder(out, t, task, keys) if out is not None else None
        return task, runners.Job(task, folder, budgets[r])
    return job


def _drive(ladder: Ladder, where, job, stop, on_row, save) -> list:
    """Run the ladder's pieces on the pool until every trial is decided or a stop; the rows of
    runs interrupted are returned (the others are the ladder's)."""
    running: set = set()
    interrupted: list = []
    halted = False
    try:
        while True:
            if not halted and stop is not None and stop():
                halted = True
                where.interrupt()
            todo = [] if halted else [p for p in ladder.ready() if p not in running]
            while todo and where.free() > 0:
                piece = todo.pop(0)
                running.add(piece)
                where.submit(piece, job(*piece)[1])
            if not where.busy():
                break
            for piece, row in where.wait(0.2):
                running.discard(piece)
                if row["status"] == "interrupted":
                    halted = True
                    interrupted.append((piece, row))
                else:
                    ladder.record(*piece, row)
                    ladder.advance()
                    save()
                if on_row is not None:
                    on_row(piece, job(*piece)[0], row)
            if halted and isinstance(where, (runners.Serial, runners.OnDask)):
                where.interrupt()
    except KeyboardInterrupt:
        where.interrupt()
        with contextlib.suppress(KeyboardInterrupt):
            while where.busy() and not isinstance(where, runners.OnDask):
                for piece, row in where.wait(0.2):
                    interrupted.append((piece, row))
    finally:
        where.close()
    return interrupted


def _row(ladder: Ladder, piece: tuple, row: Mapping, fixed: dict, keys) -> dict:
    """A result row: trial, the searched fields, the fixed ones, seed, rung, budget, the rest."""
    t, r, s = piece
    first = {"trial": t, **{k: row.get(k) for k in keys}, **{k: row.get(k) for k in fixed}}
    budget = row.get("budget")
    if budget is None or (isinstance(budget, float) and math.isnan(budget)):
        budget = ladder.budgets[r]
    rest = {k: v for k, v in row.items() if k not in first and k not in ("seed", "budget")}
    return {**first, "seed": s, "rung": r, "budget": budget, **rest,
            "decision": ladder.decision(t, r)}


def _rows(ladder: Ladder, fixed: dict, keys, interrupted: Sequence = ()) -> list[dict]:
    pieces = [(k, v) for k, v in ladder.rows.items() if k[0] < len(ladder.configs)]
    pieces += [(p, row) for p, row in interrupted if p not in ladder.rows]
    return [_row(ladder, p, row, fixed, keys) for p, row in sorted(pieces, key=lambda kv: kv[0])]


def _frame(ladder: Ladder, fixed: dict, keys, interrupted: Sequence = ()) -> pd.DataFrame:
    frame = pd.DataFrame(_rows(ladder, fixed, keys, interrupted))
    for column in ("steps", "budget"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    return frame


def _write(out: Path | None, ladder: Ladder, fixed: dict, keys) -> None:
    if out is not None:
        write_table(out / RESULTS, _frame(ladder, fixed, keys))


def _read_back(out: Path, ladder: Ladder, keys) -> None:
    """The rows of an earlier try of this search (``results.csv``), recorded and decided anew.

    Rows interrupted are dropped (their runs continue from their folders).
    Raises ConfigError if a row's trial is not the configuration the
    sampler draws now (another version of Optuna, say).
    """
    from .studies import read_results

    path = out / RESULTS
    if not path.is_file():
        return
    try:
        table = read_results(path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ConfigError(f"{path}: cannot be read back ({exc}); pass --overwrite to start afresh") from None
    needed = {"trial", "rung", "seed", "status"}
    if len(table) and not needed <= set(table):
        raise ConfigError(f"{path}: not a search's results (no {', '.join(sorted(needed - set(table)))}); "
                          "pass --overwrite to start afresh")
    rows = [r for r in table.to_dict("records") if r["status"] in ("ok", "error")]
    for row in rows:
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        ladder.record(int(row["trial"]), int(row["rung"]), int(row["seed"]), clean)
    ladder.advance()
    for row in rows:
        t = int(row["trial"])
        if t < len(ladder.configs):
            drawn = {k: value_text(ladder.configs[t][k]) for k in keys}
            saved = {k: value_text(row[k]) for k in keys}
            if drawn != saved:
                raise ConfigError(f"{path}: trial {t} holds {saved}, but the sampler now draws "
                                  f"{drawn} (another Optuna version?); pass --overwrite to start afresh")


def budget_spent(frame: pd.DataFrame, runs_: int | None = None) -> tuple[int, int]:
    """``(spent, whole)``: the budget the runs of a search spent (each trial and seed: the
    largest budget it reached) and what running every one of ``runs_`` (default: those in
    ``frame``) to the whole budget (``frame.attrs["budgets"][-1]``) would spend.

    >>> f = pd.DataFrame({"trial": [0, 0, 1], "seed": [0, 0, 0], "budget": [1, 3, 1],
    ...                   "status": ["ok"] * 3})
    >>> f.attrs["budgets"] = [1, 3]
    >>> budget_spent(f)
    (4, 6)
    """
    last = (frame.attrs.get("budgets") or [None])[-1]
    if last is None or not len(frame):
        return 0, 0
    ran = frame[frame["status"].isin(["ok", "error"])].dropna(subset=["budget"])
    spent = int(ran.groupby(["trial", "seed"])["budget"].max().sum()) if len(ran) else 0
    count = runs_ if runs_ is not None else frame.groupby(["trial", "seed"]).ngroups
    return spent, int(count) * int(last)


def best_trials(frame: pd.DataFrame, top: int | None = 10) -> pd.DataFrame:
    """The trials of a search's rows, best first: each at the highest rung it finished, its
    mean dev accuracy over its seeds there; a larger budget ranks first, then dev accuracy.

    >>> f = pd.DataFrame({"trial": [0, 0, 1, 2], "lr": [0.1, 0.1, 0.2, 0.3], "seed": [0] * 4,
    ...                   "rung": [0, 1, 0, 0], "budget": [1, 3, 1, 1],
    ...                   "dev_accuracy": [0.5, 0.7, 0.4, 0.6], "status": ["ok"] * 4,
    ...                   "decision": ["promoted", "done", "pruned", "pruned"]})
    >>> best_trials(f)[["trial", "lr", "budget", "dev_accuracy", "decision"]].to_dict("list")
    {'trial': [0, 2, 1], 'lr': [0.1, 0.3, 0.2], 'budget': [3, 1, 1], 'dev_accuracy': [0.7, 0.6, 0.4], 'decision': ['done', 'pruned', 'pruned']}
    """
    ok = frame[frame["status"] == "ok"] if len(frame) else frame
    if not len(ok):
        return pd.DataFrame(columns=["trial", "budget", "dev_accuracy", "decision"])
    skip = {"seed", "rung", "budget", "status", "error", "warning", "decision", "stopped",
            "steps", "seconds", *(c for c in ok.columns if c.endswith("accuracy") or c == "loss")}
    fields = [c for c in ok.columns if c not in skip]
    rows = []
    for t, part in ok.groupby("trial", sort=True):
        top_rung = part[part["rung"] == part["rung"].max()]
        row = {c: top_rung[c].iloc[0] for c in fields}
        row.update(rung=int(top_rung["rung"].iloc[0]), budget=top_rung["budget"].iloc[0],
                   seeds=len(top_rung), dev_accuracy=mean_dev(top_rung.to_dict("records")),
                   decision=top_rung["decision"].iloc[0] if "decision" in top_rung else "")
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(["budget", "dev_accuracy", "trial"],
                                           ascending=[False, False, True], kind="stable")
    table = table.reset_index(drop=True)
    return table if top is None else table.head(top)


def sweep_pictures(out: Path, frame: pd.DataFrame, space: Mapping) -> list[Path]:
    """``parallel.png`` and ``curves.png`` of a search's rows in ``out`` (needs matplotlib)."""
    logs = [k for k, d in space.items() if getattr(d, "kind", "") == "log"]
    table = best_trials(frame, None)
    return [fplots.parallel(table, list(space), out / PICTURES[0], logs=logs),
            fplots.search_curves(frame, out / PICTURES[1])]
