"""The layer protocol, the forward context and the registry of layer kinds.

Every layer kind is a frozen record (arrays are leaves, hyperparameters are
static) with pure functions beside it::

    init(key, spec, in_shape, scheme, dtype) -> (layer, out_shape)     shapes without the batch axis
    forward(layer, x, ctx)                   -> (y, cache, new_state)  x: (batch, *in_shape)
    backward(layer, cache, dy, need_dx)      -> (dx, grads)            grads: a record like layer

A *spec* (``dense(10)``, ``relu()``, ``residual(...)``) says what to build;
:func:`init` turns it into a layer once the input shape is known.
``new_state`` is the layer's model state after the pass (batch norm's moved
running statistics in training, the same state at evaluation; None for a
layer without state), returned explicitly as Flax returns its updated
``batch_stats``. A *block* (:mod:`funcnet.layers.blocks`) is a layer whose
record holds layers; its forward folds over them and its backward folds
back and returns ``dx`` like any layer, so blocks nest.

Each kind registers itself (:func:`register`) in the module that defines
it; the package imports every module it ships, so the registry knows every
shipped kind without a list to keep, and a user's own kind is known once the
module defining it has run. :func:`walk` visits every layer of a tree, nested
ones included: L2, the stochastic check, summaries and checkpoint names all
go through it.

>>> from funcnet.layers import dense
>>> kind_of(dense(3))
'dense'
>>> spec_to_json(dense(3))
{'kind': 'dense', 'units': 3}
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, NamedTuple

import attrs
import numpy as np

from funcnet.errors import ConfigError

__all__ = ["Ctx", "Kind", "LayerError", "MAX_VALUES", "whole", "number", "shapes", "register",
           "kind_of", "init", "forward", "backward",
           "initial_state", "children", "walk", "stochastic", "examples", "spec_to_json",
           "spec_from_json", "KINDS"]


@attrs.frozen(eq=False)
class Ctx:
    """What a forward pass needs besides the layer and its input.

    ``train``: training mode (dropout active, batch norm on batch statistics);
    ``key``: this layer's random key (dropout; a block splits it among its
    layers), or None; ``state``: this layer's model state (batch norm's
    running statistics; a block's is a tuple, one entry per layer), or None.
    """

    train: bool = False
    key: Any = None
    state: Any = None


class Kind(NamedTuple):
    """One layer kind: its name, spec and layer types, and its functions.

    ``initial_state(layer)`` gives a fresh layer's model state (kinds with
    running statistics); ``children(layer)`` the layers a block holds;
    ``stochastic(layer)`` whether training it draws random numbers;
    ``shapes(spec, in_shape) -> (out_shape, {name: shape})`` the output shape
    and the parameters' shapes *without building anything* (model files are
    checked against it before any array is allocated; without it, :func:`shapes`
    builds the layer to find out);
    ``examples`` a few ``(spec, in_shape)`` pairs (or a function returning
    them, for specs made of other kinds) that the property tests build,
    gradient-check and round-trip through a model file (:func:`examples`).
    """

    name: str
    spec: type
    layer: type
    init: Callable
    forward: Callable
    backward: Callable
    initial_state: Callable | None = None
    children: Callable | None = None
    stochastic: Callable | None = None
    examples: tuple | Callable = ()
    shapes: Callable | None = None


# The most values one example may take at any layer's output (16M floats, 64 MB in float32):
# a spec asking for more is refused at init, and a model file at load.
MAX_VALUES = 1 << 24


def whole(value) -> int:
    """A spec's integer field: an int, or a float with no fraction; anything else (2.9, True,
    "3") is refused, not truncated.

    >>> whole(3), whole(4.0)
    (3, 4)
    >>> whole(2.9)
    Traceback (most recent call last):
    ...
    ValueError: expected a whole number, got 2.9
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"expected a whole number, got {value!r}")
    if isinstance(value, (float, np.floating)) and not float(value).is_integer():
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(value)


