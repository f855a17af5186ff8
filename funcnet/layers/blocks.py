"""Blocks: layers made of layers, ``serial(*specs)`` and ``residual(*specs)``.

A block is a layer like any other. Its forward pass is the fold of its
layers, its backward pass the reverse fold, and it returns ``dx``, so
blocks nest::

    serial:    x_0 = x,  x_{l+1} = f_l(x_l),  y = x_L          dx_l = b_l(dx_{l+1})
    residual:  y = x + f(x)  (f the serial fold)               dx = dy + b_f(dy)

(He, Zhang, Ren & Sun 2016, "Deep residual learning for image
recognition": y = F(x) + x.) The key a block receives is split among its
layers as a network splits its own (layer i draws from the i-th of
``rng.split(key, len(layers))``), its model state is a tuple with one entry
per layer, and its gradients are a record like it holding each layer's.

>>> import numpy as np
>>> from funcnet import rng, tree
>>> from funcnet.layers import dense, relu
>>> layer, out = init_residual(rng.key(0), residual(dense(3), relu()), (3,), "he", np.float64)
>>> out
(3,)
>>> y, cache, _ = forward_residual(layer, np.ones((2, 3)))
>>> dx, grads = backward_residual(layer, cache, np.ones((2, 3)))
>>> dx.shape, grads.layers[0].w.shape
((2, 3), (3, 3))
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import attrs
import numpy as np
import toolz

from funcnet import rng, tree
from funcnet.tree import pytree, static_field
from . import base
from .base import Ctx, Kind, LayerError, register

__all__ = ["Serial", "SerialSpec", "Residual", "ResidualSpec", "serial", "residual",
           "init_layers", "shapes_layers", "forward_layers", "backward_layers", "backward_one",
           "pools_first", "PooledFirst", "RELU_LATER", "init_serial", "forward_serial",
           "backward_serial", "init_residual", "forward_residual", "backward_residual"]


def _specs(specs) -> tuple:
    specs = tuple(specs)
    if not specs:
        raise ValueError("a block needs at least one layer")
    for s in specs:
        base.kind_of(s)  # a TypeError naming the object when it is not a spec
    return specs


@attrs.frozen
class SerialSpec:
    """What :func:`serial` builds: its layers' specs."""

    layers: tuple = attrs.field(converter=_specs)


@attrs.frozen
class ResidualSpec:
    """What :func:`residual` builds: the specs of f in y = x + f(x)."""

    layers: tuple = attrs.field(converter=_specs)


def serial(*specs) -> SerialSpec:
    """A block of layers applied in order, as one layer: y = f_L(… f_1(x)).

    >>> from funcnet.layers import dense, relu
    >>> serial(dense(4), relu())
    SerialSpec(layers=(DenseSpec(units=4), ActivationSpec(name='relu')))
    """
    return SerialSpec(specs)


def residual(*specs) -> ResidualSpec:
    """A residual block: y = x + f(x), f the layers in order; f must keep x's shape.

    >>> from funcnet.layers import conv2d, relu
    >>> residual(conv2d(8, 3, padding="same"), relu()).layers[1]
    ActivationSpec(name='relu')
    """
    return ResidualSpec(specs)


@pytree
@attrs.frozen(eq=False)
class Serial:
    """A serial block: ``layers`` (their arrays are leaves) and their output shapes (static)."""

    layers: tuple
    shapes: tuple = static_field()


@pytree
@attrs.frozen(eq=False)
class Residual:
    """A residual block y = x + f(x): f's ``layers`` and their output shapes (static)."""

    layers: tuple
    shapes: tuple = static_field()


def _built(i: int, spec, in_shape: tuple, build):
    """``build()``'s result for layer ``i``, its failures as a :class:`LayerError` naming the
    layer's index path and kind, its output shape checked (something left, not too big)."""
    try:
        got = build()
    except LayerError as err:
        raise err.within(i) from None
    except TypeError as err:
        raise LayerError((i,), type(spec).__name__, str(err)) from None
    except ValueError as err:
        raise LayerError((i,), base.kind_of(spec), f"input shape {in_shape}: {err}") from None
    return got


