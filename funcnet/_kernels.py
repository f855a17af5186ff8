"""Private in-place and BLAS helpers for the fast paths (never exported).

Functions whose name ends in ``_`` overwrite an array they are given; they
exist only for callers that created that array themselves (the MLP's fused
training pass, :func:`funcnet.losses.cross_entropy` on its own copy). No
public function hands them an array a caller holds.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import threading
from typing import Callable, Iterable, NamedTuple

import numpy as np
import toolz

from . import activations


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


def exp_normalize_(e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In place: E ← e^E / Σ_k e^E, row-wise; returns (E, the row sums Σ_k e^E)."""
    np.exp(e, out=e)
    s = row_sum(e)
    return np.divide(e, s, out=e), s


def softmax_nll_(z: np.ndarray, y: np.ndarray, naive: bool = False
                 ) -> tuple[np.ndarray, float]:
    """Softmax and the summed cross-entropy at once, overwriting ``z``: (A, Σ_i −log A[i, y_i]).

    With the shift c of :func:`funcnet.losses.softmax`: −log A[i, y_i] = log Σ_k e^(Z_ik − c)
    − (Z_iy − c), taken from the logits, so it stays finite where A[i, y_i]
    underflows to 0. ``A`` is bit for bit :func:`funcnet.losses.softmax` (``naive``:
    :func:`funcnet.losses.naive_softmax`, and −log A[i, y_i] taken from A as the tutorial
    does). For callers that created ``z`` themselves (the training pass).

    >>> a, nll = softmax_nll_(np.array([[0.0, np.log(3.0)]]), np.array([1]))
    >>> a, round(nll, 6)
    (array([[0.25, 0.75]]), 0.287682)
    """
    rows = np.arange(len(y))
    if naive:
        a = exp_normalize_(z)[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            return a, float(-np.log(a[rows, y]).sum(dtype=np.float64))
    shifted = np.subtract(z, softmax_shift(z), out=z)
    picked = shifted[rows, y]
    a, s = exp_normalize_(shifted)
    return a, float(np.subtract(np.log(s[:, 0]), picked).sum(dtype=np.float64))


def output_delta_(a: np.ndarray, y: np.ndarray, m: int | None = None) -> np.ndarray:
    """:func:`funcnet.losses.cross_entropy_grad` overwriting ``a`` (for callers that created it).

    >>> output_delta_(np.array([[0.25, 0.75]]), np.array([0]), m=2)
    array([[-0.375,  0.375]])
    """
    m = len(y) if m is None else m
    a[np.arange(len(y)), y] -= 1
    return np.multiply(a, a.dtype.type(1 / m), out=a)


def _relu_(z):
    # against an array of zeros: NumPy's maximum with a scalar 0 took ~3x longer on an AMD EPYC
    # (on an Intel Xeon it was 2x faster: benchmarks/README.md, "third sitting")
    return np.maximum(z, np.zeros(z.shape, z.dtype), out=z)


def _relu_mul_(da, a):
    return np.multiply(da, a > 0, out=da)


def _generic_(f, df):
    return (lambda z: f(z)), (lambda da, a: np.multiply(da, df(a), out=da))


class Fused(NamedTuple):
    """An activation's in-place pair (see :func:`fused`)."""

    apply_: Callable
    backprop_: Callable


_FUSED = {"relu": Fused(_relu_, _relu_mul_)}


def fused(name: str) -> Fused:
    """``(apply_, backprop_)`` for the activation ``name``: ``apply_(Z) -> A`` overwriting Z,
    ``backprop_(dA, A) -> dZ = dA ⊙ g'(Z)`` overwriting dA.

    >>> apply_, backprop_ = fused("relu")
    >>> apply_(np.array([-1.0, 2.0])), backprop_(np.array([3.0, 3.0]), np.array([0.0, 2.0]))
    (array([0., 2.]), array([0., 3.]))
    """
    act = activations.get(name)
    return _FUSED.get(name) or Fused(*_generic_(act.fn, act.grad))


_THREADS: contextvars.ContextVar = contextvars.ContextVar("funcnet_threads", default=None)


@contextlib.contextmanager
def limit_threads(threads: int):
    """Inside the block (this thread or task's context only), :func:`default_threads` is
    ``threads``: the chunked passes share their chunks among that many threads.

    >>> with limit_threads(1):
    ...     default_threads()
    1
    """
    token = _THREADS.set(max(1, int(threads)))
    try:
        yield
    finally:
        _THREADS.reset(token)


def default_threads() -> int:
    """The threads a chunked pass uses: as :func:`limit_threads` sets it in this context,
    else the number of cores this process may run on (its CPU affinity).

    >>> import os
    >>> default_threads() == len(os.sched_getaffinity(0))
    True
    >>> with limit_threads(3):
    ...     default_threads()
    3
    """
    chosen = _THREADS.get()
    if chosen is not None:
        return chosen
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


@functools.cache
def blas_kernel() -> str | None:
    """The name of the kernel OpenBLAS chose for this CPU (``"Haswell"``, ``"SkylakeX"``, …,
    as ``OPENBLAS_CORETYPE`` may force it), or None under another BLAS.

    >>> from threadpoolctl import threadpool_info
    >>> blas_kernel() == next((i.get("architecture") for i in threadpool_info()
    ...                        if i.get("internal_api") == "openblas"), None)
    True
    """
    for lib in _controller().lib_controllers:
        if lib.internal_api == "openblas":
            return getattr(lib, "architecture", None)
    return None


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS limited to one thread inside the block (threadpoolctl), restored after it.

    A process-wide setting held only while a chunked pass runs, so that its
    worker threads (one per core) do not each start BLAS threads of their own.
    """
    with _controller().limit(limits=1, user_api="blas"):
        yield


def ordered_sum(one: Callable, items: Iterable, add: Callable, threads: int):
    """``reduce(add, map(one, items))``: ``one`` over worker threads, results added in order.

    Each ``one(item)`` runs with single-threaded BLAS; the threads take the
    next item as they become free, and the results are added in the order
    of ``items`` whatever thread computed them, so the sum has the same bits
    for any ``threads``. At most a few results wait for their turn.

    >>> ordered_sum(lambda i: i * i, range(5), lambda a, b: a + b, threads=2)
    30
    """
    items = list(items)
    threads = max(1, min(int(threads), len(items)))
    with single_threaded_blas():
        if threads == 1:
            return toolz.reduce(add, map(one, items))
        return _threaded_ordered_sum(one, items, add, threads)


def _threaded_ordered_sum(one: Callable, items: list, add: Callable, threads: int):
    """The threads of :func:`ordered_sum`: each takes the next index, computes its result and,
    under a lock, adds into the total every result whose turn has come."""
    take = iter(range(len(items))).__next__  # next() on a range iterator is atomic in CPython
    lock = threading.Lock()
    pending: dict = {}
    state = {"next": 0, "total": None, "error": None}

    def work():
        try:
            while state["error"] is None:
                try:
                    i = take()
                except StopIteration:
                    return
                result = one(items[i])
                with lock:
                    pending[i] = result
                    while state["next"] in pending:
                        r = pending.pop(state["next"])
                        state["total"] = r if state["next"] == 0 else add(state["total"], r)
                        state["next"] += 1
        except BaseException as err:  # noqa: BLE001 -- handed to the calling thread
            state["error"] = err

    workers = [threading.Thread(target=work, daemon=True) for _ in range(threads - 1)]
    for t in workers:
        t.start()
    work()
    for t in workers:
        t.join()
    if state["error"] is not None:
        raise state["error"]
    return state["total"]


def column_sums(a: np.ndarray) -> np.ndarray:
    """The sum of each column of a 2-D array: s_j = Σ_i A[i, j], i.e. the product 1ᵀ·A, shape
    ``(columns,)``.

    Computed as a matrix-vector product (BLAS gemv), which reads ``A`` row by row;
    NumPy's ``a.sum(axis=0)`` over the leading axes of an NHWC batch (many rows of a
    few channels) runs several times slower. The product runs with single-threaded
    BLAS: it is bound by memory, and a second BLAS thread gains nothing; while the
    other core was busy, the two-thread gemv of a (25088, 32) float32 array took
    about 8 ms instead of 0.06 ms (2-core EPYC, OpenBLAS 0.3.31 SkylakeX kernel).

    >>> column_sums(np.array([[1.0, 3.0], [0.5, 0.25], [2.0, -1.0]]))
    array([3.5 , 2.25])
    >>> a = np.arange(24.0).reshape(8, 3)
    >>> bool((column_sums(a) == a.sum(axis=0)).all())
    True
    """
    with single_threaded_blas():
        return np.ones(a.shape[0], a.dtype) @ a
