"""The fused dense kernel: the engine's plan for a network ``dense (activation [dropout] dense)*``.

When a network's layers are that pattern (the tutorial's ``dense, relu,
dense`` and every MLP), trained under softmax cross-entropy, the engine runs
this kernel instead of the layer-by-layer fold: the same arithmetic, with
the softmax and dZ_L = (A_L − Y)/m computed in the logits' own array, the
activations applied in place in arrays made here, and big batches done a
chunk of rows at a time. A plan chosen by pattern, not a second kind of
network (as XLA fuses the operations it recognises): the user never sees it.

Notation. The tutorial keeps one example per *column* and writes, for its
784-10-10 network::

    Z1 = W1·X + b1      A1 = ReLU(Z1)
    Z2 = W2·A1 + b2     A2 = softmax(Z2)
    dZ2 = A2 − Y        dW2 = (1/m)·dZ2·A1ᵀ     db2 = (1/m)·Σ dZ2
    dZ1 = W2ᵀ·dZ2 ⊙ ReLU'(Z1)
    dW1 = (1/m)·dZ1·Xᵀ  db1 = (1/m)·Σ dZ1

funcnet keeps one example per row, so every matrix is the transpose
(``z = x @ w + b``, ``dW = Aᵀ·dZ``). A dropout layer after a hidden
activation scales A by M/(1 − p), M ~ Bernoulli(1 − p) drawn from that
layer's key exactly as the dropout layer draws it, so both roads draw the
same masks.

Chunks. The gradient of the mean loss over all rows is the sum of the
chunks' gradients::

    dW_l = Σ_c A_{l−1,c}ᵀ·dZ_{l,c}      db_l = Σ_c Σ_rows dZ_{l,c}

A batch of more than :func:`chunk_rows` rows (about 4 MB of X) is done a
chunk X_c at a time, forward and backward together, so X_c is read from
memory once and is still in the cache for dW1 = X_cᵀ·dZ1; the chunks are
shared by one worker thread per core with single-threaded BLAS and added in
chunk order, so the result has the same bits on any number of cores.
Integer pixels are scaled to X / 255 a chunk at a time (the bits of
:func:`funcnet.pixels.scale`), so uint8 digits are never copied whole.

How the first layer's two narrow products are laid out (zero columns padded
to W1 or dZ1, so that OpenBLAS picks a faster kernel) and how many bytes of
X a chunk holds is a :class:`Layout`, fixed per machine and dtype, so a
run's bits do not change from run to run.

The tutorial's arithmetic, defects included (``quirks``: the softmax
without the max shift, one scalar bias gradient), is an argument of
:func:`grads` only, which the tutorial pipeline calls; the generic API knows
nothing of it.

>>> import numpy as np
>>> from funcnet import model, rng, tree
>>> net = model.init(rng.key(0), (6, 5, 3), dtype=np.float64)
>>> x, y = rng.normal(rng.key(1), (50, 6), np.float64), np.arange(50) % 3
>>> nll, g, correct = grads(net, x, y, chunk=16, threads=2)
>>> loss, g_layers, _, _ = model.value_and_grads(net, x, y)
>>> bool(np.isclose(nll / 50, loss)), tree.allclose(g, g_layers), 0 <= correct <= 50
(True, True, True)
>>> tree.equal(g, grads(net, x, y, chunk=16, threads=1)[1])
True
"""

from __future__ import annotations

from typing import NamedTuple

import attrs
import numpy as np
import toolz

from .. import rng
from .._kernels import (blas_kernel, default_threads, exp_normalize_, fused, ordered_sum,
                        output_delta_, softmax_nll_)
from ..layers.activation import Activation
from ..layers.dense import Dense, column_sum
from ..layers.dropout import Dropout
from ..losses import _smoothing, l2_penalty, log_softmax
from ..pixels import scale

__all__ = ["Stack", "match", "CHUNK_BYTES", "LAYOUTS", "Layout", "chunk_rows", "layout", "grads",
           "value_and_grads", "logits_rows", "inference_rows", "QUIRKS"]


