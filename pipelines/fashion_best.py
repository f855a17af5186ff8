"""mnist_best.py's network on Fashion-MNIST, aimed at the best small CNNs there.

Data: Zalando Research's Fashion-MNIST (Xiao, Rasul & Vollgraf 2017,
arXiv:1708.07747) from ``$FUNCNET_DATA/fashion-mnist/``. Anchors: the
Fashion-MNIST benchmark table's best small CNNs reach 92.5–93.2 %; an
augmented CNN there reports a 94.2 % mean. Clothes are mirrored left-right at
random and shifted, not rotated (a rotated shirt is rarely seen); the stages
are wider (32, 64) and the run one epoch longer (14 epochs: an epoch of two
seeds side by side took 108-167 s on the 2-core machines measured).

Measured (2026-12-07, a 2-core AMD EPYC, OpenBLAS 0.3.31, one BLAS thread a
run, two runs side by side): with dropout 0.4 (mnist_best's) the test
accuracy was 0.9206 (seed 0) and 0.9199 (seed 2), their ensemble 0.9245, in
34 and 39 minutes of training (seed 2 shared the cores with two other runs
for about 5 minutes); the training accuracy (0.933) said the
network underfits, and with dropout 0.2 seeds 0, 1 and 2 reached 0.9255,
0.9299 and 0.9277 (0.9277 ± 0.0022; train 0.944) in 33-38 minutes, their
ensemble 0.9317, at ``fashion_cnn.py``'s level (0.9273 ± 0.0020). As on
MNIST, dropout cost accuracy at this budget, so there is none now (the
dropout layers stay, at rate 0): measured on a 2-core Intel Xeon (cpu family
6, model 207, same day, ``--seeds 0,1 --workers 2``, run as ``--set
dropout=0``), seeds 0 and 1 reached 0.9342 and 0.9354 (train 0.955) in 39.8
and 39.3 minutes, their ensemble 0.9374; at 4 epochs (seed 0) dropout 0 gave
0.9110 against 0.9037 with 0.2.

Without dropout, on a 2-core AMD EPYC of cpu family 26 (2026-12-07/08, OpenBLAS
0.3.31 under its Haswell kernel, as ``OPENBLAS_CORETYPE=Haswell`` in that
machine's environment set it, ``--seeds 2,3``, ``--seeds 4,0`` and
``--seeds 1``, one BLAS thread a run, two runs at a time but the last): seeds
0-4 reached 0.9341, 0.9344, 0.9333, 0.9354 and 0.9361 (train 0.954-0.955;
seeds 0, 1, 2: 0.9339 ± 0.0006, short of the 93.5 % aimed at; all five
0.9347 ± 0.0011) in 28.0-34.1 minutes of training each (seed 1, alone, on a
slower stretch of the host); their ensemble of five 0.9400 (of seeds 0, 2, 3,
4: 0.9394). Seed 0's train accuracy was 0.9538 here against 0.9559 on the
Xeon: another CPU and OpenBLAS kernel give other bits, about the same
accuracy.

    funcnet run pipelines/fashion_best.py --seeds 0,1,2,3,4 --workers 2 --out runs/fashion-best
    funcnet ensemble runs/fashion-best/seed-* --out runs/fashion-best-ensemble
    funcnet evaluate runs/fashion-best-ensemble
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import attrs

from funcnet import classify
from funcnet.classify import evaluate, init_state, load, split, train  # the stages

__all__ = ["Config", "load", "split", "init_state", "train", "evaluate"]
REDEFINED = ("filters",)  # CNNConfig's field, here the width of each strided stage

_spec = importlib.util.spec_from_file_location("_mnist_best", Path(__file__).with_name("mnist_best.py"))
_best = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_best)


@attrs.frozen
class Config(_best.Config):
    """mnist_best's Config on Fashion-MNIST: wider stages, flips and shifts, no dropout, 14 epochs."""

    dataset: str = classify.default(classify.CNNConfig, "dataset", "fashion-mnist")
    data: str | None = classify.field(
        None, "a folder with the IDX files (default $FUNCNET_DATA/fashion-mnist)")
    filters: tuple[int, ...] = attrs.field(default=(32, 64), converter=tuple,
                                           metadata={"help": "width of each strided conv stage"})
    rotation: float = classify.default(classify.CNNConfig, "rotation", 0.0)
    zoom: float = classify.default(classify.CNNConfig, "zoom", 0.0)
    flip: bool = classify.default(classify.CNNConfig, "flip", True)
    dropout: float = classify.default(classify.CNNConfig, "dropout", 0.0)
    epochs: int = classify.default(classify.CNNConfig, "epochs", 14)
