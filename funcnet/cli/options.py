"""The options ``run`` and ``sweep`` share: ``--seeds``, and where their tasks run
(``--workers``, ``--scheduler``, ``--dask``)."""

from __future__ import annotations

import contextlib
import functools

import click

from .. import experiments


def parse_seeds(ctx, param, value):
    """``--seeds 1,2,3`` as a tuple of distinct non-negative ints (a click callback).

    >>> parse_seeds(None, None, "2,0,"), parse_seeds(None, None, None)
    ((2, 0), None)
    """
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