def _checked(i: int, spec, in_shape: tuple, out) -> tuple:
    out = tuple(int(s) for s in out)
    if not out or min(out) < 1:
        raise LayerError((i,), base.kind_of(spec),
                         f"input shape {in_shape} gives output shape {out}: nothing is left")
    if math.prod(out) > base.MAX_VALUES:
        raise LayerError((i,), base.kind_of(spec),
                         f"output shape {out} holds {math.prod(out):,} values per example; "
                         f"at most {base.MAX_VALUES:,}")
    return out


def _init_one(carry, item):
    layers, shapes, in_shape, scheme, dtype = carry
    i, (key, spec) = item
    layer, out = _built(i, spec, in_shape, lambda: base.init(key, spec, in_shape, scheme, dtype))
    out = _checked(i, spec, in_shape, out)
    return layers + (layer,), shapes + (out,), out, scheme, dtype


def shapes_layers(specs, in_shape: tuple) -> tuple:
    """``(out_shapes, {"layers.<i>.<name>": shape})``: each spec's output shape and its
    parameters' shapes, nested ones included, without building anything; refused specs
    raise :class:`LayerError` as :func:`init_layers` does.

    >>> from funcnet.layers import dense, relu
    >>> shapes_layers((dense(3), residual(dense(3), relu())), (2,))[1]
    {'layers.0.w': (2, 3), 'layers.0.b': (3,), 'layers.1.layers.0.w': (3, 3), 'layers.1.layers.0.b': (3,)}
    """
    outs, params, shape = (), {}, tuple(in_shape)
    for i, spec in enumerate(specs):
        out, names = _built(i, spec, shape, lambda: base.shapes(spec, shape))
        out = _checked(i, spec, shape, out)
        params.update({f"layers.{i}.{name}": tuple(s) for name, s in names.items()})
        outs, shape = outs + (out,), out
    return outs, params


def init_layers(key, specs, in_shape: tuple, scheme: str = "he", dtype=np.float32) -> tuple:
    """``(layers, shapes)``: each spec built on the previous one's output, layer i from the i-th
    key split from ``key``. A spec refused raises :class:`LayerError` naming its index path."""
    specs = tuple(specs)
    keys = rng.split(key, len(specs))
    layers, shapes, *_ = toolz.reduce(_init_one, enumerate(zip(keys, specs)),
                                      ((), (), tuple(in_shape), scheme, dtype))
    return layers, shapes


def _contexts(ctx: Ctx, n: int) -> list:
    keys = rng.split(ctx.key, n) if ctx.key is not None else (None,) * n
    states = ctx.state if ctx.state is not None else (None,) * n
    return [Ctx(ctx.train, k, s) for k, s in zip(keys, states)]


class PooledFirst(NamedTuple):
    """The cache of a max-pooling layer whose ReLU in front of it was applied after it (see
    :func:`forward_layers`): the pooling's cache (of Z) and A = ReLU(max_pool(Z))."""

    pool: Any
    a: np.ndarray


class _ReluLater:
    """The cache of a ReLU applied after the max pooling that follows it: nothing to keep."""

    def __repr__(self) -> str:
        return "<ReLU applied after the max pooling>"


RELU_LATER = _ReluLater()


def pools_first(layers: tuple, l: int) -> bool:
    """Whether the fold computes layers ``l`` and ``l + 1`` as one step: a ReLU followed by
    max pooling, computed as max_pool(ReLU(Z)) = ReLU(max_pool(Z)).

    >>> from funcnet import rng
    >>> from funcnet.layers import conv2d, max_pool, relu
    >>> layers, _ = init_layers(rng.key(0), (conv2d(2, 3), relu(), max_pool(2)), (6, 6, 1))
    >>> [pools_first(layers, l) for l in range(3)]
    [False, True, False]
    """
    from .activation import Activation
    from .pool import MaxPool
    return (l + 1 < len(layers) and isinstance(layers[l], Activation) and layers[l].name == "relu"
            and isinstance(layers[l + 1], MaxPool))