class Stack(NamedTuple):
    """A network seen as a dense stack: its dense layers in order, for each hidden layer
    its activation's name and its dropout rate (0: none), and the indices in
    ``net.layers`` of each dense layer and of each hidden layer's dropout (None: none)."""

    dense: tuple
    acts: tuple
    rates: tuple
    positions: tuple
    drop_positions: tuple


def _take_hidden(layers: tuple, i: int):
    """``(activation name, rate, dropout index, next index)`` of the hidden unit at ``i``
    (activation, optional dropout, then a dense layer), or None when it is not one."""
    if i >= len(layers) or type(layers[i]) is not Activation:
        return None
    j, rate, drop = i + 1, 0.0, None
    if j < len(layers) and type(layers[j]) is Dropout:
        rate, drop, j = layers[j].rate, j, j + 1
    if j < len(layers) and type(layers[j]) is Dense:
        return layers[i].name, rate, drop, j
    return None


def match(net) -> Stack | None:
    """The :class:`Stack` of a network of layers ``dense (activation [dropout] dense)*`` on
    flat inputs, or None for any other network (which the layer-by-layer fold runs).

    >>> from funcnet import rng
    >>> from funcnet.layers import dense, relu, dropout, network
    >>> s = match(network.init(rng.key(0), (dense(4), relu(), dropout(0.5), dense(2)), (3,)))
    >>> s.acts, s.rates, s.positions, s.drop_positions
    (('relu',), (0.5,), (0, 3), (2,))
    >>> match(network.init(rng.key(0), (dense(4), relu()), (3,))) is None
    True
    """
    layers = getattr(net, "layers", ())
    if len(getattr(net, "input_shape", ())) != 1 or not layers or type(layers[0]) is not Dense:
        return None
    acts, rates, positions, drops, i = (), (), (0,), (), 1
    while i < len(layers):
        hidden = _take_hidden(layers, i)
        if hidden is None:
            return None
        name, rate, drop, i = hidden
        acts, rates, drops, positions = acts + (name,), rates + (rate,), drops + (drop,), positions + (i,)
        i += 1
    return Stack(tuple(layers[p] for p in positions), acts, rates, positions, drops)


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


QUIRKS = ("softmax", "bias")


def _quirk_flags(quirks) -> tuple[bool, bool]:
    """(naive softmax, scalar bias gradient) from ``quirks``: a bool for both, or names."""
    if isinstance(quirks, (bool, np.bool_)):
        return bool(quirks), bool(quirks)
    names = set(quirks)
    if names - set(QUIRKS):
        raise ValueError(f"unknown quirks {sorted(names - set(QUIRKS))}: "
                         f"expected names among {', '.join(QUIRKS)}")
    return "softmax" in names, "bias" in names


class _First(NamedTuple):
    """The first layer as one call of :func:`grads` computes it: ``w`` is W1 padded with
    zero columns (None: Z1 = X·W1 as usual), ``width`` the padded width of dZ1 for
    dW1ᵀ = dZ1ᵀ·X (0: dW1 = Xᵀ·dZ1)."""

    w: np.ndarray | None
    width: int


def _first(stack: Stack, plan: Layout) -> _First:
    if len(stack.dense) < 2:  # the first layer gives the logits: nothing to pad
        return _First(None, 0)
    w1 = stack.dense[0].w
    h = w1.shape[1]
    w = None
    if h < plan.forward:
        w = np.zeros((w1.shape[0], plan.forward), w1.dtype)
        w[:, :h] = w1  # w is this function's own array
    return _First(w, plan.backward if h < plan.backward else 0)


def _affine(x: np.ndarray, layer: Dense) -> np.ndarray:
    """Z = X·W + b, a new array (b added in place into it)."""
    z = x @ layer.w
    return np.add(z, layer.b, out=z)


