"""Layers: one module per kind, each a frozen record with pure init/forward/backward.

Specs say what to build; :func:`funcnet.init` (or :func:`network.init`)
builds a :class:`Network` from a tuple of specs and an input shape. Blocks
(:func:`serial`, :func:`residual`) hold layers and nest:

>>> import numpy as np, funcnet
>>> from funcnet.layers import dense, flatten, relu, dropout, batch_norm, residual
>>> net = funcnet.init(funcnet.rng.key(0), (flatten(), dense(32), batch_norm(), relu(),
...                                         residual(dense(32), relu(), dropout(0.2)), dense(10)),
...                    input_shape=(28, 28, 1))
>>> funcnet.summary(net)["params"].tolist()
[0, 25120, 64, 0, 1056, 1056, 0, 0, 330, 26570]

Every module of this package is imported here, so each kind it ships is
registered (:data:`base.KINDS`) without a list to keep: adding a kind is
adding one module.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from . import base, blocks, network
from .activation import Activation, activation, leaky_relu, relu, sigmoid, tanh
from .avg_pool import AvgPool, GlobalAvgPool, avg_pool, global_avg_pool
from .base import Ctx, LayerError, backward, forward, init, kind_of, spec_from_json, spec_to_json, walk
from .blocks import Residual, Serial, residual, serial
from .dense import Dense, dense
from .dropout import Dropout, dropout
from .network import Network
from .norm import BatchNorm, BatchNormState, batch_norm
from .shape import Flatten, flatten
from .spatial import conv2d, max_pool

for _module in _pkgutil.iter_modules(__path__):  # every shipped kind registers itself
    _importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["base", "blocks", "network", "Ctx", "LayerError", "init", "forward", "backward",
           "kind_of", "walk", "spec_to_json", "spec_from_json", "Network", "Dense", "dense",
           "Activation", "activation", "relu", "leaky_relu", "tanh", "sigmoid", "Flatten",
           "flatten", "Dropout", "dropout", "BatchNorm", "BatchNormState", "batch_norm",
           "conv2d", "max_pool", "AvgPool", "avg_pool", "GlobalAvgPool", "global_avg_pool",
           "Serial", "serial", "Residual", "residual"]
