"""The network: a sequence of layers on examples of one input shape, as stax's ``serial``.

Shapes flow from ``input_shape`` through each spec's ``init``; the forward
pass is a fold over the layers, the backward pass the reverse fold over
their caches (:mod:`funcnet.layers.blocks`, which blocks share)::

    x_0 = X      x_{l+1}, cache_l, state_l = forward_l(x_l)       (l = 0 … L−1)
    dx_L = dY    dx_l, grads_l = backward_l(cache_l, dx_{l+1})     (l = L−1 … 0)

The model state (batch norm's running statistics) is a tuple with one
entry per layer: None for a layer without state, a tuple for a block.
Integer pixels are scaled by the one rule, X / 255 (:func:`funcnet.pixels.scale`).

>>> from funcnet import rng
>>> from funcnet.layers import dense, relu, flatten
>>> net = init(rng.key(0), (flatten(), dense(5), relu(), dense(3)), (2, 2))
>>> net.shapes
((4,), (5,), (5,), (3,))
>>> y, caches, _ = forward(net, np.ones((7, 2, 2), np.float32))
>>> y.shape, [g.w.shape for g in backward(net, caches, np.ones_like(y)).layers if hasattr(g, "w")]
((7, 3), [(4, 5), (5, 3)])
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from funcnet import rng, tree
from funcnet.errors import ConfigError, DataError
from funcnet.pixels import scale
from funcnet.tree import pytree, static_field
from . import base, blocks
from .base import Ctx

__all__ = ["Network", "init", "initial_state", "forward", "backward", "intermediates",
           "as_input", "walk", "to_json", "from_json", "specs_from_json", "param_shapes",
           "check_input_shape", "MAX_DEPTH", "MAX_LAYERS"]


@pytree
@attrs.frozen(eq=False)
class Network:
    """Layers in order (their arrays are the trainable leaves) and the static shapes.

    ``input_shape`` is one example's shape (no batch axis); ``shapes[l]`` is
    layer ``l``'s output shape; ``specs[l]`` the spec it was built from.
    """

    layers: tuple
    input_shape: tuple = static_field()
    shapes: tuple = static_field()
    specs: tuple = static_field()

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the first array leaf (float32 for a network without any)."""
        arrays = [x for x in tree.leaves(self.layers) if isinstance(x, np.ndarray)]
        return arrays[0].dtype if arrays else np.dtype(np.float32)

    def __repr__(self) -> str:
        return f"Network({' '.join(base.kind_of(s) for s in self.specs)} on {self.input_shape})"


def init(key, specs, input_shape, scheme: str = "he", dtype=np.float32) -> Network:
    """A network of ``specs`` on examples of shape ``input_shape``; layer l draws from key l.

    A spec whose input does not fit is refused with one line naming the
    layer's index path (``3.1`` inside a block), its kind and the shapes
    (:class:`funcnet.layers.base.LayerError`, a ConfigError).

    >>> from funcnet.layers import conv2d, dense
    >>> init(rng.key(0), (dense(3),), (4, 4, 1))
    Traceback (most recent call last):
    ...
    funcnet.layers.base.LayerError: layer 0 (dense): input shape (4, 4, 1): expects flat inputs (features,), got (4, 4, 1): put flatten() before it
    """
    specs, input_shape = tuple(specs), check_input_shape(input_shape)
    if not specs:
        raise ConfigError("a network needs at least one layer")
    layers, shapes = blocks.init_layers(key, specs, input_shape, scheme, dtype)
    return Network(layers, input_shape, shapes, specs)


def check_input_shape(shape) -> tuple:
    """One example's shape as a tuple of 1 to 3 whole numbers ≥ 1 holding at most
    :data:`base.MAX_VALUES` values, or a one-line :class:`ConfigError`.

    >>> check_input_shape([28, 28, 1])
    (28, 28, 1)
    >>> check_input_shape((0, 5))
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: input shape (0, 5): expected 1 to 3 sizes ≥ 1 (features, or height, width, channels)
    """
    try:
        shape = tuple(base.whole(s) for s in shape)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"input shape {shape!r}: {err}") from None
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise ConfigError(f"input shape {shape}: expected 1 to 3 sizes ≥ 1 (features, or height, "
                          "width, channels)")
    if math.prod(shape) > base.MAX_VALUES:
        raise ConfigError(f"input shape {shape}: {math.prod(shape):,} values per example; "
                          f"at most {base.MAX_VALUES:,}")
    return shape


