"""The tutorial's experiment: a 784-10-10 network, full-batch gradient descent.

Reproduces Samson Zhang's "Simple MNIST NN from scratch (numpy, no
TF/Keras)" (Kaggle notebook and YouTube video, 2020): 42,000 digits
shuffled, the first 1,000 kept as the dev set, pixels / 255, a 784-10-10
network (ReLU, softmax) initialised U[−0.5, 0.5), 500 iterations of
full-batch gradient descent with α = 0.10, the training accuracy printed
every 10 iterations.

With IDX files (``$FUNCNET_DATA/mnist/``) the first 42,000 training digits
stand in for Kaggle's ``train.csv`` and the 10,000 test digits are scored
too; with ``--data train.csv`` Kaggle's file is used as the tutorial does.

``tutorial_quirks=true`` brings back the tutorial's arithmetic: softmax
without the max shift, one scalar bias gradient ``np.sum(dZ)``, gradients
divided by all 42,000 rows instead of the 41,000 trained on, the accuracy of
the forward pass before the update, float64, and an unseeded run (a fresh
seed from the OS unless one is given).

    funcnet run pipelines/mnist.py --seed 0
"""

from __future__ import annotations

import itertools

import attrs
import numpy as np

from funcnet import data as fdata
from funcnet import evaluate as fevaluate
from funcnet import classify, model, optim, rng, train as ftrain
from funcnet.errors import ConfigError
from funcnet.losses import cross_entropy


@attrs.frozen
class Config:
    seed: int | None = attrs.field(default=None, metadata={
        "help": "random seed (default 0; with tutorial_quirks, a fresh one each run)"})
    data: str | None = attrs.field(default=None, metadata={
        "help": "a Kaggle train.csv, or a folder with the MNIST IDX files (default $FUNCNET_DATA/mnist)"})
    rows: int = attrs.field(default=42000, validator=attrs.validators.gt(1), metadata={"help": "training rows used (Kaggle's train.csv has 42,000)"})
    dev_size: int = attrs.field(default=1000, validator=attrs.validators.gt(0), metadata={"help": "rows held out as the dev set"})
    sizes: tuple[int, ...] = attrs.field(default=(784, 10, 10), converter=tuple, metadata={
        "help": "layer sizes, input first: 784,10,10 or deeper (784,64,32,10)"})
    init: str = attrs.field(default="tutorial", metadata={"help": "initialiser: tutorial, he or xavier"})
    activation: str = attrs.field(default="relu", metadata={
        "help": "hidden activation: relu, leaky_relu, tanh, sigmoid"})
    learning_rate: float = attrs.field(default=0.10, validator=attrs.validators.gt(0), metadata={"help": "α in W = W − α·dW"})
    iterations: int = attrs.field(default=500, validator=attrs.validators.gt(0), metadata={"help": "full-batch gradient steps"})
    log_every: int = attrs.field(default=10, validator=attrs.validators.gt(0), metadata={"help": "iterations between progress lines"})
    tutorial_quirks: bool = attrs.field(default=False, metadata={
        "help": "reproduce the tutorial's arithmetic, defects included"})


def keys(config: Config) -> tuple:
    """Three independent keys from the seed: (split, init, train)."""
    return rng.split(rng.key(0 if config.seed is None else config.seed), 3)


def dtype_of(config: Config):
    return np.float64 if config.tutorial_quirks else np.float32


def load(config: Config) -> dict:
    """The raw datasets: {"train": ..., "test": ...} (test only with IDX files)."""
    return fdata.load("mnist", config.data)


def split(config: Config, data: dict) -> dict:
    """Shuffle the first ``rows`` digits, keep ``dev_size`` as dev, scale by 1/255 once."""
    classify.check_sizes(config, data["train"])
    rows = data["train"].take(slice(0, config.rows))
    if config.dev_size >= len(rows):
        raise ConfigError(f"dev_size={config.dev_size}: expected fewer than the {len(rows)} rows used")
    dev, train = fdata.split(keys(config)[0], rows, config.dev_size)
    dt = dtype_of(config)
    as_float = lambda d: fdata.Dataset(fdata.scale(d.x, dt), d.y, d.source)
    out = {"train": as_float(train), "dev": as_float(dev)}
    if data.get("test") is not None:
        out["test"] = data["test"]
    return out


def init_state(config: Config) -> ftrain.TrainState:
    """The state before the first step."""
    _, k_init, k_train = keys(config)
    params = model.init(k_init, config.sizes, scheme=config.init,
                        activation=config.activation, dtype=dtype_of(config))
    return ftrain.init_state(params, optim.sgd(config.learning_rate), k_train)


def _evaluate_step(config: Config, splits: dict):
    def evaluate(state: ftrain.TrainState, window: tuple) -> dict:
        if config.tutorial_quirks:  # the accuracy the tutorial prints: before the update
            acc = int(state.correct) / max(int(state.count), 1)
        else:
            acc = fevaluate.dataset_accuracy(state.params, splits["train"])
        return {"train_loss": float(state.loss), "train_accuracy": acc,
                "dev_accuracy": fevaluate.dataset_accuracy(state.params, splits["dev"]),
                "learning_rate": config.learning_rate}
    return evaluate


def train(config: Config, splits: dict, state: ftrain.TrainState | None = None):
    """The lazy stream of snapshots of full-batch gradient descent."""
    state = init_state(config) if state is None else state
    m = len(splits["train"]) + len(splits["dev"]) if config.tutorial_quirks else None
    step = ftrain.make_step(optim.sgd(config.learning_rate), m=m, quirks=config.tutorial_quirks)
    return ftrain.snapshots(step, state, itertools.repeat(splits["train"]),
                            steps=config.iterations, per_epoch=1, log_every=config.log_every,
                            evaluate=_evaluate_step(config, splits))


def evaluate(config: Config, splits: dict, params: model.Params) -> dict:
    """Final train/dev/test accuracy and the mean cross-entropy on the training set."""
    tr = splits["train"]
    metrics = {"train_accuracy": fevaluate.dataset_accuracy(params, tr),
               "dev_accuracy": fevaluate.dataset_accuracy(params, splits["dev"]),
               "test_accuracy": None,
               "loss": cross_entropy(model.logits(params, tr.x), tr.y)}
    if "test" in splits:
        metrics["test_accuracy"] = fevaluate.dataset_accuracy(params, splits["test"])
    return metrics
