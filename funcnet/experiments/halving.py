"""Successive halving: the budgets of the rungs, and a search's decisions, made in one order.

Every trial runs to the first rung's budget; there the best 1/η by dev
accuracy (never test) go on to the next rung, continuing their saved runs,
up to the pipeline's whole budget (Jamieson & Talwalkar 2016; Li et al.
2020's asynchronous ASHA). The rule is Optuna's ``SuccessiveHalvingPruner``
(ASHA without pausing a trial: a trial's value at rung k is compared with
those of the trials judged at rung k before it; it goes on if it is among
the best ⌊m/η⌋ of those m, or the best while m < η), its trials drawn by an
Optuna sampler through ask and tell.

**Decisions are a function of the recorded rows, not of timing.** Rows
come back in whatever order the workers finish, but a :class:`Ladder`
hands them to Optuna in one order: trial t is judged at rung k only once
every trial before it has been judged there or has stopped below it; trials
are told (complete, pruned or failed) in trial order; with a sampler that
learns (TPE), trial t is asked only once trials ``0..t-lag`` are told, and
each tell waits for the asks before it (:data:`LAG`; TPE draws at random
until :data:`STARTUP` trials are told). So local workers, Dask and a rerun
after ``kill -9`` (the rows read back from ``results.csv``) make the same
decisions, and a trial waits only for trials that started before it.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from ..errors import ConfigError
from .spaces import Dimension, distributions, make_sampler, quiet_optuna, values_of

LAG = 8  # a learning sampler asks trial t once trials 0..t-LAG are told
STARTUP = 5  # TPE draws at random until this many trials are told (so from trial LAG+STARTUP-1)


def rungs(min_budget: int, max_budget: int, eta: int) -> list[int]:
    """The budgets of the rungs: ``r, r·η, r·η², ...`` below the whole budget ``R``, then ``R``.

    >>> rungs(1, 9, 3), rungs(2, 20, 3), rungs(5, 5, 3)
    ([1, 3, 9], [2, 6, 18, 20], [5])
    >>> rungs(0, 9, 3)
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: halving: expected 1 ≤ minimum budget ≤ 9 (the whole budget); got 0
    """
    if int(eta) < 2:
        raise ConfigError(f"--halving {eta}: expected η ≥ 2 (the best 1/η of a rung go on)")
    if not 1 <= int(min_budget) <= int(max_budget):
        raise ConfigError(f"halving: expected 1 ≤ minimum budget ≤ {max_budget} (the whole "
                          f"budget); got {min_budget}")
    out, b = [], int(min_budget)
    while b < max_budget:
        out.append(b)
        b *= int(eta)
    return out + [int(max_budget)]


def mean_dev(rows: Sequence[Mapping]) -> float:
    """The value a rung judges: the mean dev accuracy of a trial's seeds (NaN if one has none).

    >>> mean_dev([{"dev_accuracy": 0.5}, {"dev_accuracy": 0.75}]), mean_dev([{"dev_accuracy": None}])
    (0.625, nan)
    """
    values = [r.get("dev_accuracy") for r in rows]
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        return math.nan
    return math.fsum(float(v) for v in values) / len(values)


class Ladder:
    """The state of one search: its trials, the rows recorded, the decisions made.

    ``record(trial, rung, seed, row)`` adds a row; :meth:`advance` makes
    every decision the rows allow, in the one order (see the module);
    :meth:`ready` lists the pieces of work to run next, promotions first.
    ``budgets`` are :func:`rungs`; with one budget nothing is pruned.
    """

    def __init__(self, space: Mapping[str, Dimension], trials: int, seeds: Sequence[int],
                 budgets: Sequence[int | None], eta: int = 3, sampler: str = "random", key=None):
        self.space, self.n, self.seeds = dict(space), int(trials), tuple(seeds)
        self.budgets, self.eta = list(budgets), int(eta)
        self.lag = LAG if sampler != "random" else self.n
        with quiet_optuna() as optuna:
            self.optuna = optuna
            pruner = (optuna.pruners.SuccessiveHalvingPruner(
                min_resource=int(self.budgets[0]), reduction_factor=self.eta,
                min_early_stopping_rate=0) if len(self.budgets) > 1 else optuna.pruners.NopPruner())
            self.study = optuna.create_study(direction="maximize", pruner=pruner,
                                             sampler=make_sampler(sampler, key, STARTUP))
        self.dists = distributions(self.space)
        self.handles: list = []
        self.configs: list[dict] = []
        self.rows: dict[tuple[int, int, int], dict] = {}
        self.verdict: dict[tuple[int, int], bool] = {}
        self.fate: dict[int, tuple[str, int]] = {}
        self.cursor = [0] * len(self.budgets)
        self.told = 0
        self.advance()

    # ---------------------------------------------------------------- rows in

    def record(self, trial: int, rung: int, seed: int, row: Mapping) -> None:
        """Keep a finished row (status ok or error) of ``trial`` at ``rung`` for ``seed``."""
        self.rows[(int(trial), int(rung), int(seed))] = dict(row)

    def _rows(self, t: int, r: int) -> list[dict] | None:
        rows = [self.rows.get((t, r, s)) for s in self.seeds]
        return None if any(row is None for row in rows) else rows

    # ---------------------------------------------------------------- decisions, in order

    def advance(self) -> None:
        """Make every decision the recorded rows allow: judge rungs, tell, ask, until still."""
        with quiet_optuna():
            moved = True
            while moved:
                moved = any([self._judge(r) for r in range(len(self.budgets))])
                moved = self._tell() or moved
                moved = self._ask() or moved

    def _judge(self, r: int) -> bool:
        """Judge rung ``r``'s trials in trial order while the next one can be judged."""
        moved = False
        while self.cursor[r] < len(self.configs):
            t = self.cursor[r]
            fate = self.fate.get(t)
            if fate is not None and fate[1] < r:
                self.cursor[r] += 1
                continue
            if r > 0 and (t, r - 1) not in self.verdict:
                return moved
            rows = self._rows(t, r)
            if rows is None:
                return moved
            self._decide(t, r, rows)
            self.cursor[r] += 1
            moved = True
        return moved

    def _decide(self, t: int, r: int, rows: list[dict]) -> None:
        """Trial ``t``'s fate at rung ``r``: failed, done (the last rung, or its run ended before
        the budget), or the pruner's verdict on its value."""
        if any(row.get("status") != "ok" for row in rows):
            self.fate[t] = ("failed", r)
            return
        last = r == len(self.budgets) - 1
        ended = any(row.get("stopped") not in ("paused",) for row in rows)
        if last:
            self.fate[t] = ("done", r)
            return
        handle = self.handles[t]
        handle.report(mean_dev(rows), int(self.budgets[r]))
        go_on = not handle.should_prune()
        if ended:
            self.fate[t] = ("done", r)
        else:
            self.verdict[(t, r)] = go_on
            if not go_on:
                self.fate[t] = ("pruned", r)

    def _tell(self) -> bool:
        """Tell Optuna the settled trials, in trial order, each after the asks before it."""
        moved = False
        while (self.told < len(self.configs) and self.told in self.fate
               and len(self.configs) >= min(self.n, self.told + self.lag)):
            t = self.told
            kind, r = self.fate[t]
            state = self.optuna.trial.TrialState
            value = mean_dev(self._rows(t, r) or []) if kind == "done" else math.nan
            if kind == "done" and math.isfinite(value):
                self.study.tell(self.handles[t], value)
            else:
                self.study.tell(self.handles[t], state=state.PRUNED if kind == "pruned" else state.FAIL)
            self.told += 1
            moved = True
        return moved

    def _ask(self) -> bool:
        """Ask the sampler for the next trials that may be drawn now (see the module)."""
        moved = False
        while len(self.configs) < self.n and self.told >= len(self.configs) - self.lag + 1:
            handle = self.study.ask(self.dists)
            self.handles.append(handle)
            self.configs.append(values_of(self.space, handle.params))
            moved = True
        return moved

    # ---------------------------------------------------------------- what next

    def rung_of(self, t: int) -> int:
        """The rung trial ``t`` runs at now: one above the last it went on from."""
        r = 0
        while self.verdict.get((t, r)):
            r += 1
        return r

    def ready(self) -> list[tuple[int, int, int]]:
        """``(trial, rung, seed)`` of the runs to do next: promotions (higher rungs) first, then
        earlier trials; a trial decided (done, pruned, failed) has none."""
        todo = []
        for t in range(len(self.configs)):
            if t in self.fate:
                continue
            r = self.rung_of(t)
            todo += [(t, r, s) for s in self.seeds if (t, r, s) not in self.rows]
        return sorted(todo, key=lambda job: (-job[1], job[0], self.seeds.index(job[2])))

    def settled(self) -> bool:
        """Whether every trial has been drawn and decided."""
        return len(self.configs) == self.n and len(self.fate) == self.n

    def decision(self, t: int, r: int) -> str:
        """What trial ``t``'s rung ``r`` led to: promoted, pruned, done, failed, or "" (not yet).

        Promoted goes on to the next rung; done is a trial at its whole
        budget (or whose run ended before its rung's budget).
        """
        if (t, r) in self.verdict:
            return "promoted" if self.verdict[(t, r)] else "pruned"
        fate = self.fate.get(t)
        return fate[0] if fate is not None and fate[1] == r else ""
