"""``funcnet run``: train a pipeline once, over several seeds, or as the tutorial's ablation."""

from __future__ import annotations

import json
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import attrs
import click

from .. import experiments
from .. import pipeline as fpipeline
from .. import plots as fplots
from .. import report as freport
from .. import runs
from ..runtime import keep_freed_memory, quiet_numpy
from .exits import EXIT_NONFINITE, Interrupt, debugging, fail, handle_errors
from .lines import (echo_lines, figure_text, final_lines, heartbeat_line, progress_line, start_line,
                    warn, warn_diverged)
from .options import client_for, parse_seeds, where_options
from .outputs import data_inputs, refuse_folder_over_inputs, refuse_sweep_folder

@attrs.frozen
class _Options:
    """How a run reports: metrics lines, the progress bar, records, pictures."""

    lines: bool = True
    bar: bool = True
    verbose: bool = False
    plots: bool = True


# Without a terminal (piped, a notebook's !funcnet), a line at least this often, in seconds
# (FUNCNET_HEARTBEAT sets another interval).
HEARTBEAT = 10.0


def _heartbeat() -> float:
    import os
    try:
        return max(0.0, float(os.environ.get("FUNCNET_HEARTBEAT", HEARTBEAT)))
    except ValueError:
        return HEARTBEAT


def _heartbeats(last: dict, lock, every: float, clock):
    """``(start, stop)`` of a thread that, every ``every`` seconds without a printed line,
    prints where the run is (:func:`heartbeat_line` of ``last["snap"]``), however long a step takes."""
    done = threading.Event()

    def beat():
        while not done.wait(min(1.0, every / 4)):
            with lock:
                since = clock() - last["time"]
                if since >= every:
                    snap = last["snap"]
                    click.echo(heartbeat_line(snap, since) if snap is not None else
                               f"  no step finished yet, {since:.1f} s since the last line")
                    last["time"] = clock()

    thread = threading.Thread(target=beat, name="funcnet-heartbeat", daemon=True)
    return thread.start, lambda: (done.set(), thread.join())


def _observer(out, config, opts: _Options, interrupt: Interrupt, earlier=None, clock=time.monotonic):
    """The training stream's watcher: bar, lines, and the run saved at every record.

    On a terminal a progress bar runs between the metrics lines; otherwise a
    line is printed at least every :data:`HEARTBEAT` seconds (a thread that
    watches the clock, so a long step cannot delay it).
    """
    from tqdm import tqdm

    bar, last, lock = [None], {"time": clock(), "step": None, "snap": None}, threading.Lock()
    record = runs.recorder(out, config, earlier) if out is not None else (lambda snap: None)
    every = _heartbeat()
    start_beats, stop_beats = _heartbeats(last, lock, every, clock)
    beating = opts.lines and not sys.stdout.isatty() and every > 0

    def begin(line: str) -> None:
        """Print the run's first line, then keep time for the heartbeat lines."""
        with lock:
            click.echo(line)
            last["time"] = clock()
        if beating:
            start_beats()

    def observe(snap):
        if bar[0] is None and opts.bar:
            bar[0] = tqdm(total=snap.total, initial=int(snap.state.step) - 1, file=sys.stderr,
                          disable=not sys.stderr.isatty(), leave=False, unit="step",
                          dynamic_ncols=True)
            last["step"] = int(snap.state.step) - 1
        if bar[0] is not None:
            bar[0].update(1)
        with lock:
            last["snap"] = snap
            if snap.record is not None:
                record(snap)  # keep the last good state (and the history) on disk as we go
                if opts.lines:
                    covered = None if last["step"] is None else int(snap.state.step) - last["step"]
                    line = progress_line(snap, covered)
                    (bar[0].write(line, file=sys.stdout) if bar[0] is not None else click.echo(line))
                    if opts.verbose:
                        click.echo(f"  {json.dumps(snap.record, default=runs.json_default)}")
                last.update(time=clock(), step=int(snap.state.step))
        if interrupt.requested:
            raise fpipeline.Stop()

    def close():
        if beating and last.get("began"):
            stop_beats()
        if bar[0] is not None:
            bar[0].close()

    def begun(line: str) -> None:
        last["began"] = True
        begin(line)

    return observe, close, begun


def _execute(pipe, config, out_dir, resumed, opts: _Options, interrupt: Interrupt, data=None):
    """One pipeline run with progress, saving the run to ``out_dir`` as it goes.

    ``resumed`` (a :class:`funcnet.runs.Resumed` or None) is the run to
    continue; ``data`` (the pipeline's ``load`` output) is read here when not given.
    """
    earlier = resumed.history if resumed is not None else None
    observe, close, begin = _observer(out_dir, config, opts, interrupt, earlier)

    def started(splits, state, total, per_epoch):
        if opts.lines:
            begin(start_line(splits, state.params, total, per_epoch))

    try:
        return fpipeline.run(pipe, config, observe, data=data, on_start=started,
                             state=resumed.state if resumed is not None else None,
                             window=resumed.window if resumed is not None else None,
                             best=resumed.best if resumed is not None else None,
                             donate=True)
    finally:
        close()


