"""Serial composition: a network is a sequence of layers, as stax's ``serial``.

Shapes flow from ``input_shape`` through each spec's ``init``; the forward
pass is a fold over the layers, the backward pass the reverse fold over
their caches::

    x_0 = X      x_{l+1}, cache_l = forward_l(x_l)                 (l = 0 … L−1)
    dx_L = dY    dx_l, grads_l   = backward_l(cache_l, dx_{l+1})   (l = L−1 … 0)

The model state (batch norm's running statistics) is a tuple with one
entry per layer, None for layers without state.

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
import toolz

from funcnet import rng
from funcnet.errors import ConfigError, DataError
from funcnet.tree import pytree, static_field
from . import base
from .base import Ctx

__all__ = ["Network", "init", "initial_state", "forward", "backward", "intermediates",
           "as_input", "to_json", "from_json"]


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
        for layer in self.layers:
            for v in attrs.astuple(layer, recurse=False):
                if isinstance(v, np.ndarray):
                    return v.dtype
        return np.dtype(np.float32)


def _init_one(carry, item):
    layers, shapes, in_shape, scheme, dtype = carry
    i, (k, spec) = item
    try:
        layer, out = base.init(k, spec, in_shape, scheme, dtype)
    except (ValueError, TypeError) as err:
        name = base.kind_of(spec) if not isinstance(err, TypeError) else type(spec).__name__
        raise ConfigError(f"layer {i} ({name}): input shape {in_shape}: {err}") from None
    out = tuple(int(s) for s in out)
    if not out or min(out) < 1:
        raise ConfigError(f"layer {i} ({base.kind_of(spec)}): input shape {in_shape} "
                          f"gives output shape {out}: nothing is left")
    return layers + (layer,), shapes + (out,), out, scheme, dtype


def init(key, specs, input_shape, scheme: str = "he", dtype=np.float32) -> Network:
    """A network of ``specs`` on examples of shape ``input_shape``; layer l draws from key l.

    A spec whose input does not fit is refused with one line naming the
    layer's index, its kind and the shapes (:class:`ConfigError`).

    >>> from funcnet.layers import conv2d, dense
    >>> init(rng.key(0), (dense(3),), (4, 4, 1))
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: layer 0 (dense): input shape (4, 4, 1): expects flat inputs (features,), got (4, 4, 1): put flatten() before it
    """
    specs, input_shape = tuple(specs), tuple(int(s) for s in input_shape)
    if not specs:
        raise ConfigError("a network needs at least one layer")
    keys = rng.split(key, len(specs))
    layers, shapes, *_ = toolz.reduce(_init_one, enumerate(zip(keys, specs)),
                                      ((), (), input_shape, scheme, dtype))
    return Network(layers, input_shape, shapes, specs)


def initial_state(net: Network) -> tuple:
    """The model state of a fresh network: one entry per layer (None without state)."""
    return tuple(base.initial_state(layer) for layer in net.layers)


def as_input(net: Network, x: np.ndarray) -> np.ndarray:
    """``x`` as a batch ``(n, *input_shape)`` of the network's dtype (rows of pixels are reshaped).

    >>> from funcnet.layers import flatten, dense
    >>> net = init(rng.key(0), (flatten(), dense(2)), (2, 2, 1))
    >>> as_input(net, np.zeros((3, 4))).shape
    (3, 2, 2, 1)
    >>> as_input(net, np.zeros((3, 5)))
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: inputs of shape (5,) per example do not fit the network's input shape (2, 2, 1)
    """
    x = np.asarray(x)
    if x.shape[1:] != net.input_shape:
        if x.ndim < 2 or math.prod(x.shape[1:]) != math.prod(net.input_shape):
            raise DataError(f"inputs of shape {x.shape[1:]} per example do not fit the "
                            f"network's input shape {net.input_shape}")
        x = x.reshape((len(x),) + net.input_shape)
    return x if x.dtype == net.dtype else x.astype(net.dtype)


def _ctxs(net: Network, train: bool, key, model_state) -> list:
    n = len(net.layers)
    keys = rng.split(key, n) if key is not None else (None,) * n
    states = model_state if model_state is not None else (None,) * n
    return [Ctx(train, k, s) for k, s in zip(keys, states)]


def forward(net: Network, x: np.ndarray, *, train: bool = False, key=None,
            model_state=None) -> tuple:
    """``(y, caches, new_state)``: the fold x_{l+1} = f_l(x_l) from X = x_0.

    ``train`` turns on dropout (layer l's mask from the l-th key split from
    ``key``) and batch statistics; ``new_state`` holds the moved running
    statistics in training and is ``model_state`` itself at evaluation.
    """
    def one(carry, item):
        a, caches = carry
        layer, ctx = item
        y, cache = base.forward(layer, a, ctx)
        return y, caches + (cache,)

    y, caches = toolz.reduce(one, zip(net.layers, _ctxs(net, train, key, model_state)),
                             (as_input(net, x), ()))
    if not train or model_state is None:
        return y, caches, model_state
    new = tuple(getattr(c, "state", None) if s is not None else None
                for c, s in zip(caches, model_state))
    return y, caches, new


def backward(net: Network, caches: tuple, dy: np.ndarray) -> Network:
    """The gradients, a :class:`Network` like ``net``: the reverse fold dx_l = b_l(dx_{l+1}).

    Nothing is computed for the input X itself (layer 0 skips dx).
    """
    def one(carry, l):
        dx, grads = carry
        dx, g = base.backward(net.layers[l], caches[l], dx, need_dx=l > 0)
        return dx, (g,) + grads

    _, grads = toolz.reduce(one, reversed(range(len(net.layers))), (dy, ()))
    return attrs.evolve(net, layers=grads)


def intermediates(net: Network, x: np.ndarray, model_state=None) -> list:
    """Every layer's output at evaluation: ``[x_1, …, x_L]``, x_l of shape ``(n, *shapes[l-1])``."""
    ctxs = _ctxs(net, False, None, model_state)
    outs = toolz.reduce(lambda acc, lc: acc + (base.forward(lc[0], acc[-1], lc[1])[0],),
                        zip(net.layers, ctxs), (as_input(net, x),))
    return list(outs[1:])


def to_json(net: Network) -> dict:
    """The architecture as JSON: ``{"kind": "serial", "input_shape": [...], "layers": [...]}``."""
    return {"kind": "serial", "input_shape": list(net.input_shape),
            "layers": [base.spec_to_json(s) for s in net.specs]}


def from_json(arch: dict, dtype=np.float32) -> Network:
    """A freshly initialised network of the architecture :func:`to_json` wrote (a template)."""
    specs = tuple(base.spec_from_json(s) for s in arch["layers"])
    return init(rng.key(0), specs, tuple(arch["input_shape"]), "he", dtype)
