"""Softmax, log-softmax and the cross-entropy loss with its gradient.

Rows are examples: ``z`` has shape ``(batch, classes)`` and labels ``y`` are
integer class ids of shape ``(batch,)``. The one-hot matrix ``Y`` of the
tutorial appears only in the equations: the code indexes with ``y`` instead.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax", "naive_softmax", "log_softmax", "cross_entropy",
           "cross_entropy_grad", "one_hot", "l2_penalty"]


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable: A = e^(Z − max Z) / Σ e^(Z − max Z).

    Subtracting the row maximum changes nothing mathematically and keeps
    ``exp`` from overflowing.

    >>> softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    array([[0.5 , 0.5 ],
           [0.25, 0.75]])
    """
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.divide(e, e.sum(axis=1, keepdims=True), out=e)


def naive_softmax(z: np.ndarray) -> np.ndarray:
    """The tutorial's softmax, A = e^Z / Σ e^Z, without the max shift.

    Kept for ``tutorial_quirks``; overflows to NaN for logits above ~88
    (float32) or ~709 (float64).

    >>> with np.errstate(over="ignore", invalid="ignore"):
    ...     naive_softmax(np.array([[1000.0, 0.0]]))
    array([[nan,  0.]])
    """
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax: log A = Z − max Z − log Σ e^(Z − max Z).

    >>> np.round(np.exp(log_softmax(np.array([[0.0, np.log(3.0)]]))), 6)
    array([[0.25, 0.75]])
    """
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def one_hot(y: np.ndarray, classes: int, dtype=np.float32) -> np.ndarray:
    """The one-hot matrix Y: Y[i, y_i] = 1 (rows are examples).

    >>> one_hot(np.array([2, 0]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    out = np.zeros((len(y), classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


def cross_entropy(z: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of logits Z against labels: L = −(1/m) Σ_i log softmax(Z)_i,y_i.

    >>> round(cross_entropy(np.array([[0.0, 0.0]]), np.array([1])), 6)
    0.693147
    """
    logp = log_softmax(z)
    return float(-logp[np.arange(len(y)), y].mean(dtype=np.float64))


def cross_entropy_grad(a: np.ndarray, y: np.ndarray, m: int | None = None) -> np.ndarray:
    """Gradient of the summed cross-entropy / m at the logits: dZ = (A − Y) / m.

    ``a`` are softmax probabilities; ``m`` defaults to the batch size (the
    mean loss). The tutorial's ``dZ2 = A2 - one_hot_Y`` with ``1/m`` moved here.

    >>> cross_entropy_grad(np.array([[0.25, 0.75], [0.5, 0.5]]), np.array([1, 0]))
    array([[ 0.125, -0.125],
           [-0.25 ,  0.25 ]])
    """
    m = len(y) if m is None else m
    dz = a.copy()
    dz[np.arange(len(y)), y] -= 1
    return np.multiply(dz, a.dtype.type(1 / m), out=dz)


def l2_penalty(weights, lam: float) -> float:
    """The L2 penalty (λ/2) Σ_l ‖W_l‖², whose gradient is λ·W_l.

    >>> l2_penalty([np.ones((2, 2))], 0.5)
    1.0
    """
    return float(0.5 * lam * sum(np.vdot(w, w) for w in weights))
