"""A tiny reverse-mode automatic differentiation over NumPy arrays.

Micrograd's idea on arrays: each :class:`Node` holds a value and, for each
parent, the function that carries the gradient of a scalar output back to
that parent (a vector-Jacobian product). :func:`grad` sorts the graph
topologically and accumulates the gradients from the output down.

It shares no code with ``funcnet.model``: the network's loss is written
here again from the primitives below, and its gradient comes from the
chain rule applied node by node, so it is an independent oracle for
``funcnet.model.backward``.

>>> x = Node(np.array([[1.0, 2.0]]))
>>> w = Node(np.array([[3.0], [4.0]]))
>>> g = grad(sum_of_squares(matmul(x, w)), [w])[0]
>>> g.tolist()
[[22.0], [44.0]]
"""

from __future__ import annotations

from typing import Callable, Sequence

import attrs
import numpy as np

__all__ = ["Node", "constant", "matmul", "add", "mul_const", "scale", "relu", "leaky_relu",
           "tanh", "sigmoid", "identity", "log_softmax", "nll_mean", "sum_of_squares",
           "grad", "ACTIVATIONS", "mlp_loss", "mlp_grads", "mul", "reshape", "mean_rows",
           "power", "pad_hw", "window", "maximum", "conv2d", "max_pool", "batch_norm",
           "avg_pool", "global_avg_pool", "LAYERS", "BLOCKS", "network_loss", "network_grads",
           "as_tree", "dropout_masks"]


class Node:
    """A value in the graph and how to send gradients to its parents."""

    __slots__ = ("value", "parents")

    def __init__(self, value, parents: Sequence[tuple["Node", Callable]] = ()):
        self.value = np.asarray(value, dtype=np.float64)
        self.parents = tuple(parents)


def constant(value) -> Node:
    """A leaf that gradients are not asked for (inputs, masks)."""
    return Node(value)


def _unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched to reach ``shape``."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def matmul(a: Node, b: Node) -> Node:
    """C = A·B; dA = dC·Bᵀ, dB = Aᵀ·dC."""
    return Node(a.value @ b.value, [(a, lambda g: g @ b.value.T), (b, lambda g: a.value.T @ g)])


def add(a: Node, b: Node) -> Node:
    """C = A + B with broadcasting; each parent gets dC summed back to its shape."""
    return Node(a.value + b.value, [(a, lambda g: _unbroadcast(g, a.value.shape)),
                                    (b, lambda g: _unbroadcast(g, b.value.shape))])


def mul_const(a: Node, c) -> Node:
    """C = A ⊙ c for a constant array (or scalar) c; dA = dC ⊙ c."""
    c = np.asarray(c, dtype=np.float64)
    return Node(a.value * c, [(a, lambda g: _unbroadcast(g * c, a.value.shape))])


def scale(a: Node, c: float) -> Node:
    """C = c·A for a scalar c."""
    return mul_const(a, float(c))


def relu(a: Node) -> Node:
    """max(A, 0); dA = dC ⊙ [A > 0]."""
    on = a.value > 0
    return Node(np.where(on, a.value, 0.0), [(a, lambda g: g * on)])


def leaky_relu(a: Node, slope: float = 0.01) -> Node:
    """A if A > 0 else s·A; dA = dC ⊙ (1 or s)."""
    d = np.where(a.value > 0, 1.0, slope)
    return Node(a.value * d, [(a, lambda g: g * d)])


def tanh(a: Node) -> Node:
    """tanh(A); dA = dC ⊙ (1 − tanh²)."""
    t = np.tanh(a.value)
    return Node(t, [(a, lambda g: g * (1.0 - t * t))])


def sigmoid(a: Node) -> Node:
    """1/(1 + e^−A), from tanh to stay finite; dA = dC ⊙ s(1 − s)."""
    s = 0.5 * (1.0 + np.tanh(0.5 * a.value))
    return Node(s, [(a, lambda g: g * s * (1.0 - s))])


def identity(a: Node) -> Node:
    """A itself."""
    return a


