"""Batch normalisation (Ioffe & Szegedy 2015) over every axis but the last.

For x of shape ``(batch, features)`` or ``(batch, h, w, channels)``, with
statistics taken over all axes but the last (N values per feature)::

    μ = mean(x)   σ² = var(x)   x̂ = (x − μ)/√(σ² + ε)   y = γ ⊙ x̂ + β

In training μ, σ² are the batch's, and the running statistics (the model
state :class:`BatchNormState`, kept outside the trainable parameters) move
towards them: m ← ρ·m + (1 − ρ)·μ, v ← ρ·v + (1 − ρ)·σ². At evaluation
the running m, v stand for μ, σ². Backward, in training::

    dγ = Σ dY ⊙ x̂    dβ = Σ dY    dx̂ = dY ⊙ γ
    dX = (1/N)/√(σ² + ε) ⊙ (N·dx̂ − Σ dx̂ − x̂ ⊙ Σ dx̂ ⊙ x̂)

and at evaluation dX = dY ⊙ γ/√(v + ε).

>>> from funcnet import rng
>>> layer, out = init(None, batch_norm(), (3,), "he", np.float64)
>>> state = initial_state(layer)
>>> x = rng.normal(rng.key(0), (8, 3), np.float64) * 5 + 2
>>> y, cache, moved = forward(layer, x, Ctx(train=True, state=state))
>>> bool(np.allclose(y.mean(axis=0), 0)), bool(np.allclose(y.std(axis=0), 1, atol=1e-3))
(True, True)
>>> bool(np.allclose(moved.mean, 0.1 * x.mean(axis=0))), forward(layer, x, Ctx(state=moved))[2] is moved
(True, True)
"""

from __future__ import annotations

import attrs
import numpy as np

from funcnet.tree import pytree, static_field
from .base import Ctx, Kind, number, register

__all__ = ["BatchNorm", "BatchNormState", "BatchNormSpec", "batch_norm", "init", "forward",
           "backward", "initial_state"]


@pytree
@attrs.frozen(eq=False)
class BatchNorm:
    """Learned scale γ and shift β, each ``(features,)``; ε and momentum ρ static."""

    gamma: np.ndarray
    beta: np.ndarray
    eps: float = static_field(default=1e-5)
    momentum: float = static_field(default=0.9)


@pytree
@attrs.frozen(eq=False)
class BatchNormState:
    """Running mean and (biased) variance, each ``(features,)``: model state, not trained."""

    mean: np.ndarray
    var: np.ndarray


@pytree
@attrs.frozen(eq=False)
class BatchNormCache:
    """What backward needs: x̂, 1/√(σ² + ε) and the mode."""

    xhat: np.ndarray
    inv_std: np.ndarray
    train: bool = static_field()


def _eps(instance, attribute, value):
    if not value > 0:
        raise ValueError(f"batch_norm: expected eps > 0, got {value}")


def _momentum(instance, attribute, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"batch_norm: expected 0 ≤ momentum < 1, got {value}")


@attrs.frozen
class BatchNormSpec:
    """What :func:`batch_norm` builds."""

    eps: float = attrs.field(default=1e-5, converter=number, validator=_eps)
    momentum: float = attrs.field(default=0.9, converter=number, validator=_momentum)


def batch_norm(eps: float = 1e-5, momentum: float = 0.9) -> BatchNormSpec:
    """Batch normalisation over the last axis' features (channels of an NHWC image).

    >>> batch_norm()
    BatchNormSpec(eps=1e-05, momentum=0.9)
    """
    return BatchNormSpec(eps, momentum)


def init(key, spec: BatchNormSpec, in_shape: tuple, scheme: str = "he", dtype=np.float32):
    """``(BatchNorm with γ = 1, β = 0, in_shape)``."""
    c = in_shape[-1]
    return BatchNorm(np.ones(c, dtype), np.zeros(c, dtype), spec.eps, spec.momentum), in_shape


def initial_state(layer: BatchNorm) -> BatchNormState:
    """Running mean 0 and variance 1."""
    return BatchNormState(np.zeros_like(layer.gamma), np.ones_like(layer.gamma))


def _axes(x: np.ndarray) -> tuple:
    return tuple(range(x.ndim - 1))


def forward(layer: BatchNorm, x: np.ndarray, ctx: Ctx = Ctx()):
    """y = γ ⊙ x̂ + β on the batch's statistics (training) or the running ones (evaluation).

    Returns ``(y, cache, new_state)``: in training the running statistics moved
    towards the batch's (None when ``ctx.state`` is None), at evaluation ``ctx.state``.
    """
    if ctx.train:
        mu, var = x.mean(axis=_axes(x)), x.var(axis=_axes(x))
        rho = x.dtype.type(layer.momentum)
        new = (None if ctx.state is None else
               BatchNormState(rho * ctx.state.mean + (1 - rho) * mu,
                              rho * ctx.state.var + (1 - rho) * var))
    elif ctx.state is None:
        raise ValueError("batch norm at evaluation needs the model state (running statistics)")
    else:
        mu, var, new = ctx.state.mean, ctx.state.var, ctx.state
    inv_std = 1 / np.sqrt(var + x.dtype.type(layer.eps))
    xhat = (x - mu) * inv_std
    return xhat * layer.gamma + layer.beta, BatchNormCache(xhat, inv_std, bool(ctx.train)), new


def backward(layer: BatchNorm, cache: BatchNormCache, dy: np.ndarray, need_dx: bool = True):
    """dγ = Σ dY ⊙ x̂, dβ = Σ dY; dX by the rule above (training) or dY ⊙ γ/√(v + ε)."""
    axes = _axes(dy)
    grads = attrs.evolve(layer, gamma=(dy * cache.xhat).sum(axis=axes), beta=dy.sum(axis=axes))
    if not need_dx:
        return None, grads
    dxhat = dy * layer.gamma
    if not cache.train:
        return dxhat * cache.inv_std, grads
    n = dy.dtype.type(dy.size // dy.shape[-1])
    dx = (n * dxhat - dxhat.sum(axis=axes) - cache.xhat * (dxhat * cache.xhat).sum(axis=axes))
    return dx * (cache.inv_std / n), grads


register(Kind("batch_norm", BatchNormSpec, BatchNorm, init, forward, backward, initial_state,
              examples=((batch_norm(), (3,)), (batch_norm(eps=1e-3, momentum=0.5), (3, 3, 2))),
              shapes=lambda spec, in_shape: (in_shape, {"gamma": in_shape[-1:], "beta": in_shape[-1:]})))
