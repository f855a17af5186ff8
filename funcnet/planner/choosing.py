"""Choosing a plan: measure the candidates (bits checked, alternating rounds, medians),
or take the stored choice; the modes that turn measuring off."""

from __future__ import annotations

import datetime
import json
import os
import statistics
import time
from typing import Any, Callable, NamedTuple, Sequence

from .. import tree
from ..errors import ConfigError
from .identity import Machine, canonical, machine
from .planfile import _LOCK, _MEMO, _stored_choice, plan_file, read_plans, store

__all__ = ["MODES", "Measured", "choose", "measure", "plan_mode"]

MODES = ("measure", "cached", "default")


class Measured(NamedTuple):
    """What :func:`measure` found: ``choice``, the index of the fastest candidate, and
    ``seconds``, each candidate's time in every round (None: its result had other bits)."""

    choice: int
    seconds: tuple


def measure(candidates: Sequence, run: Callable[[Any], Any], *, rounds: int = 5,
            timer: Callable[[], float] = time.perf_counter,
            same: Callable[[Any, Any], bool] = tree.equal) -> Measured:
    """Time ``run(c)`` for every candidate c whose result has the bits of ``run(c_0)``.

    choice = argmin_c median_r t(c, r) over C = {c : same(run(c), run(c_0))}, the
    first such c on ties. Each candidate runs once untimed (its result checked:
    ``same`` is :func:`funcnet.tree.equal`, bit for bit), then ``rounds`` times,
    alternating: in round r the kept candidates run in turn from the r-th on,
    so a change in the machine's load touches them all alike. ``timer`` (seconds,
    monotonic) can be a fake clock.

    >>> now = [0.0]
    >>> def run(cost):
    ...     now[0] += cost
    ...     return 0.0 if cost < 5 else 1.0    # the candidate 7 gives other bits
    >>> m = measure([3, 7, 1, 2], run, rounds=2, timer=lambda: now[0])
    >>> m.choice, m.seconds
    (2, ((3.0, 3.0), None, (1.0, 1.0), (2.0, 2.0)))
    """
    if not len(candidates):
        raise ValueError("no candidates to choose among")
    reference = run(candidates[0])
    kept = [0] + [i for i in range(1, len(candidates)) if same(run(candidates[i]), reference)]
    times: dict = {i: [] for i in kept}
    for r in range(max(1, int(rounds))):
        for j in range(len(kept)):
            i = kept[(j + r) % len(kept)]
            start = timer()
            run(candidates[i])
            times[i].append(timer() - start)
    choice = min(kept, key=lambda i: statistics.median(times[i]))
    return Measured(choice, tuple(tuple(times[i]) if i in times else None
                                  for i in range(len(candidates))))


def plan_mode(mode: str | None = None) -> str:
    """``mode``, else ``$FUNCNET_PLAN``, else ``"measure"``; one of :data:`MODES`.

    >>> plan_mode("cached")
    'cached'
    >>> plan_mode("fast")
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: FUNCNET_PLAN: expected one of measure, cached, default; got 'fast'
    """
    value = mode if mode is not None else (os.environ.get("FUNCNET_PLAN") or "measure")
    if value not in MODES:
        raise ConfigError(f"FUNCNET_PLAN: expected one of {', '.join(MODES)}; got {value!r}")
    return value


def _entry(candidates: list, found: Measured, rounds: int) -> dict:
    """A plan file entry: the candidates, the chosen index and every round's seconds."""
    return {"candidates": json.loads(canonical(candidates)), "choice": found.choice,
            "seconds": [None if s is None else list(s) for s in found.seconds],
            "rounds": int(rounds),
            "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def choose(name: str, key: Any, candidates: Sequence, run: Callable[[Any], Any], *,
           rounds: int = 5, mode: str | None = None, folder: str | os.PathLike | None = None,
           host: Machine | None = None, timer: Callable[[], float] = time.perf_counter) -> Any:
    """The plan for pass ``name`` on inputs of shape ``key``: one of ``candidates`` (JSON-able,
    the default first, all meant to give the same bits through ``run(candidate)``).

    The stored choice for (this machine, ``name``, ``key``) when the plan file
    holds one for these candidates; else, in mode ``measure``, the choice of
    :func:`measure`, stored (a store that fails is not an error: the choice is
    still used in this process); in mode ``cached`` the default; in mode
    ``default`` the default, without reading any file. See :func:`plan_mode`.
    """
    candidates = list(candidates)
    if not candidates:
        raise ValueError(f"{name}: no candidates to choose among")
    mode = plan_mode(mode)
    if mode == "default":
        return candidates[0]
    host = machine() if host is None else host
    path, key_text, cand_text = plan_file(folder, host), canonical(key), canonical(candidates)
    memo = (str(path), host, name, key_text, cand_text)
    with _LOCK:
        i = _MEMO.get(memo)
        if i is None or (i < 0 and mode == "measure"):
            i = _stored_choice(read_plans(path, host).get(name, {}).get(key_text), cand_text)
            if i is None and mode == "measure":
                i = _measure_and_store(path, host, name, key, candidates, run, rounds, timer)
            i = _MEMO[memo] = -1 if i is None else i  # -1: none stored (mode cached)
    return candidates[max(i, 0)]


def _measure_and_store(path, host: Machine, name: str, key, candidates: list, run, rounds: int,
                       timer) -> int:
    """:func:`measure` the candidates and store the choice; a store that fails (an
    unwritable or locked cache) leaves the choice to this process: the index chosen."""
    found = measure(candidates, run, rounds=rounds, timer=timer)
    try:
        store(path, host, name, canonical(key), _entry(candidates, found, rounds))
    except OSError:
        pass
    return found.choice
