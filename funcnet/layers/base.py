"""The layer protocol, the forward context and the registry of layer kinds.

Every layer kind is a frozen record (arrays are leaves, hyperparameters are
static) with three pure functions beside it::

    init(key, spec, in_shape, scheme, dtype) -> (layer, out_shape)   shapes without the batch axis
    forward(layer, x, ctx)                   -> (y, cache)            x: (batch, *in_shape)
    backward(layer, cache, dy, need_dx)      -> (dx, grads)           grads: a record like layer

A *spec* (``dense(10)``, ``relu()``, ...) says what to build; :func:`init`
turns it into a layer once the input shape is known. The kinds register
themselves here; :func:`init`, :func:`forward` and :func:`backward`
dispatch on the spec's or the layer's type.

>>> from funcnet.layers import dense
>>> kind_of(dense(3))
'dense'
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import attrs
import numpy as np

__all__ = ["Ctx", "Kind", "register", "kind_of", "init", "forward", "backward", "initial_state", "spec_to_json",
           "spec_from_json", "KINDS"]


@attrs.frozen(eq=False)
class Ctx:
    """What a forward pass needs besides the layer and its input.

    ``train``: training mode (dropout active, batch norm on batch statistics);
    ``key``: this layer's random key (dropout), or None; ``state``: this
    layer's model state (batch norm's running statistics), or None.
    """

    train: bool = False
    key: Any = None
    state: Any = None


class Kind(NamedTuple):
    """One layer kind: its name, spec and layer types, and its functions."""

    name: str
    spec: type
    layer: type
    init: Callable
    forward: Callable
    backward: Callable
    initial_state: Callable | None = None   # layer -> model state, for stateful kinds


_BY_SPEC: dict = {}
_BY_LAYER: dict = {}
KINDS: dict = {}


def register(kind: Kind) -> Kind:
    """Make a layer kind known to :func:`init`, :func:`forward` and :func:`backward`."""
    _BY_SPEC[kind.spec] = _BY_LAYER[kind.layer] = KINDS[kind.name] = kind
    return kind


def _kind(table: dict, obj: Any, what: str) -> Kind:
    try:
        return table[type(obj)]
    except KeyError:
        raise TypeError(f"not a layer {what}: {obj!r} (expected one of "
                        f"{', '.join(sorted(KINDS))})") from None


def kind_of(obj: Any) -> str:
    """The kind's name of a spec or a layer record: ``'dense'``, ``'conv2d'``, ..."""
    kind = _BY_SPEC.get(type(obj)) or _BY_LAYER.get(type(obj))
    if kind is None:
        raise TypeError(f"not a layer spec or layer: {obj!r}")
    return kind.name


def init(key, spec, in_shape: tuple, scheme: str = "he", dtype=np.float32) -> tuple:
    """``(layer, out_shape)`` for ``spec`` on inputs of shape ``in_shape`` (no batch axis)."""
    return _kind(_BY_SPEC, spec, "spec").init(key, spec, tuple(in_shape), scheme, dtype)


def forward(layer, x: np.ndarray, ctx: Ctx = Ctx()) -> tuple:
    """``(y, cache)``: the layer applied to ``x: (batch, *in_shape)``."""
    return _kind(_BY_LAYER, layer, "record").forward(layer, x, ctx)


def backward(layer, cache, dy: np.ndarray, need_dx: bool = True) -> tuple:
    """``(dx, grads)``: ∂L/∂x (None when not ``need_dx``) and ∂L/∂θ as a record like ``layer``."""
    return _kind(_BY_LAYER, layer, "record").backward(layer, cache, dy, need_dx)


def initial_state(layer) -> Any:
    """The model state a freshly built ``layer`` starts with (None for most kinds)."""
    make = _kind(_BY_LAYER, layer, "record").initial_state
    return None if make is None else make(layer)


def spec_to_json(spec) -> dict:
    """A spec as a JSON-able dict: ``{"kind": "dense", "units": 10}``.

    >>> from funcnet.layers import conv2d
    >>> spec_to_json(conv2d(8, 3, padding="same"))
    {'kind': 'conv2d', 'filters': 8, 'kernel': 3, 'stride': 1, 'padding': 'same'}
    """
    return {"kind": kind_of(spec), **attrs.asdict(spec)}


def spec_from_json(obj: dict):
    """The spec a :func:`spec_to_json` dict describes.

    >>> from funcnet.layers import dense
    >>> spec_from_json({"kind": "dense", "units": 4}) == dense(4)
    True
    """
    fields = dict(obj)
    name = fields.pop("kind", None)
    if name not in KINDS:
        raise ValueError(f"unknown layer kind {name!r}: expected one of {', '.join(sorted(KINDS))}")
    return KINDS[name].spec(**fields)
