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

The sums over the N values of a feature are matrix products on the
``(N, features)`` view of the batch (Σ_i A[i, :] = 1ᵀ·A, :func:`funcnet._kernels.column_sums`):
μ = 1ᵀ·X/N, then σ² = 1ᵀ·(X − μ)²/N on the centred values (two passes: the
one-pass E[X²] − μ² loses the variance to cancellation when |μ| ≫ σ).
Backward uses Σ dx̂ = γ ⊙ Σ dY = γ ⊙ dβ and Σ dx̂ ⊙ x̂ = γ ⊙ dγ, so that only
dβ and dγ are summed::

    dX = γ/√(σ² + ε)/N ⊙ (N·dY − dβ − x̂ ⊙ dγ)

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

from funcnet._kernels import column_sums
from funcnet.tree import pytree, static_field
from .base import Ctx, Kind, number, register

__all__ = ["BatchNorm", "BatchNormState", "BatchNormSpec", "batch_norm", "init", "forward",
           "backward", "initial_state", "batch_stats"]


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


def _rows(a: np.ndarray) -> np.ndarray:
    """``a`` as ``(N, features)``: one row per value of each feature (a view when it can be)."""
    return a.reshape(-1, a.shape[-1])


def batch_stats(x: np.ndarray) -> tuple:
    """``(μ, σ²)``: μ = 1ᵀ·X/N and the population variance σ² = 1ᵀ·(X − μ)²/N over all axes
    but the last (N values per feature), as matrix products on the ``(N, features)`` view.

    >>> batch_stats(np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 13.0]]))
    (array([ 3., 11.]), array([2.66666667, 2.        ]))
    """
    return _batch_stats(x)[:2]


def _batch_stats(x: np.ndarray) -> tuple:
    """``(μ, σ², X − μ, (X − μ)²)`` as :func:`batch_stats`; the last two are new arrays
    shaped like ``x``, which the caller may overwrite."""
    n = x.dtype.type(x.size // x.shape[-1])
    mu = column_sums(_rows(x)) / n
    centred = x - mu
    squares = np.square(centred)
    return mu, column_sums(_rows(squares)) / n, centred, squares


def forward(layer: BatchNorm, x: np.ndarray, ctx: Ctx = Ctx()):
    """y = γ ⊙ x̂ + β on the batch's statistics (training) or the running ones (evaluation).

    Returns ``(y, cache, new_state)``: in training the running statistics moved
    towards the batch's (None when ``ctx.state`` is None), at evaluation ``ctx.state``.
    """
    if ctx.train:
        mu, var, centred, spare = _batch_stats(x)
        rho = x.dtype.type(layer.momentum)
        new = (None if ctx.state is None else
               BatchNormState(rho * ctx.state.mean + (1 - rho) * mu,
                              rho * ctx.state.var + (1 - rho) * var))
    elif ctx.state is None:
        raise ValueError("batch norm at evaluation needs the model state (running statistics)")
    else:
        mu, var, new = ctx.state.mean, ctx.state.var, ctx.state
        centred, spare = x - mu, None
    inv_std = 1 / np.sqrt(var + x.dtype.type(layer.eps))
    # centred and spare are this function's own arrays: x̂ and y are written into them
    xhat = np.multiply(centred, inv_std, out=centred)
    y = np.multiply(xhat, layer.gamma, out=spare)
    return np.add(y, layer.beta, out=y), BatchNormCache(xhat, inv_std, bool(ctx.train)), new


def backward(layer: BatchNorm, cache: BatchNormCache, dy: np.ndarray, need_dx: bool = True):
    """dγ = Σ dY ⊙ x̂, dβ = Σ dY; dX = γ/√(σ² + ε)/N ⊙ (N·dY − dβ − x̂ ⊙ dγ) (training)
    or dY ⊙ γ/√(v + ε) (evaluation)."""
    work = np.multiply(dy, cache.xhat)  # this function's own array, reused below
    dgamma, dbeta = column_sums(_rows(work)), column_sums(_rows(dy))
    grads = attrs.evolve(layer, gamma=dgamma, beta=dbeta)
    if not need_dx:
        return None, grads
    if not cache.train:
        return dy * (layer.gamma * cache.inv_std), grads
    n = dy.dtype.type(dy.size // dy.shape[-1])
    dx = np.multiply(dy, n)
    np.subtract(dx, dbeta, out=dx)
    np.subtract(dx, np.multiply(cache.xhat, dgamma, out=work), out=dx)
    return np.multiply(dx, layer.gamma * cache.inv_std / n, out=dx), grads


register(Kind("batch_norm", BatchNormSpec, BatchNorm, init, forward, backward, initial_state,
              examples=((batch_norm(), (3,)), (batch_norm(eps=1e-3, momentum=0.5), (3, 3, 2))),
              shapes=lambda spec, in_shape: (in_shape, {"gamma": in_shape[-1:], "beta": in_shape[-1:]})))
