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
from funcnet.classify import evaluate, init_state, load, split, train  # the stages


@attrs.frozen
class Config(classify.MLPConfig):
    """classify.MLPConfig with the Fashion-MNIST data, more dropout, more epochs, no shifts."""

    dataset: str = classify.default(classify.MLPConfig, "dataset", "fashion-mnist")
    data: str | None = classify.field(
        None, "a folder with the IDX files (default $FUNCNET_DATA/fashion-mnist)")
    dropout: float = classify.default(classify.MLPConfig, "dropout", 0.4)
    shift: int = classify.default(classify.MLPConfig, "shift", 0)
    epochs: int = classify.default(classify.MLPConfig, "epochs", 30)
