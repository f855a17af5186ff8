"""Two-dimensional convolution over NHWC images, by im2col: a strided view and one GEMM.

Images are ``(batch, height, width, channels)``; a layer holds
``w: (kh, kw, c_in, c_out)`` and ``b: (c_out,)``. With stride s and the
input zero-padded as ``padding`` says, output pixel (i, j) of channel o is

    y[n, i, j, o] = b[o] + Σ_{p, q, c} x[n, i·s + p, j·s + q, c] · w[p, q, c, o]

(a cross-correlation, as every deep-learning library computes). Laying the
kh·kw·c_in inputs of each output pixel out as one row of ``cols`` (im2col,
read from a strided view of x), followed by a 1 that carries the bias, makes
the whole layer one matrix product, the dense layer's z = x @ w + b:

    [cols | 1]: (n·oh·ow, kh·kw·c_in + 1)    [W; b]: (kh·kw·c_in + 1, c_out)
    Y = [cols | 1]·[W; b] = cols·W + b        (Y: (n·oh·ow, c_out), i.e. y: (n, oh, ow, c_out))

and its backward pass the dense layer's, read the same way:

    [dW; db] = [cols | 1]ᵀ·dY    (so db = Σ_rows dY)        dcols = dY·Wᵀ

where dx is col2im(dcols): each row of dcols is added back onto the window
it was read from. It runs as one loop over the kh·kw kernel offsets (p, q):
the GEMM dY·w[p, q]ᵀ (n·oh·ow × c_in) is added to the strided slice
dx[:, p::s, q::s, :] it belongs to.

Padding ``"valid"`` uses no padding: oh = ⌊(h − kh)/s⌋ + 1. ``"same"`` pads
so that oh = ⌈h/s⌉, with the padding total max((oh − 1)·s + kh − h, 0)
split as TensorFlow and Keras do (the odd pixel goes to the bottom/right).

>>> import numpy as np
>>> from funcnet import rng
>>> layer, out_shape = conv2d_init(rng.key(0), (28, 28, 1), filters=8, kernel=3)
>>> layer.w.shape, layer.b.shape, out_shape
((3, 3, 1, 8), (8,), (26, 26, 8))
>>> y, cache = conv2d_forward(layer, np.zeros((2, 28, 28, 1), np.float32))
>>> y.shape, y.dtype
((2, 26, 26, 8), dtype('float32'))
>>> dx, grads = conv2d_backward(layer, cache, np.ones_like(y))
>>> dx.shape, grads.w.shape, float(grads.b[0])
((2, 28, 28, 1), (3, 3, 1, 8), 1352.0)
"""

from __future__ import annotations

import math

import attrs
import numpy as np
from numpy.lib.stride_tricks import as_strided

from funcnet import rng
from funcnet.tree import pytree, static_field

__all__ = ["Conv2D", "Conv2DCache", "PADDINGS", "SCHEMES", "conv2d_init", "conv2d_forward",
           "conv2d_backward", "conv2d_output_shape"]

PADDINGS = ("valid", "same")
SCHEMES = ("he", "xavier", "tutorial")


@pytree
@attrs.frozen(eq=False)
class Conv2D:
    """A convolution layer: ``w: (kh, kw, c_in, c_out)``, ``b: (c_out,)``; stride and padding static.

    >>> Conv2D.zeros(3, 1, 8).w.shape
    (3, 3, 1, 8)
    """

    w: np.ndarray
    b: np.ndarray
    stride: int = static_field(default=1)
    padding: str = static_field(default="valid")

    @classmethod
    def zeros(cls, kernel, c_in: int, c_out: int, stride: int = 1, padding: str = "valid",
              dtype=np.float32) -> "Conv2D":
        """A layer of zeros (for tests and templates)."""
        kh, kw = _pair(kernel)
        return cls(np.zeros((kh, kw, c_in, c_out), dtype), np.zeros(c_out, dtype),
                   stride, padding)


@pytree
@attrs.frozen(eq=False)
class Conv2DCache:
    """What :func:`conv2d_backward` needs: the im2col matrix and the input's geometry.

    ``cols: (n·oh·ow, kh·kw·c_in + 1)`` is [cols | 1]; ``in_shape`` = x.shape; ``pads`` =
    (top, bottom, left, right) zero rows/columns added around x.
    """

    cols: np.ndarray
    in_shape: tuple = static_field()
    pads: tuple = static_field()


