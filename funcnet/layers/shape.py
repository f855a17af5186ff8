"""Shape layers: ``flatten()`` turns ``(batch, h, w, c)`` into ``(batch, h·w·c)``.

Backward reshapes dY back: dX = reshape(dY, x.shape). Row-major order, so
a flattened NHWC image lists the channels of each pixel together.

>>> layer, out = init(None, flatten(), (2, 3, 4))
>>> out
(24,)
>>> y, cache, _ = forward(layer, np.zeros((5, 2, 3, 4)))
>>> y.shape, backward(layer, cache, y)[0].shape
((5, 24), (5, 2, 3, 4))
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from funcnet.tree import pytree
from .base import Ctx, Kind, register

__all__ = ["Flatten", "FlattenSpec", "flatten", "init", "forward", "backward"]


@pytree
@attrs.frozen(eq=False)
class Flatten:
    """Flattening: no arrays, no hyperparameters."""


@attrs.frozen
class FlattenSpec:
    """What :func:`flatten` builds."""


def flatten() -> FlattenSpec:
    """A layer reshaping each example to one row: ``(batch, *shape) -> (batch, prod(shape))``."""
    return FlattenSpec()


def init(key, spec: FlattenSpec, in_shape: tuple, scheme: str = "he", dtype=np.float32):
    """``(Flatten, (prod(in_shape),))``."""
    return Flatten(), (math.prod(in_shape),)


def forward(layer: Flatten, x: np.ndarray, ctx: Ctx = Ctx()):
    """Y = reshape(X, (batch, −1)) (a view); the cache is X's shape."""
    return x.reshape(len(x), -1), x.shape, None


def backward(layer: Flatten, shape: tuple, dy: np.ndarray, need_dx: bool = True):
    """dX = reshape(dY, X's shape)."""
    return (dy.reshape(shape) if need_dx else None), layer


register(Kind("flatten", FlattenSpec, Flatten, init, forward, backward,
              examples=((flatten(), (2, 3, 2)), (flatten(), (3,))),
              shapes=lambda spec, in_shape: ((math.prod(in_shape),), {})))