def _z1(x: np.ndarray, layer: Dense, first: _First) -> np.ndarray:
    """Z1 = X·W1 + b1, laid out by ``first`` (X·[W1 | 0], first n_1 columns kept)."""
    if first.w is None:
        return _affine(x, layer)
    z1 = (x @ first.w)[:, :layer.w.shape[1]]  # a view of a fresh array: written in place below
    return np.add(z1, layer.b, out=z1)


def _forward_rows(stack: Stack, acts: tuple, x: np.ndarray, masks: tuple, first: _First):
    """(inputs, hidden, Z_L): each layer's input (X, then A ⊙ M), each hidden A, the logits."""
    def hidden_layer(carry, l):
        inputs, hidden = carry
        z = _z1(x, stack.dense[0], first) if l == 0 else _affine(inputs[-1], stack.dense[l])
        a = acts[l].apply_(z)
        mask = masks[l] if masks else None
        return inputs + ((a if mask is None else a * mask),), hidden + (a,)

    inputs, hidden = toolz.reduce(hidden_layer, range(len(stack.dense) - 1), ((x,), ()))
    return inputs, hidden, _affine(inputs[-1], stack.dense[-1])


def _dense_grads(a_in, dz, layer: Dense, scalar_bias: bool) -> Dense:
    dw = a_in.T @ dz  # dW = Aᵀ·dZ  (tutorial: dW = dZ·Aᵀ)
    if scalar_bias:  # the tutorial's np.sum(dZ): one scalar for every unit
        return Dense(dw, np.full_like(layer.b, dz.sum()))
    return Dense(dw, column_sum(dz))  # db = Σ_rows dZ


def _bottom(first: _First):
    """The first layer's (dW1, db1) from (X, dZ1): as ``_dense_grads``, or padded (see :class:`Layout`)."""
    if not first.width:
        return _dense_grads

    def grads(x, dz, layer, scalar_bias):
        h = dz.shape[1]
        padded = np.zeros((len(dz), first.width), dz.dtype)
        padded[:, :h] = dz  # padded is this function's own array
        dw = (padded.T @ x)[:h].T  # dW1 = (dZ1ᵀ·X)ᵀ, a view: made C-ordered after the sum
        return Dense(dw, np.full_like(layer.b, dz.sum()) if scalar_bias else column_sum(dz))

    return grads


def _backprop(stack: Stack, acts: tuple, inputs, hidden, masks, dz, scalar_bias: bool,
              bottom) -> tuple:
    """Every layer's (dW, db) from dZ_L down; ``dz`` and each dA (made here) are overwritten."""
    def layer_back(carry, l):
        dz, grads = carry
        layer = stack.dense[l]
        grads = ((bottom if l == 0 else _dense_grads)(inputs[l], dz, layer, scalar_bias),) + grads
        if l == 0:
            return dz, grads
        da = dz @ layer.w.T
        mask = masks[l - 1] if masks else None
        if mask is not None:
            da = np.multiply(da, mask, out=da)
        return acts[l - 1].backprop_(da, hidden[l - 1]), grads

    return toolz.reduce(layer_back, reversed(range(len(stack.dense))), (dz, ()))[1]


def _smoothed_nll(z: np.ndarray, y: np.ndarray, eps: float) -> float:
    """Σ_i −Σ_k q_ik log softmax(Z)_ik with q_i = (1 − ε)·onehot(y_i) + ε/K (as
    :func:`funcnet.losses.cross_entropy` computes it, summed instead of averaged)."""
    log_a = log_softmax(z)
    picked = log_a[np.arange(len(y)), y].sum(dtype=np.float64)
    return -float((1 - eps) * picked + eps * log_a.mean(axis=1).sum(dtype=np.float64))


def _smoothed_delta_(a: np.ndarray, y: np.ndarray, m: int, eps: float) -> np.ndarray:
    """dZ = (A − Q)/m, Q = (1 − ε)·onehot(y) + ε/K, overwriting ``a`` (made by the caller), in
    the order of :func:`funcnet.losses.cross_entropy_grad`: A − ε/K, then − (1 − ε) at y, then /m."""
    t = a.dtype.type
    np.subtract(a, t(eps / a.shape[1]), out=a)
    a[np.arange(len(y)), y] -= t(1 - eps)
    return np.multiply(a, t(1 / m), out=a)


