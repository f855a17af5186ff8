"""Elementwise activation layers: A = g(Z), backward dZ = dA ⊙ g'(Z) written with A.

The functions are those of :mod:`funcnet.activations` (relu, leaky_relu,
tanh, sigmoid, identity); the cache is the output A, from which g'(Z) is
computed (``[A > 0]`` for ReLU, ``1 − A²`` for tanh, ...). Any shape.

>>> layer, out = init(None, relu(), (2, 3))
>>> out
(2, 3)
>>> a, cache, _ = forward(layer, np.array([[-1.0, 2.0]]))
>>> a, backward(layer, cache, np.ones((1, 2)))[0]
(array([[0., 2.]]), array([[0., 1.]]))
"""

from __future__ import annotations

import attrs
import numpy as np

from funcnet import activations
from funcnet.tree import pytree, static_field
from .base import Ctx, Kind, register

__all__ = ["Activation", "ActivationSpec", "activation", "relu", "leaky_relu", "tanh", "sigmoid",
           "init", "forward", "backward"]


@pytree
@attrs.frozen(eq=False)
class Activation:
    """An activation layer: no arrays, the function's name is static."""

    name: str = static_field()


@attrs.frozen
class ActivationSpec:
    """What :func:`activation` builds."""

    name: str = attrs.field(validator=lambda _, __, name: activations.get(name))


def activation(name: str) -> ActivationSpec:
    """An elementwise activation layer A = g(Z), g one of :data:`funcnet.activations.NAMES`.

    >>> activation("tanh")
    ActivationSpec(name='tanh')
    """
    activations.get(name)
    return ActivationSpec(name)


def relu() -> ActivationSpec:
    """A = max(Z, 0)."""
    return activation("relu")


def leaky_relu() -> ActivationSpec:
    """A = Z if Z > 0 else 0.01·Z."""
    return activation("leaky_relu")


def tanh() -> ActivationSpec:
    """A = tanh(Z)."""
    return activation("tanh")


def sigmoid() -> ActivationSpec:
    """A = 1 / (1 + e^−Z)."""
    return activation("sigmoid")


def init(key, spec: ActivationSpec, in_shape: tuple, scheme: str = "he", dtype=np.float32):
    """``(Activation, in_shape)``: the shape is unchanged; no parameters."""
    activations.get(spec.name)
    return Activation(spec.name), in_shape


def forward(layer: Activation, z: np.ndarray, ctx: Ctx = Ctx()):
    """A = g(Z), a new array; the cache is A, no state."""
    if layer.name == "relu":  # against an array of zeros: faster on an AMD EPYC, not on a Xeon
        a = np.maximum(z, np.zeros(z.shape, z.dtype))
    else:
        a = activations.get(layer.name).fn(z)
    return a, a, None


def backward(layer: Activation, a: np.ndarray, da: np.ndarray, need_dx: bool = True):
    """dZ = dA ⊙ g'(Z), with g'(Z) computed from A; no parameter gradients."""
    if layer.name == "relu":  # dZ = dA ⊙ [A > 0] in one product
        return np.multiply(da, a > 0), layer
    return da * activations.get(layer.name).grad(a), layer


register(Kind("activation", ActivationSpec, Activation, init, forward, backward,
              examples=tuple((activation(name), shape) for name in ("tanh", "sigmoid", "leaky_relu", "identity")
                             for shape in ((3,), (2, 2, 2))),
              shapes=lambda spec, in_shape: (in_shape, {})))
