"""Pixels as the network reads them: the one scaling rule, X = X / 255 for integer pixels.

Every entry point that takes images (``funcnet.forward``, ``value_and_grads``,
``loss``, ``logits``, ``predict``, the training step's batches, the data
loaders' ``data.scale``) applies this rule, so 0–255 ``uint8`` digits and
floats in [0, 1] give the same figures wherever they enter.

>>> import numpy as np
>>> scale(np.array([[0, 51, 255]], np.uint8))
array([[0. , 0.2, 1. ]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

__all__ = ["scale"]


def scale(x: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Pixels as floats of ``dtype``: X = X / 255 for integer input, floats cast (unchanged if
    already ``dtype``). The result is a new array unless ``x`` already is ``dtype`` floats.

    >>> x = np.ones((1, 2), np.float32); scale(x) is x
    True
    >>> scale(np.array([255], np.uint8), np.float64).tolist(), scale(np.array([0.5]), np.float32).dtype
    ([1.0], dtype('float32'))
    """
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating) and x.dtype == np.dtype(dtype):
        return x
    if np.issubdtype(x.dtype, np.integer):
        out = x.astype(dtype)  # then scale in place: faster than a mixed-type multiply
        return np.multiply(out, out.dtype.type(1 / 255), out=out)
    return x.astype(dtype)
