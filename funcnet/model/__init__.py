"""Networks: init, forward, backward, loss, predict and update for any network.

A network is either the tutorial's MLP (:class:`Params`, a tuple of
:class:`Dense` layers and one hidden activation, with fused training
passes in :mod:`funcnet.mlp`) or any sequence of layers
(:class:`funcnet.layers.Network`, built from specs such as
``dense(10)``, ``conv2d(32, 3)``, ``relu()``, ``batch_norm()``). Every
function here takes either; :func:`as_network` views an MLP as the layer
sequence ``dense, g, dense, …``.

:func:`logits` is the one inference path: every prediction (``predict``,
``predict_proba``, ``loss``, the evaluation, the plots, the command line)
goes through it, in chunks of :data:`CHUNK_ROWS` rows (fewer for wide layers: :func:`chunk_rows`).

>>> import numpy as np
>>> from funcnet import rng
>>> from funcnet.layers import dense, relu
>>> mlp = init(rng.key(0), (784, 10, 10), scheme="tutorial")
>>> net = init(rng.key(0), (dense(10), relu(), dense(10)), input_shape=(784,))
>>> predict(mlp, np.zeros((3, 784), np.uint8)).shape, predict(net, np.zeros((3, 784))).shape
((3,), (3,))
"""

# Every name the model module has held, re-exported so that model.<name> keeps working.
from ..layers.dense import SCHEMES, Dense
from ..layers.serial import Network
from ..mlp import CHUNK_ROWS, QUIRKS, Activations, Params, train_grads
from .describing import architecture, as_network, describe, from_architecture, intermediates, summary
from .inference import (CHUNK_FLOATS, _scaled, chunk_rows, dtype_of, input_shape, logits, loss,
                        num_outputs, predict, predict_proba)
from .training import (Trace, _is_sizes, _with_l2, backward, forward, init, init_model_state,
                       leaves, loss_and_grads, stochastic, update, value_and_grads, weights,
                       with_leaves)

__all__ = ["Dense", "Params", "Network", "Activations", "Trace", "SCHEMES", "CHUNK_ROWS",
           "QUIRKS", "CHUNK_FLOATS", "chunk_rows", "init", "init_model_state", "stochastic",
           "leaves", "with_leaves", "forward", "backward", "logits", "loss",
           "loss_and_grads", "train_grads", "value_and_grads", "predict", "predict_proba",
           "update", "intermediates", "summary", "as_network", "architecture",
           "from_architecture", "input_shape", "num_outputs", "dtype_of", "weights", "describe"]
