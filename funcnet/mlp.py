"""The tutorial's network: a multilayer perceptron as data (Params) and pure functions over it.

This is the special case ``dense, g, dense, …, dense`` of :mod:`funcnet.layers`,
kept as one record with fused training passes (no per-layer dispatch, the
softmax and dZ_L computed in one array) so the tutorial reads as it is
written and trains as fast as a hand-written NumPy loop.
:func:`funcnet.model.as_network` views it as a :class:`funcnet.layers.Network`.

Notation. The tutorial keeps one example per *column* and writes, for its
784-10-10 network::

    Z1 = W1·X + b1      A1 = ReLU(Z1)
    Z2 = W2·A1 + b2     A2 = softmax(Z2)
    dZ2 = A2 − Y        dW2 = (1/m)·dZ2·A1ᵀ     db2 = (1/m)·Σ dZ2
    dZ1 = W2ᵀ·dZ2 ⊙ ReLU'(Z1)
    dW1 = (1/m)·dZ1·Xᵀ  db1 = (1/m)·Σ dZ1
    W = W − α·dW        b = b − α·db

funcnet keeps one example per *row*, as NumPy and pandas do, so every
matrix is the transpose of the tutorial's: ``x: (batch, n_in)``,
``w: (n_in, n_out)``, ``b: (n_out,)`` and ``z = x @ w + b``. The equations
are the same ones read the other way round (``dW = Aᵀ·dZ / m``). Any depth
works: ``sizes = (784, h1, ..., hk, 10)``.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import toolz

from . import activations, rng, tree
from ._kernels import default_threads, fused, ordered_sum, output_delta_, softmax_nll_
from .losses import cross_entropy, cross_entropy_grad, l2_penalty, naive_softmax, softmax
from .layers.dense import SCHEMES, Dense, column_sum as _column_sum, init_dense
from .tree import pytree, static_field

__all__ = ["Dense", "Params", "Activations", "SCHEMES", "init", "forward", "backward",
           "logits_rows", "loss_and_grads", "train_grads", "CHUNK_ROWS", "QUIRKS"]


@pytree
@attrs.frozen(eq=False)
class Params:
    """The network: a tuple of Dense layers and the hidden activation's name.

    >>> p = init(rng.key(0), (784, 10, 10), scheme="tutorial")
    >>> p.sizes, p.activation, p.layers[0].w.shape, p.layers[0].b.shape
    ((784, 10, 10), 'relu', (784, 10), (10,))
    """

    layers: tuple
    activation: str = static_field(default="relu")

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.layers[0].w.shape[0],) + tuple(int(l.w.shape[1]) for l in self.layers)


@pytree
@attrs.frozen(eq=False)
class Activations:
    """What the forward pass keeps for the backward pass.

    ``inputs[l]`` is what layer ``l`` received (``inputs[0]`` = X, then each
    hidden A after dropout); ``hidden[l]`` is hidden layer ``l+1``'s output
    A before dropout; ``masks[l]`` its dropout scale (empty without dropout);
    ``logits`` = Z_L and ``probs`` = A_L = softmax(Z_L).
    """

    inputs: tuple
    hidden: tuple
    masks: tuple
    logits: np.ndarray
    probs: np.ndarray


def init(key, sizes, scheme: str = "he", activation: str = "relu", dtype=np.float32) -> Params:
    """Fresh parameters for a network of layer ``sizes`` (input, hidden..., output).

    Schemes: ``"tutorial"`` W, b ~ U[−0.5, 0.5); ``"he"`` W ~ N(0, 2/n_in),
    b = 0; ``"xavier"`` W ~ U(±√(6/(n_in + n_out))), b = 0. Each layer
    draws from its own key split from ``key``.

    >>> p = init(rng.key(0), (4, 3, 2))
    >>> [l.w.shape for l in p.layers], p.layers[0].w.dtype
    ([(4, 3), (3, 2)], dtype('float32'))
    >>> tree.equal(p, init(rng.key(0), (4, 3, 2)))
    True
    """
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must be at least (inputs, outputs), all ≥ 1; got {sizes}")
    activations.get(activation)
    keys = rng.split(key, len(sizes) - 1)
    layers = tuple(init_dense(k, a, b, scheme, dtype)
                   for k, a, b in zip(keys, sizes[:-1], sizes[1:]))
    return Params(layers, activation)


# Rows per chunk of a big batch. For the tutorial's 41,000 × 784 X, X·W1 took
# 9.3, 9.8, 11.2 and 11.9 ms in chunks of 2,048, 4,096, 8,192 rows and whole, on
# an idle machine. But each chunk is one more multithreaded BLAS call, and with
# another process busy on a core every such call can wait a scheduler tick:
# 160, 80, 40 and 30 ms then. 4,096 keeps most of the gain for half the calls.
CHUNK_ROWS = 4096


def _matmul_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A·B into a new array, CHUNK_ROWS rows of A at a time when A is tall and wide.

    The rows of A·B do not depend on each other; cut into pieces that fit
    in the cache, a narrow product (41,000 × 784 by 784 × 10) ran 10–25%
    faster here.
    """
    n, k = a.shape
    if n <= CHUNK_ROWS or k < 64:
        return a @ b
    out = np.empty((n, b.shape[1]), np.result_type(a, b))
    for i in range(0, n, CHUNK_ROWS):
        np.matmul(a[i:i + CHUNK_ROWS], b, out=out[i:i + CHUNK_ROWS])
    return out


