"""Running many tasks: here, in local worker processes or on Dask, rows as tasks finish."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from . import runners
from .layout import finished_metrics
from .rows import make_row
from .tasks import Task


def execute(tasks: Sequence[Task], *, workers: int | None = None, client=None, threads: int = 1,
            folders: Sequence[Path | None] | None = None, plots: bool = False,
            skip_complete: bool = False, stop: Callable[[], bool] | None = None,
            ordered: bool = False) -> Iterator[tuple[int, dict]]:
    """Run ``tasks``, yielding ``(index, row)`` as each finishes (in task order if ``ordered``).

    Where: on the Dask ``client`` if given; else one task (or ``workers=1``)
    in this process; else ``workers`` local processes (default: one per
    core). ``folders[i]`` is task i's run folder (None: not saved); with
    ``skip_complete`` a complete folder's row is read back instead of run.
    After a stop (``stop()`` true, Ctrl-C, or a task interrupted) no task
    starts; those never started get ``status="interrupted"``, error "not started".
    """
    folders = list(folders) if folders is not None else [None] * len(tasks)
    done = {}
    if skip_complete:
        done = {i: row for i, row in ((i, _complete_row(t, f)) for i, (t, f)
                                       in enumerate(zip(tasks, folders))) if row is not None}
    todo = [i for i in range(len(tasks)) if i not in done]
    where = runners.pool(len(todo), workers, client, threads=threads, plots=plots, stop=stop)
    jobs = {i: runners.Job(tasks[i], folders[i]) for i in todo}
    rows = itertools.chain(((i, done[i]) for i in sorted(done)), runners.drive(jobs, where, stop))
    seen = set()
    for i, row in (_in_order(rows, len(tasks)) if ordered else rows):
        seen.add(i)
        yield i, row
    for i in range(len(tasks)):
        if i not in seen:
            yield i, make_row(tasks[i], {}, "interrupted", "not started", 0.0)


def _in_order(pairs: Iterable[tuple[int, dict]], count: int) -> Iterator[tuple[int, dict]]:
    """``(index, row)`` pairs for indices ``0..count-1`` in index order, each as soon as its turn comes.

    Rows still waiting when the pairs run out (an index never came) follow in order.

    >>> [i for i, _ in _in_order([(1, {}), (0, {}), (3, {}), (2, {})], 4)]
    [0, 1, 2, 3]
    >>> [i for i, _ in _in_order([(2, {}), (0, {})], 4)]
    [0, 2]
    """
    waiting, nxt = {}, 0
    for i, row in pairs:
        waiting[i] = row
        while nxt in waiting:
            yield nxt, waiting.pop(nxt)
            nxt += 1
    yield from sorted(waiting.items())


def _complete_row(task: Task, folder: Path | None) -> dict | None:
    """The row of a finished run saved in ``folder`` (None if there is none to reuse)."""
    metrics = finished_metrics(folder) if folder is not None else None
    if metrics is None:
        return None
    stopped = metrics.get("stopped") or ""
    return make_row(task, {**metrics, "stopped": stopped}, "error" if stopped else "ok", stopped, 0.0)
