"""The plan file of a machine: where it lives, reading it (never failing), storing an
entry under a file lock with an atomic write, removing it; and the process's memo of
the plans it has read or measured."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

from .._atomic import write_atomic
from .identity import Machine, canonical, machine

__all__ = ["FORMAT", "Plan", "cache_folder", "clear", "plan_file", "plans", "read_plans", "store"]

FORMAT = "funcnet plans"
_VERSION = 1

_LOCK = threading.RLock()  # one measurement at a time in a process: threads would disturb it
_MEMO: dict = {}           # (file, machine, pass, key text, candidates text) -> index, -1: none


def cache_folder() -> Path:
    """Where plan files live: ``$FUNCNET_CACHE/plans``, else ``plans`` in the OS cache folder
    of funcnet (``pooch.os_cache("funcnet")``, where data are downloaded without FUNCNET_DATA).

    >>> cache_folder().name
    'plans'
    """
    root = os.environ.get("FUNCNET_CACHE")
    if not root:
        import pooch

        root = pooch.os_cache("funcnet")
    return Path(root) / "plans"


def plan_file(folder: str | os.PathLike | None = None, host: Machine | None = None) -> Path:
    """This machine's plan file: ``plans-<digest>.json``, the digest a SHA-256 of the
    :class:`Machine` record (16 hex digits).

    >>> m = Machine("cpu", "x86_64", 2, "openblas 0.3", "Haswell", "2.0")
    >>> text = '{"arch":"x86_64","blas":"openblas 0.3","cores":2,"cpu":"cpu","kernel":"Haswell","numpy":"2.0"}'
    >>> plan_file("/tmp", m).name == f"plans-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    True
    """
    host = machine() if host is None else host
    digest = hashlib.sha256(canonical(host._asdict()).encode()).hexdigest()[:16]
    return Path(cache_folder() if folder is None else folder) / f"plans-{digest}.json"


def read_plans(path: str | os.PathLike, host: Machine) -> dict:
    """The plans ``{pass: {shape key text: entry}}`` in the file at ``path`` when it is
    funcnet's plan file of ``host``; ``{}`` when it is missing, unreadable, corrupt,
    truncated, of another format or version, or of another machine. Never raises.

    >>> read_plans("/nonexistent/plans.json", machine())
    {}
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    ok = (isinstance(doc, dict) and doc.get("format") == FORMAT and doc.get("version") == _VERSION
          and doc.get("machine") == host._asdict() and isinstance(doc.get("plans"), dict))
    if not ok:
        return {}
    return {name: entries for name, entries in doc["plans"].items() if isinstance(entries, dict)}


def store(path: str | os.PathLike, host: Machine, name: str, key_text: str, entry: dict,
          timeout: float = 10.0) -> Path:
    """Add ``entry`` under (``name``, ``key_text``) to the plan file at ``path`` of ``host``.

    Under a file lock (``filelock``, beside the file) the file is re-read, so
    other processes' entries are kept (a corrupt or foreign file is started
    afresh), and written whole with :func:`funcnet._atomic.write_atomic`:
    readers see the old file or the new one. Raises OSError (or
    ``filelock.Timeout``) when the folder cannot be written or locked.
    """
    import filelock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(path.with_name(f".{path.name}.lock")), timeout=timeout):
        plans = read_plans(path, host)
        plans[name] = {**plans.get(name, {}), key_text: entry}
        doc = {"format": FORMAT, "version": _VERSION, "machine": host._asdict(), "plans": plans}
        return write_atomic(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def clear(folder: str | os.PathLike | None = None, host: Machine | None = None) -> bool:
    """Remove this machine's plan file (other machines' files stay); True if there was one.

    >>> import tempfile
    >>> clear(tempfile.mkdtemp())
    False
    """
    path = plan_file(folder, host)
    with _LOCK:
        for k in [k for k in _MEMO if k[0] == str(path)]:
            del _MEMO[k]
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _stored_choice(entry: Any, candidates_text: str) -> int | None:
    """The chosen index of a stored ``entry`` if it is whole and was measured over exactly
    these candidates (a pass whose candidates changed is measured again); else None.

    >>> _stored_choice({"candidates": [1, 2], "choice": 1, "seconds": [[0.2], [0.1]]}, "[1,2]")
    1
    >>> _stored_choice({"candidates": [1, 2], "choice": 1, "seconds": [[0.2], [0.1]]}, "[1,3]")
    """
    try:
        same = canonical(entry["candidates"]) == candidates_text
        i, seconds = entry["choice"], entry["seconds"]
        ok = (same and type(i) is int and 0 <= i < len(seconds) == len(entry["candidates"])
              and all(map(_times, seconds)) and seconds[0] is not None and seconds[i] is not None)
    except (TypeError, KeyError, ValueError, IndexError):
        return None
    return i if ok else None


def _times(seconds: Any) -> bool:
    """Whether ``seconds`` is a stored candidate's times: None, or a non-empty list of numbers."""
    return seconds is None or (isinstance(seconds, list) and len(seconds) > 0 and all(
        type(t) in (int, float) and t >= 0 for t in seconds))


def _remember(path: Path, host: Machine, name: str, key_text: str, candidates_text: str,
              choice: int | None) -> None:
    with _LOCK:
        _MEMO[(str(path), host, name, key_text, candidates_text)] = choice


class Plan(NamedTuple):
    """One stored plan: pass ``name``, shape ``key``, the ``candidates``, the chosen index,
    each candidate's seconds per round (None: other bits), rounds, when (UTC, ISO 8601)."""

    name: str
    key: Any
    candidates: list
    choice: int
    seconds: list
    rounds: int
    measured: str


def plans(folder: str | os.PathLike | None = None, host: Machine | None = None) -> list[Plan]:
    """Every plan stored for this machine, sorted by pass and key (malformed ones skipped).

    >>> import tempfile
    >>> plans(tempfile.mkdtemp())
    []
    """
    host = machine() if host is None else host
    found = (_plan(name, key_text, entry)
             for name, entries in sorted(read_plans(plan_file(folder, host), host).items())
             for key_text, entry in sorted(entries.items()))
    return [p for p in found if p is not None]


def _plan(name: str, key_text: str, entry: Any) -> Plan | None:
    """A stored entry as a :class:`Plan`, or None when it is malformed.

    >>> _plan("p", '{"rows":8}', {"candidates": [1, 2], "choice": 1, "seconds": [[0.2], [0.1]]}).key
    {'rows': 8}
    >>> _plan("p", "{rows", {"candidates": [1, 2], "choice": 1, "seconds": [[0.2], [0.1]]})
    """
    try:
        key = json.loads(key_text)
        if canonical(key) != key_text or _stored_choice(entry, canonical(entry["candidates"])) is None:
            return None
    except (TypeError, KeyError, ValueError, RecursionError):
        return None
    return Plan(name, key, entry["candidates"], entry["choice"], entry["seconds"],
                entry.get("rounds", 0), str(entry.get("measured", "")))
