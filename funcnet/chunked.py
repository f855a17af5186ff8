"""Full-batch gradients of a dense MLP in fixed row chunks, summed in a fixed order.

The tutorial's iteration is two products with 10 columns over its 41,000 × 784
X: Z1 = X·W1 and dW1 = Xᵀ·dZ1. Done whole, each streams X from memory, and
OpenBLAS's narrow kernels are slow on them. Done a chunk X_c of
:func:`chunk_rows` rows at a time (about 3 MB of X), forward and backward together, X_c is read from
memory once and is still in the cache for dW1 = X_cᵀ·dZ1_c; the gradient of
the loss over all rows is the sum of the chunks' gradients::

    Z_{l,c} = A_{l−1,c}·W_l + b_l,  A_{l,c} = g(Z_{l,c}),  dZ_{L,c} = (A_{L,c} − Y_c)/m
    dW_l = Σ_c A_{l−1,c}ᵀ·dZ_{l,c}      db_l = Σ_c Σ_rows dZ_{l,c}

The chunks are shared among worker threads, each running single-threaded
BLAS (threadpoolctl limits OpenBLAS to one thread while the pass runs, so
two cores do not fight over four BLAS threads). The chunk boundaries are
fixed (0, c, 2c, … for c = chunk_rows) and each chunk's partial gradient is computed
from its rows alone, then the partials are added in chunk order: the result
is the same bits whatever the number of threads.

How the first layer's two narrow products are laid out (zero columns padded
to W1 or dZ1, so that OpenBLAS picks a faster kernel) and how many bytes of X a
chunk holds depend on the BLAS kernel and the dtype (:data:`LAYOUTS`,
:func:`layout`): fixed for a machine, so a run's bits do not change from one
run to the next, but they may differ between kernels, as BLAS results do.

>>> import numpy as np
>>> from funcnet import mlp, rng, tree
>>> p = mlp.init(rng.key(0), (6, 5, 3), dtype=np.float64)
>>> x, y = rng.normal(rng.key(1), (50, 6), np.float64), np.arange(50) % 3
>>> nll, g, correct = grads(p, x, y, chunk=16, threads=2)
>>> l, g_whole, _ = mlp.loss_and_grads(p, x, y)
>>> bool(np.isclose(nll / 50, l)), tree.allclose(g, g_whole), 0 <= correct <= 50
(True, True, True)
>>> tree.equal(g, grads(p, x, y, chunk=16, threads=1)[1])
True
"""

from __future__ import annotations

from typing import NamedTuple

import attrs
import numpy as np

from ._kernels import (blas_kernel, default_threads, exp_normalize_, fused, ordered_sum,
                       output_delta_, softmax_nll_)
from .data.dataset import scale
from .layers.dense import column_sum
from .mlp import Dense, Params, _add_pass_, _backprop, _dense_grads, _forward_rows, _quirk_flags

__all__ = ["CHUNK_BYTES", "LAYOUTS", "Layout", "chunk_rows", "layout", "grads", "default_threads"]

# A chunk holds at most this many bytes of X: the rows per chunk are the largest power
# of two that fits (784 pixels: 1,024 rows in float32, 512 in float64, 3.2 MB), so X_c
# stays in the cache between Z1 = X_c·W1 and dW1 = X_cᵀ·dZ1. Measured on a 2-core EPYC,
# one full-batch pass of 41,000 rows in float32 took 35, 21, 17 and 18 ms in chunks of
# 256, 512, 1,024 and 2,048 rows (float64: 52, 32, 33, 35 ms); smaller chunks pay more
# per-chunk overhead, larger ones fall out of the cache.
CHUNK_BYTES = 1 << 22


