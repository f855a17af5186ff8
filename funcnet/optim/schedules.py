"""Learning-rate schedules: pure functions of the integer step t = 0, 1, 2, …

Each factory returns ``schedule(step) -> float``; a schedule is accepted
wherever a learning rate is (``sgd(warmup_cosine(0.1, 100, 1000))``).

>>> s = warmup(1.0, 4, constant(1.0))
>>> [s(t) for t in range(6)]
[0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
"""

from __future__ import annotations

import math
from typing import Callable

from funcnet.errors import ConfigError

__all__ = ["Schedule", "constant", "step_decay", "exponential_decay", "cosine_decay",
           "warmup", "warmup_cosine"]

Schedule = Callable[[int], float]


def _positive(name: str, value: int) -> int:
    if int(value) != value or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def constant(value: float) -> Schedule:
    """lr(t) = value.

    >>> constant(0.1)(1000)
    0.1
    """
    value = float(value)

    def schedule(step: int) -> float:
        return value
    return schedule


def step_decay(init: float, factor: float, every: int) -> Schedule:
    """lr(t) = init · factor^⌊t / every⌋ (a staircase).

    Args:
      init: the rate at t = 0.
      factor: multiplies the rate every ``every`` steps.
      every: a positive number of steps.

    >>> s = step_decay(1.0, 0.5, 10)
    >>> s(0), s(9), s(10), s(25)
    (1.0, 1.0, 0.5, 0.25)
    """
    init, factor, every = float(init), float(factor), _positive("every", every)

    def schedule(step: int) -> float:
        return init * factor ** (int(step) // every)
    return schedule


def exponential_decay(init: float, rate: float, every: int = 1) -> Schedule:
    """lr(t) = init · rate^(t / every) (smooth; use :func:`step_decay` for stairs).

    Args:
      init: the rate at t = 0.
      rate: the factor applied over each ``every`` steps.
      every: a positive number of steps.

    >>> s = exponential_decay(2.0, 0.5, every=2)
    >>> s(0), s(1), s(4)
    (2.0, 1.414213562373095, 0.5)
    """
    init, rate, every = float(init), float(rate), _positive("every", every)

    def schedule(step: int) -> float:
        return init * rate ** (int(step) / every)
    return schedule


def _cosine(start: float, end: float, steps: int) -> Schedule:
    """end + (start − end)·½(1 + cos(π·min(t, steps)/steps))."""
    def schedule(step: int) -> float:
        t = min(max(int(step), 0), steps) / steps
        return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * t))
    return schedule


def cosine_decay(init: float, steps: int, alpha: float = 0.0) -> Schedule:
    """lr(t) = init · ((1 − α)·½(1 + cos(π·min(t, T)/T)) + α), T = ``steps``.

    As ``optax.cosine_decay_schedule``: from ``init`` at t = 0 to ``init·α`` at
    t ≥ T.

    Args:
      init: the rate at t = 0.
      steps: T, a positive number of steps.
      alpha: the final rate as a fraction of ``init``.

    >>> s = cosine_decay(1.0, 10, alpha=0.1)
    >>> s(0), s(5), s(10), s(20)
    (1.0, 0.55, 0.1, 0.1)
    """
    init, steps = float(init), _positive("steps", steps)
    return _cosine(init, init * float(alpha), steps)


def warmup(peak: float, warmup_steps: int, then: Schedule | float) -> Schedule:
    """lr(t) = peak · t / W for t < W, then ``then(t − W)``, W = ``warmup_steps``.

    Args:
      peak: the rate reached at t = W.
      warmup_steps: W ≥ 0 (0: no warm-up).
      then: the schedule (or constant rate) after the warm-up.

    >>> s = warmup(0.1, 10, step_decay(0.1, 0.5, 100))
    >>> s(0), s(5), s(10), s(110)
    (0.0, 0.05, 0.1, 0.05)
    """
    peak = float(peak)
    if int(warmup_steps) != warmup_steps or warmup_steps < 0:
        raise ConfigError(f"warmup_steps must be an integer ≥ 0, got {warmup_steps!r}")
    w = int(warmup_steps)
    after = then if callable(then) else constant(then)

    def schedule(step: int) -> float:
        step = int(step)
        return peak * step / w if step < w else float(after(step - w))
    return schedule


def warmup_cosine(peak: float, warmup_steps: int, total_steps: int,
                  end: float = 0.0) -> Schedule:
    """Linear warm-up 0 → peak over W steps, then cosine decay peak → end by T.

        lr(t) = peak·t/W                                   for t < W
        lr(t) = end + (peak − end)·½(1 + cos(π(t−W)/(T−W)))  for W ≤ t ≤ T
        lr(t) = end                                          for t > T

    As ``optax.warmup_cosine_decay_schedule(0, peak, W, T, end)``.

    Args:
      peak: the rate at t = W.
      warmup_steps: W ≥ 0.
      total_steps: T > W, the step at which ``end`` is reached.
      end: the final rate.

    >>> s = warmup_cosine(1.0, 10, 30)
    >>> s(0), s(5), s(10), s(20), s(30), s(99)
    (0.0, 0.5, 1.0, 0.5, 0.0, 0.0)
    """
    decay = _positive("total_steps − warmup_steps", total_steps - warmup_steps)
    return warmup(peak, warmup_steps, _cosine(float(peak), float(end), decay))