def _affine(x: np.ndarray, layer: Dense) -> np.ndarray:
    z = _matmul_rows(x, layer.w)  # a fresh array, so adding b in place writes into nothing received
    return np.add(z, layer.b, out=z)


def _dropout_masks(key, dropout: float, n: int, widths, dtype) -> tuple:
    """Inverted-dropout scales M_l/(1 − p), M_l ~ Bernoulli(1 − p), one ``(n, width)`` per
    hidden layer, layer l drawn from the l-th key split from ``key``; () without dropout."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {dropout}")
    if not (dropout > 0 and widths):
        return ()
    keep = 1.0 - dropout

    def one(k, width):
        mask = rng.bernoulli(k, keep, (n, width)).astype(dtype)
        return np.multiply(mask, mask.dtype.type(1 / keep), out=mask)

    return tuple(one(k, w) for k, w in zip(rng.split(key, len(widths)), widths))


def _forward_rows(params: Params, act, x: np.ndarray, masks: tuple):
    """(inputs, hidden, Z_L): each layer's input (X, then A ⊙ M), each hidden A, the logits."""
    def hidden_layer(carry, l):
        inputs, hidden = carry
        a = act.apply_(_affine(inputs[-1], params.layers[l]))
        return inputs + ((a * masks[l]) if masks else a,), hidden + (a,)

    inputs, hidden = toolz.reduce(hidden_layer, range(len(params.layers) - 1), ((x,), ()))
    return inputs, hidden, _affine(inputs[-1], params.layers[-1])


def forward(params: Params, x: np.ndarray, *, key=None, dropout: float = 0.0,
            quirks: bool = False) -> Activations:
    """The forward pass: Z_l = A_{l−1}·W_l + b_l, A_l = g(Z_l), A_L = softmax(Z_L).

    Args:
      params: the network.
      x: inputs of shape ``(batch, n_in)`` (cast to the weights' dtype).
      key, dropout: with ``dropout = p > 0``, inverted dropout on every
        hidden layer: A ← A ⊙ M / (1 − p), M ~ Bernoulli(1 − p), from ``key``.
      quirks: use the tutorial's softmax without the max shift.

    Returns:
      :class:`Activations`; ``probs`` has shape ``(batch, n_out)``, rows sum to 1.

    >>> p = init(rng.key(0), (784, 10, 10), scheme="tutorial")
    >>> acts = forward(p, np.zeros((5, 784), np.float32))
    >>> acts.probs.shape, bool(np.allclose(acts.probs.sum(axis=1), 1))
    ((5, 10), True)
    """
    x = np.asarray(x, dtype=params.layers[0].w.dtype)
    act = fused(params.activation)
    masks = _dropout_masks(key, dropout, len(x), params.sizes[1:-1], x.dtype)
    inputs, hidden, z = _forward_rows(params, act, x, masks)
    return Activations(inputs, hidden, masks, z, (naive_softmax if quirks else softmax)(z))


