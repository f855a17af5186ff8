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
seed from the OS unless one is given). ``fixes=softmax,bias`` keeps the
other quirks and fixes only those (``funcnet run ... --ablation`` runs each
fix alone).

    funcnet run pipelines/mnist.py --seed 0
"""

from __future__ import annotations

import itertools

import attrs
import numpy as np

from funcnet import data as fdata
from funcnet import evaluate as fevaluate
from funcnet import classify, model, rng, tunables, train as ftrain
from funcnet._kernels import default_threads
from funcnet.model import _fused  # the fused dense kernel: the one place the tutorial's quirks live
from funcnet.errors import ConfigError
from funcnet.losses import cross_entropy

QUIRKS = {
    "softmax": "subtract the row maximum before exp (the tutorial overflows on large logits)",
    "bias": "one gradient per bias unit (the tutorial's np.sum(dZ) gives one scalar for all)",
    "m": "divide gradients by the 41,000 rows trained on (the tutorial divides by all 42,000)",
    "accuracy": "log the accuracy after the update (the tutorial logs the forward pass before it)",
    "float64": "compute in float32 (the tutorial computes in float64)",
}


def _known_fixes(instance, attribute, value):
    unknown = [v for v in value if v not in QUIRKS]
    if unknown:
        raise ValueError(f"'fixes': unknown {', '.join(unknown)}; expected names from {', '.join(QUIRKS)}")


@attrs.frozen
class Config:
    seed: int | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.ge(0)), metadata={
        "help": "random seed (default 0; with tutorial_quirks, a fresh one each run)"})
    data: str | None = attrs.field(default=None, metadata={
        "help": "a Kaggle train.csv, or a folder with the MNIST IDX files (default $FUNCNET_DATA/mnist)"})
    rows: int = attrs.field(default=42000, validator=attrs.validators.gt(1), metadata={"help": "training rows used (Kaggle's train.csv has 42,000)"})
    dev_size: int = attrs.field(default=1000, validator=attrs.validators.gt(0), metadata={"help": "rows held out as the dev set"})
    sizes: tuple[int, ...] = attrs.field(default=(784, 10, 10), converter=tuple, metadata={
        "help": "layer sizes, input first: 784,10,10 or deeper (784,64,32,10)"})
    init: str = attrs.field(default="tutorial", validator=classify.INIT, metadata={
        "help": "initialiser: tutorial, he or xavier"})
    activation: str = attrs.field(default="relu", validator=classify.ACTIVATION, metadata={
        "help": "hidden activation: relu, leaky_relu, tanh, sigmoid"})
    learning_rate: float = attrs.field(default=0.10, validator=attrs.validators.gt(0), metadata={"help": "α in W = W − α·dW"})
    iterations: int = attrs.field(default=500, validator=attrs.validators.gt(0), metadata={"help": "full-batch gradient steps"})
    log_every: int = attrs.field(default=10, validator=attrs.validators.gt(0), metadata={"help": "iterations between progress lines"})
    tutorial_quirks: bool = attrs.field(default=False, metadata={
        "help": "reproduce the tutorial's arithmetic, defects included"})
    fixes: tuple[str, ...] = attrs.field(default=(), converter=tuple, validator=_known_fixes, metadata={
        "help": f"with tutorial_quirks: quirks to fix anyway ({', '.join(QUIRKS)})"})


def keys(config: Config) -> tuple:
    """Three independent keys from the seed: (split, init, train)."""
    return rng.split(rng.key(0 if config.seed is None else config.seed), 3)


def quirks(config: Config) -> frozenset:
    """The quirks in force: all of QUIRKS but ``fixes`` with tutorial_quirks, else none."""
    return frozenset(QUIRKS) - set(config.fixes) if config.tutorial_quirks else frozenset()


def dtype_of(config: Config):
    return np.float64 if "float64" in quirks(config) else np.float32


def load(config: Config) -> dict:
    """The raw datasets: {"train": ..., "test": ...} (test only with IDX files)."""
    return fdata.load("mnist", config.data)


def split(config: Config, data: dict) -> dict:
    """Shuffle the first ``rows`` digits and keep ``dev_size`` as dev; the pixels stay integers
    (a quarter of float32's bytes), scaled by 1/255 to the pipeline's dtype a chunk at a time
    by the training pass and the evaluation (X / 255 with the bits of ``data.scale``)."""
    classify.check_sizes(config, fdata.require_labels(data["train"]))
    rows = data["train"].take(slice(0, config.rows))
    if config.dev_size >= len(rows):
        raise ConfigError(f"dev_size={config.dev_size}: expected fewer than the {len(rows)} rows used")
    dev, train = fdata.split(keys(config)[0], rows, config.dev_size)
    as_pixels = lambda d: d if np.issubdtype(d.x.dtype, np.integer) else fdata.Dataset(
        fdata.scale(d.x, dtype_of(config)), d.y, d.source)
    out = {"train": as_pixels(train), "dev": as_pixels(dev)}
    if data.get("test") is not None:
        out["test"] = data["test"]
    return out


def init_state(config: Config) -> ftrain.TrainState:
    """The state before the first step."""
    _, k_init, k_train = keys(config)
    params = model.init(k_init, config.sizes, scheme=config.init,
                        activation=config.activation, dtype=dtype_of(config))
    return ftrain.TrainState(params, (), np.int64(0), k_train)  # plain GD keeps no optimizer state


def _evaluate_step(config: Config, splits: dict):
    def evaluate(state: ftrain.TrainState, window: tuple) -> dict:
        if "accuracy" in quirks(config):  # the accuracy the tutorial prints: before the update
            acc = int(state.correct) / max(int(state.count), 1)
        else:
            acc = fevaluate.dataset_accuracy(state.params, splits["train"])
        dev = splits["dev"]
        z = model.logits(state.params, dev.x)  # one pass for the dev loss and accuracy
        return {"train_loss": float(state.loss), "train_accuracy": acc,
                "dev_loss": cross_entropy(z, dev.y),
                "dev_accuracy": fevaluate.accuracy(dev.y, z.argmax(axis=1)),
                "learning_rate": config.learning_rate}
    return evaluate


def gradient_descent_step(config: Config, total_rows: int, plan: tuple | None = None):
    """The tutorial's iteration as a pure step: forward, backward, W = W − α·dW.

    Forward and backward run together over fixed chunks of rows (1,024 in float32; the layout
    of :func:`funcnet.model._fused.layout` for the BLAS kernel), on every
    core (:func:`funcnet.model._fused.grads`: the gradient of the whole batch is
    the sum of the chunks', added in chunk order, so the same seed gives the
    same bits on any number of cores). Each quirk in force changes one line:
    ``softmax`` the output function, ``bias`` the bias gradient, ``m`` the
    divisor (all ``total_rows``).

    ``plan`` = (layout, threads) is the planner's choice for this machine
    (:func:`funcnet.tunables.chunked_plan`: zero-column paddings and threads
    that give the default layout's bits), else the default layout.
    """
    q, lr = quirks(config), config.learning_rate
    layout, threads = plan if plan is not None else (None, None)
    m = total_rows if "m" in q else None
    tutorial = [name for name in ("softmax", "bias") if name in q]

    def step(state: ftrain.TrainState, batch) -> ftrain.TrainState:
        nll, grads, correct = _fused.grads(
            state.params, batch.x, batch.y, m=m, quirks=tutorial, plan=layout,
            threads=None if threads is None else min(threads, default_threads()))
        return ftrain.TrainState(model.update(state.params, grads, lr), state.opt_state,
                                 np.int64(state.step + 1), state.key,
                                 np.float64(nll / len(batch.y)),
                                 np.int64(correct), np.int64(len(batch.y)))

    return step


def train(config: Config, splits: dict, state: ftrain.TrainState | None = None):
    """The lazy stream of snapshots of full-batch gradient descent."""
    state = init_state(config) if state is None else state
    tr = splits["train"]
    plan = tunables.chunked_plan(tunables.chunked_key(tr.x, config.sizes, dtype_of(config)))
    step = gradient_descent_step(config, len(tr) + len(splits["dev"]), plan)
    return ftrain.snapshots(step, state, itertools.repeat(splits["train"]),
                            steps=config.iterations, per_epoch=1, log_every=config.log_every,
                            evaluate=_evaluate_step(config, splits))


def evaluate(config: Config, splits: dict, params: model.Network) -> dict:
    """Final train/dev/test accuracy and the mean cross-entropy on the training set."""
    tr = splits["train"]
    metrics = {"train_accuracy": fevaluate.dataset_accuracy(params, tr),
               "dev_accuracy": fevaluate.dataset_accuracy(params, splits["dev"]),
               "test_accuracy": None,
               "loss": cross_entropy(model.logits(params, tr.x), tr.y)}
    if "test" in splits:
        metrics["test_accuracy"] = fevaluate.dataset_accuracy(params, splits["test"])
    return metrics