def chunk_rows(n_in: int, dtype, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Rows per chunk for inputs of ``n_in`` features of ``dtype``: a power of two,
    64 at least, with chunk_rows · n_in · itemsize ≤ ``chunk_bytes``.

    >>> chunk_rows(784, np.float32), chunk_rows(784, np.float64), chunk_rows(10**6, np.float32)
    (1024, 512, 64)
    """
    fit = chunk_bytes // max(1, n_in * np.dtype(dtype).itemsize)
    return max(64, 1 << (max(1, fit).bit_length() - 1))


class Layout(NamedTuple):
    """How a chunked pass lays out its first layer's two narrow products.

    ``forward = k``: Z1 = X·[W1 | 0] with W1 padded by zero columns to k columns
    (then the first n_1 columns kept); ``backward = k``: dW1 = ([dZ1 | 0]ᵀ·X)ᵀ,
    dZ1 padded to k columns; 0 leaves a product as it is (Z1 = X·W1,
    dW1 = Xᵀ·dZ1). The zero columns add nothing to the columns kept; they change
    which of OpenBLAS's kernels computes them (and so, perhaps, their last
    bits). ``chunk_bytes`` bounds the bytes of X a chunk holds.
    """

    chunk_bytes: int = CHUNK_BYTES
    forward: int = 0
    backward: int = 0


# Layouts by (OpenBLAS kernel, dtype), for a first layer narrower than the padding (the
# tutorial's 10 units). Measured on a 2-core AMD EPYC (benchmarks/tutorial.py and the
# products alone, one thread, 1,024 × 784 float32 X): under the SkylakeX kernel X·W took
# 226 µs with 10 columns and 158 µs with 16, Xᵀ·dZ 241 µs with 10 columns and dZᵀ·X
# 161 µs with 12; the pass over 41,000 rows went from 15.7 to 13.1 ms in 2,048-row chunks.
# Under the Haswell kernel every padding was slower (X·W 234 → 259 µs with 16
# columns), so other kernels keep the products as they are.
LAYOUTS = {
    ("SkylakeX", "float32"): Layout(chunk_bytes=2 * CHUNK_BYTES, forward=16, backward=12),
    ("SkylakeX", "float64"): Layout(backward=12),
}


def layout(dtype, kernel: str | None = None) -> Layout:
    """The :class:`Layout` for ``dtype`` under ``kernel`` (default: the one OpenBLAS runs here).

    >>> layout(np.float32, "Haswell")
    Layout(chunk_bytes=4194304, forward=0, backward=0)
    >>> layout(np.float32, "SkylakeX").forward
    16
    """
    kernel = blas_kernel() if kernel is None else kernel
    return LAYOUTS.get((kernel, np.dtype(dtype).name), Layout())


class _First(NamedTuple):
    """The first layer as one call of :func:`grads` computes it: ``w`` is W1 padded with
    zero columns (None: Z1 = X·W1 as usual), ``rest`` the layers above it, ``width`` the
    padded width of dZ1 for dW1ᵀ = dZ1ᵀ·X (0: dW1 = Xᵀ·dZ1)."""

    w: np.ndarray | None
    rest: Params | None
    width: int


def _first(params: Params, plan: Layout) -> _First:
    layers, h = params.layers, params.layers[0].w.shape[1]
    if len(layers) < 2:  # the first layer gives the logits: nothing to pad
        return _First(None, None, 0)
    w = None
    if h < plan.forward:
        w = np.zeros((layers[0].w.shape[0], plan.forward), layers[0].w.dtype)
        w[:, :h] = layers[0].w
    rest = attrs.evolve(params, layers=layers[1:]) if w is not None else None
    return _First(w, rest, plan.backward if h < plan.backward else 0)


def _forward(params: Params, act, x, first: _First):
    """(inputs, hidden, Z_L) as :func:`funcnet.mlp._forward_rows`, Z1 = X·W1 laid out by ``first``."""
    if first.w is None:
        return _forward_rows(params, act, x, ())
    layer = params.layers[0]
    z1 = (x @ first.w)[:, :layer.w.shape[1]]  # a fresh array: written in place below
    a1 = act.apply_(np.add(z1, layer.b, out=z1))
    inputs, hidden, z = _forward_rows(first.rest, act, a1, ())
    return (x, *inputs), (a1, *hidden), z


def _bottom(first: _First):
    """The first layer's (dW1, db1) from (X, dZ1), as ``_dense_grads`` or padded (see :class:`Layout`)."""
    if not first.width:
        return _dense_grads

    def grads(x, dz, layer, l2, quirks):
        h = dz.shape[1]
        padded = np.zeros((len(dz), first.width), dz.dtype)
        padded[:, :h] = dz
        dw = (padded.T @ x)[:h].T  # dW1 = (dZ1ᵀ·X)ᵀ, a view: made C-ordered after the sum
        if l2:
            dw = dw + layer.w * dw.dtype.type(l2)
        return Dense(dw, np.full_like(layer.b, dz.sum()) if quirks else column_sum(dz))

    return grads


