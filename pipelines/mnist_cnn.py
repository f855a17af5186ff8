"""A small convolutional network on MNIST: two conv-relu-pool blocks and a dense head.

conv(32, 3×3)-relu-maxpool(2)-conv(64, 3×3)-relu-maxpool(2)-flatten-
dropout-dense(128)-relu-dropout-dense(10), He initialisation, AdamW with a
warm-up and cosine decay, and training digits shifted by up to two pixels
(Simard et al. 2003's simplest distortion). 5,000 training digits are held
out as the dev set; the final figure is on the 10,000 test digits. The
network is ``Config.network()`` (see ``funcnet show pipelines/mnist_cnn.py``);
``--set filters=32,64 --set hidden=128 ...`` change it.

For comparison: Keras' small convnet example (the same two blocks, dropout
and one dense layer of 10, 15 epochs) reports about 99.2% test accuracy.

    funcnet run pipelines/mnist_cnn.py --seed 0 --out runs/cnn
"""

from __future__ import annotations

import attrs

from funcnet import classify
from funcnet.classify import evaluate, init_state, load, split, train  # the stages


@attrs.frozen
class Config(classify.CNNConfig):
    """conv32-pool-conv64-pool-dense128 on MNIST: every field and default is classify.CNNConfig's."""
