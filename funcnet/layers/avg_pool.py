"""Average pooling over NHWC images: ``avg_pool(size, stride)`` and ``global_avg_pool()``.

A window of ``size × size`` pixels moves by ``stride`` (default ``size``)
over each channel, floor mode as :mod:`funcnet.layers.pool` (rows and
columns that do not fill a window are dropped)::

    y[n, i, j, c] = (1/k²) Σ_{0 ≤ p, q < k} x[n, i·s + p, j·s + q, c]
    dx[n, i·s + p, j·s + q, c] += dy[n, i, j, c] / k²

Global average pooling takes one window as large as the image and drops
the spatial axes (Lin, Chen & Yan 2014, "Network in network"):
``y[n, c] = (1/(h·w)) Σ_{i, j} x[n, i, j, c]``, ``dx[n, i, j, c] = dy[n, c]/(h·w)``.
Both loop over window offsets, never over pixels.

>>> import numpy as np
>>> layer, out = init_avg_pool(None, avg_pool(2), (4, 4, 1))
>>> out
(2, 2, 1)
>>> y, cache, _ = forward_avg_pool(layer, np.arange(16.0).reshape(1, 4, 4, 1))
>>> y[0, :, :, 0]
array([[ 2.5,  4.5],
       [10.5, 12.5]])
>>> backward_avg_pool(layer, cache, np.ones_like(y))[0][0, :2, :2, 0]
array([[0.25, 0.25],
       [0.25, 0.25]])
"""

from __future__ import annotations

import attrs
import numpy as np

from funcnet.tree import pytree, static_field
from .base import Ctx, Kind, register, whole

__all__ = ["AvgPool", "AvgPoolSpec", "GlobalAvgPool", "GlobalAvgPoolSpec", "avg_pool",
           "global_avg_pool", "init_avg_pool", "forward_avg_pool", "backward_avg_pool",
           "init_global_avg_pool", "forward_global_avg_pool", "backward_global_avg_pool"]


def _positive(instance, attribute, value):
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} must be ≥ 1, got {value}")


def _whole(value):
    return None if value is None else whole(value)


@attrs.frozen
class AvgPoolSpec:
    """What :func:`avg_pool` builds."""

    size: int = attrs.field(converter=_whole, validator=_positive)
    stride: int | None = attrs.field(default=None, converter=_whole, validator=_positive)


@attrs.frozen
class GlobalAvgPoolSpec:
    """What :func:`global_avg_pool` builds."""


def avg_pool(size: int, stride: int | None = None) -> AvgPoolSpec:
    """Average pooling over ``size × size`` windows ``stride`` apart (default ``size``).

    >>> avg_pool(2)
    AvgPoolSpec(size=2, stride=None)
    """
    return AvgPoolSpec(size, stride)


def global_avg_pool() -> GlobalAvgPoolSpec:
    """The mean of each channel over the whole image: ``(batch, h, w, c) -> (batch, c)``."""
    return GlobalAvgPoolSpec()


@pytree
@attrs.frozen(eq=False)
class AvgPool:
    """Average pooling: window ``size`` and ``stride`` (static), no arrays."""

    size: int = static_field()
    stride: int = static_field()


@pytree
@attrs.frozen(eq=False)
class GlobalAvgPool:
    """Global average pooling: no arrays, no hyperparameters."""


def _images(in_shape: tuple) -> None:
    if len(in_shape) != 3:
        raise ValueError(f"expects images (height, width, channels), got {in_shape}")


def shapes_avg_pool(spec: AvgPoolSpec, in_shape: tuple):
    """``((oh, ow, c), {})`` with oh = ⌊(h − k)/s⌋ + 1; a window larger than the image is refused."""
    _images(in_shape)
    k, s = spec.size, spec.stride or spec.size
    h, w, c = in_shape
    if k > h or k > w:
        raise ValueError(f"a {k}×{k} window does not fit in a {h}×{w} image")
    return ((h - k) // s + 1, (w - k) // s + 1, c), {}


def init_avg_pool(key, spec: AvgPoolSpec, in_shape: tuple, scheme: str = "he", dtype=np.float32):
    """``(AvgPool, (oh, ow, c))`` (see :func:`shapes_avg_pool`)."""
    out, _ = shapes_avg_pool(spec, in_shape)
    return AvgPool(spec.size, spec.stride or spec.size), out


def _offsets(layer: AvgPool, out_hw: tuple):
    """The k² strided slices (rows, cols) of the input that window offset (p, q) reads."""
    k, s = layer.size, layer.stride
    oh, ow = out_hw
    return [(slice(p, p + s * (oh - 1) + 1, s), slice(q, q + s * (ow - 1) + 1, s))
            for p in range(k) for q in range(k)]


def forward_avg_pool(layer: AvgPool, x: np.ndarray, ctx: Ctx = Ctx()):
    """y = (1/k²) Σ_{p,q} x[:, p::s, q::s, :] (over the window offsets); the cache is x's shape."""
    h, w = x.shape[1:3]
    out_hw = ((h - layer.size) // layer.stride + 1, (w - layer.size) // layer.stride + 1)
    parts = _offsets(layer, out_hw)
    y = x[:, parts[0][0], parts[0][1], :].copy()
    for rows, cols in parts[1:]:
        np.add(y, x[:, rows, cols, :], out=y)  # y is this function's own array
    return np.multiply(y, y.dtype.type(1 / layer.size ** 2), out=y), x.shape, None


def backward_avg_pool(layer: AvgPool, shape: tuple, dy: np.ndarray, need_dx: bool = True):
    """dx[:, p::s, q::s, :] += dy/k² for each window offset (p, q)."""
    if not need_dx:
        return None, layer
    g = dy * dy.dtype.type(1 / layer.size ** 2)
    dx = np.zeros(shape, dy.dtype)
    for rows, cols in _offsets(layer, dy.shape[1:3]):
        dx[:, rows, cols, :] += g  # dx is this function's own array
    return dx, layer


def init_global_avg_pool(key, spec: GlobalAvgPoolSpec, in_shape: tuple, scheme: str = "he",
                         dtype=np.float32):
    """``(GlobalAvgPool, (c,))``."""
    _images(in_shape)
    return GlobalAvgPool(), (in_shape[-1],)


def forward_global_avg_pool(layer: GlobalAvgPool, x: np.ndarray, ctx: Ctx = Ctx()):
    """y[n, c] = mean_{i,j} x[n, i, j, c]; the cache is x's shape."""
    return x.mean(axis=(1, 2)), x.shape, None


def backward_global_avg_pool(layer: GlobalAvgPool, shape: tuple, dy: np.ndarray,
                             need_dx: bool = True):
    """dx[n, i, j, c] = dy[n, c]/(h·w), a new array."""
    if not need_dx:
        return None, layer
    g = dy * dy.dtype.type(1 / (shape[1] * shape[2]))
    return np.broadcast_to(g[:, None, None, :], shape).copy(), layer


register(Kind("avg_pool", AvgPoolSpec, AvgPool, init_avg_pool, forward_avg_pool,
              backward_avg_pool,
              examples=((avg_pool(2), (4, 4, 2)), (avg_pool(3, 2), (5, 6, 1))),
              shapes=shapes_avg_pool))
register(Kind("global_avg_pool", GlobalAvgPoolSpec, GlobalAvgPool, init_global_avg_pool,
              forward_global_avg_pool, backward_global_avg_pool,
              examples=((global_avg_pool(), (3, 4, 2)),),
              shapes=lambda spec, in_shape: (_images(in_shape) or (in_shape[-1],), {})))
