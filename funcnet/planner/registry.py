"""The passes that ``funcnet tune`` can measure by themselves: a registry filled where
each pass is defined (name -> its candidates, a runner for a shape, default shapes)."""

from __future__ import annotations

import os
import time
from typing import Any, Callable, NamedTuple, Sequence

from ..errors import ConfigError
from .choosing import Measured, _entry, measure
from .identity import Machine, canonical, machine
from .planfile import _LOCK, _remember, plan_file, store

__all__ = ["Tunable", "register", "registered", "tune"]


class Tunable(NamedTuple):
    """A pass ``funcnet tune`` can measure by itself: ``candidates(key)`` (the default first),
    ``prepare(key)`` -> ``run(candidate)`` on inputs of that shape (made once), the ``keys``
    tuned by default, and how a candidate (``describe(candidate, key)``) and a key read
    in a table."""

    candidates: Callable[[Any], Sequence]
    prepare: Callable[[Any], Callable[[Any], Any]]
    keys: tuple = ()
    describe: Callable[[Any, Any], str] = lambda candidate, key: canonical(candidate)
    describe_key: Callable[[Any], str] = canonical


_REGISTRY: dict = {}


def register(name: str, tunable: Tunable) -> Tunable:
    """Make pass ``name`` known to :func:`tune` (and ``funcnet tune``); returns ``tunable``.

    >>> t = register("doc.demo", Tunable(lambda key: [1, 2], lambda key: (lambda c: c)))
    >>> registered()["doc.demo"] is t
    True
    >>> _ = _REGISTRY.pop("doc.demo")
    """
    _REGISTRY[name] = tunable
    return tunable


def registered() -> dict:
    """The registered passes, name -> :class:`Tunable` (a copy)."""
    return dict(_REGISTRY)


def tune(name: str, key: Any, *, rounds: int = 5, folder: str | os.PathLike | None = None,
         host: Machine | None = None, timer: Callable[[], float] = time.perf_counter) -> Measured:
    """Measure the registered pass ``name`` at shape ``key`` now and store its plan,
    replacing any stored one; errors writing the plan file are raised (OSError).
    """
    if name not in _REGISTRY:
        raise ConfigError(f"pass {name!r}: expected one of {', '.join(sorted(_REGISTRY)) or '(none)'}")
    t = _REGISTRY[name]
    candidates = list(t.candidates(key))
    host = machine() if host is None else host
    path, key_text = plan_file(folder, host), canonical(key)
    with _LOCK:
        found = measure(candidates, t.prepare(key), rounds=rounds, timer=timer)
        store(path, host, name, key_text, _entry(candidates, found, rounds))
        _remember(path, host, name, key_text, canonical(candidates), found.choice)
    return found
