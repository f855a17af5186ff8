"""Networks: init, forward, backward, loss, predict and update for any network.

A network is either the tutorial's MLP (:class:`Params`, a tuple of
:class:`Dense` layers and one hidden activation, with fused training
passes in :mod:`funcnet.mlp`) or any sequence of layers
(:class:`funcnet.layers.Network`, built from specs such as
``dense(10)``, ``conv2d(32, 3)``, ``relu()``, ``batch_norm()``). Every
function here takes either; :func:`as_network` views an MLP as the layer
sequence ``dense, g, dense, …``.

:func:`logits` is the one inference path: every prediction (``predict``,
``predict_proba``, ``loss``, the evaluation, the plots, the command line)
goes through it, in chunks of :data:`CHUNK_ROWS` rows (fewer for wide layers: :func:`chunk_rows`).

>>> import numpy as np
>>> from funcnet import rng
>>> from funcnet.layers import dense, relu
>>> mlp = init(rng.key(0), (784, 10, 10), scheme="tutorial")
>>> net = init(rng.key(0), (dense(10), relu(), dense(10)), input_shape=(784,))
>>> predict(mlp, np.zeros((3, 784), np.uint8)).shape, predict(net, np.zeros((3, 784))).shape
((3,), (3,))
"""

from __future__ import annotations

import math
import operator

import attrs
import numpy as np

from . import layers as _layers
from . import mlp, tree
from ._kernels import default_threads, ordered_sum
from .errors import ConfigError
from .layers import serial
from .layers.dense import SCHEMES, Dense
from .layers.serial import Network
from .losses import cross_entropy, cross_entropy_grad, l2_penalty, naive_softmax, softmax
from .mlp import CHUNK_ROWS, QUIRKS, Activations, Params, train_grads

__all__ = ["Dense", "Params", "Network", "Activations", "Trace", "SCHEMES", "CHUNK_ROWS",
           "QUIRKS", "CHUNK_FLOATS", "chunk_rows", "init", "init_model_state", "stochastic",
           "leaves", "with_leaves", "forward", "backward", "logits", "loss",
           "loss_and_grads", "train_grads", "value_and_grads", "predict", "predict_proba",
           "update", "intermediates", "summary", "as_network", "architecture",
           "from_architecture", "input_shape", "num_outputs", "dtype_of", "weights", "describe"]


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


def dtype_of(params) -> np.dtype:
    """The network's float dtype (that of its first weights)."""
    return params.layers[0].w.dtype if isinstance(params, Params) else params.dtype


def _scaled(x: np.ndarray, dtype) -> np.ndarray:
    """Rows as floats of ``dtype``: integer pixels X / 255 (as ``data.scale``), floats cast."""
    if np.issubdtype(x.dtype, np.integer):
        out = x.astype(dtype)
        return np.multiply(out, out.dtype.type(1 / 255), out=out)
    return x if x.dtype == dtype else x.astype(dtype)


def num_outputs(params) -> int:
    """The number of classes (the last layer's width)."""
    return params.sizes[-1] if isinstance(params, Params) else math.prod(params.shapes[-1])


def input_shape(params) -> tuple:
    """One example's shape: ``(784,)`` for the tutorial's MLP, ``(28, 28, 1)`` for a CNN."""
    return (params.sizes[0],) if isinstance(params, Params) else params.input_shape


# The largest layer output one inference chunk may hold: 4M floats, 16 MB in float32.
CHUNK_FLOATS = 1 << 22


