"""funcnet: neural networks from scratch in NumPy, as pure functions over pytrees.

The public face: re-exports only. The network is data (a ``Network`` of
layers from ``funcnet.layers``; the tutorial's MLP is ``dense, relu,
dense``), every step is a pure function (``init``, ``forward``,
``backward``, ``update``), and training is a fold over batches
(``funcnet.train.fit``).

>>> import numpy as np, funcnet
>>> params = funcnet.init(funcnet.rng.key(0), (784, 10, 10), scheme="tutorial")
>>> acts = funcnet.forward(params, np.zeros((2, 784), np.float32))
>>> acts.probs.shape
(2, 10)
"""

from . import (activations, data, errors, evaluate, layers, losses, model, optim, pixels, planner,
               rng, runtime, train, tree)
from .data import Dataset
from .errors import (CheckpointError, ClusterError, ConfigError, DataError, DownloadError,
                     FuncnetError, TrainingError)
from .evaluate import accuracy, confusion_matrix
from .losses import cross_entropy, log_softmax, softmax
from .model import (Dense, Network, Trace, backward, forward, init, intermediates, logits, loss,
                    loss_and_grads, predict, predict_proba, summary, update, value_and_grads)
from .train import TrainState, fit, make_step

__version__ = "0.1.0"

__all__ = [
    "activations", "data", "errors", "evaluate", "layers", "losses", "model", "optim", "pixels",
    "planner", "rng", "runtime",
    "train", "tree",
    "Dataset", "CheckpointError", "ClusterError", "ConfigError", "DataError", "DownloadError",
    "FuncnetError",
    "TrainingError", "accuracy", "confusion_matrix", "cross_entropy", "log_softmax", "softmax",
    "Dense", "Network", "Trace", "backward", "forward", "init", "intermediates", "logits", "loss",
    "loss_and_grads", "predict", "predict_proba", "summary", "update", "value_and_grads",
    "TrainState", "fit", "make_step",
]
