"""Max pooling over NHWC images, with no Python loop over pixels.

A window of ``size × size`` pixels moves by ``stride`` over each channel:

    y[n, i, j, c] = max_{0 ≤ p, q < size} x[n, i·s + p, j·s + q, c]

with oh = ⌊(h − size)/s⌋ + 1 (floor mode: rows and columns that do not
fill a window are dropped, as Keras' ``padding="valid"``). The gradient goes
to one position per window, its argmax (p*, q*):

    dx[n, i·s + p*, j·s + q*, c] += dy[n, i, j, c]

Tie rule: when several positions of a window hold its maximum, the gradient
goes to the first of them in column-major order: the smallest column offset
q, then the smallest row offset p. (Overlapping windows, stride < size, add
up at a shared position.)

The loops run over window offsets, never over pixels. When ``size ==
stride`` the windows tile the image, and a reshape splits each into rows
then columns: the maximum over the ``size`` rows is taken on whole image
rows (long contiguous runs, the row argmax kept as a small integer code),
then over the ``size`` columns of what is left. Otherwise each of the size²
offsets is one strided slice of the whole batch. The forward pass keeps
only the codes of the argmax (uint8), not x.

>>> import numpy as np
>>> layer, out_shape = max_pool_init((4, 4, 1), 2)
>>> layer, out_shape
(MaxPool(size=2, stride=2), (2, 2, 1))
>>> x = np.arange(16.0).reshape(1, 4, 4, 1)
>>> y, cache = max_pool_forward(layer, x)
>>> y[0, :, :, 0]
array([[ 5.,  7.],
       [13., 15.]])
>>> max_pool_backward(layer, cache, np.ones_like(y))[0, :, :, 0]
array([[0., 0., 0., 0.],
       [0., 1., 0., 1.],
       [0., 0., 0., 0.],
       [0., 1., 0., 1.]])
"""

from __future__ import annotations

import attrs
import numpy as np

from funcnet.tree import pytree, static_field

MAX_SIZE = 16  # the argmax of a window of size² offsets is kept as a uint8

__all__ = ["MaxPool", "MaxPoolCache", "max_pool_init", "max_pool_forward", "max_pool_backward",
           "max_pool_output_shape"]


@pytree
@attrs.frozen(eq=False)
class MaxPool:
    """A max-pooling layer: static window ``size`` and ``stride``; no arrays.

    >>> MaxPool(2, 2)
    MaxPool(size=2, stride=2)
    """

    size: int = static_field()
    stride: int = static_field()


@pytree
@attrs.frozen(eq=False)
class MaxPoolCache:
    """What :func:`max_pool_backward` needs: the input's shape and the argmax codes.

    With ``size == stride``: ``codes = (p*, q*)``, p* of shape
    ``(n, oh, ow·size·c)`` (the winning row of each window column) and q*
    of shape ``(n, oh, ow, c)``; otherwise ``codes = (k*,)``, the index
    q·size + p of the winning offset, shape ``(n, oh, ow, c)``.
    """

    codes: tuple
    in_shape: tuple = static_field()


def max_pool_output_shape(in_shape, size: int, stride: int | None = None) -> tuple[int, int, int]:
    """The output ``(oh, ow, c)`` of pooling one ``(h, w, c)`` image: oh = ⌊(h − size)/s⌋ + 1.

    >>> max_pool_output_shape((13, 13, 32), 2)
    (6, 6, 32)
    >>> max_pool_output_shape((1, 1, 8), 2)
    Traceback (most recent call last):
    ...
    ValueError: max_pool: window 2×2 leaves nothing of an input of shape (1, 1, 8)
    """
    stride = size if stride is None else stride
    if len(in_shape) != 3:
        raise ValueError(f"max_pool: input shape must be (height, width, channels), "
                         f"got {tuple(in_shape)}")
    if not (1 <= int(size) <= MAX_SIZE and int(stride) >= 1):
        raise ValueError(f"max_pool: size must be in 1..{MAX_SIZE} and stride ≥ 1, "
                         f"got size {size}, stride {stride}")
    h, w, c = (int(d) for d in in_shape)
    if size > h or size > w:
        raise ValueError(f"max_pool: window {size}×{size} leaves nothing of an input of shape "
                         f"{(h, w, c)}")
    return (h - size) // stride + 1, (w - size) // stride + 1, c


def max_pool_init(in_shape, size: int, stride: int | None = None) -> tuple[MaxPool, tuple]:
    """The layer pooling ``size × size`` windows every ``stride`` (default: ``size``)
    pixels of ``(h, w, c)`` images, and its output shape.

    >>> max_pool_init((26, 26, 32), 2)
    (MaxPool(size=2, stride=2), (13, 13, 32))
    >>> max_pool_init((7, 7, 3), 3, stride=2)
    (MaxPool(size=3, stride=2), (3, 3, 3))
    """
    stride = size if stride is None else stride
    out_shape = max_pool_output_shape(in_shape, size, stride)
    return MaxPool(int(size), int(stride)), out_shape


