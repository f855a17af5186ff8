"""Inference: the one chunked path :func:`logits`, and predict, predict_proba and loss on it.

Also what a caller needs to feed it: :func:`dtype_of`, :func:`input_shape`,
:func:`num_outputs`, :func:`chunk_rows`.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .. import mlp
from .._kernels import default_threads, ordered_sum
from ..layers import serial
from ..losses import cross_entropy, l2_penalty, softmax
from ..mlp import CHUNK_ROWS, Params
from .training import init  # the examples below use it
from .training import weights


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
    """Rows per inference chunk: for an MLP, the rows of a chunk of the chunked training
    pass (:func:`funcnet.chunked.chunk_rows` of :func:`funcnet.chunked.layout`: about
    4 MB of float X, 1,024 rows of 784 float32 pixels), so that each chunk's scaled
    copy of X stays in the cache; for a network of layers :data:`CHUNK_ROWS`, fewer when
    one example's largest layer output is big, so that no chunk's layer output passes
    :data:`CHUNK_FLOATS` values.

    Measured on a 2-core EPYC, logits of 41,000 MNIST digits (784-10-10, float32, both
    cores, no page faults either way): 8.3 ms (Haswell kernel) and 8.0 ms (SkylakeX) in
    chunks of 1,024 rows, 13.5–14.3 and 12.1–13.1 ms in chunks of 4,096, whose 12.8 MB
    float copies of X do not stay in the cache.

    A CNN's feature maps are large (26·26·32 values per digit after its first
    convolution, and its im2col matrices more): 4,096 digits at once would
    take GBs and a page fault for every fresh page.

    >>> from funcnet import chunked, rng
    >>> from funcnet.layers import conv2d, dense, flatten
    >>> plan = chunked.layout(np.float32)
    >>> chunk_rows(init(rng.key(0), (784, 10, 10))) == chunked.chunk_rows(784, np.float32, plan.chunk_bytes)
    True
    >>> chunk_rows(init(rng.key(0), (conv2d(32, 3), flatten(), dense(10)), input_shape=(28, 28, 1)))
    193
    """
    if isinstance(params, Params):
        from .. import chunked

        dtype = params.layers[0].w.dtype
        return chunked.chunk_rows(params.sizes[0], dtype, chunked.layout(dtype).chunk_bytes)
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
