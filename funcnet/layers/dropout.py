"""Inverted dropout: in training Y = X ⊙ M / (1 − p), M ~ Bernoulli(1 − p); at evaluation Y = X.

Backward: dX = dY ⊙ M / (1 − p) (dX = dY at evaluation). The mask is drawn
from the layer's key in the forward context, so the same key gives the same
mask.

>>> from funcnet import rng
>>> layer, _ = init(None, dropout(0.5), (4,))
>>> y, mask, _ = forward(layer, np.ones((2, 4)), Ctx(train=True, key=rng.key(0)))
>>> y.tolist()
[[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 0.0, 2.0]]
>>> forward(layer, np.ones((1, 4)))[0]
array([[1., 1., 1., 1.]])
"""

from __future__ import annotations

import attrs
import numpy as np

from funcnet import rng
from funcnet.tree import pytree, static_field
from .base import Ctx, Kind, number, register

__all__ = ["Dropout", "DropoutSpec", "dropout", "init", "forward", "backward"]


def _rate(instance, attribute, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {value}")


@pytree
@attrs.frozen(eq=False)
class Dropout:
    """Dropout with rate ``p`` (static); no arrays."""

    rate: float = static_field()


@attrs.frozen
class DropoutSpec:
    """What :func:`dropout` builds."""

    rate: float = attrs.field(converter=number, validator=_rate)


def dropout(rate: float) -> DropoutSpec:
    """Inverted dropout with rate ``p`` in [0, 1).

    >>> dropout(0.25)
    DropoutSpec(rate=0.25)
    """
    return DropoutSpec(rate)


def init(key, spec: DropoutSpec, in_shape: tuple, scheme: str = "he", dtype=np.float32):
    """``(Dropout, in_shape)``: the shape is unchanged."""
    return Dropout(spec.rate), in_shape


def forward(layer: Dropout, x: np.ndarray, ctx: Ctx = Ctx()):
    """Y = X ⊙ M/(1 − p) in training (cache: the scale M/(1 − p)), else Y = X (cache None);
    M ~ Bernoulli(1 − p) of X's shape from ``ctx.key``. No state."""
    if not (ctx.train and layer.rate > 0):
        return x, None, None
    if ctx.key is None:
        raise ValueError("dropout in training needs a key")
    keep = 1.0 - layer.rate
    scale = rng.bernoulli(ctx.key, keep, x.shape).astype(x.dtype)
    scale = np.multiply(scale, scale.dtype.type(1 / keep), out=scale)
    return x * scale, scale, None


def backward(layer: Dropout, scale, dy: np.ndarray, need_dx: bool = True):
    """dX = dY ⊙ M/(1 − p) (dY itself at evaluation)."""
    if not need_dx:
        return None, layer
    return (dy if scale is None else dy * scale), layer


register(Kind("dropout", DropoutSpec, Dropout, init, forward, backward,
              stochastic=lambda layer: layer.rate > 0,
              examples=((dropout(0.5), (4,)), (dropout(0.25), (3, 3, 2))),
              shapes=lambda spec, in_shape: (in_shape, {})))
