"""Process-wide settings and helpers: the ground floor the edges (the CLI, the experiments'
worker processes, a script's first lines) stand on.

The pure functions never change the state of the process they run in; only
the edges call what is here.

:func:`keep_freed_memory` sets glibc's malloc thresholds. The library never
calls it in a process it did not start: ``funcnet run`` calls it for its own
process before training, and the experiments' worker processes (which funcnet
starts) at their set-up; a script of yours calls it if it wants it. A pure training
step allocates its new parameters and optimizer state and frees the old
ones, the same sizes every step; glibc's own dynamic rule already keeps such
blocks on the heap once one of them (or any block up to 32 MB, such as a
decompressed data file) has been freed, so a training loop that has loaded
its data page-faults almost nothing per step (measured: 0 to 6 minor faults
per 784-128-10 Adam step with and without this setting). In a fresh process
that frees its large blocks right after each call, every such array is
faulted in anew; this setting makes that case behave like the others.

:func:`threads` is not process-wide: a context manager that sets how many
threads the fused dense kernel's chunked passes (:mod:`funcnet.model._fused`) share their
chunks among, inside its block, as experiments do for each task so that
workers × threads = cores. Their results are the same bits for any number.
:func:`blas_threads` limits the BLAS libraries too (threadpoolctl), for a block.

:func:`cpu_count` is the cores this process may use; :func:`quiet_numpy`
silences NumPy's overflow warnings for a block (the non-finite guard reports
them); :func:`request_stop` and :func:`stop_requested` are the stop flag that
Ctrl-C sets in an experiment's worker process, asking its task to stop after
the current step.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
import warnings

__all__ = ["keep_freed_memory", "threads", "blas_threads", "cpu_count", "quiet_numpy",
           "request_stop", "stop_requested"]

_STOP = threading.Event()  # set by Ctrl-C in an experiment's worker process


@functools.cache
def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for reuse; once per process, True if it could.

    Blocks under 32 MB come from the heap (M_MMAP_THRESHOLD: the threshold
    glibc's own dynamic rule reaches after a 32 MB block is freed) and up to
    256 MB of free heap top is kept (M_TRIM_THRESHOLD: a CNN step frees
    ~100 MB of feature maps and im2col matrices, which with 64 MB kept were
    faulted in anew every step). A process-wide
    setting that lasts until the process ends; elsewhere (no ``mallopt``)
    nothing changes and this returns False.

    >>> import platform
    >>> keep_freed_memory() == (platform.libc_ver()[0] == "glibc")
    True
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 256 << 20))


def threads(n: int):
    """Inside ``with threads(n):`` the chunked passes use ``n`` threads (default: every core).

    >>> from funcnet._kernels import default_threads
    >>> with threads(1):
    ...     default_threads()
    1
    """
    from ._kernels import limit_threads

    return limit_threads(n)


@contextlib.contextmanager
def blas_threads(n: int | None):
    """Inside the block, the BLAS libraries of this process and the chunked passes
    (:func:`threads`) use ``n`` threads; ``None`` leaves both as they are.

    >>> from threadpoolctl import threadpool_info
    >>> with blas_threads(1):
    ...     {d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"}
    {1}
    """
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(n), user_api="blas"), threads(n):
        yield


def cpu_count() -> int:
    """The cores this process may use (its CPU affinity, else every core).

    >>> 1 <= cpu_count() <= (os.cpu_count() or 1)
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@contextlib.contextmanager
def quiet_numpy(quiet: bool = True):
    """Inside the block, no floating-point warnings from NumPy (when ``quiet``): a run's
    non-finite guard reports an overflow in one line of its own.

    >>> import numpy as np
    >>> with quiet_numpy(), warnings.catch_warnings():
    ...     warnings.simplefilter("error")
    ...     float(np.float32(1e38) * np.float32(10))
    inf
    """
    if not quiet:
        yield
        return
    import numpy as np

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def request_stop() -> None:
    """Ask this process's running task to stop after its current step (Ctrl-C in a worker)."""
    _STOP.set()


def stop_requested() -> bool:
    """Whether :func:`request_stop` was called in this process.

    >>> stop_requested()
    False
    """
    return _STOP.is_set()
