"""Fully connected layers: ``z = x @ w + b`` (the tutorial's Z = W·X + b, transposed).

Shapes: ``x: (batch, n_in)``, ``w: (n_in, n_out)``, ``b: (n_out,)``,
``z: (batch, n_out)``. Backward, for dZ = ∂L/∂z::

    dW = xᵀ·dZ      db = Σ_rows dZ      dx = dZ·Wᵀ

(the tutorial's dW = dZ·Aᵀ, db = Σ dZ, dA = Wᵀ·dZ, read row-major).

>>> from funcnet import rng
>>> layer, out = init(rng.key(0), dense(3), (4,), "he", np.float64)
>>> out, layer.w.shape
((3,), (4, 3))
>>> y, cache, _ = forward(layer, np.ones((2, 4)))
>>> dx, g = backward(layer, cache, np.ones((2, 3)))
>>> dx.shape, g.w.shape, g.b.tolist()
((2, 4), (4, 3), [2.0, 2.0, 2.0])
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from funcnet import rng
from funcnet.tree import pytree
from .base import Ctx, Kind, register, whole

__all__ = ["Dense", "DenseSpec", "dense", "init_dense", "init", "forward", "backward", "SCHEMES"]

SCHEMES = ("tutorial", "he", "xavier")


@pytree
@attrs.frozen(eq=False)
class Dense:
    """A fully connected layer: ``z = x @ w + b`` with ``w: (n_in, n_out)``, ``b: (n_out,)``.

    >>> Dense.zeros(3, 2).w.shape
    (3, 2)
    """

    w: np.ndarray
    b: np.ndarray

    @classmethod
    def zeros(cls, n_in: int, n_out: int, dtype=np.float32) -> "Dense":
        """A layer of zeros (for tests and templates)."""
        return cls(np.zeros((n_in, n_out), dtype), np.zeros(n_out, dtype))


@attrs.frozen
class DenseSpec:
    """What :func:`dense` builds: ``units`` outputs."""

    units: int = attrs.field(converter=whole)


def dense(units: int) -> DenseSpec:
    """A fully connected layer of ``units`` outputs: z = x @ w + b.

    >>> dense(10)
    DenseSpec(units=10)
    """
    return DenseSpec(units)


def init_dense(key, n_in: int, n_out: int, scheme: str = "he", dtype=np.float32) -> Dense:
    """Fresh weights: ``"tutorial"`` W, b ~ U[−0.5, 0.5); ``"he"`` W ~ N(0, 2/n_in), b = 0;
    ``"xavier"`` W ~ U(±√(6/(n_in + n_out))), b = 0. W and b draw from two keys split from ``key``.

    >>> init_dense(rng.key(0), 3, 2, "xavier").b
    array([0., 0.], dtype=float32)
    """
    kw, kb = rng.split(key)
    if scheme == "tutorial":  # W, b ~ U[-0.5, 0.5), as np.random.rand(...) - 0.5
        return Dense(rng.uniform(kw, (n_in, n_out), -0.5, 0.5, dtype),
                     rng.uniform(kb, (n_out,), -0.5, 0.5, dtype))
    if scheme == "he":  # W ~ N(0, 2/n_in), b = 0 (He et al. 2015)
        w = rng.normal(kw, (n_in, n_out), dtype) * np.dtype(dtype).type(math.sqrt(2 / n_in))
    elif scheme == "xavier":  # W ~ U(±√(6/(n_in+n_out))), b = 0 (Glorot & Bengio 2010)
        r = math.sqrt(6 / (n_in + n_out))
        w = rng.uniform(kw, (n_in, n_out), -r, r, dtype)
    else:
        raise ValueError(f"unknown init scheme {scheme!r}: expected one of {', '.join(SCHEMES)}")
    return Dense(w, np.zeros(n_out, dtype))


def shapes(spec: DenseSpec, in_shape: tuple):
    """``((units,), {"w": (n_in, units), "b": (units,)})`` for flat inputs ``(n_in,)``;
    other shapes are refused."""
    if len(in_shape) != 1:
        raise ValueError(f"expects flat inputs (features,), got {in_shape}: put flatten() before it")
    if spec.units < 1:
        raise ValueError(f"units must be ≥ 1, got {spec.units}")
    return (spec.units,), {"w": (in_shape[0], spec.units), "b": (spec.units,)}


def init(key, spec: DenseSpec, in_shape: tuple, scheme: str = "he", dtype=np.float32):
    """``(Dense, (units,))`` for flat inputs ``(n_in,)``; other shapes are refused."""
    out, _ = shapes(spec, in_shape)
    return init_dense(key, in_shape[0], spec.units, scheme, dtype), out


def forward(layer: Dense, x: np.ndarray, ctx: Ctx = Ctx()):
    """z = x @ w + b, ``(batch, n_in) -> (batch, n_out)``; the cache is x, no state."""
    z = x @ layer.w  # a fresh array: adding b into it writes into nothing received
    return np.add(z, layer.b, out=z), x, None


def column_sum(dz: np.ndarray) -> np.ndarray:
    """Σ_rows dZ as the product 1ᵀ·dZ (BLAS; NumPy's sum over rows is slow for narrow dZ).

    >>> column_sum(np.ones((3, 2)))
    array([3., 3.])
    """
    return np.ones(len(dz), dz.dtype) @ dz


def backward(layer: Dense, x: np.ndarray, dz: np.ndarray, need_dx: bool = True):
    """dW = xᵀ·dZ, db = Σ_rows dZ, dx = dZ·Wᵀ (None unless ``need_dx``)."""
    grads = Dense(x.T @ dz, column_sum(dz))
    return (dz @ layer.w.T if need_dx else None), grads


register(Kind("dense", DenseSpec, Dense, init, forward, backward,
              examples=((dense(3), (4,)), (dense(1), (2,))), shapes=shapes))
