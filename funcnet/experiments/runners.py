"""Where an experiment's tasks run: this process, local worker processes, or Dask.

A *pool* takes tasks as they come and hands back rows as they finish, so
that a study can decide what runs next from the rows so far (a search
promotes its best trials): ``submit(ref, job)``, ``free()`` (how many more
it takes now), ``busy()`` (submitted, not yet handed back), ``wait(timeout)``
(the ``(ref, row)`` pairs finished since, waiting up to ``timeout`` seconds
for one), ``interrupt()`` (ask the running tasks to stop) and ``close()``.
:func:`pool` picks one; :func:`drive` runs a fixed list through it.

Local workers are spawned processes (never forked: a forked copy of a
process with BLAS threads can hang). A worker that dies breaks the
executor; its tasks are then run again, one at a time, in a new one, and
a task whose worker dies twice becomes an error row. Ctrl-C in a terminal
reaches the workers too: each stops its task after the current step, as
``funcnet run`` does, and returns the row. A worker whose parent is gone
(the sweep killed, even by SIGKILL, which nothing can catch) exits within
a second (:func:`watch_parent`): its task's folder keeps the last record
saved, and a rerun continues it.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Hashable, Iterator

import attrs

from .. import runtime
from ..errors import ClusterError, ConfigError
from .rows import make_row, run_task
from .tasks import Task

_CACHE: dict = {}  # a worker process's last loaded data, for its next task
DIED = "the worker process running it died"
INSTALL = "pip install 'funcnet[dask]'"


@attrs.frozen
class Job:
    """A task to run: where its run folder is (None: not saved) and the budget to stop at
    (:func:`funcnet.experiments.run_task`'s ``stop_at``; None: the run's end)."""

    task: Task
    folder: Path | None = None
    stop_at: int | None = None


def _in_worker(job: Job, threads, plots) -> dict:
    """run_task in a worker process, keeping its data for the next task."""
    return run_task(job.task, job.folder, threads=threads, plots=plots, cache=_CACHE,
                    stop_at=job.stop_at)


# ---------------------------------------------------------------- this process


class Serial:
    """Each task in turn in this process, when :meth:`wait` is called (the data kept between
    tasks of the same kind); ``stop()`` is checked between the steps of a task."""

    def __init__(self, *, threads: int = 1, plots: bool = False,
                 stop: Callable[[], bool] | None = None):
        self.threads, self.plots, self.stop = threads, plots, stop
        self.queue: collections.deque = collections.deque()
        self.cache: dict = {}

    def free(self) -> int:
        """How many more tasks it takes now."""
        return 0 if self.queue else 1

    def busy(self) -> int:
        """Tasks submitted and not yet handed back."""
        return len(self.queue)

    def submit(self, ref: Hashable, job: Job) -> None:
        """Start ``job`` (or queue it); its row comes back from :meth:`wait` with ``ref``."""
        self.queue.append((ref, job))

    def wait(self, timeout: float = 0.2) -> list[tuple[Hashable, dict]]:
        """The ``(ref, row)`` pairs finished since the last call, waiting up to ``timeout`` s."""
        if not self.queue:
            return []
        ref, job = self.queue.popleft()
        return [(ref, run_task(job.task, job.folder, threads=self.threads, plots=self.plots,
                               stop=self.stop, cache=self.cache, stop_at=job.stop_at))]

    def interrupt(self) -> None:
        """Drop the tasks not started (the running one stops at ``stop()``)."""
        self.queue.clear()

    def close(self) -> None:
        """Stop taking tasks and let go of the processes (or futures)."""
        self.queue.clear()


# ---------------------------------------------------------------- local processes


def _init_worker() -> None:
    """A worker's set-up: Ctrl-C asks its task to stop after the current step; the worker
    exits when its parent is gone; glibc keeps freed memory for the next step
    (:func:`funcnet.runtime.keep_freed_memory`: a process funcnet started, not the caller's)."""
    signal.signal(signal.SIGINT, lambda signum, frame: runtime.request_stop())
    runtime.keep_freed_memory()
    watch_parent()


def watch_parent(every: float = 0.25) -> threading.Thread:
    """Start a daemon thread that ends this process (exit code 1) once its parent is gone.

    A process whose parent dies is handed to another (init or a subreaper),
    so its parent id changes: the thread compares ``os.getppid()`` with the
    one at the start every ``every`` seconds. Every file a task writes is
    written atomically, so ending the process at any moment leaves each
    file whole (the temp file of a write cut short is removed by the next
    run on the folder).
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    thread = threading.Thread(target=watch, name="funcnet-watch-parent", daemon=True)
    thread.start()
    return thread


class Processes:
    """The tasks on ``workers`` spawned processes, at most one per idle worker.

    When a worker dies, every task then in flight is a suspect: they are run
    again one at a time in a new executor; a task struck twice is an error row.
    """

    def __init__(self, workers: int, *, threads: int = 1, plots: bool = False):
        self.workers, self.threads, self.plots = workers, threads, plots
        self.executor: cf.ProcessPoolExecutor | None = None
        self.running: dict = {}  # future -> (ref, job)
        self.retry: collections.deque = collections.deque()  # suspects to run again, alone
        self.strikes: collections.Counter = collections.Counter()

    def _executor(self) -> cf.ProcessPoolExecutor:
        if self.executor is None:
            self.executor = cf.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker)
        return self.executor

    def free(self) -> int:
        """How many more tasks it takes now."""
        if self.retry or any(self.strikes[ref] for ref, _ in self.running.values()):
            return 0
        return max(self.workers - len(self.running), 0)

    def busy(self) -> int:
        """Tasks submitted and not yet handed back."""
        return len(self.running) + len(self.retry)

    def submit(self, ref: Hashable, job: Job) -> None:
        """Start ``job`` (or queue it); its row comes back from :meth:`wait` with ``ref``."""
        future = self._executor().submit(_in_worker, job, self.threads, self.plots)
        self.running[future] = (ref, job)

    def wait(self, timeout: float = 0.2) -> list[tuple[Hashable, dict]]:
        """The ``(ref, row)`` pairs finished since the last call, waiting up to ``timeout`` s."""
        if self.retry and not self.running:
            self.submit(*self.retry.popleft())
        out: list = []
        if not self.running:
            return out
        done, _ = cf.wait(list(self.running), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        broken = False
        for future in done:
            ref, job = self.running[future]
            try:
                row = future.result()
            except cf.process.BrokenProcessPool:
                broken = True
                continue
            except Exception as exc:  # the task or its row could not be pickled
                row = make_row(job.task, {}, "error", f"unexpected {type(exc).__name__}: {exc}", 0.0)
            del self.running[future]
            self.strikes.pop(ref, None)
            out.append((ref, row))
        if broken:
            out.extend(self._struck())
        return out

    def _struck(self) -> list[tuple[Hashable, dict]]:
        """Every task in flight when a worker died: again, alone; twice is an error row."""
        rows = []
        for ref, job in self.running.values():
            self.strikes[ref] += 1
            if self.strikes[ref] >= 2:
                self.strikes.pop(ref)
                rows.append((ref, make_row(job.task, {}, "error", f"{DIED} (twice)", 0.0)))
            else:
                self.retry.append((ref, job))
        self.running.clear()
        self._shutdown()
        return rows

    def interrupt(self) -> None:
        """Ask every worker to stop its task (as Ctrl-C in a terminal does); drop the retries."""
        self.retry.clear()
        processes = getattr(self.executor, "_processes", None) or {}
        for process in list(processes.values()):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.kill(process.pid, signal.SIGINT)

    def _shutdown(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None

    def close(self) -> None:
        """Stop taking tasks and let go of the processes (or futures)."""
        self.retry.clear()
        self._shutdown()


# ---------------------------------------------------------------- dask


def _dask():
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"running on Dask needs dask.distributed: {INSTALL}") from None
    return distributed


def connect(address: str, timeout: float = 5.0):
    """A Client of the scheduler at ``address``, or a one-line ClusterError within ``timeout`` s."""
    distributed = _dask()
    try:
        return distributed.Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ClusterError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                           f"({reason[:160]})") from None


def local_cluster(workers: int | None = None):
    """A Client of a new LocalCluster on 127.0.0.1: ``workers`` processes of one thread each."""
    distributed = _dask()
    cluster = distributed.LocalCluster(n_workers=workers or runtime.cpu_count(), threads_per_worker=1,
                                       processes=True, host="127.0.0.1", dashboard_address=None)
    client = distributed.Client(cluster)
    client.funcnet_owns_cluster = True
    return client


def close(client) -> None:
    """Close ``client``, and its cluster if :func:`local_cluster` started it."""
    cluster = getattr(client, "cluster", None) if getattr(client, "funcnet_owns_cluster", False) else None
    with contextlib.suppress(Exception):
        client.close()
    if cluster is not None:
        with contextlib.suppress(Exception):
            cluster.close()


class OnDask:
    """The tasks as futures on ``client``'s cluster, as many at once as it has threads (or
    ``limit``); a task whose workers keep dying is an error row."""

    def __init__(self, client, *, threads: int = 1, plots: bool = False, limit: int | None = None):
        self.client, self.threads, self.plots = client, threads, plots
        self.distributed = _dask()
        self.limit = limit
        self.futures: dict = {}

    def _width(self) -> int:
        if self.limit is None:
            with contextlib.suppress(Exception):
                self.limit = max(sum(self.client.nthreads().values()), 1)
        return self.limit or 1

    def free(self) -> int:
        """How many more tasks it takes now."""
        return max(self._width() - len(self.futures), 0)

    def busy(self) -> int:
        """Tasks submitted and not yet handed back."""
        return len(self.futures)

    def submit(self, ref: Hashable, job: Job) -> None:
        """Start ``job`` (or queue it); its row comes back from :meth:`wait` with ``ref``."""
        future = self.client.submit(_in_worker, job, self.threads, self.plots, pure=False,
                                    key=f"funcnet-task-{os.urandom(6).hex()}")
        self.futures[future] = (ref, job)

    def wait(self, timeout: float = 0.2) -> list[tuple[Hashable, dict]]:
        """The ``(ref, row)`` pairs finished since the last call, waiting up to ``timeout`` s."""
        if not self.futures:
            return []
        try:
            done, _ = self.distributed.wait(list(self.futures), timeout=timeout,
                                            return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = []
        out = []
        for future in done:
            ref, job = self.futures.pop(future)
            try:
                row = future.result()
            except self.distributed.KilledWorker:
                row = make_row(job.task, {}, "error", DIED, 0.0)
            except Exception as exc:
                row = make_row(job.task, {}, "error", f"unexpected {type(exc).__name__}: {exc}", 0.0)
            out.append((ref, row))
        return out

    def interrupt(self) -> None:
        """Cancel every task not finished (a task already running on a worker ends on its own)."""
        if self.futures:
            self.client.cancel(list(self.futures))
        self.futures.clear()

    def close(self) -> None:
        """Stop taking tasks and let go of the processes (or futures)."""
        self.interrupt()


def pool(count: int, workers: int | None, client, *, threads: int = 1, plots: bool = False,
         stop: Callable[[], bool] | None = None):
    """The pool for ``count`` tasks: Dask, this process, or local worker processes."""
    if client is not None:
        return OnDask(client, threads=threads, plots=plots)
    workers = runtime.cpu_count() if workers is None else workers
    if workers < 1:
        raise ConfigError(f"workers={workers}: expected at least 1")
    if count <= 1 or workers == 1:
        return Serial(threads=threads, plots=plots, stop=stop)
    return Processes(min(workers, count), threads=threads, plots=plots)


def drive(jobs: dict, where, stop: Callable[[], bool] | None = None) -> Iterator[tuple[Hashable, dict]]:
    """Run ``jobs`` (``{ref: Job}``, in order) through the pool ``where``, yielding
    ``(ref, row)`` as each finishes.

    After a stop (``stop()`` true, a row interrupted, or Ctrl-C here) no
    task starts; the running ones are asked to stop and their rows come
    still (not on Dask, which cancels them). The pool is closed at the end.
    """
    pending = collections.deque(jobs.items())
    halted = False
    try:
        while (pending and not halted) or where.busy():
            if not halted and stop is not None and stop():
                halted = True
                where.interrupt()
            while pending and not halted and where.free() > 0:
                where.submit(*pending.popleft())
            for ref, row in where.wait(0.2):
                halted = halted or row["status"] == "interrupted"
                yield ref, row
            if halted and isinstance(where, (Serial, OnDask)):
                where.interrupt()
    except KeyboardInterrupt:  # Ctrl-C here: the workers got it too; collect their rows
        where.interrupt()
        with contextlib.suppress(KeyboardInterrupt):
            while where.busy() and not isinstance(where, OnDask):
                yield from where.wait(0.2)
    finally:
        where.close()