def _chunk_pass(stack: Stack, acts: tuple, x, y, m: int, masks: tuple, naive: bool,
                scalar_bias: bool, first: _First, eps: float = 0.0):
    """(grads, Σ_i −log softmax(Z)[i, y_i], #right) of the rows ``x``: forward then backward.

    The loss is taken from the logits (finite where A[i, y_i] underflows),
    whichever softmax (``naive``: the tutorial's, without the max shift) makes
    A and so dZ_L = (A − Y)/m; with label smoothing ``eps`` = ε the target is
    Q = (1 − ε)·onehot(y) + ε/K instead of Y. Every array written here was made here.
    """
    inputs, hidden, z = _forward_rows(stack, acts, x, masks, first)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if naive:
            nll = softmax_nll_(z.copy(), y)[1]
            probs = exp_normalize_(z)[0]
        elif eps:
            nll = _smoothed_nll(z, y, eps)
            probs = softmax_nll_(z, y)[0]
        else:
            probs, nll = softmax_nll_(z, y)
        correct = int(np.count_nonzero(probs.argmax(axis=1) == y))
        dz = _smoothed_delta_(probs, y, m, eps) if eps else output_delta_(probs, y, m)
    return (_backprop(stack, acts, inputs, hidden, masks, dz, scalar_bias, _bottom(first)),
            nll, correct)


def _add_pass_(acc, part):
    """Sum two chunks' (grads, nll, correct), writing into ``acc``'s gradient arrays (made here)."""
    for g, h in zip(acc[0], part[0]):
        np.add(g.w, h.w, out=g.w)
        np.add(g.b, h.b, out=g.b)
    return acc[0], acc[1] + part[1], acc[2] + part[2]


def _as_network_grads(net, stack: Stack, dense_grads: tuple):
    """The gradients as a network like ``net``: each dense layer's, the others as they are."""
    layers = list(net.layers)
    for p, g in zip(stack.positions, dense_grads):
        layers[p] = g
    return attrs.evolve(net, layers=tuple(layers))


def _masks(net, stack: Stack, key, n: int, dtype) -> tuple:
    """Each hidden layer's dropout scale M/(1 − p) (None without dropout), drawn from the
    dropout layer's own key, l-th of ``rng.split(key, len(net.layers))``, as that layer draws it."""
    if not any(stack.rates):
        return ()
    if key is None:
        raise ValueError("dropout in training needs a key")
    keys = rng.split(key, len(net.layers))

    def one(rate, position, width):
        if not rate:
            return None
        keep = 1.0 - rate
        mask = rng.bernoulli(keys[position], keep, (n, width)).astype(dtype)
        return np.multiply(mask, mask.dtype.type(1 / keep), out=mask)

    widths = [d.w.shape[1] for d in stack.dense[:-1]]
    return tuple(one(r, p, w) for r, p, w in zip(stack.rates, stack.drop_positions, widths))


