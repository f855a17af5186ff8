"""Primitive gradient transformations, each a factory returning an Optimizer.

Each factory's state is a frozen pytree record named after it (``trace`` →
:class:`TraceState`); step counts are 0-d ``int64`` arrays, so every state is
a pytree of arrays that a checkpoint can store. Moments take the dtype of the
params, and float32 stays float32: hyperparameters enter as Python floats.

>>> import numpy as np
>>> from funcnet.optim import chain, apply_updates
>>> opt = chain(scale_by_adam(), scale_by_learning_rate(0.1))
>>> p = {"w": np.array([1.0, -2.0])}
>>> u, s = opt.update({"w": np.array([3.0, -0.5])}, opt.init(p), p)
>>> apply_updates(p, u)["w"]
array([ 0.9, -1.9])
"""

from __future__ import annotations

import math
from typing import Any, Callable

import attrs
import numpy as np

from funcnet import tree
from funcnet.errors import ConfigError

from .base import Optimizer, donating, leafwise
from .schedules import constant

__all__ = [
    "IdentityState", "ScaleState", "ScaleByLearningRateState", "ScaleByScheduleState",
    "TraceState", "ScaleByRmsState", "ScaleByAdamState", "AddDecayedWeightsState",
    "ClipByGlobalNormState", "identity", "scale", "scale_by_learning_rate",
    "scale_by_schedule", "trace", "scale_by_rms", "scale_by_adam",
    "add_decayed_weights", "clip_by_global_norm",
]


def _check(name: str, value: float, ok: bool, expected: str) -> float:
    """``float(value)``, or a ConfigError naming the hyperparameter."""
    if not ok:
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def _zero_count() -> np.ndarray:
    return tree.freeze(np.zeros((), np.int64))


def _next_count(count: np.ndarray) -> np.ndarray:
    return tree.freeze(np.array(int(count) + 1, dtype=np.int64))


def _zeros(params: Any) -> Any:
    """Zero arrays shaped and typed as the leaves of ``params`` (read-only)."""
    ps, treedef = tree.flatten(params)
    return tree.unflatten(treedef, tree.freeze([np.zeros_like(p) for p in ps]))


def _columns(rows: list, n: int) -> tuple[list, ...]:
    """The n columns of a list of n-tuples (n empty lists when there are no rows)."""
    return tuple(list(col) for col in zip(*rows)) if rows else tuple([] for _ in range(n))


def _scaled(gs: list, c: float) -> list:
    """[c·g for g in gs], each a new array of g's dtype."""
    return [np.multiply(g, c, out=np.empty_like(g)) for g in gs]


def _scale_in_place(gs: list, c: float) -> list:
    """g ← c·g for each donated g (the numbers of :func:`_scaled`)."""
    for g in gs:
        np.multiply(g, c, out=g)
    return gs


# --- identity, scale --------------------------------------------------------

@tree.pytree
@attrs.frozen(eq=False)
class IdentityState:
    """The (empty) state of :func:`identity`."""


def identity() -> Optimizer:
    """u = g: the gradients pass unchanged.

    Returns:
      An Optimizer with state :class:`IdentityState`.

    >>> identity().update([1.0, 2.0], IdentityState())[0]
    [1.0, 2.0]
    """
    same = lambda gs, state, params, treedef: (gs, state)  # noqa: E731
    return leafwise(lambda params: IdentityState(), donating(same, same))


@tree.pytree
@attrs.frozen(eq=False)
class ScaleState:
    """The (empty) state of :func:`scale`."""


def scale(c: float) -> Optimizer:
    """u = c·g.

    Args:
      c: the factor.
    Returns:
      An Optimizer with state :class:`ScaleState`.

    >>> scale(0.5).update([np.array([2.0, 4.0])], ScaleState())[0]
    [array([1., 2.])]
    """
    c = float(c)
    return leafwise(lambda params: ScaleState(), donating(
        lambda gs, state, params, treedef: (_scaled(gs, c), state),
        lambda gs, state, params, treedef: (_scale_in_place(gs, c), state)))


# --- learning rate and schedules --------------------------------------------

@tree.pytree
@attrs.frozen(eq=False)
class ScaleByScheduleState:
    """The state of :func:`scale_by_schedule`: ``count`` steps taken (0-d int64)."""

    count: np.ndarray