def param_shapes(specs, input_shape) -> dict:
    """``{"layers.<i>.<name>": shape}`` of a network of ``specs`` on ``input_shape``, nested
    layers included (``layers.3.layers.0.w``), computed without building anything.

    >>> from funcnet.layers import dense, relu
    >>> param_shapes((dense(3), relu(), dense(2)), (4,))
    {'layers.0.w': (4, 3), 'layers.0.b': (3,), 'layers.2.w': (3, 2), 'layers.2.b': (2,)}
    """
    specs = tuple(specs)
    if not specs:
        raise ConfigError("a network needs at least one layer")
    return blocks.shapes_layers(specs, check_input_shape(input_shape))[1]


def initial_state(net: Network) -> tuple:
    """The model state of a fresh network: one entry per layer (None without state)."""
    return tuple(base.initial_state(layer) for layer in net.layers)


def _shape_error(net: Network, x: np.ndarray) -> str:
    want, flat = net.input_shape, math.prod(net.input_shape)
    expected = f"(n, {', '.join(map(str, want))})" + (f" or (n, {flat})" if len(want) > 1 else "")
    got = tuple(x.shape)
    hint = ""
    if x.ndim == 2 and x.shape[0] == flat and x.shape[1] != flat:
        hint = " — the tutorial's X is transposed (one example per column): pass X.T"
    return f"expected one example per row, {expected}; got {got}{hint}"


def as_input(net: Network, x: np.ndarray) -> np.ndarray:
    """``x`` as a batch ``(n, *input_shape)`` of the network's dtype.

    Accepted: ``(n, *input_shape)``, or flat rows ``(n, prod(input_shape))``
    (reshaped); anything else is a one-line :class:`DataError` naming both
    shapes. Integer pixels become X / 255 (:func:`funcnet.pixels.scale`).

    >>> from funcnet.layers import flatten, dense
    >>> net = init(rng.key(0), (flatten(), dense(2)), (2, 2, 1))
    >>> as_input(net, np.zeros((3, 4))).shape
    (3, 2, 2, 1)
    >>> as_input(net, np.full((1, 4), 255, np.uint8)).max()
    np.float32(1.0)
    >>> as_input(net, np.zeros((3, 5)))
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: expected one example per row, (n, 2, 2, 1) or (n, 4); got (3, 5)
    """
    x = np.asarray(x)
    if x.shape[1:] != net.input_shape:
        if x.ndim != 2 or x.shape[1] != math.prod(net.input_shape):
            raise DataError(_shape_error(net, x))
        x = x.reshape((len(x),) + net.input_shape)
    if not (np.issubdtype(x.dtype, np.number) and not np.issubdtype(x.dtype, np.complexfloating)):
        raise DataError(f"expected numbers (integer pixels or floats), got dtype {x.dtype}")
    return scale(x, net.dtype)


def forward(net: Network, x: np.ndarray, *, train: bool = False, key=None,
            model_state=None) -> tuple:
    """``(y, caches, new_state)``: the fold x_{l+1} = f_l(x_l) from X = x_0.

    ``train`` turns on dropout (layer l's mask from the l-th key split from
    ``key``; a block splits its key again among its layers) and batch
    statistics; ``new_state`` holds the moved running statistics in
    training and the same ones at evaluation (None without ``model_state``).
    """
    y, caches, states = blocks.forward_layers(net.layers, as_input(net, x),
                                              Ctx(train, key, model_state))
    return y, caches, (None if model_state is None else states)


def backward(net: Network, caches: tuple, dy: np.ndarray, start: int = 0) -> Network:
    """The gradients, a :class:`Network` like ``net``: the reverse fold dx_l = b_l(dx_{l+1}).

    Nothing is computed for the input X itself (layer 0 skips dx). With
    ``start = k``, the layers below k are frozen: the fold stops at layer k
    (which skips dx) and their gradients are zeros.
    """
    _, grads = blocks.backward_layers(net.layers, caches, dy, need_dx=False, start=start)
    return attrs.evolve(net, layers=grads)


def walk(net: Network):
    """Every layer, nested ones included, depth first: ``(path, layer)`` (see :func:`base.walk`).

    >>> from funcnet.layers import dense, residual, relu
    >>> net = init(rng.key(0), (dense(3), residual(dense(3), relu())), (2,))
    >>> [".".join(map(str, p)) for p, _ in walk(net)]
    ['0', '1', '1.0', '1.1']
    """
    return base.walk(net.layers)


