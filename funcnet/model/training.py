"""Building a network and its training passes: init, forward, backward, the gradients, the update.

Every network is a :class:`funcnet.layers.Network` of layers. :func:`init`
builds one from layer specs, or from layer sizes as the tutorial does
(``(784, 10, 10)``: the network ``dense, relu, dense``). The passes are the
fold of its layers; :func:`value_and_grads` hands a network whose layers are
``dense (activation [dropout] dense)*`` to the fused dense kernel
(:mod:`funcnet.model._fused`), the same arithmetic done in fewer, larger steps.
"""

from __future__ import annotations

import attrs
import numpy as np

from .. import rng, tree
from ..errors import ConfigError, DataError
from ..layers import base, network
from ..layers.activation import activation as activation_spec
from ..layers.dense import DenseSpec, init_dense
from ..layers.network import Network
from ..losses import cross_entropy, cross_entropy_grad, l2_penalty, softmax
from . import _fused


@tree.pytree
@attrs.frozen(eq=False)
class Trace:
    """What a forward pass keeps for the backward pass.

    ``caches[l]`` is layer l's cache; ``logits`` = Z_L, ``probs`` =
    softmax(Z_L); ``model_state`` the state after the pass (moved running
    statistics in training).
    """

    caches: tuple
    logits: np.ndarray
    probs: np.ndarray
    model_state: object = None

    def __repr__(self) -> str:
        return f"Trace(logits {self.logits.shape} {self.logits.dtype}, {len(self.caches)} caches)"


def _is_sizes(arch) -> bool:
    return all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in arch)


def _from_sizes(key, sizes, scheme: str, activation: str, dtype) -> Network:
    """The network ``dense, g, dense, …`` of layer ``sizes``: dense layer l draws from the l-th
    of ``rng.split(key, len(sizes) − 1)`` (the tutorial's MLP, the same bits as ever)."""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ConfigError(f"sizes must be at least (inputs, outputs), all ≥ 1; got {sizes}")
    g = activation_spec(activation)
    dense = [init_dense(k, a, b, scheme, dtype)
             for k, a, b in zip(rng.split(key, len(sizes) - 1), sizes[:-1], sizes[1:])]
    act = base.init(None, g, (sizes[1],))[0]
    layers = tuple(x for d in dense[:-1] for x in (d, act)) + (dense[-1],)
    specs = tuple(s for n in sizes[1:-1] for s in (DenseSpec(n), g)) + (DenseSpec(sizes[-1]),)
    shapes = tuple((n,) for n in sizes[1:-1] for _ in range(2)) + ((sizes[-1],),)
    return Network(layers, (sizes[0],), shapes, specs)


def init(key, arch, scheme: str = "he", activation: str = "relu", dtype=np.float32, *,
         input_shape=None) -> Network:
    """A fresh network from layer sizes (the tutorial's way) or from layer specs.

    Args:
      key: the random key; each layer draws from its own key split from it.
      arch: layer sizes ``(784, 10, 10)``, input first (the network ``dense(10),
        relu(), dense(10)`` on inputs ``(784,)``), or a tuple of layer specs
        ``(conv2d(32, 3), relu(), ...)``, which needs ``input_shape``.
      scheme: ``"tutorial"`` W, b ~ U[−0.5, 0.5); ``"he"`` W ~ N(0, 2/n_in),
        b = 0; ``"xavier"`` W ~ U(±√(6/(n_in + n_out))), b = 0.
      activation: the hidden activation of a network given by sizes (specs name theirs).
      input_shape: one example's shape, e.g. ``(28, 28, 1)`` (specs only).

    >>> p = init(rng.key(0), (4, 3, 2))
    >>> [type(l).__name__ for l in p.layers], p.layers[0].w.shape, p.layers[0].w.dtype
    (['Dense', 'Activation', 'Dense'], (4, 3), dtype('float32'))
    >>> tree.equal(p, init(rng.key(0), (4, 3, 2)))
    True
    """
    arch = tuple(arch)
    if not arch or _is_sizes(arch):
        return tree.freeze(_from_sizes(key, arch, scheme, activation, dtype))
    if input_shape is None:
        raise ConfigError("a network of layer specs needs input_shape, e.g. input_shape=(28, 28, 1)")
    shape = (input_shape,) if isinstance(input_shape, (int, np.integer)) else input_shape
    return tree.freeze(network.init(key, arch, shape, scheme, dtype))


