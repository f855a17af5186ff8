"""Softmax, log-softmax and the cross-entropy loss with its gradient.

Rows are examples: ``z`` has shape ``(batch, classes)`` and labels ``y`` are
integer class ids of shape ``(batch,)``. The one-hot matrix ``Y`` of the
tutorial appears only in the equations: the code indexes with ``y`` instead.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax", "naive_softmax", "log_softmax", "cross_entropy",
           "cross_entropy_grad", "one_hot", "l2_penalty", "row_max", "row_sum",
           "softmax_shift", "softmax_nll_", "output_delta_"]


def row_max(z: np.ndarray) -> np.ndarray:
    """The largest entry of each row, as a column: m_i = max_k Z[i, k], shape ``(batch, 1)``.

    NumPy reduces short rows slowly (about 40 ns a row for ten classes), so
    for many rows of a few columns this takes the elementwise maximum of the
    columns instead.

    >>> row_max(np.array([[1.0, 3.0, 2.0], [-1.0, -5.0, -2.0]]))
    array([[ 3.],
           [-1.]])
    >>> z = np.arange(3000.0).reshape(300, 10) % 7
    >>> bool((row_max(z) == z.max(axis=1, keepdims=True)).all())
    True
    """
    if z.shape[1] > 16 or z.shape[1] == 0 or z.shape[0] < 256:
        return z.max(axis=1, keepdims=True)
    m = z[:, :1].copy()
    for j in range(1, z.shape[1]):
        np.maximum(m, z[:, j:j + 1], out=m)
    return m


def row_sum(z: np.ndarray) -> np.ndarray:
    """The sum of each row, as a column: s_i = Σ_k Z[i, k], shape ``(batch, 1)``.

    Computed as the matrix-vector product Z·1 (BLAS), much faster than
    NumPy's reduction over short rows.

    >>> row_sum(np.array([[1.0, 3.0], [0.5, 0.25]]))
    array([[4.  ],
           [0.75]])
    """
    return (z @ np.ones(z.shape[1], z.dtype))[:, None]


def softmax_shift(z: np.ndarray):
    """The shift c subtracted from Z before exp: the row maxima max_k Z[i, k]
    (a column), or the one maximum of all of Z when every entry lies within
    40 of it — then e^(Z − c) ∈ [e^−40, 1] neither overflows nor underflows,
    and one scalar is much cheaper than a maximum per row.

    >>> softmax_shift(np.array([[1.0, 3.0], [0.0, 2.0]]))
    np.float64(3.0)
    >>> softmax_shift(np.array([[1000.0, 0.0], [0.0, 2.0]]))
    array([[1000.],
           [   2.]])
    """
    top, bottom = z.max(initial=-np.inf), z.min(initial=np.inf)
    if top - bottom < 40:  # False for NaN and ±inf: those take the rows' maxima
        return top
    return row_max(z)


def _floating(z) -> np.ndarray:
    """``z`` as an array of floats (integers become float64)."""
    z = np.asarray(z)
    return z if np.issubdtype(z.dtype, np.inexact) else z.astype(np.float64)


def _exp_normalize_(e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In place: E ← e^E / Σ_k e^E, row-wise; returns (E, the row sums Σ_k e^E)."""
    np.exp(e, out=e)
    s = row_sum(e)
    return np.divide(e, s, out=e), s


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
    return _exp_normalize_(np.subtract(z, softmax_shift(z)))[0]


def softmax_nll_(z: np.ndarray, y: np.ndarray, naive: bool = False
                 ) -> tuple[np.ndarray, float]:
    """Softmax and the summed cross-entropy at once, overwriting ``z``: (A, Σ_i −log A[i, y_i]).

    With the shift c of :func:`softmax`: −log A[i, y_i] = log Σ_k e^(Z_ik − c)
    − (Z_iy − c), taken from the logits, so it stays finite where A[i, y_i]
    underflows to 0. ``A`` is bit for bit :func:`softmax` (``naive``:
    :func:`naive_softmax`, and −log A[i, y_i] taken from A as the tutorial
    does). For callers that created ``z`` themselves (the training pass).

    >>> a, nll = softmax_nll_(np.array([[0.0, np.log(3.0)]]), np.array([1]))
    >>> a, round(nll, 6)
    (array([[0.25, 0.75]]), 0.287682)
    """
    rows = np.arange(len(y))
    if naive:
        a = _exp_normalize_(z)[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            return a, float(-np.log(a[rows, y]).sum(dtype=np.float64))
    shifted = np.subtract(z, softmax_shift(z), out=z)
    picked = shifted[rows, y]
    a, s = _exp_normalize_(shifted)
    return a, float(np.subtract(np.log(s[:, 0]), picked).sum(dtype=np.float64))


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


def cross_entropy(z: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of logits Z against labels: L = −(1/m) Σ_i log softmax(Z)_i,y_i.

    >>> round(cross_entropy(np.array([[0.0, 0.0]]), np.array([1])), 6)
    0.693147
    """
    if not len(y):
        return float("nan")
    return softmax_nll_(np.array(_floating(z), copy=True), y)[1] / len(y)


def cross_entropy_grad(a: np.ndarray, y: np.ndarray, m: int | None = None) -> np.ndarray:
    """Gradient of the summed cross-entropy / m at the logits: dZ = (A − Y) / m.

    ``a`` are softmax probabilities; ``m`` defaults to the batch size (the
    mean loss). The tutorial's ``dZ2 = A2 - one_hot_Y`` with ``1/m`` moved here.

    >>> cross_entropy_grad(np.array([[0.25, 0.75], [0.5, 0.5]]), np.array([1, 0]))
    array([[ 0.125, -0.125],
           [-0.25 ,  0.25 ]])
    """
    return output_delta_(a.copy(), y, m)


def output_delta_(a: np.ndarray, y: np.ndarray, m: int | None = None) -> np.ndarray:
    """:func:`cross_entropy_grad` overwriting ``a`` (for callers that created it).

    >>> output_delta_(np.array([[0.25, 0.75]]), np.array([0]), m=2)
    array([[-0.375,  0.375]])
    """
    m = len(y) if m is None else m
    a[np.arange(len(y)), y] -= 1
    return np.multiply(a, a.dtype.type(1 / m), out=a)


def l2_penalty(weights, lam: float) -> float:
    """The L2 penalty (λ/2) Σ_l ‖W_l‖², whose gradient is λ·W_l.

    >>> l2_penalty([np.ones((2, 2))], 0.5)
    1.0
    """
    return float(0.5 * lam * sum(np.vdot(w, w) for w in weights))