def _max_and_code(parts):
    """(m, k*): the elementwise maximum of equally shaped arrays and the index (uint8) of
    the first one that holds it (a later array must be strictly greater to win).

    >>> _max_and_code([np.array([1, 5, 2]), np.array([3, 5, 0]), np.array([0, 6, 2])])
    (array([3, 6, 2]), array([1, 2, 0], dtype=uint8))
    """
    if len(parts) == 1:
        return np.array(parts[0], copy=True), np.zeros(np.shape(parts[0]), np.uint8)
    code = np.greater(parts[1], parts[0]).view(np.uint8)  # 1 where the second won, else 0
    best = np.maximum(parts[0], parts[1])
    for k, part in enumerate(parts[2:], 2):
        won = np.greater(part, best)
        # code ← k where won, as code + won·(k − code) in wrapping uint8 arithmetic
        # (np.where and np.copyto(where=) took 35-55 times longer here); all ours
        step = np.subtract(np.uint8(k), code)
        np.add(code, np.multiply(step, won, out=step), out=code)
        np.maximum(best, part, out=best)
    return best, code


def _spread(g: np.ndarray, code: np.ndarray, k: int) -> np.ndarray:
    """g where code == k, 0 elsewhere."""
    return np.multiply(g, code == k)


def _tiles(x: np.ndarray, s: int, oh: int, ow: int) -> np.ndarray:
    """x cropped to whole windows, as ``(n, oh, s, ow·s·c)``: [n, i, p] is image row i·s + p
    (a view when x's rows are contiguous)."""
    n, c = x.shape[0], x.shape[3]
    return x[:, :oh * s, :ow * s, :].reshape(n, oh, s, ow * s * c)


def _forward_tiled(x, s: int, oh: int, ow: int):
    """size == stride: the maximum over the window's rows, then over its columns."""
    n, c = x.shape[0], x.shape[3]
    rows = _tiles(x, s, oh, ow)
    v, p_star = _max_and_code([rows[:, :, p] for p in range(s)])  # (n, oh, ow·s·c)
    v = v.reshape(n, oh, ow, s, c)
    y, q_star = _max_and_code([v[:, :, :, q] for q in range(s)])  # (n, oh, ow, c)
    return y, (p_star, q_star)


def _backward_tiled(dy, codes, in_shape, s: int):
    """size == stride: dy to the winning column q*, then to the winning row p*."""
    (n, oh, ow, c), (p_star, q_star) = dy.shape, codes
    dv = np.empty((n, oh, ow, s, c), dy.dtype)
    for q in range(s):
        np.multiply(dy, q_star == q, out=dv[:, :, :, q])  # dv is ours
    dv = dv.reshape(n, oh, ow * s * c)
    dx = np.empty(in_shape, dy.dtype)  # ours: every element is written below
    dx[:, oh * s:] = 0  # rows and columns that fill no window
    dx[:, :, ow * s:] = 0
    rows = _tiles(dx, s, oh, ow)  # a view of dx
    for p in range(s):
        np.multiply(dv, p_star == p, out=rows[:, :, p])
    return dx


def _offsets(layer: MaxPool, out_hw):
    """For each window offset (p, q) in column-major order, the index of the strided
    slice of x holding that offset of every window."""
    (oh, ow), s = out_hw, layer.stride
    return [(slice(None), slice(p, p + s * (oh - 1) + 1, s), slice(q, q + s * (ow - 1) + 1, s))
            for q in range(layer.size) for p in range(layer.size)]


def max_pool_forward(layer: MaxPool, x: np.ndarray) -> tuple[np.ndarray, MaxPoolCache]:
    """y[n, i, j, c] = max_{p,q} x[n, i·s + p, j·s + q, c]: shape ``(n, h, w, c)`` → ``(n, oh, ow, c)``.

    >>> y, _ = max_pool_forward(MaxPool(2, 1), np.array([[1., 3., 2.], [0., 1., 5.]])[None, :, :, None])
    >>> y[0, :, :, 0]
    array([[3., 5.]])
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"max_pool: expected input (batch, height, width, channels), "
                         f"got shape {x.shape}")
    oh, ow, _ = max_pool_output_shape(x.shape[1:], layer.size, layer.stride)
    if layer.size == layer.stride:
        y, codes = _forward_tiled(x, layer.size, oh, ow)
    else:
        y, code = _max_and_code([x[index] for index in _offsets(layer, (oh, ow))])
        codes = (code,)
    return y, MaxPoolCache(codes, x.shape)


def max_pool_backward(layer: MaxPool, cache: MaxPoolCache, dy: np.ndarray) -> np.ndarray:
    """dx of shape ``(n, h, w, c)``: dy[n, i, j, c] at the window's argmax (p*, q*), zeros elsewhere.

    >>> x = np.array([[1., 4.], [4., 4.]])[None, :, :, None]
    >>> y, cache = max_pool_forward(MaxPool(2, 2), x)
    >>> max_pool_backward(MaxPool(2, 2), cache, np.full_like(y, 7.0))[0, :, :, 0]
    array([[0., 0.],
           [7., 0.]])
    """
    n, h, w, c = cache.in_shape
    oh, ow, _ = max_pool_output_shape((h, w, c), layer.size, layer.stride)
    if np.shape(dy) != (n, oh, ow, c):
        raise ValueError(f"max_pool: expected dy of shape {(n, oh, ow, c)}, got {np.shape(dy)}")
    dy = np.asarray(dy)
    if layer.size == layer.stride:
        return _backward_tiled(dy, cache.codes, cache.in_shape, layer.size)
    (code,) = cache.codes
    dx = np.zeros(cache.in_shape, dy.dtype)
    for k, index in enumerate(_offsets(layer, (oh, ow))):
        np.add(dx[index], _spread(dy, code, k), out=dx[index])  # dx is ours
    return dx
