"""``funcnet run``: train a pipeline once, over several seeds, or as the tutorial's ablation."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import click
import pandas as pd

from .. import experiments
from .. import pipeline as fpipeline
from .. import report as freport
from .. import runs
from .common import (EXIT_NONFINITE, _debug, _echo_lines, _fail, _fmt, _quiet_numpy,
                     _warn, _warn_diverged, data_inputs, final_lines, handle_errors,
                     refuse_folder_over_inputs, refuse_sweep_folder, write_atomic)
from .training import _execute, _finish, _Interrupt, _Options, _plot_hint
from .workers import client_for, where_options

FIGURES = ("train_accuracy", "dev_accuracy", "test_accuracy", "loss", "seconds")


ABLATION_SEEDS = (0, 1, 2)


def _present(frame: pd.DataFrame, columns) -> list[str]:
    """The columns of ``frame`` that hold at least one figure."""
    return [c for c in columns if c in frame and pd.to_numeric(frame[c], errors="coerce").notna().any()]


def _nothing_left(resumed, result) -> bool:
    """Whether a resumed run made no step (it had already made as many as asked)."""
    return (resumed is not None and not result.stopped
            and int(result.state.step) == int(resumed.state.step))


def _run_single(pipe, config, out_dir, resumed, opts, interrupt) -> None:
    config = fpipeline.resolve_seed(config)
    result = _execute(pipe, config, out_dir, resumed, opts, interrupt)
    if _nothing_left(resumed, result):
        click.echo(f"funcnet: nothing left to train: the run has made {int(resumed.state.step)} "
                   "steps, all that its config asks for; the folder is left as it was", err=True)
        return
    _echo_lines(final_lines(result))  # the figures first: a failed save still shows them
    _warn_diverged(result)
    if out_dir is not None:
        history = runs.join_history(resumed.history if resumed else None, result.history)
        _finish(out_dir, result, config, opts, history)
        _plot_hint(out_dir, opts)
    if result.stopped == "interrupted":
        click.echo(f"funcnet: {interrupt.what()}; kept the last good state"
                   + (f" in {out_dir}" if out_dir else ""), err=True)
        sys.exit(interrupt.exit_code())
    if result.stopped:
        _fail(result.stopped + (f"; saved in {out_dir}" if out_dir else ""), EXIT_NONFINITE)


def _rows(tasks, folders, opts, interrupt, client, workers):
    """The tasks' rows in task order, run by the experiments engine; no row for a run cut short."""
    rows = experiments.execute(tasks, workers=workers, client=client, folders=folders,
                               plots=opts.plots, stop=lambda: interrupt.requested, ordered=True)
    return [row for _, row in rows if row["status"] != "interrupted"]


def _failures(rows, name) -> None:
    """Exit 1 naming the first task that failed with an error (not a non-finite stop), if any."""
    failed = [f"{name(r)}: {r['error']}" for r in rows if r["status"] == "error" and not experiments.trained(r)]
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        _fail(failed[0] + more, 1)


def _frame(rows, first: str) -> pd.DataFrame:
    """The table of the runs that trained: ``first``, seed, the figures, steps, stopped."""
    columns = [*dict.fromkeys([first, "seed"]), *FIGURES, "steps", "stopped"]
    return pd.DataFrame([{c: r.get(c) for c in columns} for r in rows if experiments.trained(r)],
                        columns=columns)


