"""Softmax, log-softmax and the cross-entropy loss with its gradient.

Rows are examples: ``z`` has shape ``(batch, classes)`` and labels ``y`` are
integer class ids of shape ``(batch,)``. The one-hot matrix ``Y`` of the
tutorial appears only in the equations: the code indexes with ``y`` instead.
"""

from __future__ import annotations

import numpy as np

from ._kernels import exp_normalize_, output_delta_, row_max, row_sum, softmax_nll_, softmax_shift

__all__ = ["softmax", "naive_softmax", "log_softmax", "cross_entropy",
           "cross_entropy_grad", "one_hot", "l2_penalty", "row_max", "row_sum",
           "softmax_shift"]


def _floating(z) -> np.ndarray:
    """``z`` as an array of floats (integers become float64)."""
    z = np.asarray(z)
    return z if np.issubdtype(z.dtype, np.inexact) else z.astype(np.float64)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable: A = e^(Z − c) / Σ e^(Z − c), c = max Z.

    Subtracting the row maximum changes nothing mathematically and keeps
    ``exp`` from overflowing (c is :func:`softmax_shift`: when all logits
    lie within 40 of each other, their common maximum does the same).

    >>> softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    array([[0.5 , 0.5 ],
           [0.25, 0.75]])
    """
    z = _floating(z)
    return exp_normalize_(np.subtract(z, softmax_shift(z)))[0]


def naive_softmax(z: np.ndarray) -> np.ndarray:
    """The tutorial's softmax, A = e^Z / Σ e^Z, without the max shift.

    Kept for ``tutorial_quirks``; overflows to NaN for logits above ~88
    (float32) or ~709 (float64).

    >>> with np.errstate(over="ignore", invalid="ignore"):
    ...     naive_softmax(np.array([[1000.0, 0.0]]))
    array([[nan,  0.]])
    """
    e = np.exp(_floating(z))
    return np.divide(e, row_sum(e), out=e)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax: log A = Z − max Z − log Σ e^(Z − max Z).

    >>> np.round(np.exp(log_softmax(np.array([[0.0, np.log(3.0)]]))), 6)
    array([[0.25, 0.75]])
    """
    z = _floating(z)
    shifted = z - softmax_shift(z)
    return shifted - np.log(row_sum(np.exp(shifted)))


def one_hot(y: np.ndarray, classes: int, dtype=np.float32) -> np.ndarray:
    """The one-hot matrix Y: Y[i, y_i] = 1 (rows are examples).

    >>> one_hot(np.array([2, 0]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    out = np.zeros((len(y), classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


def _smoothing(label_smoothing) -> float:
    """ε as a float, or a one-line ValueError unless 0 ≤ ε < 1."""
    eps = float(label_smoothing)
    if not 0.0 <= eps < 1.0:  # also refuses NaN
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    return eps


def cross_entropy(z: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0) -> float:
    """Mean cross-entropy of logits Z against labels: L = −(1/m) Σ_i log softmax(Z)_i,y_i.

    With label smoothing ε (Szegedy et al. 2016, "Rethinking the Inception
    Architecture for Computer Vision") each row's target is
    q = (1 − ε)·onehot(y_i) + ε/K over the K classes instead of the one-hot row:
    L = −(1/m) Σ_i Σ_k q_ik log softmax(Z)_ik = (1/m) Σ_i [(1 − ε)·(−log A_i,y_i)
    − (ε/K)·Σ_k log A_ik]. ε = 0 is the plain loss, bit for bit; 0 ≤ ε < 1.

    >>> round(cross_entropy(np.array([[0.0, 0.0]]), np.array([1])), 6)
    0.693147
    >>> z = np.array([[0.0, np.log(3.0)]])   # A = (1/4, 3/4); q = (0.05, 0.95) for ε = 0.1
    >>> round(cross_entropy(z, np.array([1]), label_smoothing=0.1), 6)
    0.342613
    """
    eps = _smoothing(label_smoothing)
    if not len(y):
        return float("nan")
    # Each −log A[i, y_i] ≥ 0; the shifted sum can round a hair below 0 when every A[i, y_i] ≈ 1.
    if eps == 0.0:
        return max(softmax_nll_(np.array(_floating(z), copy=True), y)[1] / len(y), 0.0)
    log_a = log_softmax(z)
    picked = log_a[np.arange(len(y)), y].sum(dtype=np.float64)
    return max(-float((1 - eps) * picked + eps * log_a.mean(axis=1).sum(dtype=np.float64))
               / len(y), 0.0)


def cross_entropy_grad(a: np.ndarray, y: np.ndarray, m: int | None = None,
                       label_smoothing: float = 0.0) -> np.ndarray:
    """Gradient of the summed cross-entropy / m at the logits: dZ = (A − Y) / m.

    ``a`` are softmax probabilities; ``m`` defaults to the batch size (the
    mean loss). The tutorial's ``dZ2 = A2 - one_hot_Y`` with ``1/m`` moved here.
    With label smoothing ε the target Y becomes Q = (1 − ε)·Y + ε/K (K = the
    number of columns), and dZ = (A − Q) / m; ε = 0 is the plain gradient, bit for bit.

    >>> cross_entropy_grad(np.array([[0.25, 0.75], [0.5, 0.5]]), np.array([1, 0]))
    array([[ 0.125, -0.125],
           [-0.25 ,  0.25 ]])
    >>> cross_entropy_grad(np.array([[0.25, 0.75]]), np.array([1]), label_smoothing=0.1)
    array([[ 0.2, -0.2]])
    """
    eps = _smoothing(label_smoothing)
    if eps == 0.0:
        return output_delta_(a.copy(), y, m)
    a = np.asarray(a)
    t = a.dtype.type
    dz = np.subtract(a, t(eps / a.shape[1]))
    dz[np.arange(len(y)), y] -= t(1 - eps)
    m = len(y) if m is None else m
    return np.multiply(dz, t(1 / m), out=dz)


def l2_penalty(weights, lam: float) -> float:
    """The L2 penalty (λ/2) Σ_l ‖W_l‖², whose gradient is λ·W_l.

    >>> l2_penalty([np.ones((2, 2))], 0.5)
    1.0
    """
    return float(0.5 * lam * sum(np.vdot(w, w) for w in weights))