def scale_by_schedule(fn: Callable[[int], float]) -> Optimizer:
    """u = fn(t)·g at step t = 0, 1, 2, …

    Args:
      fn: a schedule, step -> factor (see ``funcnet.optim.schedules``).
    Returns:
      An Optimizer with state :class:`ScaleByScheduleState`.

    >>> opt = scale_by_schedule(lambda t: 10.0 ** t)
    >>> u0, s = opt.update([np.ones(1)], opt.init([np.zeros(1)]))
    >>> u1, s = opt.update([np.ones(1)], s)
    >>> u0, u1, int(s.count)
    ([array([1.])], [array([10.])], 2)
    """
    def update_leaves(gs, state, params, treedef):
        c = float(fn(int(state.count)))
        return _scaled(gs, c), ScaleByScheduleState(_next_count(state.count))

    def donated(gs, state, params, treedef):
        c = float(fn(int(state.count)))
        return _scale_in_place(gs, c), ScaleByScheduleState(_next_count(state.count))
    return leafwise(lambda params: ScaleByScheduleState(_zero_count()),
                    donating(update_leaves, donated))


@tree.pytree
@attrs.frozen(eq=False)
class ScaleByLearningRateState:
    """The state of :func:`scale_by_learning_rate`: ``count`` steps taken (0-d int64)."""

    count: np.ndarray


def scale_by_learning_rate(lr: float | Callable[[int], float]) -> Optimizer:
    """u = −lr(t)·g: a descent step (lr a float, or a schedule of the step t).

    The state counts steps even for a constant ``lr``, so a float and a
    schedule give states of the same structure.

    Args:
      lr: the learning rate, or a schedule step -> learning rate.
    Returns:
      An Optimizer with state :class:`ScaleByLearningRateState`.

    >>> opt = scale_by_learning_rate(0.1)
    >>> opt.update([np.array([1.0, -2.0])], opt.init(None))[0]
    [array([-0.1,  0.2])]
    """
    rate = lr if callable(lr) else constant(lr)

    def update_leaves(gs, state, params, treedef):
        c = -float(rate(int(state.count)))
        return _scaled(gs, c), ScaleByLearningRateState(_next_count(state.count))

    def donated(gs, state, params, treedef):
        c = -float(rate(int(state.count)))
        return _scale_in_place(gs, c), ScaleByLearningRateState(_next_count(state.count))
    return leafwise(lambda params: ScaleByLearningRateState(_zero_count()),
                    donating(update_leaves, donated))


def _one_moment(state_type: type, field: str, leaf: Callable, leaf_in_place: Callable) -> Optimizer:
    """An Optimizer keeping one moment shaped as the params in ``state_type(field=…)``:
    ``leaf(g, v) -> (u, v')`` per leaf, and its donated form ``leaf_in_place(g, v) -> u``
    writing v' into v and u into g."""
    def update_leaves(gs, state, params, treedef):
        vs = tree.flatten_up_to(treedef, getattr(state, field))
        us, vs = _columns([leaf(g, v) for g, v in zip(gs, vs)], 2)
        return us, state_type(tree.unflatten(treedef, tree.freeze(vs)))

    def donated(gs, state, params, treedef):
        vs = tree.flatten_up_to(treedef, getattr(state, field))
        return [leaf_in_place(g, v) for g, v in zip(gs, vs)], state
    return leafwise(lambda params: state_type(_zeros(params)), donating(update_leaves, donated))


# --- momentum ----------------------------------------------------------------

@tree.pytree
@attrs.frozen(eq=False)
class TraceState:
    """The state of :func:`trace`: the velocity ``trace`` (shaped as params)."""

    trace: Any


def _trace_leaf(g, v, mu: float, nesterov: bool):
    """(u, v') with v' = μ·v + g and u = v' (or g + μ·v' for Nesterov)."""
    v_new = np.multiply(v, mu, out=np.empty_like(v))
    v_new += g
    if not nesterov:
        return v_new, v_new
    u = np.multiply(v_new, mu, out=np.empty_like(v_new))
    u += g
    return u, v_new


def _trace_leaf_in_place(g, v, mu: float, nesterov: bool):
    """:func:`_trace_leaf` written into the donated v (v') and g (u)."""
    v *= mu
    v += g
    if not nesterov:
        np.copyto(g, v)
        return g
    g += np.multiply(v, mu, out=np.empty_like(v))  # g + μ·v' = μ·v' + g
    return g


def trace(decay: float, nesterov: bool = False) -> Optimizer:
    """Heavy-ball momentum: v ← μ·v + g; u = v, or u = g + μ·v with Nesterov.

    With v₀ = 0 this is torch.optim.SGD's buffer (dampening 0).

    Args:
      decay: the momentum μ in [0, 1].
      nesterov: use Nesterov's look-ahead form.
    Returns:
      An Optimizer with state :class:`TraceState`.

    >>> opt = trace(0.5)
    >>> u, s = opt.update([np.ones(1)], opt.init([np.zeros(1)]))
    >>> opt.update([np.ones(1)], s)[0]
    [array([1.5])]
    """
    mu = _check("momentum", decay, 0 <= decay <= 1, "in [0, 1]")
    return _one_moment(TraceState, "trace", lambda g, v: _trace_leaf(g, v, mu, nesterov),
                       lambda g, v: _trace_leaf_in_place(g, v, mu, nesterov))


