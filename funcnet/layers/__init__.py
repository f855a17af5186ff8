"""Layers: one module per kind, each a frozen record with pure init/forward/backward.

Specs say what to build; :func:`funcnet.init` (or :func:`serial.init`)
builds a :class:`Network` from a tuple of specs and an input shape:

>>> import numpy as np, funcnet
>>> from funcnet.layers import dense, flatten, relu, dropout, batch_norm
>>> net = funcnet.init(funcnet.rng.key(0), (flatten(), dense(32), batch_norm(), relu(),
...                                         dropout(0.2), dense(10)), input_shape=(28, 28, 1))
>>> funcnet.summary(net)["params"].tolist()
[0, 25120, 64, 0, 0, 330]
"""

from . import activation as activation_layer
from . import base, dense as dense_layer, dropout as dropout_layer, norm, serial, shape, spatial
from .activation import Activation, activation, leaky_relu, relu, sigmoid, tanh
from .base import Ctx, backward, forward, init, kind_of, spec_from_json, spec_to_json
from .dense import Dense, dense
from .dropout import Dropout, dropout
from .norm import BatchNorm, BatchNormState, batch_norm
from .serial import Network
from .shape import Flatten, flatten
from .spatial import conv2d, max_pool

__all__ = ["base", "serial", "norm", "shape", "spatial", "Ctx", "init", "forward", "backward",
           "kind_of", "spec_to_json", "spec_from_json", "Network", "Dense", "dense",
           "Activation", "activation", "relu", "leaky_relu", "tanh", "sigmoid", "Flatten",
           "flatten", "Dropout", "dropout", "BatchNorm", "BatchNormState", "batch_norm",
           "conv2d", "max_pool"]
