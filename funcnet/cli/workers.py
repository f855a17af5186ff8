"""Where the tasks of ``run --seeds``, ``run --ablation`` and ``sweep`` run: the shared options."""

from __future__ import annotations

import contextlib
import functools

import click

from .. import experiments


def where_options(fn):
    """Add ``--workers N``, ``--scheduler ADDR`` and ``--dask`` to a command."""
    options = [
        click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
                     help="Local worker processes (default: one per core; 1 runs the tasks "
                          "here, one after another). Each task computes with one BLAS thread."),
        click.option("--scheduler", default=None, metavar="ADDR",
                     help="Run the tasks on the dask.distributed cluster whose scheduler is at "
                          "ADDR (tcp://HOST:PORT); needs funcnet[dask] and the pipeline file "
                          "and output folder at the same paths on its workers."),
        click.option("--dask", "local_dask", is_flag=True,
                     help="Run the tasks on a new local Dask cluster (--workers processes); "
                          "needs funcnet[dask]."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), fn)


@contextlib.contextmanager
def client_for(workers, scheduler, local_dask):
    """The Dask client the options ask for (closed afterwards), or None for local processes."""
    if scheduler and local_dask:
        raise click.UsageError("give --scheduler or --dask, not both")
    if scheduler and workers:
        raise click.UsageError("--workers counts local processes; the cluster at --scheduler "
                               "has its own workers")
    if not (scheduler or local_dask):
        yield None
        return
    client = experiments.connect(scheduler) if scheduler else experiments.local_cluster(workers)
    try:
        yield client
    finally:
        experiments.close(client)
