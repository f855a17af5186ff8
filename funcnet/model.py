"""A multilayer perceptron as data (Dense, Params) and pure functions over it.

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
from .losses import cross_entropy, cross_entropy_grad, l2_penalty, naive_softmax, softmax
from .tree import pytree, static_field

__all__ = ["Dense", "Params", "Activations", "SCHEMES", "init", "forward", "backward",
           "logits", "loss", "loss_and_grads", "predict", "predict_proba", "update"]

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


def _init_layer(key, n_in: int, n_out: int, scheme: str, dtype) -> Dense:
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
    layers = tuple(_init_layer(k, a, b, scheme, dtype)
                   for k, a, b in zip(keys, sizes[:-1], sizes[1:]))
    return Params(layers, activation)


def _affine(x: np.ndarray, layer: Dense) -> np.ndarray:
    z = x @ layer.w  # a fresh array, so adding b in place writes into nothing received
    return np.add(z, layer.b, out=z)


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
    act = activations.get(params.activation)
    n_hidden = len(params.layers) - 1
    keys = rng.split(key, n_hidden) if dropout > 0 and n_hidden else ()
    keep = 1.0 - dropout

    def hidden_layer(carry, l):
        inputs, hidden, masks = carry
        a = act.apply_(_affine(inputs[-1], params.layers[l]))
        if not keys:
            return inputs + (a,), hidden + (a,), masks
        mask = rng.bernoulli(keys[l], keep, a.shape).astype(a.dtype)
        mask = np.multiply(mask, a.dtype.type(1 / keep), out=mask)
        return inputs + (a * mask,), hidden + (a,), masks + (mask,)

    inputs, hidden, masks = toolz.reduce(hidden_layer, range(n_hidden), ((x,), (), ()))
    z = _affine(inputs[-1], params.layers[-1])
    return Activations(inputs, hidden, masks, z, (naive_softmax if quirks else softmax)(z))


def _dense_grads(a_in, dz, layer: Dense, l2: float, quirks: bool) -> Dense:
    dw = a_in.T @ dz  # dW = Aᵀ·dZ  (tutorial: dW = dZ·Aᵀ)
    if l2:
        dw = np.add(dw, layer.w * dw.dtype.type(l2), out=dw)  # + λ·W
    if quirks:  # the tutorial's np.sum(dZ): one scalar for every unit
        return Dense(dw, np.full_like(layer.b, dz.sum()))
    return Dense(dw, dz.sum(axis=0))  # db = Σ_rows dZ


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
    act = activations.get(params.activation)

    def layer_back(carry, l):
        dz, grads = carry
        layer = params.layers[l]
        grads = (_dense_grads(acts.inputs[l], dz, layer, l2, quirks),) + grads
        if l == 0:
            return dz, grads
        da = dz @ layer.w.T
        if acts.masks:
            da = np.multiply(da, acts.masks[l - 1], out=da)
        return act.backprop_(da, acts.hidden[l - 1]), grads

    top = cross_entropy_grad(acts.probs, y, m)
    _, grads = toolz.reduce(layer_back, reversed(range(len(params.layers))), (top, ()))
    return attrs.evolve(params, layers=grads)


def logits(params: Params, x: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Z_L for every row of ``x``, in chunks of ``chunk`` rows (no dropout).

    >>> logits(init(rng.key(0), (3, 2)), np.zeros((4, 3))).shape
    (4, 2)
    """
    act = activations.get(params.activation)
    dtype = params.layers[0].w.dtype

    def one(xc):
        a = toolz.reduce(lambda a, l: act.apply_(_affine(a, l)), params.layers[:-1],
                         np.asarray(xc, dtype=dtype))
        return _affine(a, params.layers[-1])

    parts = [one(x[i:i + chunk]) for i in range(0, len(x), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, params.sizes[-1]), dtype)


def predict_proba(params: Params, x: np.ndarray) -> np.ndarray:
    """Class probabilities softmax(Z_L), shape ``(batch, classes)``.

    >>> predict_proba(init(rng.key(0), (3, 2)), np.zeros((1, 3))).sum().round(6)
    np.float32(1.0)
    """
    return softmax(logits(params, x))


def predict(params: Params, x: np.ndarray) -> np.ndarray:
    """Predicted labels argmax_k Z_L[:, k] (the tutorial's ``get_predictions``).

    >>> predict(init(rng.key(0), (3, 2)), np.zeros((4, 3))).shape
    (4,)
    """
    return logits(params, x).argmax(axis=1)


def loss(params: Params, x: np.ndarray, y: np.ndarray, l2: float = 0.0) -> float:
    """Mean cross-entropy L = −(1/m) Σ log A_L[i, y_i] (+ (λ/2) Σ_l ‖W_l‖²).

    >>> p = init(rng.key(0), (784, 10, 10), scheme="tutorial")
    >>> 0 < loss(p, np.zeros((3, 784)), np.array([1, 2, 3]))
    True
    """
    penalty = l2_penalty([l.w for l in params.layers], l2) if l2 else 0.0
    return cross_entropy(logits(params, x), y) + penalty


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
    with np.errstate(divide="ignore", invalid="ignore"):
        ce = -np.log(acts.probs[np.arange(len(y)), y]).mean(dtype=np.float64) if quirks \
            else cross_entropy(acts.logits, y)
    grads = backward(params, acts, y, m=m, l2=l2, quirks=quirks)
    return float(ce) + penalty, grads, acts


def update(params: Params, grads: Params, lr: float) -> Params:
    """Plain gradient descent, the tutorial's W = W − α·dW, b = b − α·db.

    >>> p = init(rng.key(0), (2, 2), scheme="tutorial")
    >>> q = update(p, tree.map(np.ones_like, p), 0.1)
    >>> bool(np.allclose(q.layers[0].w, p.layers[0].w - 0.1))
    True
    """
    return tree.map(lambda p, g: p - p.dtype.type(lr) * g, params, grads)
