"""Inference: the one chunked path :func:`logits`, and predict, predict_proba and loss on it.

Also what a caller needs to feed it: :func:`dtype_of`, :func:`input_shape`,
:func:`num_outputs`, :func:`chunk_rows`.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .._kernels import default_threads, ordered_sum
from ..layers import network
from ..losses import cross_entropy, l2_penalty, softmax
from . import _fused, ensembles
from .ensembles import Ensemble
from .training import init  # the examples below use it
from .training import check_labels, weights


def dtype_of(params) -> np.dtype:
    """The network's float dtype (that of its first array)."""
    return params.dtype


def num_outputs(params) -> int:
    """The number of classes (the last layer's width; an ensemble's members')."""
    if isinstance(params, Ensemble):
        return ensembles.num_outputs(params)
    return math.prod(params.shapes[-1])


def input_shape(params) -> tuple:
    """One example's shape: ``(784,)`` for the tutorial's MLP, ``(28, 28, 1)`` for a CNN."""
    return params.input_shape


# Rows per inference chunk of a network that is not a dense stack, at most.
CHUNK_ROWS = 4096
# The largest layer output one inference chunk may hold: 2M floats, 8 MB in float32 (the
# chunks run one per core at once: two of them hold what one chunk of 4M floats held when
# they ran one after another, and a CNN's peak memory stays where it was).
CHUNK_FLOATS = 1 << 21


def chunk_rows(params) -> int:
    """Rows per inference chunk: for a dense stack (an MLP), the rows of a chunk of the
    fused training pass (:func:`funcnet.model._fused.inference_rows`: about 4 MB of float
    X, 1,024 rows of 784 float32 pixels), so that each chunk's scaled copy of X stays in
    the cache; for other networks :data:`CHUNK_ROWS`, fewer when one example's largest
    layer output is big, so that no chunk's layer output passes :data:`CHUNK_FLOATS` values.

    Measured on a 2-core EPYC, logits of 41,000 MNIST digits (784-10-10, float32, both
    cores, no page faults either way): 8.3 ms (Haswell kernel) and 8.0 ms (SkylakeX) in
    chunks of 1,024 rows, 13.5–14.3 and 12.1–13.1 ms in chunks of 4,096, whose 12.8 MB
    float copies of X do not stay in the cache.

    A CNN's feature maps are large (26·26·32 values per digit after its first
    convolution, and its im2col matrices more): 4,096 digits at once would
    take GBs and a page fault for every fresh page.

    >>> from funcnet import rng
    >>> from funcnet.layers import conv2d, dense, flatten
    >>> mlp = init(rng.key(0), (784, 10, 10))
    >>> chunk_rows(mlp) == _fused.chunk_rows(784, np.float32, _fused.layout(np.float32).chunk_bytes)
    True
    >>> chunk_rows(init(rng.key(0), (conv2d(32, 3), flatten(), dense(10)), input_shape=(28, 28, 1)))
    96
    """
    stack = _fused.match(params)
    if stack is not None:
        return _fused.inference_rows(stack)
    widest = max(math.prod(s) for s in (params.input_shape, *_all_shapes(params)))
    return int(min(CHUNK_ROWS, max(1, CHUNK_FLOATS // widest)))


def _all_shapes(params) -> list:
    """Every layer's output shape, nested layers included."""
    from ..layers import base
    return list(params.shapes) + [s for _, layer in base.walk(params.layers)
                                  for s in getattr(layer, "shapes", ())]


def _rows(params, x) -> np.ndarray:
    """``x`` as rows the network takes (shape checked, not yet scaled): ``(n, *input_shape)`` or flat."""
    x = np.asarray(x)
    if x.shape[1:] != params.input_shape and (x.ndim != 2 or x.shape[1] != math.prod(params.input_shape)):
        raise network.DataError(network._shape_error(params, x))
    return x


def logits(params, x: np.ndarray, chunk: int | None = None, *, model_state=None) -> np.ndarray:
    """Z_L for every row of ``x`` at evaluation, ``chunk`` rows at a time: THE inference path.

    ``chunk`` defaults to :func:`chunk_rows`. The chunks are shared by
    :func:`funcnet._kernels.default_threads` worker threads (one per core; see
    :func:`funcnet.runtime.threads`), each with single-threaded BLAS, and put back in
    order: each row's logits do not depend on the others, and the chunk boundaries do not
    depend on the threads, so the logits are the same bits for any number of threads.

    ``x`` is ``(n, *input_shape)`` or ``(n, prod(input_shape))``; integer
    pixels are scaled to [0, 1] chunk by chunk (no float copy of the whole
    set). No dropout; batch norm uses the running statistics ``model_state``.
    An :class:`~funcnet.model.ensembles.Ensemble`'s logits are log P, P the mean of
    its members' probabilities (:mod:`funcnet.model.ensembles`).

    >>> from funcnet import rng
    >>> logits(init(rng.key(0), (3, 2)), np.zeros((4, 3))).shape
    (4, 2)
    """
    if isinstance(params, Ensemble):
        p = ensembles.probabilities(params, x, chunk, model_state=model_state)
        return ensembles.log_probabilities(p)
    x = _rows(params, x)
    stack = _fused.match(params)
    if stack is not None:
        one = lambda xc: _fused.logits_rows(stack, xc.reshape(len(xc), -1))
    else:
        one = lambda xc: network.forward(params, xc, model_state=model_state)[0]
    chunk = chunk_rows(params) if chunk is None else chunk
    starts = range(0, len(x), chunk)
    # Rows apart: one thread per core. Even a single chunk runs with single-threaded BLAS: a
    # multithreaded BLAS call leaves OpenBLAS's threads spinning for work for about 0.1 s
    # after it, and a chunked pass started meanwhile (the tutorial's next iterations, after
    # its dev accuracy) ran at half speed on one of its two cores. The same for every
    # network, so that a row's logits do not depend on how many rows came with it.
    parts = (ordered_sum(lambda i: [one(x[i:i + chunk])], starts, operator.add, default_threads())
             if len(starts) else [])
    return np.concatenate(parts) if parts else np.zeros((0, num_outputs(params)), dtype_of(params))


def predict_proba(params, x: np.ndarray, *, model_state=None) -> np.ndarray:
    """Class probabilities softmax(Z_L), shape ``(batch, classes)`` (an ensemble's: the mean
    of its members' softmax(Z_k)).

    >>> from funcnet import rng
    >>> predict_proba(init(rng.key(0), (3, 2)), np.zeros((1, 3))).sum().round(6)
    np.float32(1.0)
    """
    if isinstance(params, Ensemble):
        return ensembles.probabilities(params, x, model_state=model_state)
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
    >>> round(loss(p, np.zeros((3, 784)), np.array([1, 2, 3])), 4)
    2.4813
    """
    z = logits(params, x, model_state=model_state)
    y = check_labels(y, len(z), num_outputs(params))
    penalty = l2_penalty(weights(params), l2) if l2 else 0.0
    return cross_entropy(z, y) + penalty