# --- adaptive scaling ---------------------------------------------------------

@tree.pytree
@attrs.frozen(eq=False)
class ScaleByRmsState:
    """The state of :func:`scale_by_rms`: the mean square ``nu`` (shaped as params)."""

    nu: Any


def _ema_square(g, v, rho: float) -> np.ndarray:
    """ρ·v + (1−ρ)·g², computed as v + (1−ρ)·(g² − v) in a new array."""
    v_new = np.multiply(g, g, out=np.empty_like(v))
    v_new -= v
    v_new *= 1.0 - rho
    v_new += v
    return v_new


def _rms_leaf(g, v, rho: float, eps: float):
    """(u, ν') with ν' = ρ·ν + (1−ρ)·g² and u = g / (√ν' + ε)."""
    v_new = _ema_square(g, v, rho)
    u = np.sqrt(v_new, out=np.empty_like(v_new))
    u += eps
    return np.divide(g, u, out=u), v_new


def _ema_square_in_place(g, v, rho: float, scratch) -> None:
    """v ← v + (1−ρ)·(g² − v) in the donated v, the numbers of :func:`_ema_square`."""
    np.multiply(g, g, out=scratch)
    scratch -= v
    scratch *= 1.0 - rho
    v += scratch  # v + s, the same sum as s + v


def _rms_leaf_in_place(g, v, rho: float, eps: float):
    """:func:`_rms_leaf` written into the donated ν (ν') and g (u)."""
    scratch = np.empty_like(v)
    _ema_square_in_place(g, v, rho, scratch)
    np.sqrt(v, out=scratch)
    scratch += eps
    return np.divide(g, scratch, out=g)


def scale_by_rms(decay: float = 0.9, eps: float = 1e-8) -> Optimizer:
    """RMSprop's scaling as torch.optim.RMSprop: ν ← ρ·ν + (1−ρ)·g²; u = g/(√ν + ε).

    ν₀ = 0 and ε is added outside the square root (PyTorch's convention;
    optax's ``scale_by_rms`` puts it inside).

    Args:
      decay: ρ in [0, 1).
      eps: ε ≥ 0.
    Returns:
      An Optimizer with state :class:`ScaleByRmsState`.

    >>> opt = scale_by_rms(decay=0.75, eps=0.0)
    >>> opt.update([np.array([2.0, -4.0])], opt.init([np.zeros(2)]))[0]
    [array([ 2., -2.])]
    """
    rho = _check("decay", decay, 0 <= decay < 1, "in [0, 1)")
    eps = _check("eps", eps, eps >= 0, "≥ 0")
    return _one_moment(ScaleByRmsState, "nu", lambda g, v: _rms_leaf(g, v, rho, eps),
                       lambda g, v: _rms_leaf_in_place(g, v, rho, eps))


@tree.pytree
@attrs.frozen(eq=False)
class ScaleByAdamState:
    """The state of :func:`scale_by_adam`: steps ``count`` (0-d int64), moments ``mu``, ``nu``."""

    count: np.ndarray
    mu: Any
    nu: Any


def _adam_leaf(g, m, v, b1: float, b2: float, eps_hat: float, step: float):
    """(u, m', v'): the moments, and u = step·m'/(√v' + ε̂)."""
    m_new = np.subtract(g, m, out=np.empty_like(m))
    m_new *= 1.0 - b1
    m_new += m
    v_new = _ema_square(g, v, b2)
    u = np.sqrt(v_new, out=np.empty_like(v_new))
    u += eps_hat
    np.divide(m_new, u, out=u)
    u *= step
    return u, m_new, v_new