def init_model_state(params: Network):
    """The model state a fresh network starts with: one entry per layer (None for a layer
    without state), or None for a network with no running statistics at all.

    >>> from funcnet.layers import dense, batch_norm
    >>> net = init(rng.key(0), (dense(3), batch_norm()), input_shape=(2,))
    >>> init_model_state(net)[1].var
    array([1., 1., 1.], dtype=float32)
    >>> init_model_state(init(rng.key(0), (4, 3, 2))) is None
    True
    """
    state = network.initial_state(params)
    return tree.freeze(state) if tree.leaves(state) else None


def check_labels(y, n: int, classes: int) -> np.ndarray:
    """``y`` as integer class ids ``(n,)`` in 0..classes−1, or a one-line :class:`DataError`
    naming what was expected (one-hot labels, the tutorial's transposed one-hot Y, a wrong
    length, a label out of range).

    >>> check_labels([0, 2], 2, 3).tolist()
    [0, 2]
    >>> check_labels(np.eye(3)[[0, 2]], 2, 3)
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: labels: expected integer class ids of shape (2,), got one-hot labels of shape (2, 3): pass y.argmax(axis=1)
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape == (n, classes):
        raise DataError(f"labels: expected integer class ids of shape ({n},), got one-hot labels "
                        f"of shape {y.shape}: pass y.argmax(axis=1)")
    if y.ndim == 2 and y.shape == (classes, n):
        raise DataError(f"labels: expected integer class ids of shape ({n},), got the tutorial's "
                        f"one-hot Y of shape {y.shape}: pass Y.argmax(axis=0)")
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"labels: expected one integer class id per example, shape ({n},); "
                        f"got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"labels: expected integer class ids, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= classes):
        bad = int(np.flatnonzero((y < 0) | (y >= classes))[0])
        raise DataError(f"labels: expected class ids 0..{classes - 1}, got {int(y[bad])} at row {bad}")
    return y


def _classes(params: Network) -> int:
    return int(np.prod(params.shapes[-1]))


def forward(params: Network, x: np.ndarray, *, train: bool = False, key=None,
            model_state=None) -> Trace:
    """The forward pass: Z_l = A_{l−1}·W_l + b_l, A_l = g(Z_l), A_L = softmax(Z_L), layer by layer.

    ``x`` is ``(n, *input_shape)`` or flat rows; integer pixels are scaled to
    X / 255. ``train`` turns on dropout (masks from ``key``) and batch
    statistics. Returns a :class:`Trace` with ``logits`` and ``probs``
    ``(batch, classes)``.

    >>> p = init(rng.key(0), (784, 10, 10), scheme="tutorial")
    >>> acts = forward(p, np.zeros((5, 784), np.float32))
    >>> acts.probs.shape, bool(np.allclose(acts.probs.sum(axis=1), 1))
    ((5, 10), True)
    """
    _check_key(params, train, key)
    z, caches, state = network.forward(params, x, train=train, key=key, model_state=model_state)
    return Trace(caches, z, softmax(z), state)


def _check_key(params: Network, train: bool, key) -> None:
    if train and key is None and stochastic(params):
        raise ValueError("this network has dropout: training it needs a key "
                         "(key=funcnet.rng.key(seed))")


def stochastic(params: Network) -> bool:
    """Whether training ``params`` draws random numbers (a dropout layer anywhere in it).

    >>> from funcnet.layers import dense, dropout, residual
    >>> stochastic(init(rng.key(0), (dense(2), residual(dropout(0.5))), input_shape=(3,)))
    True
    """
    return base.stochastic(params.layers)


def weights(params: Network) -> list:
    """Every weight array W, nested layers included (every leaf named ``w``): what L2 penalises.

    >>> from funcnet.layers import dense, relu, residual
    >>> [w.shape for w in weights(init(rng.key(0), (dense(3), residual(dense(3), relu())),
    ...                                input_shape=(2,)))]
    [(2, 3), (3, 3)]
    """
    return [x for name, x in tree.flatten_with_path(params.layers) if name.endswith(".w")]


def _with_l2(grads: Network, params: Network, l2: float) -> Network:
    """Each W's gradient plus λ·W (new arrays; other leaves unchanged), at every depth."""
    names = [name for name, _ in tree.flatten_with_path(params.layers)]
    g_leaves, treedef = tree.flatten(grads.layers)
    new = [g + p * g.dtype.type(l2) if name.endswith(".w") else g
           for name, g, p in zip(names, g_leaves, tree.leaves(params.layers))]
    return attrs.evolve(grads, layers=tree.unflatten(treedef, new))