def number(value) -> float:
    """A spec's real field: an int or a float (finite); anything else refused.

    >>> number(0.5), number(1)
    (0.5, 1.0)
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


class LayerError(ConfigError):
    """A spec refused at init: ``path`` is the layer's index path (``(3, 1)`` for layer 1 of
    block 3), ``kind`` its kind, ``reason`` what was wrong; the message names all three."""

    def __init__(self, path: tuple, kind: str, reason: str):
        self.path, self.kind, self.reason = tuple(path), kind, reason
        super().__init__(f"layer {'.'.join(map(str, self.path))} ({kind}): {reason}")

    def within(self, index: int) -> "LayerError":
        """The same error one level up: layer ``index``'s path before this one's."""
        return LayerError((index, *self.path), self.kind, self.reason)


_BY_SPEC: dict = {}
_BY_LAYER: dict = {}
KINDS: dict = {}


def register(kind: Kind) -> Kind:
    """Make a layer kind known to :func:`init`, :func:`forward`, :func:`backward` and the model
    files (by its name). Registering a name again replaces the kind (a module reloaded)."""
    old = KINDS.get(kind.name)
    if old is not None:
        _BY_SPEC.pop(old.spec, None)
        _BY_LAYER.pop(old.layer, None)
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
    """``(y, cache, new_state)``: the layer applied to ``x: (batch, *in_shape)``."""
    return _kind(_BY_LAYER, layer, "record").forward(layer, x, ctx)


def backward(layer, cache, dy: np.ndarray, need_dx: bool = True) -> tuple:
    """``(dx, grads)``: ∂L/∂x (None when not ``need_dx``) and ∂L/∂θ as a record like ``layer``."""
    return _kind(_BY_LAYER, layer, "record").backward(layer, cache, dy, need_dx)


def shapes(spec, in_shape: tuple) -> tuple:
    """``(out_shape, {name: shape})``: what ``spec`` gives on inputs ``in_shape`` and the
    shapes of its parameters, by the kind's ``shapes`` (nothing allocated), else by
    building the layer.

    >>> from funcnet.layers import dense
    >>> shapes(dense(3), (4,))
    ((3,), {'w': (4, 3), 'b': (3,)})
    """
    kind = _kind(_BY_SPEC, spec, "spec")
    if kind.shapes is not None:
        return kind.shapes(spec, tuple(in_shape))
    from funcnet import tree  # the fallback: build it and read its leaves' shapes
    layer, out = kind.init(_zero_key(), spec, tuple(in_shape), "he", np.float32)
    return tuple(out), {name: np.shape(v) for name, v in tree.flatten_with_path(layer)}


def _zero_key():
    from funcnet import rng
    return rng.key(0)


def initial_state(layer) -> Any:
    """The model state a freshly built ``layer`` starts with (None for most kinds)."""
    make = _kind(_BY_LAYER, layer, "record").initial_state
    return None if make is None else make(layer)


def children(layer) -> tuple:
    """The layers a block holds, in order (``()`` for a layer that is not a block)."""
    get = _kind(_BY_LAYER, layer, "record").children
    return () if get is None else tuple(get(layer))


def walk(layers, prefix: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every layer of a sequence and of the blocks in it, depth first: ``(path, layer)``.

    A block comes before its layers; ``path`` is the index path, ``(3, 0)``
    for layer 0 of block 3.

    >>> from funcnet.layers import Dense, Activation
    >>> [p for p, _ in walk((Dense.zeros(2, 2), Activation("relu")))]
    [(0,), (1,)]
    """
    for i, layer in enumerate(layers):
        path = (*prefix, i)
        yield path, layer
        yield from walk(children(layer), path)


def stochastic(layers) -> bool:
    """Whether training these layers draws random numbers (a dropout anywhere, nested too).

    >>> from funcnet.layers import Dense, Dropout
    >>> stochastic((Dense.zeros(2, 2),)), stochastic((Dense.zeros(2, 2), Dropout(0.5)))
    (False, True)
    """
    def draws(layer) -> bool:
        test = _kind(_BY_LAYER, layer, "record").stochastic
        return test is not None and bool(test(layer))

    return any(draws(layer) for _, layer in walk(layers))


def examples(name: str) -> tuple:
    """The ``(spec, in_shape)`` examples of the kind ``name``.

    >>> examples("dense")[0]
    (DenseSpec(units=3), (4,))
    """
    given = KINDS[name].examples
    return tuple(given() if callable(given) else given)


def _is_spec(value: Any) -> bool:
    return type(value) in _BY_SPEC


def _to_json(value: Any) -> Any:
    if _is_spec(value):
        return spec_to_json(value)
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    return value


def spec_to_json(spec) -> dict:
    """A spec as a JSON-able dict, nested specs included: ``{"kind": "dense", "units": 10}``.

    >>> from funcnet.layers import conv2d, residual, dense, relu
    >>> spec_to_json(conv2d(8, 3, padding="same"))
    {'kind': 'conv2d', 'filters': 8, 'kernel': 3, 'stride': 1, 'padding': 'same'}
    >>> spec_to_json(residual(dense(4), relu()))["layers"]
    [{'kind': 'dense', 'units': 4}, {'kind': 'activation', 'name': 'relu'}]
    """
    fields = {f.name: _to_json(getattr(spec, f.name)) for f in attrs.fields(type(spec))}
    return {"kind": kind_of(spec), **fields}


def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and "kind" in value:
        return spec_from_json(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return tuple(spec_from_json(v) for v in value)
    return value


def spec_from_json(obj: dict):
    """The spec a :func:`spec_to_json` dict describes (nested specs included).

    >>> from funcnet.layers import dense, residual
    >>> spec_from_json({"kind": "dense", "units": 4}) == dense(4)
    True
    >>> spec_from_json(spec_to_json(residual(dense(4)))) == residual(dense(4))
    True
    """
    if not isinstance(obj, dict):
        raise ValueError(f"a layer spec must be a JSON object, got {type(obj).__name__}")
    fields = dict(obj)
    name = fields.pop("kind", None)
    if name not in KINDS:
        raise ValueError(f"unknown layer kind {name!r}: expected one of {', '.join(sorted(KINDS))} "
                         "(a kind of your own is known once the module defining it is imported)")
    return KINDS[name].spec(**{k: _from_json(v) for k, v in fields.items()})