def _dense_grads(a_in, dz, layer: Dense, l2: float, quirks: bool) -> Dense:
    dw = a_in.T @ dz  # dW = Aᵀ·dZ  (tutorial: dW = dZ·Aᵀ)
    if l2:
        dw = np.add(dw, layer.w * dw.dtype.type(l2), out=dw)  # + λ·W
    if quirks:  # the tutorial's np.sum(dZ): one scalar for every unit
        return Dense(dw, np.full_like(layer.b, dz.sum()))
    return Dense(dw, _column_sum(dz))  # db = Σ_rows dZ


def _backprop(params: Params, act, inputs, hidden, masks, dz, l2: float, quirks: bool,
              bottom=_dense_grads) -> tuple:
    """Every layer's (dW, db) from dZ_L down; ``dz`` and each dA are overwritten.
    ``bottom`` computes the first layer's, from (X, dZ_1, layer, l2, quirks)."""
    def layer_back(carry, l):
        dz, grads = carry
        layer = params.layers[l]
        grads = ((bottom if l == 0 else _dense_grads)(inputs[l], dz, layer, l2, quirks),) + grads
        if l == 0:
            return dz, grads
        da = dz @ layer.w.T
        if masks:
            da = np.multiply(da, masks[l - 1], out=da)
        return act.backprop_(da, hidden[l - 1]), grads

    return toolz.reduce(layer_back, reversed(range(len(params.layers))), (dz, ()))[1]


def backward(params: Params, acts: Activations, y: np.ndarray, *, m: int | None = None,
             l2: float = 0.0, quirks: bool = False) -> Params:
    """Gradients of the mean cross-entropy (+ (λ/2)ΣW² when ``l2 = λ``), by backprop.

    dZ_L = (A_L − Y)/m; for each layer l from the top: dW_l = A_{l−1}ᵀ·dZ_l
    (+ λ·W_l), db_l = Σ_rows dZ_l, and below it dA_{l−1} = dZ_l·W_lᵀ (⊙ the
    dropout mask), dZ_{l−1} = dA_{l−1} ⊙ g'(Z_{l−1}). Nothing is computed for
    the input X itself.

    Args:
      params, acts: the network and its :func:`forward` on a batch.
      y: integer labels of shape ``(batch,)``.
      m: divide by this instead of the batch size (the tutorial divides by
        the size of the whole data set).
      quirks: the tutorial's bias gradient, one scalar Σ dZ for all units.

    Returns:
      A :class:`Params` of gradients, each leaf shaped as its parameter.

    >>> p = init(rng.key(0), (4, 3, 2), dtype=np.float64)
    >>> x, y = np.ones((2, 4)), np.array([0, 1])
    >>> g = backward(p, forward(p, x), y)
    >>> tree.structure(g) == tree.structure(p)
    True
    """
    act = fused(params.activation)
    top = cross_entropy_grad(acts.probs, y, m)
    grads = _backprop(params, act, acts.inputs, acts.hidden, acts.masks, top, l2, quirks)
    return attrs.evolve(params, layers=grads)


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


def _rows_pass(params: Params, act, x, y, m: int, masks: tuple, l2: float, quirks: tuple):
    """Forward and backward over the rows ``x``: (grads, Σ_i −log A[i, y_i], number right).

    The same arithmetic as :func:`forward` then :func:`backward`, but keeping
    nothing: the softmax is computed in the logits' array and becomes dZ_L there.
    """
    naive, scalar_bias = quirks
    inputs, hidden, z = _forward_rows(params, act, x, masks)
    probs, nll = softmax_nll_(z, y, naive=naive)
    correct = int(np.count_nonzero(probs.argmax(axis=1) == y))
    dz = output_delta_(probs, y, m)
    return _backprop(params, act, inputs, hidden, masks, dz, l2, scalar_bias), nll, correct


def _add_pass_(acc, part):
    """Sum two chunks' (grads, nll, correct), writing into ``acc``'s gradient arrays."""
    for g, h in zip(acc[0], part[0]):
        np.add(g.w, h.w, out=g.w)
        np.add(g.b, h.b, out=g.b)
    return acc[0], acc[1] + part[1], acc[2] + part[2]


