"""Building a network and its training passes: init, forward, backward, the gradients, the update.

:func:`init` makes the tutorial's MLP (:class:`funcnet.mlp.Params`) from
layer sizes or a :class:`funcnet.layers.Network` from layer specs; the
passes dispatch on that: the MLP's fused paths in :mod:`funcnet.mlp`, a
network's fold of its layers in :mod:`funcnet.layers.serial`.
"""

from __future__ import annotations

import attrs
import numpy as np

from .. import layers as _layers
from .. import mlp, tree
from ..errors import ConfigError
from ..layers import serial
from ..layers.dense import Dense
from ..losses import cross_entropy, cross_entropy_grad, l2_penalty, naive_softmax, softmax
from ..mlp import Params, train_grads


@tree.pytree
@attrs.frozen(eq=False)
class Trace:
    """What a :class:`Network`'s forward pass keeps for its backward pass.

    ``caches[l]`` is layer l's cache; ``logits`` = Z_L, ``probs`` =
    softmax(Z_L); ``model_state`` the state after the pass (moved running
    statistics in training).
    """

    caches: tuple
    logits: np.ndarray
    probs: np.ndarray
    model_state: object = None


def _is_sizes(arch) -> bool:
    return all(isinstance(a, (int, np.integer)) for a in arch)


def init(key, arch, scheme: str = "he", activation: str = "relu", dtype=np.float32, *,
         input_shape=None):
    """A fresh network: the tutorial's MLP from layer sizes, or layers from specs.

    Args:
      key: the random key; each layer draws from its own key split from it.
      arch: layer sizes ``(784, 10, 10)`` (input first: an MLP, :class:`Params`)
        or a tuple of layer specs ``(conv2d(32, 3), relu(), ...)`` (a
        :class:`Network`, which needs ``input_shape``).
      scheme: ``"tutorial"`` W, b ~ U[−0.5, 0.5); ``"he"`` W ~ N(0, 2/n_in),
        b = 0; ``"xavier"`` W ~ U(±√(6/(n_in + n_out))), b = 0.
      activation: the MLP's hidden activation (specs name theirs).
      input_shape: one example's shape, e.g. ``(28, 28, 1)`` (specs only).

    >>> from funcnet import rng
    >>> p = init(rng.key(0), (4, 3, 2))
    >>> [l.w.shape for l in p.layers], p.layers[0].w.dtype
    ([(4, 3), (3, 2)], dtype('float32'))
    >>> tree.equal(p, init(rng.key(0), (4, 3, 2)))
    True
    """
    arch = tuple(arch)
    if not arch or _is_sizes(arch):
        return mlp.init(key, arch, scheme, activation, dtype)
    if input_shape is None:
        raise ConfigError("a network of layer specs needs input_shape, e.g. input_shape=(28, 28, 1)")
    shape = (input_shape,) if isinstance(input_shape, (int, np.integer)) else input_shape
    return serial.init(key, arch, shape, scheme, dtype)


def init_model_state(params):
    """The model state a fresh network starts with: None for an MLP, else one entry per layer.

    >>> from funcnet import rng
    >>> from funcnet.layers import dense, batch_norm
    >>> net = init(rng.key(0), (dense(3), batch_norm()), input_shape=(2,))
    >>> init_model_state(net)[1].var
    array([1., 1., 1.], dtype=float32)
    """
    if isinstance(params, Params):
        return None
    return serial.initial_state(params)