def _chunk_pass(params: Params, act, x, y, m: int, naive: bool, scalar_bias: bool,
                first: _First):
    """(grads, Σ_i −log softmax(Z)[i, y_i], #right) of the rows ``x``: forward then backward.

    The loss is taken from the logits (finite where A[i, y_i] underflows),
    whichever softmax (``naive``: the tutorial's, without the max shift) makes
    A and so dZ_L = (A − Y)/m. Every array written here was made here.
    """
    inputs, hidden, z = _forward(params, act, x, first)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if naive:
            nll = softmax_nll_(z.copy(), y)[1]
            probs = exp_normalize_(z)[0]
        else:
            probs, nll = softmax_nll_(z, y)
        correct = int(np.count_nonzero(probs.argmax(axis=1) == y))
        dz = output_delta_(probs, y, m)
    return (_backprop(params, act, inputs, hidden, (), dz, 0.0, scalar_bias, _bottom(first)),
            nll, correct)


def grads(params: Params, x: np.ndarray, y: np.ndarray, *, m: int | None = None,
          quirks=False, chunk: int | None = None, threads: int | None = None,
          plan: Layout | None = None) -> tuple[float, Params, int]:
    """``(Σ_i −log A[i, y_i], gradients, #{i : argmax_k A[i, k] = y_i})`` over all rows.

    The gradients are those of the mean cross-entropy (Σ/m, ``m`` the
    number of rows unless given) of :func:`funcnet.mlp.backward`, computed
    ``chunk`` rows at a time and summed in chunk order (the same bits for any
    ``threads``; float rounding differs from the one-piece pass). ``plan``
    (default :func:`layout` for this BLAS kernel and dtype) sets the first
    layer's products and the default ``chunk`` (:func:`chunk_rows` of its
    ``chunk_bytes``). ``quirks``
    as in :func:`funcnet.mlp.train_grads`: ``"softmax"`` (no max shift) and
    ``"bias"`` (one scalar Σ dZ per layer). ``threads`` defaults to
    :func:`default_threads`. Shapes: ``x: (n, n_in)``, ``y: (n,)``; the
    gradients have the shapes of ``params``. ``x`` and ``params`` are only read.
    Integer pixels are scaled to X / 255 a chunk at a time (the bits of
    :func:`funcnet.data.scale`), so uint8 digits are read from memory in a
    quarter of the bytes of float32 (an eighth of float64) and never copied whole.
    """
    dtype = params.layers[0].w.dtype
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        x = x.astype(dtype, copy=False)
    n = len(x)
    if n == 0:
        raise ValueError("no rows to take gradients over")
    m = n if m is None else m
    naive, scalar_bias = _quirk_flags(quirks)
    act = fused(params.activation)
    plan = layout(dtype) if plan is None else plan
    chunk = chunk_rows(x.shape[1], dtype, plan.chunk_bytes) if chunk is None else max(1, int(chunk))
    threads = default_threads() if threads is None else threads
    first = _first(params, plan)

    def one(i):
        return _chunk_pass(params, act, scale(x[i:i + chunk], dtype), y[i:i + chunk], m, naive,
                           scalar_bias, first)

    g, nll, correct = ordered_sum(one, range(0, n, chunk), _add_pass_, threads)
    if first.width:  # dW1 was summed as views of dW1ᵀ
        g = (Dense(np.ascontiguousarray(g[0].w), g[0].b), *g[1:])
    return nll, attrs.evolve(params, layers=g), correct
