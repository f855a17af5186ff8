"""Specs for image layers, ``conv2d`` and ``max_pool``, over the kernels of ``conv`` and ``pool``.

Images are NHWC: ``x: (batch, height, width, channels)``. The arithmetic
(im2col convolution, max pooling and their backward passes) lives in
:mod:`funcnet.layers.conv` and :mod:`funcnet.layers.pool`; this module
adapts them to the layer protocol.

>>> conv2d(32, 3, padding="same")
Conv2DSpec(filters=32, kernel=3, stride=1, padding='same')
>>> max_pool(2)
MaxPoolSpec(size=2, stride=None)
"""

from __future__ import annotations

import attrs
import numpy as np

from . import conv as _conv
from . import pool as _pool
from .base import Ctx, Kind, register, whole

__all__ = ["Conv2DSpec", "MaxPoolSpec", "conv2d", "max_pool"]


def _kernel(k):
    """A whole number, or a (kh, kw) pair of them (JSON gives lists back)."""
    if isinstance(k, (tuple, list)):
        if len(k) != 2:
            raise ValueError(f"a kernel is one size or (height, width), got {list(k)}")
        return tuple(whole(v) for v in k)
    return whole(k)


def _padding(instance, attribute, value):
    if value not in _conv.PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(_conv.PADDINGS)}, got {value!r}")


def _stride(value):
    return None if value is None else whole(value)


@attrs.frozen
class Conv2DSpec:
    """What :func:`conv2d` builds."""

    filters: int = attrs.field(converter=whole)
    kernel: int | tuple = attrs.field(converter=_kernel)
    stride: int = attrs.field(default=1, converter=whole)
    padding: str = attrs.field(default="valid", validator=_padding)


@attrs.frozen
class MaxPoolSpec:
    """What :func:`max_pool` builds."""

    size: int = attrs.field(converter=whole)
    stride: int | None = attrs.field(default=None, converter=_stride)


def conv2d(filters: int, kernel: int, stride: int = 1, padding: str = "valid") -> Conv2DSpec:
    """A 2-D convolution: y[n, i, j, o] = Σ_{p, q, c} x[n, s·i + p, s·j + q, c]·w[p, q, c, o] + b[o].

    ``w: (kernel, kernel, c_in, filters)`` (``kernel`` an int or ``(kh, kw)``);
    ``padding="same"`` pads so that a
    stride-1 output keeps the input's height and width.
    """
    return Conv2DSpec(filters, kernel, stride, padding)


def max_pool(size: int, stride: int | None = None) -> MaxPoolSpec:
    """Max pooling over ``size × size`` windows, ``stride`` apart (default ``size``)."""
    return MaxPoolSpec(size, stride)


def _images(in_shape: tuple) -> None:
    if len(in_shape) != 3:
        raise ValueError(f"expects images (height, width, channels), got {in_shape}")


def _conv_init(key, spec: Conv2DSpec, in_shape, scheme="he", dtype=np.float32):
    _conv_shapes(spec, in_shape)
    return _conv.conv2d_init(key, in_shape, spec.filters, spec.kernel, stride=spec.stride,
                             padding=spec.padding, scheme=scheme, dtype=dtype)


def _conv_forward(layer, x, ctx: Ctx = Ctx()):
    return (*_conv.conv2d_forward(layer, x), None)


def _conv_backward(layer, cache, dy, need_dx=True):
    return _conv.conv2d_backward(layer, cache, dy, need_dx=need_dx)


def _conv_shapes(spec: Conv2DSpec, in_shape):
    _images(in_shape)
    if spec.filters < 1 or spec.stride < 1 or min(_conv._pair(spec.kernel)) < 1:
        raise ValueError(f"conv2d: filters, kernel and stride must be ≥ 1, got {spec.filters}, "
                         f"{spec.kernel}, {spec.stride}")
    out = _conv.conv2d_output_shape(in_shape, spec.filters, spec.kernel, spec.stride, spec.padding)
    kh, kw = _conv._pair(spec.kernel)
    return out, {"w": (kh, kw, in_shape[2], spec.filters), "b": (spec.filters,)}


def _pool_shapes(spec: MaxPoolSpec, in_shape):
    _images(in_shape)
    return _pool.max_pool_output_shape(in_shape, spec.size, spec.stride), {}


def _pool_init(key, spec: MaxPoolSpec, in_shape, scheme="he", dtype=np.float32):
    _images(in_shape)
    return _pool.max_pool_init(in_shape, spec.size, spec.stride)


def _pool_forward(layer, x, ctx: Ctx = Ctx()):
    return (*_pool.max_pool_forward(layer, x), None)


def _pool_backward(layer, cache, dy, need_dx=True):
    return (_pool.max_pool_backward(layer, cache, dy) if need_dx else None), layer


register(Kind("conv2d", Conv2DSpec, _conv.Conv2D, _conv_init, _conv_forward, _conv_backward,
              examples=((conv2d(2, 3), (5, 5, 2)), (conv2d(3, (2, 3), stride=2, padding="same"), (5, 6, 1))),
              shapes=_conv_shapes))
register(Kind("max_pool", MaxPoolSpec, _pool.MaxPool, _pool_init, _pool_forward, _pool_backward,
              examples=((max_pool(2), (4, 4, 2)), (max_pool(3, 2), (5, 5, 1))),
              shapes=_pool_shapes))
