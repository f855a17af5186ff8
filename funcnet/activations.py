"""Activation functions g and their derivatives, written in terms of the output.

Each hidden layer computes ``A = g(Z)``. Backpropagation needs ``g'(Z)``; for
every function here it is a function of ``A`` alone, so the forward pass keeps
only ``A`` (half the memory) and the backward pass computes
``dZ = dA ⊙ g'(Z)`` from it:

======== ============================ ==================================
name      A = g(Z)                     g'(Z) written with A
======== ============================ ==================================
relu      max(Z, 0)                    [A > 0]
leaky     Z if Z > 0 else s·Z          1 if A > 0 else s
tanh      tanh(Z)                      1 − A²
sigmoid   1 / (1 + e^−Z)               A·(1 − A)
identity  Z                            1
======== ============================ ==================================

The functions return new arrays. The in-place variants that the MLP's fused
training pass uses on arrays it created itself live in the private
``funcnet._kernels``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

__all__ = ["relu", "relu_grad", "leaky_relu", "leaky_relu_grad", "tanh", "tanh_grad",
           "sigmoid", "sigmoid_grad", "identity", "identity_grad", "Activation",
           "get", "NAMES"]

LEAKY_SLOPE = 0.01


def relu(z: np.ndarray) -> np.ndarray:
    """ReLU(Z) = max(Z, 0).

    >>> relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    return np.maximum(z, 0)


def relu_grad(a: np.ndarray) -> np.ndarray:
    """ReLU'(Z) = [Z > 0] = [A > 0] (the tutorial's ``ReLU_deriv``).

    >>> relu_grad(np.array([0.0, 3.0]))
    array([0., 1.])
    """
    return (a > 0).astype(a.dtype)


def leaky_relu(z: np.ndarray, slope: float = LEAKY_SLOPE) -> np.ndarray:
    """LeakyReLU(Z) = Z if Z > 0 else s·Z, s = 0.01.

    >>> leaky_relu(np.array([-100.0, 2.0]))
    array([-1.,  2.])
    """
    return np.where(z > 0, z, z * z.dtype.type(slope))


def leaky_relu_grad(a: np.ndarray, slope: float = LEAKY_SLOPE) -> np.ndarray:
    """LeakyReLU'(Z) = 1 if A > 0 else s.

    >>> leaky_relu_grad(np.array([-1.0, 2.0]))
    array([0.01, 1.  ])
    """
    return np.where(a > 0, a.dtype.type(1), a.dtype.type(slope))


def tanh(z: np.ndarray) -> np.ndarray:
    """tanh(Z) = (e^Z − e^−Z) / (e^Z + e^−Z).

    >>> tanh(np.array([0.0]))
    array([0.])
    """
    return np.tanh(z)


def tanh_grad(a: np.ndarray) -> np.ndarray:
    """tanh'(Z) = 1 − tanh(Z)² = 1 − A².

    >>> tanh_grad(np.array([0.0, 0.5]))
    array([1.  , 0.75])
    """
    return 1 - a * a


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(Z) = 1 / (1 + e^−Z), computed without overflow for large |Z|.

    >>> sigmoid(np.array([0.0, -1000.0, 1000.0]))
    array([0.5, 0. , 1. ])
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_grad(a: np.ndarray) -> np.ndarray:
    """σ'(Z) = σ(Z)·(1 − σ(Z)) = A·(1 − A).

    >>> sigmoid_grad(np.array([0.5]))
    array([0.25])
    """
    return a * (1 - a)


def identity(z: np.ndarray) -> np.ndarray:
    """g(Z) = Z.

    >>> identity(np.array([-2.0]))
    array([-2.])
    """
    return z


def identity_grad(a: np.ndarray) -> np.ndarray:
    """g'(Z) = 1.

    >>> identity_grad(np.array([-2.0]))
    array([1.])
    """
    return np.ones_like(a)


class Activation(NamedTuple):
    """An activation by name: ``fn(Z) -> A`` and ``grad(A) -> g'(Z)``, both allocating."""

    name: str
    fn: Callable
    grad: Callable


_TABLE = {
    "relu": Activation("relu", relu, relu_grad),
    "leaky_relu": Activation("leaky_relu", leaky_relu, leaky_relu_grad),
    "tanh": Activation("tanh", tanh, tanh_grad),
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_grad),
    "identity": Activation("identity", identity, identity_grad),
}
NAMES = tuple(_TABLE)


def get(name: str) -> Activation:
    """The activation called ``name`` (one of ``NAMES``).

    >>> get("tanh").fn(np.array([0.0]))
    array([0.])
    >>> get("swish")
    Traceback (most recent call last):
    ...
    ValueError: unknown activation 'swish': expected one of relu, leaky_relu, tanh, sigmoid, identity
    """
    try:
        return _TABLE[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}: expected one of {', '.join(NAMES)}") from None