def backward(params: Network, acts: Trace, y: np.ndarray, *, m: int | None = None,
             l2: float = 0.0, label_smoothing: float = 0.0) -> Network:
    """Gradients of the mean cross-entropy (+ (λ/2)ΣW² when ``l2 = λ``), by backprop.

    dZ_L = (A_L − Y)/m, then each layer's local rule from the top down
    (dW = Aᵀ·dZ, db = Σ dZ, dA = dZ·Wᵀ, dZ = dA ⊙ g'(Z), …); ``m`` defaults to
    the batch size; with ``label_smoothing`` = ε, Y is Q = (1 − ε)·onehot(y) + ε/K.
    Returns gradients with the structure of ``params``.

    >>> p = init(rng.key(0), (4, 3, 2), dtype=np.float64)
    >>> x, y = np.ones((2, 4)), np.array([0, 1])
    >>> g = backward(p, forward(p, x), y)
    >>> tree.structure(g) == tree.structure(p)
    True
    """
    if not isinstance(acts, Trace):
        raise TypeError(f"backward(params, acts, y) takes the forward pass's result "
                        f"(acts = funcnet.forward(params, x)), got {type(acts).__name__}")
    y = check_labels(y, len(acts.probs), _classes(params))
    grads = network.backward(params, acts.caches,
                             cross_entropy_grad(acts.probs, y, m, label_smoothing))
    return tree.freeze(_with_l2(grads, params, l2) if l2 else grads)


def value_and_grads(params: Network, x: np.ndarray, y: np.ndarray, *, model_state=None, key=None,
                    l2: float = 0.0, m: int | None = None, label_smoothing: float = 0.0,
                    trainable_from: int = 0) -> tuple:
    """What a training step needs: ``(loss, grads, correct, model_state)``.

    loss = −(1/n) Σ_i log A_L[i, y_i] (+ (λ/2) Σ ‖W‖²), grads = ∇loss (the sum
    over rows divided by ``m``, default n), correct = #{i : argmax_k A_L[i, k]
    = y_i}, on the batch in training mode (dropout layers draw from ``key``),
    and the moved model state. With ``label_smoothing`` = ε the loss is taken
    against Q = (1 − ε)·onehot(y) + ε/K (Szegedy et al. 2016): loss = −(1/n)
    Σ_i Σ_k Q_ik log A_L[i, k] and dZ_L = (A_L − Q)/m. A network ``dense (activation [dropout] dense)*``
    runs the fused dense kernel, big batches in row chunks on every core.
    ``trainable_from = k`` says the layers below k are frozen: the backward pass
    stops at layer k and their gradients are zeros (the layer fold runs it).

    >>> from funcnet.layers import dense, batch_norm, relu
    >>> net = init(rng.key(0), (dense(4), batch_norm(), relu(), dense(2)), input_shape=(3,))
    >>> x, y = rng.normal(rng.key(1), (6, 3)), np.arange(6) % 2
    >>> loss, g, correct, state = value_and_grads(net, x, y, model_state=init_model_state(net))
    >>> bool(loss > 0), tree.structure(g) == tree.structure(net), state[1].mean.shape
    (True, True, (4,))

    The arrays returned are read-only, as every parameter, state and gradient
    array funcnet hands out.
    """
    loss, grads, correct, state = owned_value_and_grads(
        params, x, y, model_state=model_state, key=key, l2=l2, m=m,
        label_smoothing=label_smoothing, trainable_from=trainable_from)
    return loss, tree.freeze(grads), correct, (state if state is model_state else tree.freeze(state))