def chunk_rows(params) -> int:
    """Rows per inference chunk: :data:`CHUNK_ROWS`, fewer when one example's largest layer
    output is big, so that no chunk's layer output passes :data:`CHUNK_FLOATS` values.

    A CNN's feature maps are large (26·26·32 values per digit after its first
    convolution, and its im2col matrices more): 4,096 digits at once would
    take GBs and a page fault for every fresh page.

    >>> from funcnet import rng
    >>> from funcnet.layers import conv2d, dense, flatten
    >>> chunk_rows(init(rng.key(0), (784, 10, 10)))
    4096
    >>> chunk_rows(init(rng.key(0), (conv2d(32, 3), flatten(), dense(10)), input_shape=(28, 28, 1)))
    193
    """
    if isinstance(params, Params):
        return CHUNK_ROWS
    widest = max(math.prod(s) for s in (params.input_shape, *params.shapes))
    return int(min(CHUNK_ROWS, max(1, CHUNK_FLOATS // widest)))


def logits(params, x: np.ndarray, chunk: int | None = None, *, model_state=None) -> np.ndarray:
    """Z_L for every row of ``x`` at evaluation, ``chunk`` rows at a time: THE inference path.

    ``chunk`` defaults to :func:`chunk_rows`. An MLP's chunks are shared by one
    worker thread per core with single-threaded BLAS and put back in order
    (each row's logits do not depend on the others).

    ``x`` is ``(n, *input_shape)`` or ``(n, prod(input_shape))``; integer
    pixels are scaled to [0, 1] chunk by chunk (no float copy of the whole
    set). No dropout; batch norm uses the running statistics ``model_state``.

    >>> from funcnet import rng
    >>> logits(init(rng.key(0), (3, 2)), np.zeros((4, 3))).shape
    (4, 2)
    """
    dtype = dtype_of(params)
    if isinstance(params, Params):
        one = lambda xc: mlp.logits_rows(params, _scaled(xc, dtype))
    else:
        one = lambda xc: serial.forward(params, _scaled(xc, dtype), model_state=model_state)[0]
    chunk = chunk_rows(params) if chunk is None else chunk
    starts = range(0, len(x), chunk)
    if isinstance(params, Params) and len(starts) > 0:  # rows apart: one thread per core
        # Even a single chunk runs with single-threaded BLAS: a multithreaded BLAS call
        # leaves OpenBLAS's threads spinning for work for about 0.1 s after it, and a
        # chunked pass started meanwhile (the tutorial's next iterations, after its dev
        # accuracy) ran at half speed on one of its two cores.
        parts = ordered_sum(lambda i: [one(x[i:i + chunk])], starts, operator.add,
                            default_threads())
    else:
        parts = [one(x[i:i + chunk]) for i in starts]
    return np.concatenate(parts) if parts else np.zeros((0, num_outputs(params)), dtype)


def predict_proba(params, x: np.ndarray, *, model_state=None) -> np.ndarray:
    """Class probabilities softmax(Z_L), shape ``(batch, classes)``.

    >>> from funcnet import rng
    >>> predict_proba(init(rng.key(0), (3, 2)), np.zeros((1, 3))).sum().round(6)
    np.float32(1.0)
    """
    return softmax(logits(params, x, model_state=model_state))


def predict(params, x: np.ndarray, *, model_state=None) -> np.ndarray:
    """Predicted labels argmax_k Z_L[:, k] (the tutorial's ``get_predictions``).

    >>> from funcnet import rng
    >>> predict(init(rng.key(0), (3, 2)), np.zeros((4, 3))).shape
    (4,)
    """
    return logits(params, x, model_state=model_state).argmax(axis=1)


def loss(params, x: np.ndarray, y: np.ndarray, l2: float = 0.0, *, model_state=None) -> float:
    """Mean cross-entropy L = −(1/m) Σ log A_L[i, y_i] (+ (λ/2) Σ_l ‖W_l‖²), at evaluation.

    >>> from funcnet import rng
    >>> p = init(rng.key(0), (784, 10, 10), scheme="tutorial")
    >>> 0 < loss(p, np.zeros((3, 784)), np.array([1, 2, 3]))
    True
    """
    penalty = l2_penalty(weights(params), l2) if l2 else 0.0
    return cross_entropy(logits(params, x, model_state=model_state), y) + penalty


def update(params, grads, lr: float):
    """Plain gradient descent, the tutorial's W = W − α·dW, b = b − α·db (any network).

    >>> from funcnet import rng
    >>> p = init(rng.key(0), (2, 2), scheme="tutorial")
    >>> q = update(p, tree.map(np.ones_like, p), 0.1)
    >>> bool(np.allclose(q.layers[0].w, p.layers[0].w - 0.1))
    True
    """
    return tree.map(lambda p, g: p - p.dtype.type(lr) * g, params, grads)


def as_network(params) -> Network:
    """An MLP as the layer sequence ``dense, g, dense, …, dense`` (sharing its arrays).

    >>> from funcnet import rng
    >>> net = as_network(init(rng.key(0), (4, 3, 2)))
    >>> [type(l).__name__ for l in net.layers], net.shapes
    (['Dense', 'Activation', 'Dense'], ((3,), (3,), (2,)))
    """
    if isinstance(params, Network):
        return params
    g = _layers.activation(params.activation)
    specs = tuple(s for n in params.sizes[1:-1] for s in (_layers.dense(n), g))
    specs += (_layers.dense(params.sizes[-1]),)
    act = _layers.Activation(params.activation)
    layers = tuple(x for l in params.layers[:-1] for x in (l, act)) + (params.layers[-1],)
    shapes = tuple((n,) for n in params.sizes[1:-1] for _ in range(2)) + ((params.sizes[-1],),)
    return Network(layers, (params.sizes[0],), shapes, specs)


def intermediates(params, x: np.ndarray, model_state=None) -> list:
    """Every layer's output at evaluation, ``[x_1, …, x_L]`` (Z1, A1, Z2 for the tutorial's MLP).

    For pictures of a few examples (the first hidden layer's activations,
    the first convolution's feature maps): not chunked.

    >>> from funcnet import rng
    >>> [a.shape for a in intermediates(init(rng.key(0), (4, 3, 2)), np.ones((5, 4)))]
    [(5, 3), (5, 3), (5, 2)]
    """
    net = as_network(params)
    return serial.intermediates(net, _scaled(np.asarray(x), net.dtype), model_state)


def summary(params):
    """One row per layer, as Keras' ``model.summary()``: layer, kind, output shape, params.

    >>> from funcnet import rng
    >>> summary(init(rng.key(0), (784, 10, 10)))
         kind output_shape  params
    0   dense        (10,)    7850
    1    relu        (10,)       0
    2   dense        (10,)     110
    """
    import pandas as pd

    net = as_network(params)

    def kind(layer) -> str:
        name = _layers.kind_of(layer)
        return layer.name if name == "activation" else name

    return pd.DataFrame({"kind": [kind(l) for l in net.layers],
                         "output_shape": [str(s) for s in net.shapes],
                         "params": [tree.size(l) for l in net.layers]})


def describe(params) -> str:
    """A one-line name: ``784-10-10 relu`` for an MLP, the kinds in order for a network."""
    if isinstance(params, Params):
        return f"{'-'.join(map(str, params.sizes))} {params.activation}"
    return " ".join(summary(params)["kind"]) + f" on {params.input_shape}"


def architecture(params) -> dict:
    """The architecture as JSON, enough to rebuild the network from a checkpoint.

    >>> from funcnet import rng
    >>> architecture(init(rng.key(0), (4, 3, 2), activation="tanh"))
    {'kind': 'mlp', 'sizes': [4, 3, 2], 'activation': 'tanh'}
    """
    if isinstance(params, Params):
        return {"kind": "mlp", "sizes": list(params.sizes), "activation": params.activation}
    return serial.to_json(params)


def from_architecture(arch: dict, dtype=np.float32):
    """A template network (fresh weights) of the architecture :func:`architecture` wrote.

    >>> from funcnet import rng
    >>> p = from_architecture({"kind": "mlp", "sizes": [4, 3, 2], "activation": "relu"})
    >>> p.sizes
    (4, 3, 2)
    """
    from . import rng

    if arch.get("kind") == "mlp":
        return mlp.init(rng.key(0), tuple(arch["sizes"]), "he", arch.get("activation", "relu"), dtype)
    if arch.get("kind") == "serial":
        return serial.from_json(arch, dtype)
    raise ValueError(f"unknown architecture kind {arch.get('kind')!r}: expected 'mlp' or 'serial'")
