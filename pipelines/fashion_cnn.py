"""The convolutional network of mnist_cnn.py on Fashion-MNIST: 28x28 clothing images, 10 classes.

Data: Zalando Research's Fashion-MNIST (Xiao, Rasul & Vollgraf 2017,
arXiv:1708.07747), read from ``$FUNCNET_DATA/fashion-mnist/``. Each
convolution is followed by batch normalisation (Ioffe & Szegedy 2015),
clothes are mirrored left-right at random instead of shifted, and the run
is longer.

    funcnet run pipelines/fashion_cnn.py --seed 0 --out runs/fashion-cnn
"""

from __future__ import annotations

import attrs

from funcnet import classify
from funcnet.classify import evaluate, init_state, load, split, train  # the stages


@attrs.frozen
class Config(classify.CNNConfig):
    """classify.CNNConfig with the Fashion-MNIST data, "same" padding, batch norm, a dense layer of
    256, left-right flips and no shifts."""

    dataset: str = classify.default(classify.CNNConfig, "dataset", "fashion-mnist")
    data: str | None = classify.field(
        None, "a folder with the IDX files (default $FUNCNET_DATA/fashion-mnist)")
    padding: str = classify.default(classify.CNNConfig, "padding", "same")
    batch_norm: bool = classify.default(classify.CNNConfig, "batch_norm", True)
    hidden: int = classify.default(classify.CNNConfig, "hidden", 256)
    shift: int = classify.default(classify.CNNConfig, "shift", 0)
    flip: bool = classify.default(classify.CNNConfig, "flip", True)
    epochs: int = classify.default(classify.CNNConfig, "epochs", 15)