def forward(params, x: np.ndarray, *, key=None, dropout: float = 0.0, quirks: bool = False,
            train: bool = False, model_state=None):
    """The forward pass: Z_l = A_{l−1}·W_l + b_l, A_l = g(Z_l), A_L = softmax(Z_L).

    For an MLP this is :func:`funcnet.mlp.forward` (``dropout``, ``quirks``)
    and returns :class:`Activations`; for a :class:`Network` the fold of its
    layers (``train`` turns on dropout, from ``key``, and batch statistics)
    and returns a :class:`Trace`. Both have ``logits`` and ``probs``
    ``(batch, classes)``.

    >>> from funcnet import rng
    >>> p = init(rng.key(0), (784, 10, 10), scheme="tutorial")
    >>> acts = forward(p, np.zeros((5, 784), np.float32))
    >>> acts.probs.shape, bool(np.allclose(acts.probs.sum(axis=1), 1))
    ((5, 10), True)
    """
    if isinstance(params, Params):
        return mlp.forward(params, x, key=key, dropout=dropout, quirks=quirks)
    z, caches, state = serial.forward(params, x, train=train, key=key, model_state=model_state)
    return Trace(caches, z, (naive_softmax if quirks else softmax)(z), state)


def stochastic(params) -> bool:
    """Whether training ``params`` draws random numbers (a network with dropout layers).

    >>> from funcnet import rng
    >>> from funcnet.layers import dense, dropout
    >>> stochastic(init(rng.key(0), (dense(2), dropout(0.5)), input_shape=(3,)))
    True
    """
    return not isinstance(params, Params) and any(
        _layers.kind_of(layer) == "dropout" for layer in params.layers)


def weights(params) -> list:
    """The weight arrays W of every layer that has them (what L2 penalises)."""
    return [layer.w for layer in params.layers if hasattr(layer, "w")]


def _with_l2(grads, params, l2: float):
    """Each W's gradient plus λ·W (new arrays; other leaves unchanged)."""
    def add(g, p):
        return attrs.evolve(g, w=g.w + p.w * g.w.dtype.type(l2)) if hasattr(p, "w") else g
    return attrs.evolve(grads, layers=tuple(add(g, p) for g, p in zip(grads.layers, params.layers)))


def backward(params, acts, y: np.ndarray, *, m: int | None = None, l2: float = 0.0,
             quirks: bool = False):
    """Gradients of the mean cross-entropy (+ (λ/2)ΣW² when ``l2 = λ``), by backprop.

    dZ_L = (A_L − Y)/m, then each layer's local rule from the top down
    (:func:`funcnet.mlp.backward` for an MLP, with the tutorial's ``quirks``).
    Returns gradients with the structure of the trainable parameters.

    >>> from funcnet import rng
    >>> p = init(rng.key(0), (4, 3, 2), dtype=np.float64)
    >>> x, y = np.ones((2, 4)), np.array([0, 1])
    >>> g = backward(p, forward(p, x), y)
    >>> tree.structure(g) == tree.structure(p)
    True
    """
    if isinstance(params, Params):
        return mlp.backward(params, acts, y, m=m, l2=l2, quirks=quirks)
    grads = serial.backward(params, acts.caches, cross_entropy_grad(acts.probs, y, m))
    return _with_l2(grads, params, l2) if l2 else grads


def value_and_grads(params, x: np.ndarray, y: np.ndarray, *, model_state=None, key=None,
                    dropout: float = 0.0, l2: float = 0.0, m: int | None = None,
                    quirks=False) -> tuple:
    """What a training step needs: ``(loss, grads, correct, model_state)``.

    loss = −(1/n) Σ_i log A_L[i, y_i] (+ (λ/2) Σ ‖W‖²), grads = ∇loss,
    correct = #{i : argmax_k A_L[i, k] = y_i}, on the batch in training mode.
    An MLP takes the fused path :func:`funcnet.mlp.train_grads` (``dropout``
    on every hidden layer, ``quirks``) and has no model state; a
    :class:`Network` runs its layers (its own dropout layers draw from
    ``key``; the MLP's ``dropout`` rate does not apply to it) and returns its
    moved running statistics.

    >>> from funcnet import rng
    >>> from funcnet.layers import dense, batch_norm, relu
    >>> net = init(rng.key(0), (dense(4), batch_norm(), relu(), dense(2)), input_shape=(3,))
    >>> x, y = rng.normal(rng.key(1), (6, 3)), np.arange(6) % 2
    >>> loss, g, correct, state = value_and_grads(net, x, y, model_state=init_model_state(net))
    >>> bool(loss > 0), tree.structure(g) == tree.structure(net), state[1].mean.shape
    (True, True, (4,))
    """
    if isinstance(params, Params):
        loss, grads, correct = train_grads(params, x, y, key=key, dropout=dropout, l2=l2, m=m,
                                           quirks=quirks)
        return loss, grads, correct, model_state
    if quirks:
        raise ConfigError("the tutorial's quirks apply to the MLP only, not to a network of layers")
    z, caches, state = serial.forward(params, x, train=True, key=key, model_state=model_state)
    probs = softmax(z)
    grads = serial.backward(params, caches, cross_entropy_grad(probs, y, m))
    grads = _with_l2(grads, params, l2) if l2 else grads
    penalty = l2_penalty(weights(params), l2) if l2 else 0.0
    correct = int(np.count_nonzero(probs.argmax(axis=1) == y))
    return cross_entropy(z, y) + penalty, grads, correct, state


