"""Process-wide settings, opt-in, for the edges only (a script's or a REPL's first lines).

Nothing in funcnet calls these: the pure functions never change the state
of the process they run in, and no command calls them behind the user's back.

:func:`keep_freed_memory` sets glibc's malloc thresholds. A pure training
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
"""

from __future__ import annotations

import ctypes
import functools

__all__ = ["keep_freed_memory", "threads"]


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

    >>> keep_freed_memory() in (True, False)
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
