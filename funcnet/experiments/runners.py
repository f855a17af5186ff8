"""Where an experiment's tasks run: this process, local worker processes, or Dask.

Each runner takes ``(tasks, indices, folders, threads, plots, stop)`` and
yields ``(index, row)`` as tasks finish; :func:`where` picks one.

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
from typing import Callable, Iterator

from .. import runtime
from ..errors import ClusterError, ConfigError
from .rows import make_row, run_task

_CACHE: dict = {}  # a worker process's last loaded data, for its next task
DIED = "the worker process running it died"
INSTALL = "pip install 'funcnet[dask]'"


# ---------------------------------------------------------------- this process


def _serial(tasks, indices, folders, *, threads, plots, stop) -> Iterator[tuple[int, dict]]:
    """Each task in turn in this process (the data kept between tasks of the same kind)."""
    cache: dict = {}
    for i in indices:
        if stop is not None and stop():
            return
        row = run_task(tasks[i], folders[i], threads=threads, plots=plots, stop=stop, cache=cache)
        yield i, row
        if row["status"] == "interrupted":
            return


# ---------------------------------------------------------------- local processes


def _init_worker() -> None:
    """A worker's set-up: Ctrl-C asks its task to stop after the current step; the worker
    exits when its parent is gone."""
    signal.signal(signal.SIGINT, lambda signum, frame: runtime.request_stop())
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


def _in_worker(task, folder, threads, plots) -> dict:
    """run_task in a worker process, keeping its data for the next task."""
    return run_task(task, folder, threads=threads, plots=plots, cache=_CACHE)


def _interrupt(pool: cf.ProcessPoolExecutor) -> None:
    """Ask every worker of ``pool`` to stop its task (as Ctrl-C in a terminal does)."""
    for process in list(getattr(pool, "_processes", {}).values()):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.kill(process.pid, signal.SIGINT)


def _processes(workers: int):
    def run(tasks, indices, folders, *, threads, plots, stop) -> Iterator[tuple[int, dict]]:
        """The tasks on ``workers`` spawned processes, at most one queued per idle worker."""
        pending = collections.deque(indices)
        strikes: collections.Counter = collections.Counter()
        suspects: set = set()
        halted = False
        while pending and not halted:
            pool = cf.ProcessPoolExecutor(max_workers=min(workers, len(pending)),
                                          mp_context=multiprocessing.get_context("spawn"),
                                          initializer=_init_worker)
            running: dict = {}
            try:
                while (pending and not halted) or running:
                    limit = 1 if suspects else workers
                    while pending and not halted and len(running) < limit:
                        i = pending.popleft()
                        running[pool.submit(_in_worker, tasks[i], folders[i], threads, plots)] = i
                    done, _ = cf.wait(running, timeout=0.2, return_when=cf.FIRST_COMPLETED)
                    if stop is not None and stop() and not halted:
                        halted = True
                        _interrupt(pool)
                    broken = False
                    for future in done:
                        i = running.pop(future)
                        try:
                            row = future.result()
                        except cf.process.BrokenProcessPool:
                            broken = True
                            running[future] = i  # struck below with the others in flight
                            continue
                        except Exception as exc:  # the task or its row could not be pickled
                            row = make_row(tasks[i], {}, "error", f"unexpected {type(exc).__name__}: {exc}", 0.0)
                        suspects.discard(i)
                        halted = halted or row["status"] == "interrupted"
                        yield i, row
                    if broken:  # every task in flight is a suspect: again, alone; twice is an error
                        for i in running.values():
                            strikes[i] += 1
                            suspects.add(i)
                        dead = [i for i in running.values() if strikes[i] >= 2]
                        pending.extendleft(reversed([i for i in running.values() if strikes[i] < 2]))
                        running.clear()
                        for i in dead:
                            suspects.discard(i)
                            yield i, make_row(tasks[i], {}, "error", f"{DIED} (twice)", 0.0)
                        break
            except KeyboardInterrupt:  # Ctrl-C here: the workers got it too; collect their rows
                halted = True
                _interrupt(pool)
                for future in cf.as_completed(list(running)):
                    i = running.pop(future)
                    with contextlib.suppress(Exception):
                        yield i, future.result()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    return run


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


def _on_dask(client):
    def run(tasks, indices, folders, *, threads, plots, stop) -> Iterator[tuple[int, dict]]:
        """The tasks as futures on ``client``'s cluster; a task whose workers keep dying is an error row."""
        distributed = _dask()
        futures = {client.submit(_in_worker, tasks[i], folders[i], threads, plots, pure=False,
                                 key=f"funcnet-task-{i}-{os.urandom(4).hex()}"): i for i in indices}
        try:
            while futures:
                try:
                    done, _ = distributed.wait(list(futures), timeout=0.2, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    done = []
                if stop is not None and stop():
                    raise KeyboardInterrupt
                for future in done:
                    i = futures.pop(future)
                    try:
                        row = future.result()
                    except distributed.KilledWorker:
                        row = make_row(tasks[i], {}, "error", DIED, 0.0)
                    except Exception as exc:
                        row = make_row(tasks[i], {}, "error", f"unexpected {type(exc).__name__}: {exc}", 0.0)
                    yield i, row
                    if row["status"] == "interrupted":
                        return
        except KeyboardInterrupt:
            pass
        finally:
            if futures:
                client.cancel(list(futures))
    return run


def where(count: int, workers: int | None, client) -> Callable:
    """The runner for ``count`` tasks: Dask, this process, or local worker processes."""
    if client is not None:
        return _on_dask(client)
    workers = runtime.cpu_count() if workers is None else workers
    if workers < 1:
        raise ConfigError(f"workers={workers}: expected at least 1")
    return _serial if count <= 1 or workers == 1 else _processes(workers)