def loss_and_grads(params, x: np.ndarray, y: np.ndarray, *, key=None, dropout: float = 0.0,
                   l2: float = 0.0, m: int | None = None, quirks: bool = False, train: bool = True,
                   model_state=None) -> tuple:
    """One forward and one backward pass, keeping the activations: ``(loss, grads, acts)``.

    For an MLP :func:`funcnet.mlp.loss_and_grads`; for a :class:`Network` in
    training mode (``train``) unless told otherwise, ``acts`` a :class:`Trace`.

    >>> from funcnet import rng
    >>> p = init(rng.key(0), (3, 4, 2))
    >>> l, g, acts = loss_and_grads(p, np.ones((5, 3)), np.array([0, 1, 0, 1, 1]))
    >>> l > 0, g.layers[0].w.shape
    (True, (3, 4))
    """
    if isinstance(params, Params):
        return mlp.loss_and_grads(params, x, y, key=key, dropout=dropout, l2=l2, m=m,
                                  quirks=quirks)
    acts = forward(params, x, key=key, train=train, model_state=model_state)
    penalty = l2_penalty(weights(params), l2) if l2 else 0.0
    grads = backward(params, acts, y, m=m, l2=l2)
    return cross_entropy(acts.logits, y) + penalty, grads, acts


def leaves(params) -> list:
    """The trainable arrays in flatten order (``tree.leaves``; for the MLP without walking
    the tree: w, b of each layer, a training step's fast path).

    >>> from funcnet import rng
    >>> p = init(rng.key(0), (4, 3, 2))
    >>> all(a is b for a, b in zip(leaves(p), tree.leaves(p)))
    True
    """
    if isinstance(params, Params):
        return [a for layer in params.layers for a in (layer.w, layer.b)]
    return tree.leaves(params)


def with_leaves(params, new: list, treedef=None):
    """A network like ``params`` holding the arrays ``new`` (in :func:`leaves` order).

    >>> from funcnet import rng
    >>> p = init(rng.key(0), (4, 3, 2))
    >>> tree.equal(with_leaves(p, [2 * a for a in leaves(p)]), tree.map(lambda a: 2 * a, p))
    True
    """
    if isinstance(params, Params):
        return Params(tuple(Dense(w, b) for w, b in zip(new[0::2], new[1::2])), params.activation)
    return tree.unflatten(tree.structure(params) if treedef is None else treedef, new)


def update(params, grads, lr: float):
    """Plain gradient descent, the tutorial's W = W − α·dW, b = b − α·db (any network).

    >>> from funcnet import rng
    >>> p = init(rng.key(0), (2, 2), scheme="tutorial")
    >>> q = update(p, tree.map(np.ones_like, p), 0.1)
    >>> bool(np.allclose(q.layers[0].w, p.layers[0].w - 0.1))
    True
    """
    return tree.map(lambda p, g: p - p.dtype.type(lr) * g, params, grads)
