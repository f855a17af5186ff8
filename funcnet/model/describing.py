"""Describing a network: as a layer sequence, its layers' outputs, a summary, its architecture.

:func:`architecture` writes the JSON a checkpoint keeps and
:func:`from_architecture` rebuilds a template network from it.
"""

from __future__ import annotations

import numpy as np

from .. import layers as _layers
from .. import mlp, tree
from ..layers import serial
from ..layers.serial import Network
from ..mlp import Params
from .inference import _scaled
from .training import init  # the examples below use it


def as_network(params) -> Network:
    """An MLP as the layer sequence ``dense, g, dense, …, dense`` (sharing its arrays).

    >>> from funcnet import rng
    >>> net = as_network(init(rng.key(0), (4, 3, 2)))
    >>> [type(l).__name__ for l in net.layers], net.shapes
    (['Dense', 'Activation', 'Dense'], ((3,), (3,), (2,)))
    """
    if isinstance(params, Network):
        return params
    g = _layers.activation(params.activation)
    specs = tuple(s for n in params.sizes[1:-1] for s in (_layers.dense(n), g))
    specs += (_layers.dense(params.sizes[-1]),)
    act = _layers.Activation(params.activation)
    layers = tuple(x for l in params.layers[:-1] for x in (l, act)) + (params.layers[-1],)
    shapes = tuple((n,) for n in params.sizes[1:-1] for _ in range(2)) + ((params.sizes[-1],),)
    return Network(layers, (params.sizes[0],), shapes, specs)


def intermediates(params, x: np.ndarray, model_state=None) -> list:
    """Every layer's output at evaluation, ``[x_1, …, x_L]`` (Z1, A1, Z2 for the tutorial's MLP).

    For pictures of a few examples (the first hidden layer's activations,
    the first convolution's feature maps): not chunked.

    >>> from funcnet import rng
    >>> [a.shape for a in intermediates(init(rng.key(0), (4, 3, 2)), np.ones((5, 4)))]
    [(5, 3), (5, 3), (5, 2)]
    """
    net = as_network(params)
    return serial.intermediates(net, _scaled(np.asarray(x), net.dtype), model_state)


def summary(params):
    """One row per layer, as Keras' ``model.summary()``: layer, kind, output shape, params.

    >>> from funcnet import rng
    >>> summary(init(rng.key(0), (784, 10, 10)))
         kind output_shape  params
    0   dense        (10,)    7850
    1    relu        (10,)       0
    2   dense        (10,)     110
    """
    import pandas as pd

    net = as_network(params)

    def kind(layer) -> str:
        name = _layers.kind_of(layer)
        return layer.name if name == "activation" else name

    return pd.DataFrame({"kind": [kind(l) for l in net.layers],
                         "output_shape": [str(s) for s in net.shapes],
                         "params": [tree.size(l) for l in net.layers]})


def describe(params) -> str:
    """A one-line name: ``784-10-10 relu`` for an MLP, the kinds in order for a network."""
    if isinstance(params, Params):
        return f"{'-'.join(map(str, params.sizes))} {params.activation}"
    return " ".join(summary(params)["kind"]) + f" on {params.input_shape}"


def architecture(params) -> dict:
    """The architecture as JSON, enough to rebuild the network from a checkpoint.

    >>> from funcnet import rng
    >>> architecture(init(rng.key(0), (4, 3, 2), activation="tanh"))
    {'kind': 'mlp', 'sizes': [4, 3, 2], 'activation': 'tanh'}
    """
    if isinstance(params, Params):
        return {"kind": "mlp", "sizes": list(params.sizes), "activation": params.activation}
    return serial.to_json(params)


def from_architecture(arch: dict, dtype=np.float32):
    """A template network (fresh weights) of the architecture :func:`architecture` wrote.

    >>> from funcnet import rng
    >>> p = from_architecture({"kind": "mlp", "sizes": [4, 3, 2], "activation": "relu"})
    >>> p.sizes
    (4, 3, 2)
    """
    from .. import rng

    if arch.get("kind") == "mlp":
        return mlp.init(rng.key(0), tuple(arch["sizes"]), "he", arch.get("activation", "relu"), dtype)
    if arch.get("kind") == "serial":
        return serial.from_json(arch, dtype)
    raise ValueError(f"unknown architecture kind {arch.get('kind')!r}: expected 'mlp' or 'serial'")
