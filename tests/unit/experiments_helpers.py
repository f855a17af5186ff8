"""A pipeline file for the experiment tests: 60 synthetic images, milliseconds a run.

Its Config can make a run slow (``sleep`` seconds a step), kill its own
process (``die_seed``: SIGKILL in the middle of training; with ``marker``,
only while that file does not exist, so a second try lives), or blow up
(``learning_rate=inf`` gives a non-finite loss); ``note`` is free text that
changes nothing (any string a folder name must survive).
"""

from __future__ import annotations

from pathlib import Path

TOY = '''
"""A toy pipeline on synthetic images."""

import itertools
import os
import signal
import time
from pathlib import Path

import attrs
import numpy as np

from funcnet import data as fdata
from funcnet import model, optim, rng, train as ftrain


@attrs.frozen
class Config:
    seed: int = 0
    steps: int = 6
    learning_rate: float = attrs.field(default=0.1, validator=attrs.validators.gt(0))
    hidden: int = 8
    sizes: tuple[int, ...] = attrs.field(default=(784, 8, 10), converter=tuple)
    sleep: float = 0.0
    die_seed: int = -1
    marker: str = ""
    note: str = ""


def load(config):
    x = (np.arange(60 * 784) % 251).astype(np.uint8).reshape(60, 784)
    return {"train": fdata.Dataset(x, np.arange(60) % 10)}


def split(config, data):
    dev, train = fdata.split(rng.key(config.seed), data["train"], 20)
    return {"train": train, "dev": dev}


def init_state(config):
    params = model.init(rng.key(config.seed), (784, config.hidden, 10))
    return ftrain.init_state(params, optim.sgd(config.learning_rate), rng.key(1))


def _dying(config, snaps):
    for i, snap in enumerate(snaps):
        if i == 2 and config.seed == config.die_seed:
            mark = Path(config.marker) if config.marker else None
            if mark is None or not mark.exists():
                if mark is not None:
                    mark.write_text("died once")
                os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(config.sleep)
        yield snap


def train(config, splits, state=None):
    state = init_state(config) if state is None else state
    step = ftrain.make_step(optim.sgd(config.learning_rate))
    batches = (fdata.Dataset(fdata.scale(splits["train"].x), splits["train"].y)
               for _ in itertools.count())
    snaps = ftrain.snapshots(step, state, batches, steps=config.steps, per_epoch=1, log_every=2,
                             evaluate=lambda s, w: {"train_loss": float(s.loss)})
    return _dying(config, snaps)


def evaluate(config, splits, params):
    acc = lambda d: float(np.mean(model.predict(params, fdata.scale(d.x)) == d.y))
    logits = model.logits(params, fdata.scale(splits["train"].x))
    return {"train_accuracy": acc(splits["train"]), "dev_accuracy": acc(splits["dev"]),
            "loss": float(np.abs(logits).mean())}
'''


def write_toy(folder: Path) -> Path:
    """The toy pipeline as ``folder/toy.py``."""
    path = Path(folder) / "toy.py"
    path.write_text(TOY, encoding="utf-8")
    return path


def metric_columns(frame):
    """The columns that must be equal bit for bit wherever a task ran (not its timing)."""
    return [c for c in frame.columns if c != "seconds"]


def small_mnist_csv(path: Path, rows: int = 600) -> Path:
    """The first ``rows`` MNIST training digits as a Kaggle-style ``train.csv`` (label, pixels):
    ``--set data=...`` of a minibatch pipeline then trains in a fraction of a second."""
    import numpy as np

    from funcnet import data as fdata

    train = fdata.load("mnist", download=False)["train"]
    header = ",".join(["label"] + [f"pixel{i}" for i in range(784)])
    table = np.column_stack([train.y[:rows], train.x[:rows]]).astype(int)
    np.savetxt(path, table, fmt="%d", delimiter=",", header=header, comments="")
    return Path(path)


# A minibatch run of pipelines/mnist_mlp.py on such a file: 10 steps an epoch (500 rows
# trained on, batches of 50), warm-up then cosine decay over the whole run, dropout, shifts.
SMALL_MLP = {"sizes": (784, 16, 10), "dev_size": 100, "batch_size": 50, "epochs": 4,
             "warmup_epochs": 1.0, "schedule": "cosine"}


SEARCH_TOY = '''
"""A toy minibatch pipeline for searches: 60 synthetic images, epochs of 2 steps."""

import itertools
import time

import attrs
import numpy as np

from funcnet import data as fdata
from funcnet import evaluate as fevaluate
from funcnet import model, optim, rng, train as ftrain


@attrs.frozen
class Config:
    seed: int = 0
    epochs: int = 9
    learning_rate: float = attrs.field(default=0.1, validator=attrs.validators.gt(0))
    hidden: int = 8
    momentum: float = 0.0
    sleep: float = 0.0


def load(config):
    r = np.random.default_rng(0)
    y = np.arange(120) % 4
    x = (r.integers(0, 60, (120, 784)) + 150 * (np.arange(784) % 4 == y[:, None])).astype(np.uint8)
    return {"train": fdata.Dataset(x, y)}


def split(config, data):
    dev, train = fdata.split(rng.key(7), data["train"], 40)
    scaled = lambda d: fdata.Dataset(fdata.scale(d.x), d.y)
    return {"train": scaled(train), "dev": scaled(dev)}


def _opt(config):
    return optim.sgd(optim.cosine_decay(config.learning_rate, 2 * config.epochs))


def init_state(config):
    params = model.init(rng.key(config.seed), (784, config.hidden, 10))
    return ftrain.init_state(params, _opt(config), rng.key(1))


def _slowly(snaps, seconds):
    for snap in snaps:
        time.sleep(seconds)
        yield snap


def train(config, splits, state=None):
    state = init_state(config) if state is None else state
    step = ftrain.make_step(_opt(config))
    tr = splits["train"]
    batches = fdata.stream(rng.key(config.seed + 1), tr, 40, start_step=int(state.step))
    record = lambda s, w: {"dev_accuracy": fevaluate.dataset_accuracy(s.params, splits["dev"])}
    snaps = ftrain.snapshots(step, state, batches, steps=config.epochs * 2, per_epoch=2,
                             evaluate=record)
    return _slowly(snaps, config.sleep)


def evaluate(config, splits, params):
    return {"train_accuracy": fevaluate.dataset_accuracy(params, splits["train"]),
            "dev_accuracy": fevaluate.dataset_accuracy(params, splits["dev"]),
            "test_accuracy": None, "loss": 1.0}
'''


def write_search_toy(folder: Path) -> Path:
    """The search toy pipeline as ``folder/search_toy.py``."""
    path = Path(folder) / "search_toy.py"
    path.write_text(SEARCH_TOY, encoding="utf-8")
    return path