def owned_value_and_grads(params: Network, x: np.ndarray, y: np.ndarray, *, model_state=None,
                          key=None, l2: float = 0.0, m: int | None = None,
                          label_smoothing: float = 0.0, trainable_from: int = 0) -> tuple:
    """:func:`value_and_grads` with its fresh gradient and state arrays left writeable: for
    a training step that owns them (``make_step(..., donate=True)`` writes its updates
    into the gradients' arrays). The same numbers.

    >>> p = init(rng.key(0), (3, 2))
    >>> owned_value_and_grads(p, np.ones((2, 3)), np.array([0, 1]))[1].layers[0].w.flags.writeable
    True
    """
    _check_key(params, True, key)
    x = np.asarray(x)
    y = check_labels(y, len(x), _classes(params))
    if not trainable_from and _fused.match(params) is not None:
        if x.ndim != 2 or x.shape[1:] != params.input_shape:
            raise DataError(network._shape_error(params, x))
        loss, grads, correct = _fused.value_and_grads(params, x, y, key=key, l2=l2, m=m,
                                                      label_smoothing=label_smoothing)
        return loss, grads, correct, model_state
    z, caches, state = network.forward(params, x, train=True, key=key, model_state=model_state)
    probs = softmax(z)
    grads = network.backward(params, caches, cross_entropy_grad(probs, y, m, label_smoothing),
                             start=trainable_from)
    grads = _with_l2(grads, params, l2) if l2 else grads
    penalty = l2_penalty(weights(params), l2) if l2 else 0.0
    correct = int(np.count_nonzero(probs.argmax(axis=1) == y))
    return cross_entropy(z, y, label_smoothing) + penalty, grads, correct, state


def loss_and_grads(params: Network, x: np.ndarray, y: np.ndarray, *, key=None, l2: float = 0.0,
                   m: int | None = None, train: bool = True, model_state=None,
                   label_smoothing: float = 0.0) -> tuple:
    """One forward and one backward pass, keeping the activations: ``(loss, grads, acts)``,
    in training mode (``train``) unless told otherwise; ``acts`` a :class:`Trace`.

    >>> p = init(rng.key(0), (3, 4, 2))
    >>> l, g, acts = loss_and_grads(p, np.ones((5, 3)), np.array([0, 1, 0, 1, 1]))
    >>> bool(l > 0), g.layers[0].w.shape
    (True, (3, 4))
    """
    acts = forward(params, x, key=key, train=train, model_state=model_state)
    penalty = l2_penalty(weights(params), l2) if l2 else 0.0
    grads = backward(params, acts, y, m=m, l2=l2, label_smoothing=label_smoothing)
    return cross_entropy(acts.logits, y, label_smoothing) + penalty, grads, acts


def leaves(params) -> list:
    """The trainable arrays in flatten order (``tree.leaves``).

    >>> p = init(rng.key(0), (4, 3, 2))
    >>> [a.shape for a in leaves(p)]
    [(4, 3), (3,), (3, 2), (2,)]
    """
    return tree.leaves(params)


def with_leaves(params, new: list, treedef=None):
    """A network like ``params`` holding the arrays ``new`` (in :func:`leaves` order).

    >>> p = init(rng.key(0), (4, 3, 2))
    >>> tree.equal(with_leaves(p, [2 * a for a in leaves(p)]), tree.map(lambda a: 2 * a, p))
    True
    """
    return tree.unflatten(tree.structure(params) if treedef is None else treedef, new)


def update(params, grads, lr: float):
    """Plain gradient descent, the tutorial's W = W − α·dW, b = b − α·db (any network).

    >>> p = init(rng.key(0), (2, 2), scheme="tutorial")
    >>> q = update(p, tree.map(np.ones_like, p), 0.1)
    >>> bool(np.allclose(q.layers[0].w, p.layers[0].w - 0.1))
    True
    """
    return tree.freeze(tree.map(lambda p, g: p - p.dtype.type(lr) * g, params, grads))
