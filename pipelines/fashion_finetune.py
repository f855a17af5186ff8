"""The MNIST CNN's convolutions under a new head on Fashion-MNIST: fine-tuning, beside training from scratch.

The network is mnist_cnn.py's (conv(32, 3×3)-relu-maxpool(2)-conv(64, 3×3)-
relu-maxpool(2)-flatten-dropout-dense(128)-relu-dropout-dense(10)). With
``--init-from`` a trained MNIST CNN gives it its two convolutions (layers 0
and 3: ``init_layers=layers.0-5``), the dense head starts fresh, and the
convolutions are either frozen (``--freeze layers.0-5``: no update, and the
backward pass stops above them) or trained at a tenth of the rate
(``--set lr_groups=layers.0-5=2e-4``, the rest at 2e-3). Without
``--init-from`` the same network trains from scratch, for the same number of
epochs: the comparison. Data: Zalando Research's Fashion-MNIST (Xiao, Rasul &
Vollgraf 2017, arXiv:1708.07747), clothes mirrored left-right at random.

    funcnet run pipelines/mnist_cnn.py --seed 0 --out runs/cnn          # the MNIST CNN to start from
    funcnet run pipelines/fashion_finetune.py --init-from runs/cnn --freeze layers.0-5 --out runs/ft-frozen
    funcnet run pipelines/fashion_finetune.py --init-from runs/cnn --set lr_groups=layers.0-5=2e-4 --out runs/ft-tenth
    funcnet run pipelines/fashion_finetune.py --out runs/ft-scratch    # the same network from scratch
"""

from __future__ import annotations

import attrs

from funcnet import classify
from funcnet.classify import evaluate, init_state, load, split, train  # the stages


@attrs.frozen
class Config(classify.CNNConfig):
    """classify.CNNConfig (the MNIST CNN's network) on Fashion-MNIST, left-right flips instead of
    shifts, 5 epochs, and init_from taking the convolutions (layers 0-5) only."""

    dataset: str = classify.default(classify.CNNConfig, "dataset", "fashion-mnist")
    data: str | None = classify.field(
        None, "a folder with the IDX files (default $FUNCNET_DATA/fashion-mnist)")
    shift: int = classify.default(classify.CNNConfig, "shift", 0)
    flip: bool = classify.default(classify.CNNConfig, "flip", True)
    epochs: int = classify.default(classify.CNNConfig, "epochs", 5)
    init_layers: tuple[str, ...] = classify.default(classify.CNNConfig, "init_layers", ("layers.0-5",))
