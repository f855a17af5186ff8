"""Lock files that do not outlive their holder: a ``filelock`` whose file is removed on release.

Unlinking a lock file is safe only if every holder checks, once it holds the
lock, that the file it locked is still the one at the path (another holder
may have removed it after this one opened it): :func:`held` checks the
inode of the descriptor it locked against the path's and tries again when they
differ, and removes the file while still holding it. An edge utility (run
folders, downloads), private to funcnet.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterator

import filelock

__all__ = ["held"]


class _Stale(Exception):
    """The locked file is no longer the one at the path: lock again."""


def _same_file(path: Path):
    def check(fd: int) -> None:
        try:
            if os.stat(path).st_ino != os.fstat(fd).st_ino:
                raise _Stale(str(path))
        except FileNotFoundError:
            raise _Stale(str(path)) from None
    return check


@contextlib.contextmanager
def held(path, timeout: float = -1) -> Iterator[None]:
    """Hold the lock file ``path`` (waiting up to ``timeout`` seconds; 0: not at all, −1: for
    ever), removing the file when the block ends. Raises ``filelock.Timeout`` if another holds it.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with held(folder / ".x.lock", timeout=0):
    ...     (folder / ".x.lock").exists()
    True
    >>> (folder / ".x.lock").exists()
    False
    """
    path = Path(path)
    deadline = None if timeout < 0 else time.monotonic() + timeout
    while True:
        lock = filelock.FileLock(str(path), is_singleton=False, on_acquired=_same_file(path))
        wait = -1 if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            lock.acquire(timeout=wait)
        except _Stale:
            continue
        break
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # still held: a waiter that opened it finds it stale and locks anew
        lock.release()