def _pair(kernel) -> tuple[int, int]:
    """(kh, kw) from an int or a pair.

    >>> _pair(3), _pair((3, 5))
    ((3, 3), (3, 5))
    """
    if isinstance(kernel, (int, np.integer)):
        return int(kernel), int(kernel)
    kh, kw = (int(k) for k in kernel)
    return kh, kw


def _geometry(hw, kernel, stride: int, padding: str):
    """((oh, ow), (top, bottom, left, right)) of a convolution over an image of size ``hw``.

    >>> _geometry((28, 28), (3, 3), 1, "valid")
    ((26, 26), (0, 0, 0, 0))
    >>> _geometry((28, 28), (3, 3), 2, "same")
    ((14, 14), (0, 1, 0, 1))
    """
    (h, w), (kh, kw), s = hw, kernel, int(stride)
    if s < 1 or min(kh, kw) < 1:
        raise ValueError(f"conv2d: stride and kernel must be ≥ 1, got stride {s}, kernel {(kh, kw)}")
    if padding == "valid":
        if kh > h or kw > w:
            raise ValueError(f"conv2d: kernel {(kh, kw)} is larger than the input {(h, w)} "
                             f"(padding 'valid')")
        return ((h - kh) // s + 1, (w - kw) // s + 1), (0, 0, 0, 0)
    if padding == "same":
        oh, ow = -(-h // s), -(-w // s)
        ph, pw = max((oh - 1) * s + kh - h, 0), max((ow - 1) * s + kw - w, 0)
        return (oh, ow), (ph // 2, ph - ph // 2, pw // 2, pw - pw // 2)
    raise ValueError(f"conv2d: unknown padding {padding!r}: expected one of {', '.join(PADDINGS)}")


def conv2d_output_shape(in_shape, filters: int, kernel, stride: int = 1,
                        padding: str = "valid") -> tuple[int, int, int]:
    """The output ``(oh, ow, filters)`` of a convolution over one ``(h, w, c_in)`` image.

    >>> conv2d_output_shape((28, 28, 1), 32, 3)
    (26, 26, 32)
    >>> conv2d_output_shape((28, 28, 1), 32, 5, stride=2, padding="same")
    (14, 14, 32)
    >>> conv2d_output_shape((2, 2, 1), 4, 3)
    Traceback (most recent call last):
    ...
    ValueError: conv2d: kernel (3, 3) is larger than the input (2, 2) (padding 'valid')
    """
    if len(in_shape) != 3:
        raise ValueError(f"conv2d: input shape must be (height, width, channels), got {tuple(in_shape)}")
    (oh, ow), _ = _geometry(tuple(in_shape[:2]), _pair(kernel), stride, padding)
    return oh, ow, int(filters)


def conv2d_init(key, in_shape, filters: int, kernel, stride: int = 1, padding: str = "valid",
                scheme: str = "he", dtype=np.float32) -> tuple[Conv2D, tuple[int, int, int]]:
    """A fresh layer for ``(h, w, c_in)`` images, and its output shape ``(oh, ow, filters)``.

    With fan_in = kh·kw·c_in and fan_out = kh·kw·filters: ``"he"`` w ~
    N(0, 2/fan_in), b = 0 (He et al. 2015); ``"xavier"`` w ~
    U(±√(6/(fan_in + fan_out))), b = 0 (Glorot & Bengio 2010); ``"tutorial"``
    w, b ~ U[−0.5, 0.5). w and b draw from two keys split from ``key``.

    >>> layer, shape = conv2d_init(rng.key(0), (28, 28, 1), 32, (5, 3), padding="same")
    >>> layer.w.shape, shape, layer.stride, layer.padding
    ((5, 3, 1, 32), (28, 28, 32), 1, 'same')
    >>> from funcnet import tree
    >>> tree.equal(layer, conv2d_init(rng.key(0), (28, 28, 1), 32, (5, 3), padding="same")[0])
    True
    """
    out_shape = conv2d_output_shape(in_shape, filters, kernel, stride, padding)
    (kh, kw), c_in, c_out = _pair(kernel), int(in_shape[2]), int(filters)
    if c_in < 1 or c_out < 1:
        raise ValueError(f"conv2d: channels in and filters must be ≥ 1, got {c_in} and {c_out}")
    shape, fan_in, fan_out = (kh, kw, c_in, c_out), kh * kw * c_in, kh * kw * c_out
    k_w, k_b = rng.split(key)
    if scheme == "tutorial":
        w, b = rng.uniform(k_w, shape, -0.5, 0.5, dtype), rng.uniform(k_b, (c_out,), -0.5, 0.5, dtype)
    elif scheme == "he":
        w = rng.normal(k_w, shape, dtype) * np.dtype(dtype).type(math.sqrt(2 / fan_in))
        b = np.zeros(c_out, dtype)
    elif scheme == "xavier":
        r = math.sqrt(6 / (fan_in + fan_out))
        w, b = rng.uniform(k_w, shape, -r, r, dtype), np.zeros(c_out, dtype)
    else:
        raise ValueError(f"conv2d: unknown init scheme {scheme!r}: expected one of {', '.join(SCHEMES)}")
    return Conv2D(w, b, int(stride), padding), out_shape


def _check_input(layer: Conv2D, x) -> np.ndarray:
    """x as an array of the layer's dtype, after checking it is ``(n, h, w, c_in)``."""
    x = np.asarray(x)
    kh, kw, c_in, c_out = layer.w.shape
    if x.ndim != 4 or x.shape[3] != c_in:
        raise ValueError(f"conv2d: expected input (batch, height, width, {c_in}), got shape "
                         f"{x.shape} (kernel {(kh, kw, c_in, c_out)})")
    return x.astype(layer.w.dtype, copy=False)


def _pad(x: np.ndarray, pads) -> np.ndarray:
    """x with ``pads`` = (top, bottom, left, right) rows/columns of zeros around each image
    (x itself when there are none; a new array otherwise)."""
    top, bottom, left, right = pads
    if not any(pads):
        return x
    n, h, w, c = x.shape
    xp = np.zeros((n, h + top + bottom, w + left + right, c), x.dtype)
    xp[:, top:top + h, left:left + w, :] = x  # xp is ours
    return xp


def _windows(xp: np.ndarray, kernel, stride: int, out_hw) -> np.ndarray:
    """The read-only strided view ``(n, oh, ow, kh, kw, c)`` with
    ``[n, i, j, p, q, c] = xp[n, i·s + p, j·s + q, c]`` (no copy)."""
    (kh, kw), (oh, ow), s = kernel, out_hw, stride
    sn, sh, sw, sc = xp.strides
    n, c = xp.shape[0], xp.shape[3]
    return as_strided(xp, (n, oh, ow, kh, kw, c), (sn, s * sh, s * sw, sh, sw, sc),
                      writeable=False)


def _im2col(xp: np.ndarray, kernel, stride: int, out_hw) -> np.ndarray:
    """The contiguous matrix ``[cols | 1]: (n·oh·ow, kh·kw·c + 1)``: one row per output
    pixel, its window's kh·kw·c inputs in (p, q, c) order, then a 1 for the bias.

    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> _im2col(x, (2, 2), 2, (2, 2))
    array([[ 0.,  1.,  4.,  5.,  1.],
           [ 2.,  3.,  6.,  7.,  1.],
           [ 8.,  9., 12., 13.,  1.],
           [10., 11., 14., 15.,  1.]])
    """
    (kh, kw), (oh, ow) = kernel, out_hw
    n, c = xp.shape[0], xp.shape[3]
    k = kh * kw * c
    cols = np.empty((n * oh * ow, k + 1), xp.dtype)
    cols[:, k] = 1  # cols is ours
    blocks = cols[:, :k].reshape(n, oh, ow, kh, kw, c)
    if c > 1:
        np.copyto(blocks, _windows(xp, kernel, stride, out_hw))
        return cols
    s = stride  # one channel: NumPy copies the view above 2-3 times slower than offset by offset
    for p in range(kh):
        for q in range(kw):
            np.copyto(blocks[:, :, :, p, q, :], xp[:, p:p + s * (oh - 1) + 1:s, q:q + s * (ow - 1) + 1:s, :])
    return cols


def _col2im(dy2: np.ndarray, w: np.ndarray, in_shape, pads, stride: int, out_hw) -> np.ndarray:
    """dx = col2im(dY·Wᵀ): dx[n, i·s + p, j·s + q, c] += Σ_o dy[n, i, j, o]·w[p, q, c, o].

    One small GEMM per kernel offset (p, q), dY·w[p, q]ᵀ: (n·oh·ow, c_in), is
    added to the strided slice of dx it came from (kh·kw slice additions,
    never a loop over pixels); the padding is cut off at the end.
    """
    kh, kw, c_in, _ = w.shape
    (oh, ow), s = out_hw, stride
    n, h, wd, _ = in_shape
    top, bottom, left, right = pads
    dxp = np.zeros((n, h + top + bottom, wd + left + right, c_in), dy2.dtype)
    part = np.empty((len(dy2), c_in), dy2.dtype)
    for p in range(kh):
        for q in range(kw):
            np.matmul(dy2, w[p, q].T, out=part)  # part is ours
            view = dxp[:, p:p + s * (oh - 1) + 1:s, q:q + s * (ow - 1) + 1:s, :]
            np.add(view, part.reshape(n, oh, ow, c_in), out=view)  # dxp is ours
    if not any(pads):
        return dxp
    return dxp[:, top:top + h, left:left + wd, :]


def _weights_and_bias(layer: Conv2D) -> np.ndarray:
    """[W; b]: the kernel as a (kh·kw·c_in, c_out) matrix with the bias as one more row."""
    kh, kw, c_in, c_out = layer.w.shape
    return np.concatenate([layer.w.reshape(kh * kw * c_in, c_out), layer.b[None, :]])


def conv2d_forward(layer: Conv2D, x: np.ndarray) -> tuple[np.ndarray, Conv2DCache]:
    """y[n, i, j, o] = b[o] + Σ_{p,q,c} x[n, i·s + p, j·s + q, c]·w[p, q, c, o], as Y = [cols | 1]·[W; b].

    Args:
      layer: the convolution.
      x: images ``(n, h, w, c_in)`` (cast to the weights' dtype; never written).
    Returns:
      ``(y, cache)``: y of shape ``(n, oh, ow, c_out)`` and the
      :class:`Conv2DCache` for :func:`conv2d_backward`.

    >>> layer = Conv2D(np.ones((2, 2, 1, 1)), np.array([0.5]))
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> conv2d_forward(layer, x)[0][0, :, :, 0]
    array([[ 8.5, 12.5],
           [20.5, 24.5]])
    """
    x = _check_input(layer, x)
    kh, kw, c_in, c_out = layer.w.shape
    out_hw, pads = _geometry(x.shape[1:3], (kh, kw), layer.stride, layer.padding)
    cols = _im2col(_pad(x, pads), (kh, kw), layer.stride, out_hw)
    y = cols @ _weights_and_bias(layer)  # Y = [cols | 1]·[W; b]
    return y.reshape(len(x), *out_hw, c_out), Conv2DCache(cols, x.shape, pads)


def conv2d_backward(layer: Conv2D, cache: Conv2DCache, dy: np.ndarray, need_dx: bool = True):
    """[dW; db] = [cols | 1]ᵀ·dY and dx = col2im(dY·Wᵀ), for dY = ∂L/∂y.

    With dY: (n·oh·ow, c_out) the rows of dy: dW[p, q, c, o] =
    Σ_{n,i,j} x[n, i·s + p, j·s + q, c]·dy[n, i, j, o], db[o] = Σ_{n,i,j}
    dy[n, i, j, o], dx[n, i·s + p, j·s + q, c] += Σ_o dy[n, i, j, o]·w[p, q, c, o]
    (x zero-padded as in the forward pass, the padding dropped from dx).

    Args:
      layer: the convolution.
      cache: from :func:`conv2d_forward` on the same layer.
      dy: ∂L/∂y of shape ``(n, oh, ow, c_out)`` (never written).
      need_dx: False skips dx (for the first layer, whose input needs no gradient).
    Returns:
      ``(dx, grads)``: dx of shape ``(n, h, w, c_in)`` (or None) and a
      :class:`Conv2D` of gradients with the layer's stride and padding.

    >>> layer = Conv2D(np.ones((2, 2, 1, 1)), np.zeros(1))
    >>> y, cache = conv2d_forward(layer, np.arange(9.0).reshape(1, 3, 3, 1))
    >>> dx, g = conv2d_backward(layer, cache, np.ones_like(y))
    >>> dx[0, :, :, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    >>> g.w[:, :, 0, 0], g.b
    (array([[ 8., 12.],
           [20., 24.]]), array([4.]))
    """
    kh, kw, c_in, c_out = layer.w.shape
    n, h, w, _ = cache.in_shape
    out_hw, _ = _geometry((h, w), (kh, kw), layer.stride, layer.padding)
    if np.shape(dy) != (n, *out_hw, c_out):
        raise ValueError(f"conv2d: expected dy of shape {(n, *out_hw, c_out)}, got {np.shape(dy)}")
    dy2 = np.asarray(dy, layer.w.dtype).reshape(-1, c_out)
    dwb = cache.cols.T @ dy2  # [dW; db] = [cols | 1]ᵀ·dY: db = Σ_rows dY
    grads = attrs.evolve(layer, w=dwb[:-1].reshape(layer.w.shape), b=dwb[-1])
    if not need_dx:
        return None, grads
    return _col2im(dy2, layer.w, cache.in_shape, cache.pads, layer.stride, out_hw), grads
