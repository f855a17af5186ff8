"""``funcnet sweep``: a grid of Config values × seeds, run in parallel, one row per task."""

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
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a Config field for every task, e.g. --set iterations=100.")
@click.option("--seeds", callback=parse_seeds, default="0", show_default=True,
              metavar="S1,S2,...", help="The seeds each grid point runs with.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Folder for results.csv and one run folder per task; running the same "
                   "sweep again skips the tasks already done.")
@where_options
@click.option("--overwrite", is_flag=True,
              help="Let --out hold a different sweep (or a run): start afresh and run every task.")
@click.option("--plots/--no-plots", default=False, show_default=True,
              help="Draw each run's pictures in its folder (needs funcnet[plot]).")
@handle_errors
def sweep(pipeline_file, grid_items, overrides, seeds, out, workers, scheduler, local_dask,
          overwrite, plots):
    """Run PIPELINE for every combination of --grid values and every seed.

    Tasks run in parallel: in local worker processes (--workers), or on a
    Dask cluster (--scheduler, --dask). Prints one line per finished task,
    then mean ± sd per grid point, best dev accuracy first; DIR/results.csv
    holds one row per task. A failing task becomes a row with its error
    (exit 1, naming how many); Ctrl-C cancels the tasks not started and
    keeps every finished row (exit 130).

    \b
    Examples:
      funcnet sweep pipelines/mnist.py --grid learning_rate=0.05,0.1,0.2 \\
          --set iterations=100 --seeds 0,1,2 --out runs/lr
      funcnet sweep pipelines/mnist_mlp.py --grid sizes='784,64,10;784,128,10' \\
          --seeds 0,1 --out runs/width --dask
    """
    pipe = fpipeline.load_pipeline(pipeline_file)
    grid = experiments.parse_grid(pipe.Config, grid_items)
    fixed = experiments.parse_sets(pipe.Config, overrides)
    seeds = _seeds_from(grid, fixed, seeds)
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