def _steps(layers: tuple) -> tuple:
    """The index each step of the fold starts at: one layer, or a ReLU and its max pooling."""
    starts, l = [], 0
    while l < len(layers):
        starts.append(l)
        l += 2 if pools_first(layers, l) else 1
    return tuple(starts)


def forward_layers(layers: tuple, x: np.ndarray, ctx: Ctx = Ctx()) -> tuple:
    """``(y, caches, states)``: the fold x_{l+1}, cache_l, state_l = forward_l(x_l) from x_0 = x.

    A ReLU followed by max pooling is one step, pooled first: the maximum of a
    window commutes with ReLU, max_p ReLU(z_p) = ReLU(max_p z_p), so both
    layers' output is computed on the pooled quarter of the pixels (for 2×2
    windows), the same bits. The ReLU's cache is then :data:`RELU_LATER` and the
    pooling's a :class:`PooledFirst`; :func:`backward_layers` takes dZ = dA ⊙ [A > 0]
    on the pooled pixels before the pooling's backward pass, which gives the
    same bits as the two layers one by one: a window whose maximum is > 0 has
    the same argmax in Z as in ReLU(Z), and one whose maximum is ≤ 0 passes
    back only zeros either way.
    """
    contexts = _contexts(ctx, len(layers))

    def one(carry, l):
        a, caches, states = carry
        if not pools_first(layers, l):
            y, cache, state = base.forward(layers[l], a, contexts[l])
            return y, caches + (cache,), states + (state,)
        m, pool_cache, pool_state = base.forward(layers[l + 1], a, contexts[l + 1])
        y, _, relu_state = base.forward(layers[l], m, contexts[l])
        return y, caches + (RELU_LATER, PooledFirst(pool_cache, y)), states + (relu_state, pool_state)

    return toolz.reduce(one, _steps(layers), (x, (), ()))


def backward_one(layers: tuple, caches: tuple, l: int, dy: np.ndarray, need_dx: bool = True) -> tuple:
    """``(dx, grads)`` of layer ``l`` of a fold :func:`forward_layers` ran: ``base.backward``,
    or, for a ReLU and max pooling computed as one step, dZ = dA ⊙ [A > 0] on the pooled
    pixels then the pooling's backward pass (at ``l + 1``), and dx = dy at the ReLU (``l``)."""
    cache = caches[l]
    if cache is RELU_LATER:
        return (dy if need_dx else None), layers[l]
    if isinstance(cache, PooledFirst):
        if not need_dx:
            return None, layers[l]
        dz, _ = base.backward(layers[l - 1], cache.a, dy)
        return base.backward(layers[l], cache.pool, dz, need_dx=True)
    return base.backward(layers[l], cache, dy, need_dx=need_dx)


def backward_layers(layers: tuple, caches: tuple, dy: np.ndarray, need_dx: bool = True,
                    start: int = 0) -> tuple:
    """``(dx, grads)``: the reverse fold dx_l, grads_l = backward_l(cache_l, dx_{l+1}).

    Layer 0 computes its dx only when ``need_dx`` (nothing is computed for a
    network's input X). With ``start = k > 0`` the fold stops at layer k: the
    layers below it are frozen, their gradients are zeros, nothing is computed
    for them, and layer k computes no dx (then None). A ReLU and max pooling
    that :func:`forward_layers` ran as one step go back as one (:func:`backward_one`).
    """
    def one(carry, l):
        dx, grads = carry
        dx, g = backward_one(layers, caches, l, dx, need_dx=l > start or (need_dx and not start))
        return dx, (g,) + grads

    dx, grads = toolz.reduce(one, reversed(range(start, len(layers))), (dy, ()))
    if not start:
        return dx, grads
    return None, tuple(tree.map(np.zeros_like, layer) for layer in layers[:start]) + grads