def log_softmax(a: Node) -> Node:
    """Row-wise log-softmax; dA = dC − softmax ⊙ Σ_row dC."""
    shifted = a.value - a.value.max(axis=1, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p = np.exp(out)
    return Node(out, [(a, lambda g: g - p * g.sum(axis=1, keepdims=True))])


def nll_mean(logp: Node, y: np.ndarray) -> Node:
    """−(1/m) Σ_i logp[i, y_i]; dlogp = −(1/m)·onehot(y)."""
    m = len(y)
    rows = np.arange(m)

    def back(g):
        out = np.zeros_like(logp.value)
        out[rows, y] = -g / m
        return out
    return Node(-logp.value[rows, y].sum() / m, [(logp, back)])


def sum_of_squares(a: Node) -> Node:
    """Σ A²; dA = 2·A·dC."""
    return Node(np.sum(a.value * a.value), [(a, lambda g: 2.0 * a.value * g)])


def _topological(out: Node) -> list:
    order, seen, stack = [], set(), [(out, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p, _ in node.parents if id(p) not in seen)
    return order  # parents before children


def grad(out: Node, wrt: Sequence[Node]) -> list:
    """d out / d w for each node ``w`` in ``wrt`` (``out`` a scalar)."""
    grads = {id(out): np.ones_like(out.value)}
    for node in reversed(_topological(out)):
        g = grads.get(id(node))
        if g is None:
            continue
        for parent, vjp in node.parents:
            contribution = vjp(g)
            grads[id(parent)] = grads[id(parent)] + contribution if id(parent) in grads \
                else contribution
    return [grads.get(id(w), np.zeros_like(w.value)) for w in wrt]


ACTIVATIONS = {"relu": relu, "leaky_relu": leaky_relu, "tanh": tanh, "sigmoid": sigmoid,
               "identity": identity}


def mlp_loss(weights, biases, x, y, activation: str, l2: float = 0.0, masks=()):
    """The loss node of an MLP: hidden g(A·W + b) (⊙ dropout mask), softmax cross-entropy
    on top, plus (λ/2) Σ ‖W‖². Returns ``(loss, weight_nodes, bias_nodes)``."""
    g = ACTIVATIONS[activation]
    ws = [Node(w) for w in weights]
    bs = [Node(b) for b in biases]
    a = constant(x)
    for i, (w, b) in enumerate(zip(ws[:-1], bs[:-1])):
        a = g(add(matmul(a, w), b))
        if masks:
            a = mul_const(a, masks[i])
    z = add(matmul(a, ws[-1]), bs[-1])
    loss = nll_mean(log_softmax(z), np.asarray(y))
    if l2:
        loss = add(loss, scale(_sum(sum_of_squares(w) for w in ws), 0.5 * l2))
    return loss, ws, bs


def _sum(nodes):
    nodes = list(nodes)
    total = nodes[0]
    for n in nodes[1:]:
        total = add(total, n)
    return total


def mlp_grads(weights, biases, x, y, activation: str, l2: float = 0.0, masks=()):
    """``(loss value, [dW_l], [db_l])`` of :func:`mlp_loss` by reverse-mode autodiff."""
    loss, ws, bs = mlp_loss(weights, biases, x, y, activation, l2, masks)
    gs = grad(loss, ws + bs)
    return float(loss.value), gs[:len(ws)], gs[len(ws):]


# ------------------------------------------------------------------ layers of any kind


def mul(a: Node, b: Node) -> Node:
    """C = A ⊙ B with broadcasting; dA = dC ⊙ B, dB = dC ⊙ A (summed back to each shape)."""
    return Node(a.value * b.value, [(a, lambda g: _unbroadcast(g * b.value, a.value.shape)),
                                    (b, lambda g: _unbroadcast(g * a.value, b.value.shape))])


def reshape(a: Node, shape: tuple) -> Node:
    """A with a new shape; dA = dC reshaped back."""
    return Node(a.value.reshape(shape), [(a, lambda g: g.reshape(a.value.shape))])


def mean_rows(a: Node) -> Node:
    """The mean over every axis but the last, shape ``(c,)``; dA = dC / N everywhere."""
    axes = tuple(range(a.value.ndim - 1))
    n = a.value.size // a.value.shape[-1]
    return Node(a.value.mean(axis=axes), [(a, lambda g: np.broadcast_to(g / n, a.value.shape))])


def power(a: Node, e: float) -> Node:
    """A^e elementwise; dA = dC ⊙ e·A^(e−1)."""
    return Node(a.value ** e, [(a, lambda g: g * e * a.value ** (e - 1))])


def pad_hw(a: Node, pads: tuple) -> Node:
    """Zero padding of an NHWC batch, ``pads = ((top, bottom), (left, right))``; dA = the crop."""
    (t, b), (l, r) = pads
    h, w = a.value.shape[1:3]
    out = np.pad(a.value, ((0, 0), (t, b), (l, r), (0, 0)))
    return Node(out, [(a, lambda g: g[:, t:t + h, l:l + w, :])])


def window(a: Node, p: int, q: int, stride: int, oh: int, ow: int) -> Node:
    """The strided slice A[:, p + s·i, q + s·j, :] (i < oh, j < ow); dA scatters dC back."""
    sl = (slice(None), slice(p, p + stride * (oh - 1) + 1, stride),
          slice(q, q + stride * (ow - 1) + 1, stride), slice(None))

    def back(g):
        out = np.zeros_like(a.value)
        out[sl] = g
        return out
    return Node(a.value[sl], [(a, back)])


def take(a: Node, index) -> Node:
    """A[index] for a basic index; dA scatters dC back."""
    def back(g):
        out = np.zeros_like(a.value)
        out[index] = g
        return out
    return Node(a.value[index], [(a, back)])


def maximum(a: Node, b: Node) -> Node:
    """max(A, B) elementwise; the gradient goes to A where A ≥ B, else to B."""
    first = a.value >= b.value
    return Node(np.where(first, a.value, b.value), [(a, lambda g: g * first),
                                                     (b, lambda g: g * ~first)])


def _same_pads(size: int, k: int, s: int) -> tuple:
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv2d(x: Node, w: Node, b: Node, stride: int, padding: str) -> Node:
    """Y = Σ_{p,q} window_{p,q}(X)·W[p, q] + b, each window product a matmul over channels."""
    kh, kw, c_in, c_out = w.value.shape
    n, h, wd, _ = x.value.shape
    if padding == "same":
        x = pad_hw(x, (_same_pads(h, kh, stride), _same_pads(wd, kw, stride)))
    hp, wp = x.value.shape[1:3]
    oh, ow = (hp - kh) // stride + 1, (wp - kw) // stride + 1
    terms = [matmul(reshape(window(x, p, q, stride, oh, ow), (n * oh * ow, c_in)),
                    take(w, (p, q)))
             for p in range(kh) for q in range(kw)]
    return add(reshape(_sum(terms), (n, oh, ow, c_out)), b)


def max_pool(x: Node, size: int, stride: int) -> Node:
    """The elementwise maximum of the size² strided windows."""
    h, wd = x.value.shape[1:3]
    oh, ow = (h - size) // stride + 1, (wd - size) // stride + 1
    parts = [window(x, p, q, stride, oh, ow) for p in range(size) for q in range(size)]
    out = parts[0]
    for part in parts[1:]:
        out = maximum(out, part)
    return out


def batch_norm(x: Node, gamma: Node, beta: Node, eps: float) -> Node:
    """Training-mode batch norm from primitives: x̂ = (x − μ)·(σ² + ε)^(−1/2), y = γ ⊙ x̂ + β."""
    d = add(x, scale(mean_rows(x), -1.0))
    var = mean_rows(mul(d, d))
    inv = power(add(var, constant(np.array(eps))), -0.5)
    return add(mul(mul(d, inv), gamma), beta)


def avg_pool(x: Node, size: int, stride: int) -> Node:
    """The mean of the size² strided windows."""
    h, wd = x.value.shape[1:3]
    oh, ow = (h - size) // stride + 1, (wd - size) // stride + 1
    parts = [window(x, p, q, stride, oh, ow) for p in range(size) for q in range(size)]
    return scale(_sum(parts), 1.0 / (size * size))


def global_avg_pool(x: Node) -> Node:
    """The mean over height and width: (n, h, w, c) -> (n, c), as a sum of every pixel's slice."""
    n, h, wd, c = x.value.shape
    parts = [reshape(take(x, (slice(None), i, j, slice(None))), (n, c))
             for i in range(h) for j in range(wd)]
    return scale(_sum(parts), 1.0 / (h * wd))


def _arrays(layer) -> dict:
    return {name: v for name, v in attrs.asdict(layer, recurse=False).items()
            if isinstance(v, np.ndarray)}


# One formula per layer kind, from the primitives above: (layer, input node, its parameter
# nodes) -> output node. Blocks (serial, residual) are folds over their layers, below.
LAYERS = {
    "dense": lambda layer, a, n: add(matmul(a, n["w"]), n["b"]),
    "conv2d": lambda layer, a, n: conv2d(a, n["w"], n["b"], layer.stride, layer.padding),
    "max_pool": lambda layer, a, n: max_pool(a, layer.size, layer.stride),
    "avg_pool": lambda layer, a, n: avg_pool(a, layer.size, layer.stride),
    "global_avg_pool": lambda layer, a, n: global_avg_pool(a),
    "flatten": lambda layer, a, n: reshape(a, (len(a.value), -1)),
    "activation": lambda layer, a, n: ACTIVATIONS[layer.name](a),
    "batch_norm": lambda layer, a, n: batch_norm(a, n["gamma"], n["beta"], layer.eps),
}
BLOCKS = ("serial", "residual", "dropout")


def _fold(layers_, a: Node, prefix: tuple, masks: dict, params: dict) -> Node:
    """The layers applied in order; each layer's parameters become nodes in ``params`` under
    ``(path, name)``; a dropout at ``path`` multiplies by ``masks[path]`` (none: identity)."""
    from funcnet import layers

    for i, layer in enumerate(layers_):
        path = (*prefix, i)
        kind = layers.kind_of(layer)
        nodes = {name: Node(v) for name, v in _arrays(layer).items()}
        params.update({(path, k): v for k, v in nodes.items()})
        if kind == "serial":
            a = _fold(layer.layers, a, path, masks, params)
        elif kind == "residual":
            a = add(a, _fold(layer.layers, a, path, masks, params))
        elif kind == "dropout":
            a = mul_const(a, masks[path]) if path in masks else a
        elif kind in LAYERS:
            a = LAYERS[kind](layer, a, nodes)
        else:
            raise ValueError(f"no oracle for {kind}")
    return a


def network_loss(net, x, y, masks: dict, l2: float = 0.0):
    """The loss node of a funcnet ``Network`` in training mode (dropout masks given by layer
    path, ``(3, 1)`` for layer 1 of block 3), written again from the primitives above;
    returns ``(loss, {(path, name): node})``."""
    params: dict = {}
    a = _fold(net.layers, constant(x), (), masks, params)
    loss = nll_mean(log_softmax(a), np.asarray(y))
    if l2:
        loss = add(loss, scale(_sum(sum_of_squares(v) for (p, k), v in params.items() if k == "w"),
                               0.5 * l2))
    return loss, params


def network_grads(net, x, y, masks: dict, l2: float = 0.0):
    """``(loss value, {(path, name): gradient})`` of :func:`network_loss` by reverse-mode autodiff."""
    loss, params = network_loss(net, x, y, masks, l2)
    keys = list(params)
    return float(loss.value), dict(zip(keys, grad(loss, [params[k] for k in keys])))


def as_tree(net, grads: dict):
    """The oracle's ``{(path, name): gradient}`` as a tree shaped like ``net``."""
    from funcnet import layers

    def rebuild(layers_, prefix):
        out = []
        for i, layer in enumerate(layers_):
            path = (*prefix, i)
            if layers.base.children(layer):
                layer = attrs.evolve(layer, layers=rebuild(layer.layers, path))
            out.append(attrs.evolve(layer, **{k: grads[(path, k)] for k in _arrays(layer)}))
        return tuple(out)

    return attrs.evolve(net, layers=rebuild(net.layers, ()))


def dropout_masks(net, caches) -> dict:
    """``{path: mask}`` of every dropout layer of a training-mode trace, nested ones included."""
    from funcnet import layers

    def walk(layers_, caches_, prefix):
        for i, (layer, cache) in enumerate(zip(layers_, caches_)):
            path = (*prefix, i)
            kind = layers.kind_of(layer)
            if kind == "dropout" and cache is not None:
                yield path, cache
            elif kind in ("serial", "residual"):
                yield from walk(layer.layers, cache, path)

    return dict(walk(net.layers, caches, ()))