def _outputs(layers: tuple, x: np.ndarray, ctx: Ctx, prefix: tuple) -> tuple:
    """(y, {path: output}) at every depth: a block's layers, then the block."""
    keys_states = blocks._contexts(ctx, len(layers))
    out: dict = {}
    for i, (layer, c) in enumerate(zip(layers, keys_states)):
        path = (*prefix, i)
        inner = base.children(layer)
        if inner:
            out.update(_outputs(inner, x, c, path)[1])
        x = base.forward(layer, x, c)[0]
        out[".".join(map(str, path))] = x
    return x, out


def intermediates(net: Network, x: np.ndarray, model_state=None, *, nested: bool = False):
    """Every layer's output at evaluation: ``[x_1, …, x_L]``, x_l of shape ``(n, *shapes[l-1])``.

    With ``nested``, a dict ``{path: output}`` of every layer at every depth
    (``"3.0"`` is layer 0 of block 3), the blocks' own outputs included.
    """
    ctx = Ctx(False, None, model_state)
    if nested:
        return _outputs(net.layers, as_input(net, x), ctx, ())[1]
    a, outs = as_input(net, x), []
    for layer, c in zip(net.layers, blocks._contexts(ctx, len(net.layers))):
        a = base.forward(layer, a, c)[0]
        outs.append(a)
    return outs


def to_json(net: Network) -> dict:
    """The architecture as JSON: ``{"kind": "serial", "input_shape": [...], "layers": [...]}``,
    nested specs written as nested objects."""
    return {"kind": "serial", "input_shape": list(net.input_shape),
            "layers": [base.spec_to_json(s) for s in net.specs]}


# Limits on an architecture read from a file: how deep blocks may nest and how many layers
# it may hold in all (funcnet's own networks use a handful of each).
MAX_DEPTH = 32
MAX_LAYERS = 10_000


def _count_specs(layers) -> None:
    """Refuse specs that are not objects, nest deeper than :data:`MAX_DEPTH` or number more than
    :data:`MAX_LAYERS` in all, walking without recursion."""
    todo, count = [(layers, 1)], 0
    while todo:
        items, depth = todo.pop()
        if not isinstance(items, list):
            raise ValueError(f"expected a list of layers, got {type(items).__name__}")
        if depth > MAX_DEPTH:
            raise ValueError(f"blocks nest deeper than {MAX_DEPTH} levels")
        for spec in items:
            count += 1
            if count > MAX_LAYERS:
                raise ValueError(f"more than {MAX_LAYERS:,} layers")
            if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
                raise ValueError(f"expected a layer object with a 'kind', got {type(spec).__name__}")
            if "layers" in spec:
                todo.append((spec["layers"], depth + 1))


def specs_from_json(arch) -> tuple:
    """``(specs, input_shape)`` of an architecture :func:`to_json` wrote, every field checked
    (types, ranges, nesting depth, number of layers) before anything is built: a ValueError
    naming what was wrong.

    >>> specs_from_json({"kind": "serial", "input_shape": [3], "layers": [{"kind": "dense", "units": 2}]})
    ((DenseSpec(units=2),), (3,))
    >>> specs_from_json({"kind": "serial", "input_shape": [3], "layers": [{"kind": "dense", "units": 2.9}]})
    Traceback (most recent call last):
    ...
    ValueError: layer 0: expected a whole number, got 2.9
    """
    if not isinstance(arch, dict) or arch.get("kind") != "serial":
        raise ValueError("expected an architecture object of kind 'serial'")
    if not isinstance(arch.get("input_shape"), list):
        raise ValueError("expected input_shape as a list of sizes")
    shape = check_input_shape(arch["input_shape"])
    _count_specs(arch.get("layers"))

    def one(i, obj):
        try:
            return base.spec_from_json(obj)
        except (TypeError, ValueError) as err:
            raise ValueError(f"layer {i}: {' '.join(str(err).split())}") from None

    return tuple(one(i, s) for i, s in enumerate(arch["layers"])), shape


def from_json(arch: dict, dtype=np.float32) -> Network:
    """A freshly initialised network of the architecture :func:`to_json` wrote (a template)."""
    specs, shape = specs_from_json(arch)
    return init(rng.key(0), specs, shape, "he", dtype)
