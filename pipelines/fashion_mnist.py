"""The deep MLP of mnist_mlp.py on Fashion-MNIST: 28x28 clothing images, 10 classes.

Data: Zalando Research's Fashion-MNIST (Xiao, Rasul & Vollgraf 2017,
arXiv:1708.07747), read from ``$FUNCNET_DATA/fashion-mnist/`` or Debian's
``/usr/share/datasets/fashion-mnist``. For comparison, the paper's Table 3
lists scikit-learn's MLPClassifier with 100 hidden units at 87.1% test
accuracy.

    funcnet run pipelines/fashion_mnist.py --seed 0 --out runs/fashion
"""

from __future__ import annotations

import attrs

from funcnet import classify


def _f(default, help, validator=None):
    return attrs.field(default=default, validator=validator, metadata={"help": help})


_pos, _ge0 = attrs.validators.gt(0), attrs.validators.ge(0)
_rate = attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.lt(1.0))


@attrs.frozen
class Config:
    seed: int = _f(0, "random seed (split, init, batches and dropout)", _ge0)
    dataset: str = _f("fashion-mnist", "dataset folder name under $FUNCNET_DATA")
    data: str | None = _f(None, "a folder with the IDX files (default $FUNCNET_DATA/fashion-mnist)")
    dev_size: int = _f(5000, "training rows held out as the dev set", _pos)
    sizes: tuple[int, ...] = attrs.field(default=(784, 512, 512, 10), converter=tuple,
                                         metadata={"help": "layer sizes, input first"})
    init: str = _f("he", "initialiser: he, xavier or tutorial")
    activation: str = _f("relu", "hidden activation: relu, leaky_relu, tanh, sigmoid")
    optimizer: str = _f("adamw", "sgd, momentum, rmsprop, adam or adamw")
    learning_rate: float = _f(1e-3, "peak learning rate", _pos)
    momentum: float = _f(0.9, "momentum for sgd/momentum")
    schedule: str = _f("cosine", "learning-rate schedule: constant, cosine, step, exponential")
    warmup_epochs: float = _f(0.5, "linear warm-up, in epochs", _ge0)
    weight_decay: float = _f(1e-4, "decoupled weight decay (adamw)", _ge0)
    l2: float = _f(0.0, "L2 penalty λ in the loss (λ/2·ΣW²)", _ge0)
    dropout: float = _f(0.4, "dropout rate on hidden layers (inverted dropout), in [0, 1)", _rate)
    shift: int = _f(0, "augmentation: translate training images by up to this many pixels", _ge0)
    flip: bool = _f(False, "augmentation: mirror training images left-right at random")
    clip_norm: float | None = _f(None, "clip gradients to this global norm (none: off)",
                                attrs.validators.optional(_pos))
    batch_size: int = _f(128, "minibatch size", _pos)
    epochs: int = _f(30, "passes over the training set", _pos)
    patience: int | None = _f(None, "early stopping: epochs without a better dev accuracy (none: off)",
                            attrs.validators.optional(_pos))


load = classify.load
split = classify.split
train = classify.train
evaluate = classify.evaluate


def init_state(config: Config):
    """The state before the first step (and the template a checkpoint loads into)."""
    return classify.init_state(config)
