"""What a run folder holds, and claiming one: check, lock, refuse to clobber, clear."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError
from .files import LOCK, REQUIRED, RUN_FILES, SUMMARIES


def contents(folder) -> list[str]:
    """The run files in ``folder`` (and in its ``seed-*/`` runs), sorted, as relative paths."""
    out = Path(folder)
    if not out.is_dir():
        return []
    names = (*RUN_FILES, *SUMMARIES)
    return sorted({p.relative_to(out).as_posix() for name in names
                   for p in (*out.glob(name), *out.glob(f"seed-*/{name}"))})


def is_complete(folder) -> bool:
    """Whether ``folder`` holds a saved run that can be loaded and resumed.

    That is: ``config.json``, ``model.safetensors`` and ``state.safetensors``
    are all there (``metrics.json`` only once the run has ended).

    >>> is_complete("/nonexistent/run")
    False
    """
    return all((Path(folder) / name).is_file() for name in REQUIRED)


def _listed(names, limit: int = 3) -> str:
    """The first ``limit`` names joined by commas, then ``...`` if there are more.

    >>> _listed(["a", "b"]), _listed(["a", "b", "c", "d"])
    ('a, b', 'a, b, c, ...')
    """
    names = list(names)
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def describe(folder) -> str:
    """What ``folder`` holds, in a few words: a run, an incomplete run, runs of seeds, nothing.

    >>> describe("/nonexistent/run")
    'nothing of a run'
    """
    out = Path(folder)
    found = contents(out)
    if not found:
        return "nothing of a run"
    if is_complete(out):
        return f"a run ({_listed(found)})"
    top = [n for n in found if "/" not in n]
    if any(n in SUMMARIES or n.startswith("seed-") for n in found) and not any(
            n in REQUIRED for n in top):
        return f"the runs of several seeds or an ablation ({_listed(found)})"
    missing = [n for n in REQUIRED if n not in top]
    return (f"an incomplete run, the remains of a save cut short ({_listed(top)}; "
            f"no {', '.join(missing)})")


def check_writable(folder) -> None:
    """Make sure ``folder`` can be written: create it, write and remove a probe file.

    Raises ConfigError (one line naming the folder and the reason) otherwise,
    so that an unwritable ``--out`` is found before any training.
    """
    out = Path(folder)
    probe = out / f".funcnet-probe-{secrets.token_hex(6)}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        raise ConfigError(f"{out}: cannot write a run here ({exc.strerror or exc}); "
                          "choose another --out") from None


@contextlib.contextmanager
def lock(folder) -> Iterator[Path]:
    """Hold ``folder`` for one run: a context manager; refuses at once if another holds it.

    The lock is a ``filelock`` on ``folder/.funcnet.lock`` (created with the
    folder if needed); it is released when the block ends, also on errors
    and when the process dies, and the lock file is removed with it (a killed
    run leaves it, harmlessly). Raises ConfigError naming the folder if
    another run (another process, or another lock in this one) holds it.
    """
    from filelock import Timeout

    from .._locks import held

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    try:
        holding = held(out / LOCK, timeout=0)
        holding.__enter__()
    except Timeout:
        raise ConfigError(f"{out}: another run holds this folder (it is being written "
                          "right now); wait for it to end or choose another --out") from None
    try:
        yield out
    finally:
        holding.__exit__(None, None, None)


@contextlib.contextmanager
def claim(folder, *, overwrite: bool = False, resuming: bool = False) -> Iterator[Path]:
    """Hold ``folder`` for a new run (or the run resumed in it): a context manager.

    In order: :func:`check_writable`, :func:`lock`; then, unless
    ``resuming`` the run saved there, :func:`clear` with ``overwrite``,
    else :func:`refuse_to_clobber`; and :func:`clean_temp`. Raises
    ConfigError (nothing written) if the folder cannot be written, another
    run holds it, or it holds a run and ``overwrite`` is not set.

    >>> import tempfile
    >>> with claim(Path(tempfile.mkdtemp()) / "run") as out:
    ...     out.name
    'run'
    """
    out = Path(folder)
    check_writable(out)
    with lock(out):
        if not resuming:
            (clear if overwrite else refuse_to_clobber)(out)
        clean_temp(out)
        yield out


def refuse_to_clobber(folder) -> None:
    """A ConfigError if ``folder`` already holds a run (its files would be replaced)."""
    out = Path(folder)
    found = contents(out)
    if not found:
        return
    if is_complete(out):
        raise ConfigError(f"{out}: already holds a run ({_listed(found)}); continue it with "
                          f"--resume {out}, replace it with --overwrite, or choose another --out")
    raise ConfigError(f"{out}: holds {describe(out)}; replace it with --overwrite "
                      "or choose another --out")


def clean_temp(folder) -> list[Path]:
    """Remove the temp files (``.*.tmp``) an atomic write left behind when its process died.

    Call it while holding :func:`lock`: no other run is writing then.
    Returns the files removed.
    """
    out = Path(folder)
    stale = [p for p in (*out.glob(".*.tmp"), *out.glob("seed-*/.*.tmp")) if p.is_file()]
    for p in stale:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return stale


def clear(folder) -> list[str]:
    """Remove every file of the run in ``folder`` (and its ``seed-*/`` runs) and stale temp files.

    Only files funcnet writes are touched (the run files, the pictures,
    ``seeds.csv``, ``ablation.csv``); anything else stays. Call it while
    holding :func:`lock`. Returns the relative paths removed.
    """
    out = Path(folder)
    found = contents(out)
    clean_temp(out)
    for name in found:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    for sub in out.glob("seed-*"):
        if sub.is_dir():
            clean_temp(sub)
            with contextlib.suppress(OSError):
                (sub / LOCK).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # unless it holds files of the user's
                sub.rmdir()
    return found