def _adam_leaf_in_place(g, m, v, b1: float, b2: float, eps_hat: float, step: float):
    """:func:`_adam_leaf` written into the donated m (m'), v (v') and g (u), with one
    scratch array: v' first (it needs g), then m' (g's buffer holds g − m), then u."""
    scratch = np.empty_like(v)
    _ema_square_in_place(g, v, b2, scratch)
    np.subtract(g, m, out=g)
    g *= 1.0 - b1
    m += g  # m + (1−β1)(g − m), the same sum as the pure form's
    np.sqrt(v, out=scratch)
    scratch += eps_hat
    np.divide(m, scratch, out=g)
    g *= step
    return g


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Adam's scaling (Kingma & Ba 2015), with bias correction, at step t = 1, 2, …

        m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
        m̂ = m/(1−β1ᵗ);  v̂ = v/(1−β2ᵗ);  u = m̂/(√v̂ + ε)

    ε sits outside the square root, as in torch.optim.Adam and optax. It is
    computed as u = (√(1−β2ᵗ)/(1−β1ᵗ))·m/(√v + ε·√(1−β2ᵗ)), the same number.

    Args:
      b1, b2: the moments' decay rates β1, β2 in [0, 1).
      eps: ε ≥ 0.
    Returns:
      An Optimizer with state :class:`ScaleByAdamState`; ``mu``, ``nu`` shaped as params.

    >>> opt = scale_by_adam()
    >>> u, s = opt.update([np.array([0.3, -2.0])], opt.init([np.zeros(2)]))
    >>> u, int(s.count)
    ([array([ 1., -1.])], 1)
    """
    b1 = _check("b1", b1, 0 <= b1 < 1, "in [0, 1)")
    b2 = _check("b2", b2, 0 <= b2 < 1, "in [0, 1)")
    eps = _check("eps", eps, eps >= 0, "≥ 0")

    def init(params):
        return ScaleByAdamState(_zero_count(), _zeros(params), _zeros(params))

    def update_leaves(gs, state, params, treedef):
        count = _next_count(state.count)
        c1, c2 = 1.0 - b1 ** int(count), math.sqrt(1.0 - b2 ** int(count))
        ms = tree.flatten_up_to(treedef, state.mu)
        vs = tree.flatten_up_to(treedef, state.nu)
        us, ms, vs = _columns([_adam_leaf(g, m, v, b1, b2, eps * c2, c2 / c1)
                               for g, m, v in zip(gs, ms, vs)], 3)
        return us, ScaleByAdamState(count, tree.unflatten(treedef, tree.freeze(ms)),
                                    tree.unflatten(treedef, tree.freeze(vs)))

    def donated(gs, state, params, treedef):
        count = _next_count(state.count)
        c1, c2 = 1.0 - b1 ** int(count), math.sqrt(1.0 - b2 ** int(count))
        ms = tree.flatten_up_to(treedef, state.mu)
        vs = tree.flatten_up_to(treedef, state.nu)
        us = [_adam_leaf_in_place(g, m, v, b1, b2, eps * c2, c2 / c1) for g, m, v in zip(gs, ms, vs)]
        return us, ScaleByAdamState(count, state.mu, state.nu)
    return leafwise(init, donating(update_leaves, donated))


# --- weight decay and clipping -------------------------------------------------

@tree.pytree
@attrs.frozen(eq=False)
class AddDecayedWeightsState:
    """The (empty) state of :func:`add_decayed_weights`."""


def add_decayed_weights(weight_decay: float) -> Optimizer:
    """u = g + λ·p: weight decay (decoupled when placed after Adam, before the lr).

    Args:
      weight_decay: λ ≥ 0.
    Returns:
      An Optimizer with state :class:`AddDecayedWeightsState`; ``update`` needs ``params``.

    >>> opt = add_decayed_weights(0.1)
    >>> opt.update([np.ones(2)], AddDecayedWeightsState(), [np.array([10.0, -10.0])])[0]
    [array([2., 0.])]
    """
    lam = _check("weight_decay", weight_decay, weight_decay >= 0, "≥ 0")

    def update_leaves(gs, state, params, treedef):
        if params is None:
            raise ValueError("add_decayed_weights needs params: call update(grads, state, params)")
        ps = tree.flatten_up_to(treedef, params)
        us = [np.multiply(p, lam, out=np.empty_like(g)) for g, p in zip(gs, ps)]
        for u, g in zip(us, gs):
            u += g
        return us, state

    def donated(gs, state, params, treedef):
        if params is None:
            raise ValueError("add_decayed_weights needs params: call update(grads, state, params)")
        for g, p in zip(gs, tree.flatten_up_to(treedef, params)):
            g += np.multiply(p, lam, out=np.empty_like(g))  # g + λ·p = λ·p + g
        return gs, state
    return leafwise(lambda params: AddDecayedWeightsState(), donating(update_leaves, donated))


@tree.pytree
@attrs.frozen(eq=False)
class ClipByGlobalNormState:
    """The (empty) state of :func:`clip_by_global_norm`."""


def clip_by_global_norm(max_norm: float) -> Optimizer:
    """u = g·min(1, c/‖g‖), with ‖g‖ = √(Σ over all leaves of Σ g²).

    Gradients whose global norm is at most c pass unchanged.

    Args:
      max_norm: c > 0.
    Returns:
      An Optimizer with state :class:`ClipByGlobalNormState`.

    >>> clip_by_global_norm(1.0).update([np.array([3.0]), np.array([4.0])],
    ...                                 ClipByGlobalNormState())[0]
    [array([0.6]), array([0.8])]
    """
    c = _check("max_norm", max_norm, max_norm > 0, "> 0")

    def update_leaves(gs, state, params, treedef):
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in gs))
        return (gs if norm <= c else _scaled(gs, c / norm)), state

    def donated(gs, state, params, treedef):
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in gs))
        return (gs if norm <= c else _scale_in_place(gs, c / norm)), state
    return leafwise(lambda params: ClipByGlobalNormState(), donating(update_leaves, donated))
