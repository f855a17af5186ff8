"""Networks: init, forward, backward, loss, predict and update for any network of layers.

Every network is a :class:`funcnet.layers.Network`, built from layer specs
such as ``dense(10)``, ``conv2d(32, 3)``, ``relu()``, ``batch_norm()``,
``residual(...)``, or from layer sizes as the tutorial does (``(784, 10,
10)`` is ``dense(10), relu(), dense(10)`` on 784 inputs). A network whose
layers are ``dense (activation [dropout] dense)*`` trains and predicts
through a private fused kernel (:mod:`funcnet.model._fused`), the same
arithmetic in fewer, larger steps.

:func:`logits` is the one inference path: every prediction (``predict``,
``predict_proba``, ``loss``, the evaluation, the plots, the command line)
goes through it, in chunks (:func:`chunk_rows`). An :class:`Ensemble` of
trained networks goes through it too: its probabilities are the mean of its
members' (:mod:`funcnet.model.ensembles`).

>>> import numpy as np
>>> from funcnet import rng
>>> from funcnet.layers import dense, relu
>>> mlp = init(rng.key(0), (784, 10, 10), scheme="tutorial")
>>> net = init(rng.key(0), (dense(10), relu(), dense(10)), input_shape=(784,))
>>> predict(mlp, np.zeros((3, 784), np.uint8)).tolist(), predict(net, np.zeros((3, 784))).shape
([7, 7, 7], (3,))
"""

from ..layers.dense import SCHEMES, Dense
from ..layers.network import Network
from .ensembles import Ensemble
from .describing import (architecture, architecture_specs, describe, from_architecture, intermediates,
                         summary)
from .inference import (CHUNK_FLOATS, CHUNK_ROWS, chunk_rows, dtype_of, input_shape, logits, loss,
                        num_outputs, predict, predict_proba)
from .training import (Trace, backward, check_labels, forward, init, init_model_state, leaves,
                       loss_and_grads, stochastic, update, value_and_grads, weights, with_leaves)
from .transferring import Match, layer_paths, match, transfer, transfer_state

__all__ = ["Dense", "Network", "Ensemble", "Trace", "SCHEMES", "CHUNK_ROWS", "CHUNK_FLOATS", "chunk_rows",
           "init", "init_model_state", "stochastic", "leaves", "with_leaves", "forward",
           "backward", "check_labels", "logits", "loss", "loss_and_grads", "value_and_grads",
           "predict", "predict_proba", "update", "intermediates", "summary", "architecture",
           "from_architecture", "architecture_specs", "input_shape", "num_outputs", "dtype_of",
           "weights", "describe", "Match", "match", "transfer", "transfer_state", "layer_paths"]