def _finish(out_dir: Path, result, config, opts: _Options, history=None) -> None:
    """Write a finished (or stopped) run's files and, unless interrupted, its pictures."""
    names = freport.class_names(getattr(config, "dataset", None))
    runs.save(out_dir, result, config, history=history, pictures=opts.plots, names=names)


def _plot_hint(out_dir, opts: _Options) -> None:
    if out_dir is not None and opts.plots and not fplots.available():
        click.echo(f"funcnet: hint: {fplots.HINT} (pip install 'funcnet[plot]')", err=True)


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
    echo_lines(final_lines(result))  # the figures first: a failed save still shows them
    warn_diverged(result)
    if out_dir is not None:
        history = runs.join_history(resumed.history if resumed else None, result.history)
        _finish(out_dir, result, config, opts, history)
        _plot_hint(out_dir, opts)
    if result.stopped == "interrupted":
        click.echo(f"funcnet: {interrupt.what()}; kept the last good state"
                   + (f" in {out_dir}" if out_dir else ""), err=True)
        sys.exit(interrupt.exit_code())
    if result.stopped:
        fail(result.stopped + (f"; saved in {out_dir}" if out_dir else ""), EXIT_NONFINITE)


def _failures(rows, name) -> None:
    """Exit 1 naming the first task that failed with an error (not a non-finite stop), if any."""
    failed = [f"{name(r)}: {r['error']}" for r in rows if r["status"] == "error" and not experiments.trained(r)]
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        fail(failed[0] + more, 1)


def _collecting(rows: list, show):
    """``on_row`` for ``--seeds`` and ``--ablation``: each row not cut short is kept in ``rows``,
    then shown."""
    def on_row(i, task, row) -> None:
        if row["status"] != "interrupted":
            rows.append(row)
            show(row)
    return on_row


def _run_seeds(pipeline_file, items, seeds, out_dir, overwrite, opts, interrupt, client,
               workers) -> None:
    rows: list = []  # the rows of the seeds that were not cut short

    def show(row) -> None:
        if opts.lines:
            click.echo(f"seed {row['seed']} ({len(rows)}/{len(seeds)})")
            figures = (final_lines(SimpleNamespace(metrics=row)) if experiments.trained(row)
                       else [row["error"]])
            echo_lines(f"  {line}" for line in figures)
        if row.get("warning"):
            warn(f"seed {row['seed']}: {row['warning']}")

    frame = experiments.run_seeds(pipeline_file, seeds, items, out=out_dir, overwrite=overwrite,
                                  client=client, workers=workers, plots=opts.plots,
                                  on_row=_collecting(rows, show), stop=lambda: interrupt.requested)
    table = experiments.trained_runs(frame, "seed")
    _plot_hint(out_dir, opts)
    if opts.lines:
        click.echo()
    if len(table):
        echo_lines(experiments.seeds_lines(table))
    if len(rows) < len(seeds):
        click.echo(f"funcnet: {interrupt.what()} after {len(rows)} of {len(seeds)} seeds"
                   + (f"; runs kept in {out_dir}" if out_dir else ""), err=True)
        sys.exit(interrupt.exit_code())
    _failures(rows, lambda r: f"seed {r['seed']}")
    stops = [f"seed {r.seed}: {r.stopped}" for r in table.itertuples() if r.stopped]
    if stops:
        more = f" (and {len(stops) - 1} more)" if len(stops) > 1 else ""
        fail(stops[0] + more + (f"; saved in {out_dir}" if out_dir else ""), EXIT_NONFINITE)


def _ablation_line(row, width: int) -> str:
    figs = "  ".join(f"{k.split('_')[0]} {figure_text(row.get(k))}" for k in experiments.METRICS[:3]
                     if row.get(k) is not None)
    flag = "  (stopped: non-finite loss)" if row.get("stopped") else ""
    body = (f"{figs}  {row['seconds']:.1f}s{flag}" if experiments.trained(row)
            else f"error: {row['error']}")
    return f"{row['variant']:<{width}}  seed {row['seed']}: {body}"