def _run_seeds(pipeline_file, items, seeds, out_dir, opts, interrupt, client, workers) -> None:
    tasks = experiments.seeds(pipeline_file, seeds, items)
    folders = [out_dir / f"seed-{t.seed}" if out_dir is not None else None for t in tasks]
    rows = _rows(tasks, folders, opts, interrupt, client, workers)
    for i, row in enumerate(rows, 1):
        if opts.lines:
            click.echo(f"seed {row['seed']} ({i}/{len(seeds)})")
            figures = (final_lines(SimpleNamespace(metrics=row)) if experiments.trained(row)
                       else [row["error"]])
            _echo_lines(f"  {line}" for line in figures)
        if row.get("warning"):
            _warn(f"seed {row['seed']}: {row['warning']}")
    frame = _frame(rows, "seed")
    if out_dir is not None:
        write_atomic(out_dir / "seeds.csv", frame.to_csv(index=False))
        _plot_hint(out_dir, opts)
    if opts.lines:
        click.echo()
    if len(frame):
        _echo_lines(freport.seeds_table(frame, _present(frame, FIGURES)))
    if len(rows) < len(seeds):
        click.echo(f"funcnet: {interrupt.what()} after {len(rows)} of {len(seeds)} seeds"
                   + (f"; runs kept in {out_dir}" if out_dir else ""), err=True)
        sys.exit(interrupt.exit_code())
    _failures(rows, lambda r: f"seed {r['seed']}")
    stops = [f"seed {r.seed}: {r.stopped}" for r in frame.itertuples() if r.stopped]
    if stops:
        more = f" (and {len(stops) - 1} more)" if len(stops) > 1 else ""
        _fail(stops[0] + more + (f"; saved in {out_dir}" if out_dir else ""), EXIT_NONFINITE)


def _ablation_line(row, width: int) -> str:
    figs = "  ".join(f"{k.split('_')[0]} {_fmt(row.get(k))}" for k in FIGURES[:3]
                     if row.get(k) is not None)
    flag = "  (stopped: non-finite loss)" if row.get("stopped") else ""
    body = (f"{figs}  {row['seconds']:.1f}s{flag}" if experiments.trained(row)
            else f"error: {row['error']}")
    return f"{row['variant']:<{width}}  seed {row['seed']}: {body}"


def _run_ablation(pipe, pipeline_file, items, seeds, out_dir, opts, interrupt, client,
                  workers) -> None:
    variants, note = experiments.ablation_variants(pipe, pipeline_file)
    if note:
        click.echo(f"funcnet: note: {note}", err=True)
    tasks = experiments.ablation(pipeline_file, seeds, items)
    rows = _rows(tasks, [None] * len(tasks), opts, interrupt, client, workers)
    if opts.lines:
        _echo_lines(_ablation_line(r, max(len(n) for n, _ in variants)) for r in rows)
    frame = _frame(rows, "variant")
    if out_dir is not None:
        write_atomic(out_dir / "ablation.csv", frame.to_csv(index=False))
    if opts.lines:
        click.echo()
    if len(frame):
        accs = _present(frame, FIGURES[:3])
        _echo_lines(freport.ablation_table(frame, accs, variants[0][0], accs[-1] if accs else None))
        if not note:
            _echo_lines([""] + [f"fix {q}: {d}" for q, d in pipe.QUIRKS.items()])
    if len(rows) < len(tasks):
        click.echo(f"funcnet: {interrupt.what()} after {len(rows)} of {len(tasks)} runs", err=True)
        sys.exit(interrupt.exit_code())
    _failures(rows, lambda r: f"{r['variant']}, seed {r['seed']}")


