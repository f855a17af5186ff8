"""``funcnet sweep``: a grid of Config values × seeds, or a search of a space (sampled trials,
pruned by successive halving), run in parallel, one row per task."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from .. import experiments
from .. import pipeline as fpipeline
from .. import report as freport
from ..runtime import quiet_numpy
from .exits import Interrupt, debugging, fail, handle_errors
from .lines import echo_lines, figure_text
from .options import client_for, parse_seeds, where_options
from .outputs import data_inputs, refuse_folder_over_inputs


def _row_line(done: int, total: int, task, keys, row) -> str:
    """One line per finished task: where it is in the grid, then its figures or its error.

    >>> from funcnet.experiments import Task
    >>> _row_line(1, 4, Task("p.py", {"lr": 0.1}, 0), ["lr"], {"status": "ok",
    ...     "train_accuracy": 0.9, "dev_accuracy": 0.8, "test_accuracy": None, "seconds": 1.25})
    '[1/4] lr=0.1 seed 0: train 0.9000  dev 0.8000  1.2s'
    """
    point = " ".join(f"{k}={experiments.value_text(task.overrides[k])}" for k in keys)
    head = f"[{done}/{total}] {point + ' ' if point else ''}seed {task.seed}"
    if row["status"] == "interrupted":
        return f"{head}: interrupted"
    if row["status"] != "ok":
        return f"{head}: error: {row['error']}"
    figs = "  ".join(f"{k.split('_')[0]} {figure_text(row.get(k))}" for k in experiments.METRICS[:3]
                     if row.get(k) is not None)
    warning = f"  (warning: {row['warning']})" if row.get("warning") else ""
    return f"{head}: {figs}  {row.get('seconds', 0):.1f}s{warning}"


def _reporter(total: int, keys):
    """``on_row`` for the sweep: a tqdm bar over tasks on a terminal, and one line per task."""
    from tqdm import tqdm

    bar = tqdm(total=total, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False,
               unit="task", dynamic_ncols=True)
    count = [0]

    def on_row(i, task, row) -> None:
        if row["error"] == "not started":
            return
        count[0] += 1
        bar.update(1)
        line = _row_line(count[0], total, task, keys, row)
        bar.write(line, file=sys.stdout) if not bar.disable else click.echo(line)

    return on_row, bar.close


@click.command()
@click.argument("pipeline_file", metavar="PIPELINE", type=click.Path(dir_okay=False))
@click.option("--grid", "grid_items", multiple=True, metavar="KEY=V1,V2",
              help="A Config field and the values to try (repeatable: the grid is every "
                   "combination). A tuple field separates its values by ';': sizes=784,32,10;784,64,10.")
@click.option("--space", "space_items", multiple=True, metavar="KEY=SPEC",
              help="Search instead of a grid: a Config field and how to draw it (repeatable): "
                   "LOW..HIGH uniform (integers on an int field), log:LOW..HIGH log-uniform, "
                   "int:LOW..HIGH integers, choice:V1,V2 one of the values. Needs funcnet[search].")
@click.option("--trials", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --space: how many configurations to draw.  [default: 20]")
@click.option("--seed", "search_seed", type=click.IntRange(min=0), default=0, show_default=True,
              metavar="S", help="With --space: the seed the configurations are drawn from (the "
                                "runs' seeds are --seeds).")
@click.option("--sampler", type=click.Choice(experiments.SAMPLERS), default="random",
              show_default=True, help="With --space: Optuna's sampler: random, or tpe (the "
                                      "tree-structured Parzen estimator, learning from the trials told).")
@click.option("--halving", type=click.IntRange(min=2), is_flag=False, flag_value=3, default=None,
              metavar="[ETA]", help="With --space: successive halving: every trial runs to the "
                                    "first rung's budget, the best 1/ETA by dev accuracy go on, "
                                    "continuing their runs, up to the whole budget (ETA default 3).")
@click.option("--min-epochs", "min_epochs", type=click.IntRange(min=1), default=None, metavar="N",
              help="The first rung's budget in epochs (implies --halving; default: the "
                   "pipeline's epochs // ETA²).")
@click.option("--min-iterations", "min_iterations", type=click.IntRange(min=1), default=None,
              metavar="N", help="The same for full-batch pipelines, counted in iterations.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a Config field for every task, e.g. --set iterations=100.")
@click.option("--seeds", callback=parse_seeds, default="0", show_default=True,
              metavar="S1,S2,...", help="The seeds each grid point (or trial) runs with.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Folder for results.csv and one run folder per task; running the same "
                   "sweep again skips the tasks already done (a search goes on where it stood).")
@where_options
@click.option("--overwrite", is_flag=True,
              help="Let --out hold a different sweep (or a run): start afresh and run every task.")
@click.option("--plots/--no-plots", default=False, show_default=True,
              help="Draw each run's pictures in its folder, and a search's parallel.png and "
                   "curves.png in DIR (needs funcnet[plot]).")
@handle_errors
def sweep(pipeline_file, grid_items, space_items, trials, search_seed, sampler, halving,
          min_epochs, min_iterations, overrides, seeds, out, workers, scheduler, local_dask,
          overwrite, plots):
    """Run PIPELINE for every combination of --grid values and every seed, or search a --space.

    Tasks run in parallel: in local worker processes (--workers), or on a
    Dask cluster (--scheduler, --dask). Prints one line per finished task,
    then mean ± sd per grid point, best dev accuracy first (a search: its
    best trials); DIR/results.csv holds one row per task (a search: per
    trial, rung and seed). A failing task becomes a row with its error
    (exit 1, naming how many); Ctrl-C cancels the tasks not started and
    keeps every finished row (exit 130).

    \b
    Examples:
      funcnet sweep pipelines/mnist.py --grid learning_rate=0.05,0.1,0.2 \\
          --set iterations=100 --seeds 0,1,2 --out runs/lr
      funcnet sweep pipelines/mnist_mlp.py --grid sizes='784,64,10;784,128,10' \\
          --seeds 0,1 --out runs/width --dask
      funcnet sweep pipelines/mnist_mlp.py --space learning_rate=log:1e-4..1e-1 \\
          --space dropout=0..0.5 --trials 27 --halving 3 --min-epochs 2 --out runs/search
    """
    searching = _search_options(grid_items, space_items, trials, halving, min_epochs,
                                min_iterations)
    if searching:
        return _search(pipeline_file, space_items, trials or 20, search_seed, sampler, searching,
                       overrides, seeds, out, workers, scheduler, local_dask, overwrite, plots)
    pipe = fpipeline.load_pipeline(pipeline_file)
    grid = experiments.parse_grid(pipe.Config, grid_items)
    fixed = experiments.parse_sets(pipe.Config, overrides)
    seeds = _seeds_from(grid, fixed, seeds)
    _refuse_inputs(out, pipe, fixed, grid)
    total = len(seeds) * math.prod(len(v) for v in grid.values())
    on_row, close = _reporter(total, list(grid))
    with client_for(workers, scheduler, local_dask) as client, quiet_numpy(not debugging()), \
            Interrupt() as interrupt:
        try:
            frame = experiments.sweep(pipeline_file, grid, seeds, fixed, client=client,
                                      workers=workers, out=out, overwrite=overwrite, plots=plots,
                                      on_row=on_row, stop=lambda: interrupt.requested)
        finally:
            close()
    _report(frame, list(grid), Path(out), interrupt)


def _search_options(grid_items, space_items, trials, halving, min_epochs, min_iterations):
    """None for a grid sweep; for a search ``(η or None, minimum budget or None, its flag)``.
    Options of a search without ``--space`` and a grid beside it are usage errors."""
    if not space_items:
        given = [flag for flag, v in (("--trials", trials), ("--halving", halving),
                                      ("--min-epochs", min_epochs),
                                      ("--min-iterations", min_iterations)) if v is not None]
        if given:
            raise click.UsageError(f"{given[0]} searches a --space; give --space KEY=SPEC")
        return None
    if grid_items:
        raise click.UsageError("give --grid or --space, not both")
    if min_epochs is not None and min_iterations is not None:
        raise click.UsageError("give --min-epochs or --min-iterations, not both")
    minimum = min_epochs if min_epochs is not None else min_iterations
    flag = "--min-epochs" if min_epochs is not None else "--min-iterations" if minimum else None
    eta = halving if halving is not None else (3 if minimum is not None else None)
    return (eta, minimum, flag)


def _refuse_inputs(out, pipe, fixed: dict, grid: dict) -> None:
    """Refuse an ``out`` over the data the tasks read (their data and dataset folders)."""
    defaults = pipe.Config()
    refuse_folder_over_inputs(out, data_inputs(
        [fixed.get("data", getattr(defaults, "data", None)), *grid.get("data", ())],
        [fixed.get("dataset", getattr(defaults, "dataset", "mnist")), *grid.get("dataset", ())]))


def _search(pipeline_file, space_items, trials, seed, sampler, searching, overrides, seeds, out,
            workers, scheduler, local_dask, overwrite, plots):
    """``funcnet sweep --space``: the search, a line per run, then its best trials."""
    eta, minimum, flag = searching
    pipe = fpipeline.load_pipeline(pipeline_file)
    space = experiments.parse_space(pipe.Config, space_items)
    fixed = experiments.parse_sets(pipe.Config, overrides)
    seeds = _seeds_from({}, fixed, seeds)
    _refuse_inputs(out, pipe, fixed, {})
    unit = experiments.budget_field(pipe.Config)
    if flag is not None and unit is not None and flag != f"--min-{unit}":
        raise click.UsageError(f"{pipeline_file} counts its budget in {unit}: use --min-{unit}")
    keys = list(space)
    count = [0]

    def on_row(piece, task, row) -> None:
        count[0] += 1
        click.echo(_search_line(count[0], piece, task, keys, row, unit))

    with client_for(workers, scheduler, local_dask) as client, quiet_numpy(not debugging()), \
            Interrupt() as interrupt:
        frame = experiments.search(pipeline_file, space, trials, halving=eta, min_budget=minimum,
                                   seeds=seeds, overrides=fixed, sampler=sampler, seed=seed,
                                   client=client, workers=workers, out=out, overwrite=overwrite,
                                   plots=plots, on_row=on_row, stop=lambda: interrupt.requested)
    _search_report(frame, keys, Path(out), interrupt, trials, len(seeds))


def _search_line(done: int, piece, task, keys, row, unit) -> str:
    """One line per finished run of a search: trial, rung and budget, its point, its figures.

    >>> from funcnet.experiments import Task
    >>> _search_line(3, (2, 1, 0), Task("p.py", {"lr": 0.000123456, "h": 64}, 0), ["lr", "h"],
    ...     {"status": "ok", "dev_accuracy": 0.8, "train_accuracy": 0.9, "budget": 3,
    ...      "seconds": 1.25}, "epochs")
    '[3] trial 2 rung 1 (3 epochs) lr=0.0001235 h=64 seed 0: train 0.9000  dev 0.8000  1.2s'
    """
    t, r, _ = piece
    budget = row.get("budget")
    spent = f" ({budget} {unit})" if budget is not None and unit else ""
    point = " ".join(f"{k}={short_text(task.overrides[k])}" for k in keys)
    line = _row_line(done, 0, task, [], row)
    return f"[{done}] trial {t} rung {r}{spent} {point} " + line.split("] ", 1)[1]


def short_text(value) -> str:
    """A searched value in a line or a table: floats to 4 significant digits.

    >>> short_text(0.000123456), short_text(64), short_text((784, 10)), short_text(0.25)
    ('0.0001235', '64', '784,10', '0.25')
    """
    if isinstance(value, float):
        return f"{value:.4g}"
    return experiments.value_text(value)


def best_lines(best, keys) -> list[str]:
    """The table of a search's best trials (:func:`funcnet.experiments.best_trials`).

    >>> import pandas as pd
    >>> print("\\n".join(best_lines(pd.DataFrame({"trial": [4], "lr": [0.00123], "budget": [9],
    ...     "dev_accuracy": [0.975], "decision": ["done"]}), ["lr"])))
    trial       lr  budget  dev_accuracy  decision
    4      0.00123       9        0.9750  done
    """
    columns = ["trial", *keys, "budget", "dev_accuracy", "decision"]
    rows = [[short_text(v) for v in row[:1 + len(keys)]]
            + [str(row[-3]), figure_text(row[-2]), str(row[-1])]
            for row in best.reindex(columns=columns).itertuples(index=False)]
    return freport.table(columns, rows)


def _search_report(frame, keys, out: Path, interrupt, trials: int, seeds: int) -> None:
    """The best trials, the budget spent, then how the search ended (exit 0, 1 or 130)."""
    best = experiments.best_trials(frame)
    if len(best):
        echo_lines(["", "best trials (dev accuracy at the largest budget each reached):",
                    *best_lines(best, keys)])
    spent, whole = experiments.budget_spent(frame, trials * seeds)
    if whole:
        click.echo(f"budget spent: {spent} of {whole} {frame.attrs.get('unit') or 'budget'} "
                   f"({100 * spent / whole:.0f}% of running every trial to the end)")
    statuses = frame["status"] if len(frame) else frame.get("status", [])
    if interrupt.requested or (len(frame) and (statuses == "interrupted").any()):
        click.echo(f"funcnet: {interrupt.what()}; the finished rows are in {out / 'results.csv'} "
                   "(run the same command again to go on)", err=True)
        sys.exit(interrupt.exit_code())
    failed = frame[statuses == "error"]["trial"].nunique() if len(frame) else 0
    if failed:
        fail(f"{failed} of {trials} trials failed (their errors are in the error column of "
             f"{out / 'results.csv'})", 1)


def _seeds_from(grid: dict, fixed: dict, seeds: tuple) -> tuple:
    """The seeds to run: ``--seeds``; else those a ``--grid seed=...`` or ``--set seed=...``
    gives (taken out of the grid or the overrides). With ``--seeds`` given as well, the seed
    stays where it is and the sweep refuses it in one line.
    """
    ctx = click.get_current_context(silent=True)
    given = ctx is not None and ctx.get_parameter_source("seeds") is not ParameterSource.DEFAULT
    if given:
        return seeds
    if "seed" in grid and "seed" not in fixed and None not in grid["seed"]:
        return tuple(int(s) for s in grid.pop("seed"))
    if "seed" in fixed and "seed" not in grid and fixed["seed"] is not None:
        return (int(fixed.pop("seed")),)
    return seeds


def _report(frame, keys, out: Path, interrupt) -> None:
    """The summary table, then how the sweep ended: exit 0, 1 (failures) or 130 (Ctrl-C)."""
    for note in frame.attrs.get("notes", []):
        click.echo(f"funcnet: note: {note}", err=True)
    summary = experiments.summarize(frame, by=keys)
    columns = [c for c in experiments.METRICS if c in summary and summary[c].notna().any()]
    if len(summary) and summary["runs"].sum():
        echo_lines(["", *freport.summary_table(summary, keys, columns)])
    finished = frame["status"].isin(["ok", "error"]).sum()
    if finished < len(frame):
        click.echo(f"funcnet: {interrupt.what()} after {finished} of {len(frame)} tasks; "
                   f"the finished rows are in {out / 'results.csv'}", err=True)
        sys.exit(interrupt.exit_code())
    failed = (frame["status"] == "error").sum()
    if failed:
        fail(f"{failed} of {len(frame)} tasks failed (their errors are in the error column of "
              f"{out / 'results.csv'})", 1)