def _run_ablation(pipe, pipeline_file, items, seeds, out_dir, overwrite, opts, interrupt, client,
                  workers) -> None:
    variants, note = experiments.ablation_variants(pipe, pipeline_file)
    if note:
        click.echo(f"funcnet: note: {note}", err=True)
    width = max(len(n) for n, _ in variants)
    rows: list = []  # the rows of the runs that were not cut short
    show = (lambda row: click.echo(_ablation_line(row, width))) if opts.lines else (lambda row: None)
    frame = experiments.run_ablation(pipeline_file, seeds, items, out=out_dir, overwrite=overwrite,
                                     client=client, workers=workers, on_row=_collecting(rows, show),
                                     stop=lambda: interrupt.requested)
    table = experiments.trained_runs(frame, "variant")
    if opts.lines:
        click.echo()
    if len(table):
        echo_lines(experiments.ablation_lines(table, None if note else pipe.QUIRKS))
    if len(rows) < len(frame):
        click.echo(f"funcnet: {interrupt.what()} after {len(rows)} of {len(frame)} runs", err=True)
        sys.exit(interrupt.exit_code())
    _failures(rows, lambda r: f"{r['variant']}, seed {r['seed']}")


def _override_items(overrides, seed, data, init_from=None, freeze=(), partial=False) -> list[str]:
    """``--set`` items, then ``--seed``, ``--data``, ``--init-from``, ``--freeze`` and
    ``--partial`` as items of their own.

    >>> _override_items(("epochs=2",), 1, None)
    ['epochs=2', 'seed=1']
    >>> _override_items((), None, None, "runs/cnn", ("layers.0", "layers.3"), True)
    ['init_from=runs/cnn', 'freeze=layers.0,layers.3', 'partial=true']
    """
    return [*overrides, *([f"seed={seed}"] if seed is not None else []),
            *([f"data={data}"] if data is not None else []),
            *([f"init_from={init_from}"] if init_from is not None else []),
            *([f"freeze={','.join(freeze)}"] if freeze else []),
            *(["partial=true"] if partial else [])]


def _init_line(config, opts: _Options) -> None:
    """The one-line table of what ``init_from`` gives the network, before training."""
    from .. import classify
    if isinstance(config, classify.TrainConfig) and config.init_from and opts.lines:
        click.echo(classify.init_line(config))


@click.command()
@click.argument("pipeline_file", metavar="PIPELINE", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=None, help="Random seed (the pipeline's default if omitted).")
@click.option("--seeds", callback=parse_seeds, default=None, metavar="S1,S2,...",
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
@click.option("--init-from", "init_from", type=click.Path(), default=None, metavar="RUN_DIR",
              help="Start from the layers of the network trained in RUN_DIR (or a model file) "
                   "whose path and shapes match; the others are initialised as usual "
                   "(fine-tuning; the Config field init_from).")
@click.option("--freeze", multiple=True, metavar="PATTERN",
              help="Keep the parameters PATTERN names as they are, e.g. --freeze layers.0-5 "
                   "(repeatable; the Config field freeze).")
@click.option("--partial", is_flag=True,
              help="With --init-from, keep layers whose kind or shape differ freshly initialised "
                   "instead of refusing them.")
@where_options
@handle_errors
def run(pipeline_file, seed, seeds, ablation, overrides, data, out, resume, overwrite, plots, quiet,
        verbose, init_from, freeze, partial, workers, scheduler, local_dask):
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
      funcnet run pipelines/fashion_finetune.py --init-from runs/cnn --freeze layers.0-5

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
    items = _override_items(overrides, seed, data, init_from, freeze, partial)
    resumed = runs.resume(resume, pipe, items) if resume else None
    config = resumed.config if resume else fpipeline.apply_overrides(pipe.Config(), items)
    out_dir = Path(out) if out else (Path(resume) if resume else None)
    if out_dir is not None:  # before the folder is claimed: nothing written yet
        refuse_sweep_folder(out_dir)
        refuse_folder_over_inputs(out_dir, data_inputs([getattr(config, "data", None)],
                                                       [getattr(config, "dataset", "mnist")]))
    opts = _Options(lines=not quiet, bar=not quiet, verbose=verbose and not quiet, plots=plots)
    if not resume and not ablation:
        _init_line(config, opts)
    if not (seeds or ablation):
        here = bool(resume) and Path(resume).resolve() == out_dir.resolve()
        claim = runs.claim(out_dir, overwrite=overwrite, resuming=here) if out_dir else nullcontext()
        keep_freed_memory()  # an edge's process-wide setting: see funcnet.runtime
        with claim, quiet_numpy(not debugging()), Interrupt() as interrupt:
            _run_single(pipe, config, out_dir, resumed, opts, interrupt)
        return
    shared = [i for i in items if not i.startswith("seed=")]  # each task has its own seed
    with client_for(workers, scheduler, local_dask) as client, quiet_numpy(not debugging()), \
            Interrupt() as interrupt:
        if ablation:
            chosen = seeds or ((seed,) if seed is not None else experiments.ABLATION_SEEDS)
            _run_ablation(pipe, pipeline_file, shared, chosen, out_dir, overwrite, opts, interrupt,
                          client, workers)
        else:
            _run_seeds(pipeline_file, shared, seeds, out_dir, overwrite, opts, interrupt, client,
                       workers)