def _parse_seeds(ctx, param, value):
    """``--seeds 1,2,3`` as a tuple of distinct non-negative ints."""
    if value is None:
        return None
    try:
        seeds = tuple(int(s) for s in value.split(",") if s.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers such as 0,1,2; got {value!r}")
    if not seeds or min(seeds) < 0 or len(set(seeds)) < len(seeds):
        raise click.BadParameter(
            f"expected distinct non-negative integers such as 0,1,2; got {value!r}")
    return seeds


def _override_items(overrides, seed, data) -> list[str]:
    """``--set`` items, then ``--seed`` and ``--data`` as items of their own.

    >>> _override_items(("epochs=2",), 1, None)
    ['epochs=2', 'seed=1']
    """
    return [*overrides, *([f"seed={seed}"] if seed is not None else []),
            *([f"data={data}"] if data is not None else [])]


@click.command()
@click.argument("pipeline_file", metavar="PIPELINE", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=None, help="Random seed (the pipeline's default if omitted).")
@click.option("--seeds", callback=_parse_seeds, default=None, metavar="S1,S2,...",
              help="Run once per seed and print each run's figures and their mean ± sd; "
                   "with --out, DIR/seeds.csv and each run in DIR/seed-<S>/.")
@click.option("--ablation", is_flag=True,
              help="For tutorial pipelines (Config.tutorial_quirks): run with all quirks, each fix "
                   "alone and all fixes over seeds 0,1,2 (or --seeds) and print what each fix is worth.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a Config field, e.g. --set learning_rate=0.05 (repeatable).")
@click.option("--data", type=click.Path(), default=None,
              help="A CSV file (Kaggle format) or a folder with the IDX files.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for config.json, metrics.json, history.csv, model.safetensors, "
                   "state.safetensors and the pictures.")
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue the run saved in this --out folder (only iterations, epochs, "
                   "log_every and patience may change).")
@click.option("--overwrite", is_flag=True,
              help="Let --out replace a run already saved in that folder.")
@click.option("--plots/--no-plots", default=True, show_default=True,
              help="With --out, draw curves.png, confusion.png, mistakes.png and weights.png "
                   "(needs funcnet[plot]).")
@click.option("--quiet", "-q", is_flag=True, help="Print the final figures only.")
@click.option("--verbose", "-v", is_flag=True, help="Also print every history record in full.")
@where_options
@handle_errors
def run(pipeline_file, seed, seeds, ablation, overrides, data, out, resume, overwrite, plots, quiet,
        verbose, workers, scheduler, local_dask):
    """Run PIPELINE (a pipeline file such as pipelines/mnist.py).

    Prints a metrics line per epoch (per 10 iterations for full-batch runs),
    then the final train/dev/test accuracy and the training time. Ctrl-C (or
    SIGTERM) stops after the current step and keeps the last good state
    (exit 130; 143 for SIGTERM).

    \b
    Examples:
      funcnet run pipelines/mnist.py --seed 0 --out runs/mnist
      funcnet run pipelines/mnist.py --resume runs/mnist --set iterations=1000
      funcnet run pipelines/mnist_mlp.py --set epochs=5 --seeds 0,1,2 --out runs/mlp
      funcnet run pipelines/mnist.py --ablation --quiet

    The runs of --seeds and --ablation are tasks run in parallel (see
    funcnet sweep): one worker process per core unless --workers says
    otherwise, each run computing with one BLAS thread.
    """
    if resume and (seeds or ablation):
        raise click.UsageError(
            "--resume continues one run; it cannot be combined with --seeds or --ablation")
    if seed is not None and seeds:
        raise click.UsageError("give --seed or --seeds, not both")
    if (workers or scheduler or local_dask) and not (seeds or ablation):
        raise click.UsageError("--workers, --scheduler and --dask spread the runs of --seeds or "
                               "--ablation; a single run runs here")
    pipe = fpipeline.load_pipeline(pipeline_file)
    items = _override_items(overrides, seed, data)
    resumed = runs.resume(resume, pipe, items) if resume else None
    config = resumed.config if resume else fpipeline.apply_overrides(pipe.Config(), items)
    out_dir = Path(out) if out else (Path(resume) if resume else None)
    here = bool(resume) and Path(resume).resolve() == out_dir.resolve()
    if out_dir is not None:  # before the folder is claimed: nothing written yet
        refuse_sweep_folder(out_dir)
        refuse_folder_over_inputs(out_dir, data_inputs([getattr(config, "data", None)],
                                                       [getattr(config, "dataset", "mnist")]))
    opts = _Options(lines=not quiet, bar=not quiet, verbose=verbose and not quiet, plots=plots)
    claim = runs.claim(out_dir, overwrite=overwrite, resuming=here) if out_dir else nullcontext()
    with claim, client_for(workers, scheduler, local_dask) as client, \
            _quiet_numpy(_debug()), _Interrupt() as interrupt:
        shared = [i for i in items if not i.startswith("seed=")]  # each task has its own seed
        if seeds or ablation:  # bad data or a bad split stop here, with their own exit code
            fpipeline.check(pipe, fpipeline.resolve_seed(config))
        if ablation:
            chosen = seeds or ((seed,) if seed is not None else ABLATION_SEEDS)
            _run_ablation(pipe, pipeline_file, shared, chosen, out_dir, opts, interrupt, client,
                          workers)
        elif seeds:
            _run_seeds(pipeline_file, shared, seeds, out_dir, opts, interrupt, client, workers)
        else:
            _run_single(pipe, config, out_dir, resumed, opts, interrupt)