def _initial_state(layer) -> tuple:
    return tuple(base.initial_state(child) for child in layer.layers)


def init_serial(key, spec: SerialSpec, in_shape: tuple, scheme: str = "he", dtype=np.float32):
    """``(Serial, out_shape)``: the block's layers built in order."""
    layers, shapes = init_layers(key, spec.layers, in_shape, scheme, dtype)
    return Serial(layers, shapes), shapes[-1]


def forward_serial(layer: Serial, x: np.ndarray, ctx: Ctx = Ctx()):
    """y = f_L(… f_1(x)); the cache is the layers' caches, the state their states."""
    return forward_layers(layer.layers, x, ctx)


def backward_serial(layer: Serial, caches: tuple, dy: np.ndarray, need_dx: bool = True):
    """dx and the layers' gradients by the reverse fold."""
    dx, grads = backward_layers(layer.layers, caches, dy, need_dx)
    return dx, attrs.evolve(layer, layers=grads)


def init_residual(key, spec: ResidualSpec, in_shape: tuple, scheme: str = "he", dtype=np.float32):
    """``(Residual, in_shape)``; refused when f's output shape is not x's."""
    layers, shapes = init_layers(key, spec.layers, in_shape, scheme, dtype)
    if shapes[-1] != tuple(in_shape):
        raise ValueError(f"the block's output shape {shapes[-1]} differs from its input shape "
                         f"{tuple(in_shape)}: y = x + f(x) needs them equal")
    return Residual(layers, shapes), tuple(in_shape)


def forward_residual(layer: Residual, x: np.ndarray, ctx: Ctx = Ctx()):
    """y = x + f(x) (a new array); the cache is f's caches, the state f's states."""
    fx, caches, states = forward_layers(layer.layers, x, ctx)
    return x + fx, caches, states


def backward_residual(layer: Residual, caches: tuple, dy: np.ndarray, need_dx: bool = True):
    """dx = dy + ∂f/∂x·dy (the identity path plus f's); f's gradients as they come."""
    dfx, grads = backward_layers(layer.layers, caches, dy, need_dx)
    return (dy + dfx if need_dx else None), attrs.evolve(layer, layers=grads)


def _examples():
    from .activation import relu, tanh
    from .dense import dense
    from .dropout import dropout
    from .norm import batch_norm
    from .spatial import conv2d
    return {
        "serial": ((serial(dense(3), tanh()), (4,)),
                   (serial(conv2d(2, 3, padding="same"), batch_norm(), relu()), (4, 4, 1))),
        "residual": ((residual(dense(3), tanh(), dropout(0.5), dense(3)), (3,)),
                     (residual(conv2d(2, 3, padding="same"), batch_norm(), tanh()), (4, 4, 2))),
    }


def _shapes_serial(spec: SerialSpec, in_shape: tuple):
    outs, params = shapes_layers(spec.layers, in_shape)
    return outs[-1], params


def _shapes_residual(spec: ResidualSpec, in_shape: tuple):
    outs, params = shapes_layers(spec.layers, in_shape)
    if outs[-1] != tuple(in_shape):
        raise ValueError(f"the block's output shape {outs[-1]} differs from its input shape "
                         f"{tuple(in_shape)}: y = x + f(x) needs them equal")
    return tuple(in_shape), params


register(Kind("serial", SerialSpec, Serial, init_serial, forward_serial, backward_serial,
              initial_state=_initial_state, children=lambda layer: layer.layers,
              examples=lambda: _examples()["serial"], shapes=_shapes_serial))
register(Kind("residual", ResidualSpec, Residual, init_residual, forward_residual,
              backward_residual, initial_state=_initial_state, children=lambda layer: layer.layers,
              examples=lambda: _examples()["residual"], shapes=_shapes_residual))
