"""Atomic file writes, the one implementation behind ``plots.write_atomic``,
``runs.write_atomic`` and the checkpoints: a temp file beside the target,
flushed to disk, renamed onto it."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["write_atomic"]


def _create_temp(target: Path) -> tuple[int, Path]:
    """Create an empty, hidden temp file beside ``target``; its fd and path.

    Made with mode 0o666 so that the umask applies, as to any new file.
    """
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp file name beside {target}")


def _fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entry list to disk, where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` all at once: temp file beside it,
    fsync, ``os.replace``, then the folder's entry list flushed too.

    Readers see the old file or the new one, never a part; the parent folder
    is created if missing. On any error the temp file is removed, ``path``
    keeps its old bytes, and an OSError names ``path``.

    >>> import tempfile
    >>> p = write_atomic(Path(tempfile.mkdtemp()) / "a" / "x.txt", "hi")
    >>> p.read_text(), sorted(q.name for q in p.parent.iterdir())
    ('hi', ['x.txt'])
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(err, OSError) and not err.filename:  # name the file being written
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise
    _fsync_dir(path.parent)
    return path
