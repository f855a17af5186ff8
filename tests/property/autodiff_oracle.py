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

import numpy as np

__all__ = ["Node", "constant", "matmul", "add", "mul_const", "scale", "relu", "leaky_relu",
           "tanh", "sigmoid", "identity", "log_softmax", "nll_mean", "sum_of_squares",
           "grad", "ACTIVATIONS", "mlp_loss", "mlp_grads"]


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