def grads(net, x: np.ndarray, y: np.ndarray, *, key=None, m: int | None = None, quirks=False,
          label_smoothing: float = 0.0, chunk: int | None = None, threads: int | None = None,
          plan: Layout | None = None):
    """``(Σ_i −log A[i, y_i], gradients, #{i : argmax_k A[i, k] = y_i})`` over all rows.

    The gradients (a network like ``net``) are those of the mean cross-entropy
    (Σ/m, ``m`` the number of rows unless given), computed ``chunk`` rows at a
    time and summed in chunk order (the same bits for any ``threads``).
    ``plan`` (default :func:`layout` for this BLAS kernel and dtype) sets the
    first layer's products and the default ``chunk`` (:func:`chunk_rows` of
    its ``chunk_bytes``). ``quirks`` is a bool (both of the tutorial's) or
    names among :data:`QUIRKS`: ``"softmax"`` (no max shift) and ``"bias"``
    (one scalar Σ dZ per layer). ``key`` draws the dropout layers' masks;
    ``label_smoothing`` = ε takes the loss against Q = (1 − ε)·onehot(y) + ε/K.
    Shapes: ``x: (n, n_in)``, ``y: (n,)``. ``x`` and ``net`` are only read.
    """
    stack = match(net)
    if stack is None:
        raise ValueError(f"the fused kernel runs dense (activation [dropout] dense)* networks, not {net!r}")
    dtype = stack.dense[0].w.dtype
    x = np.asarray(x)
    n = len(x)
    if n == 0:
        raise ValueError("no rows to take gradients over")
    m = n if m is None else m
    naive, scalar_bias = _quirk_flags(quirks)
    eps = _smoothing(label_smoothing)
    if eps and naive:
        raise ValueError("label smoothing and the tutorial's softmax do not go together")
    acts = tuple(fused(a) for a in stack.acts)
    plan = layout(dtype) if plan is None else plan
    chunk = chunk_rows(x.shape[1], dtype, plan.chunk_bytes) if chunk is None else max(1, int(chunk))
    first = _first(stack, plan)
    masks = _masks(net, stack, key, n, dtype)

    def one(i):
        part = tuple(None if k is None else k[i:i + chunk] for k in masks)
        return _chunk_pass(stack, acts, scale(x[i:i + chunk], dtype), y[i:i + chunk], m, part,
                           naive, scalar_bias, first, eps)

    if n <= chunk:  # one piece: this thread, BLAS as the process has it
        g, nll, correct = one(0)
    else:
        threads = default_threads() if threads is None else threads
        g, nll, correct = ordered_sum(one, range(0, n, chunk), _add_pass_, threads)
    if first.width:  # dW1 was computed as a view of dW1ᵀ
        g = (Dense(np.ascontiguousarray(g[0].w), g[0].b), *g[1:])
    return nll, _as_network_grads(net, stack, g), correct


def value_and_grads(net, x: np.ndarray, y: np.ndarray, *, key=None, l2: float = 0.0,
                    m: int | None = None, label_smoothing: float = 0.0) -> tuple:
    """``(loss, grads, correct)`` of a dense stack: :func:`grads` with loss = Σ nll / n
    (+ (λ/2) Σ ‖W‖²) and each dW + λ·W when ``l2 = λ``."""
    nll, g, correct = grads(net, x, y, key=key, m=m, label_smoothing=label_smoothing)
    if not l2:
        return nll / len(x), g, correct
    stack = match(net)
    layers = list(g.layers)
    for p, layer in zip(stack.positions, stack.dense):
        gw = layers[p].w
        layers[p] = Dense(np.add(gw, layer.w * gw.dtype.type(l2), out=gw), layers[p].b)  # + λ·W
    return (nll / len(x) + l2_penalty([d.w for d in stack.dense], l2),
            attrs.evolve(g, layers=tuple(layers)), correct)


def logits_rows(stack: Stack, x: np.ndarray) -> np.ndarray:
    """Z_L for the rows ``x`` (no dropout), in one piece: the per-chunk step of inference.

    >>> from funcnet import model, rng
    >>> logits_rows(match(model.init(rng.key(0), (3, 2))), np.zeros((4, 3), np.float32)).shape
    (4, 2)
    """
    acts = tuple(fused(a) for a in stack.acts)
    dtype = stack.dense[0].w.dtype
    a = toolz.reduce(lambda a, la: la[1].apply_(_affine(a, la[0])), zip(stack.dense[:-1], acts),
                     scale(x, dtype))
    return _affine(a, stack.dense[-1])


def inference_rows(stack: Stack) -> int:
    """Rows per inference chunk: those of a training chunk, so each chunk's float copy of X
    stays in the cache (1,024 rows of 784 float32 pixels under most kernels)."""
    dtype = stack.dense[0].w.dtype
    return chunk_rows(stack.dense[0].w.shape[0], dtype, layout(dtype).chunk_bytes)