def train_grads(params: Params, x: np.ndarray, y: np.ndarray, *, key=None,
                dropout: float = 0.0, l2: float = 0.0, m: int | None = None,
                quirks=False, chunk: int = CHUNK_ROWS) -> tuple[float, Params, int]:
    """What a training step needs: ``(loss, grads, correct)``, keeping no activations.

    ``loss`` and ``grads`` are those of :func:`loss_and_grads` (bit for bit
    up to ``chunk`` rows), ``correct`` = #{i : argmax_k A[i, k] = y_i}. A
    batch of more than ``chunk`` rows is done a chunk X_c at a time, the
    gradient of the mean being the sum over chunks:
    dW_l = Σ_c A_{l−1,c}ᵀ·dZ_{l,c} with dZ_L = (A_L − Y)/m on every chunk, so
    each X_c is read from memory once and is still in cache for dW_1 = X_cᵀ·dZ_1.
    The chunks are shared by one worker thread per core, each with
    single-threaded BLAS, and added in chunk order (the same bits on any
    number of cores).
    Dropout masks are drawn for the whole batch as in :func:`forward`.
    ``quirks`` is a bool (both of the tutorial's, as in :func:`loss_and_grads`)
    or names among ``QUIRKS``: ``"softmax"`` (no max shift, −log A[i, y_i]
    from A) and ``"bias"`` (one scalar bias gradient Σ dZ per layer).

    >>> p = init(rng.key(0), (3, 4, 2), dtype=np.float64)
    >>> x, y = rng.normal(rng.key(1), (10, 3), np.float64), np.arange(10) % 2
    >>> l1, g1, _ = loss_and_grads(p, x, y)
    >>> l2, g2, correct = train_grads(p, x, y, chunk=4)
    >>> bool(np.isclose(l1, l2)), tree.allclose(g1, g2), 0 <= correct <= 10
    (True, True, True)
    """
    x = np.asarray(x, dtype=params.layers[0].w.dtype)
    n = len(x)
    m = n if m is None else m
    act = fused(params.activation)
    quirks = _quirk_flags(quirks)
    masks = _dropout_masks(key, dropout, n, params.sizes[1:-1], x.dtype)
    if n <= chunk:
        grads, nll, correct = _rows_pass(params, act, x, y, m, masks, l2, quirks)
    else:
        def part(i):
            return _rows_pass(params, act, x[i:i + chunk], y[i:i + chunk], m,
                              tuple(k[i:i + chunk] for k in masks), 0.0, quirks)

        grads, nll, correct = ordered_sum(part, range(0, n, chunk), _add_pass_, default_threads())
        if l2:
            for g, layer in zip(grads, params.layers):
                np.add(g.w, layer.w * g.w.dtype.type(l2), out=g.w)  # + λ·W
    penalty = l2_penalty([l.w for l in params.layers], l2) if l2 else 0.0
    return nll / n + penalty, attrs.evolve(params, layers=grads), correct


def logits_rows(params: Params, x: np.ndarray) -> np.ndarray:
    """Z_L for the rows ``x`` (no dropout), in one piece: the per-chunk step of
    :func:`funcnet.model.logits`, the one inference path.

    >>> logits_rows(init(rng.key(0), (3, 2)), np.zeros((4, 3), np.float32)).shape
    (4, 2)
    """
    act = fused(params.activation)
    a = toolz.reduce(lambda a, l: act.apply_(_affine(a, l)), params.layers[:-1],
                     np.asarray(x, dtype=params.layers[0].w.dtype))
    return _affine(a, params.layers[-1])


def loss_and_grads(params: Params, x: np.ndarray, y: np.ndarray, *, key=None,
                   dropout: float = 0.0, l2: float = 0.0, m: int | None = None,
                   quirks: bool = False) -> tuple[float, Params, Activations]:
    """One forward and one backward pass: ``(loss, grads, acts)`` on a batch.

    >>> p = init(rng.key(0), (3, 4, 2))
    >>> l, g, acts = loss_and_grads(p, np.ones((5, 3)), np.array([0, 1, 0, 1, 1]))
    >>> l > 0, g.layers[0].w.shape
    (True, (3, 4))
    """
    acts = forward(params, x, key=key, dropout=dropout, quirks=quirks)
    penalty = l2_penalty([l.w for l in params.layers], l2) if l2 else 0.0
    if quirks:  # the tutorial's loss, −log A[i, y_i] from the probabilities
        with np.errstate(divide="ignore", invalid="ignore"):
            ce = -np.log(acts.probs[np.arange(len(y)), y]).sum(dtype=np.float64) / len(y)
    else:
        ce = cross_entropy(acts.logits, y)
    grads = backward(params, acts, y, m=m, l2=l2, quirks=quirks)
    return float(ce) + penalty, grads, acts
