"""Shared helpers of the CLI tests: paths, tiny configs, an in-process runner, test pipelines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from funcnet.cli import cli

REPO = Path(__file__).resolve().parents[2]
MNIST = str(REPO / "pipelines" / "mnist.py")
MLP = str(REPO / "pipelines" / "mnist_mlp.py")
# The tutorial's pipeline cut down to a fraction of a second.
TINY = ["--set", "iterations=20", "--set", "rows=3000"]
# The minibatch pipeline: one epoch of a 784-32-10 network on 10,000 digits
# (50,000 held out as the dev set), 79 steps.
TINY_MLP = ["--set", "epochs=1", "--set", "sizes=784,32,10", "--set", "dev_size=50000"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def invoke(*args, catch: bool = False, **kwargs):
    """Run ``funcnet ARGS`` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=catch, **kwargs)


def write_csv(path: Path, x: np.ndarray, y: np.ndarray | None) -> Path:
    """Images (and labels) in Kaggle's CSV format: ``[label,]pixel0,...,pixel783``."""
    header = (["label"] if y is not None else []) + [f"pixel{i}" for i in range(784)]
    rows = x.astype(int) if y is None else np.column_stack([y, x]).astype(int)
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=",".join(header), comments="")
    return path


# A tutorial-style pipeline that offers the interface --ablation uses: a QUIRKS
# dict and a Config field ``fixes`` (quirks fixed anyway under tutorial_quirks).
QUIRKS_PIPELINE = '''
"""A small full-batch pipeline whose tutorial quirks can be fixed one at a time."""

import itertools

import attrs
import numpy as np

from funcnet import data as fdata
from funcnet import evaluate as fevaluate
from funcnet import model, optim, rng, train as ftrain
from funcnet.model import _fused
from funcnet.losses import cross_entropy

QUIRKS = {
    "softmax": "softmax with the max shift",
    "bias": "one bias gradient per unit instead of one scalar np.sum(dZ)",
    "m": "gradients divided by the rows trained on, not all rows",
    "float64": "float32 arithmetic instead of float64",
}


@attrs.frozen
class Config:
    seed: int | None = attrs.field(default=None, metadata={"help": "random seed"})
    data: str | None = attrs.field(default=None, metadata={"help": "a folder of IDX files"})
    rows: int = attrs.field(default=1500, metadata={"help": "training rows used"})
    dev_size: int = attrs.field(default=500, metadata={"help": "rows held out as the dev set"})
    learning_rate: float = attrs.field(default=0.1, metadata={"help": "step size"})
    iterations: int = attrs.field(default=10, metadata={"help": "full-batch steps"})
    tutorial_quirks: bool = attrs.field(default=False, metadata={"help": "the tutorial's arithmetic"})
    fixes: tuple[str, ...] = attrs.field(default=(), converter=tuple, metadata={
        "help": "with tutorial_quirks, the quirks fixed anyway"})


def active(config):
    return frozenset(QUIRKS) - frozenset(config.fixes) if config.tutorial_quirks else frozenset()


def keys(config):
    return rng.split(rng.key(config.seed or 0), 3)


def dtype_of(config):
    return np.float64 if "float64" in active(config) else np.float32


def load(config):
    return fdata.load("mnist", config.data, download=False)


def split(config, data):
    rows = data["train"].take(slice(0, config.rows))
    dev, train = fdata.split(keys(config)[0], rows, config.dev_size)
    as_float = lambda d: fdata.Dataset(fdata.scale(d.x, dtype_of(config)), d.y, d.source)
    return {"train": as_float(train), "dev": as_float(dev), "test": data["test"].take(slice(0, 1000))}


def init_state(config):
    _, k_init, k_train = keys(config)
    params = model.init(k_init, (784, 10, 10), scheme="tutorial", dtype=dtype_of(config))
    return ftrain.init_state(params, optim.sgd(config.learning_rate), k_train)


def make_step(config, m_total):
    quirks, opt = active(config), optim.sgd(config.learning_rate)

    def step(state, batch):
        nll, grads, correct = _fused.grads(state.params, batch.x, batch.y,
                                           m=m_total if "m" in quirks else None,
                                           quirks=[q for q in ("softmax", "bias") if q in quirks])
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        return ftrain.TrainState(optim.apply_updates(state.params, updates), opt_state,
                                 np.int64(state.step + 1), state.key, np.float64(nll / len(batch.y)),
                                 np.int64(correct), np.int64(len(batch.y)))

    return step


def train(config, splits, state=None):
    state = init_state(config) if state is None else state
    step = make_step(config, len(splits["train"]) + len(splits["dev"]))
    record = lambda s, w: {"train_loss": float(s.loss),
                           "dev_accuracy": fevaluate.dataset_accuracy(s.params, splits["dev"])}
    return ftrain.snapshots(step, state, itertools.repeat(splits["train"]),
                            steps=config.iterations, per_epoch=1, log_every=5, evaluate=record)


def evaluate(config, splits, params):
    tr = splits["train"]
    return {"train_accuracy": fevaluate.dataset_accuracy(params, tr),
            "dev_accuracy": fevaluate.dataset_accuracy(params, splits["dev"]),
            "test_accuracy": fevaluate.dataset_accuracy(params, splits["test"]),
            "loss": cross_entropy(model.logits(params, tr.x), tr.y)}
'''

# A pipeline whose loader has a bug: an unexpected exception, not a funcnet error.
BROKEN_PIPELINE = '''
import attrs


@attrs.frozen
class Config:
    seed: int = 0


def load(config):
    raise RuntimeError("boom in load")


def split(config, data):
    return data


def init_state(config):
    return None


def train(config, splits, state=None):
    return iter(())


def evaluate(config, splits, params):
    return {}
'''


# A pipeline on 60 synthetic images that trains in milliseconds; Ctrl-C is
# simulated by raising KeyboardInterrupt after two steps for one chosen seed.
TOY_PIPELINE = '''
import itertools

import attrs
import numpy as np

from funcnet import data as fdata
from funcnet import model, optim, rng, train as ftrain
from funcnet.model import _fused

QUIRKS = {"bias": "one bias gradient per unit"}


@attrs.frozen
class Config:
    seed: int = 0
    steps: int = 6
    learning_rate: float = 0.1
    interrupt_seed: int = -1
    tutorial_quirks: bool = False
    fixes: tuple[str, ...] = attrs.field(default=(), converter=tuple)


def load(config):
    x = (np.arange(60 * 784) % 251).astype(np.uint8).reshape(60, 784)
    return {"train": fdata.Dataset(x, np.arange(60) % 10)}


def split(config, data):
    dev, train = fdata.split(rng.key(config.seed), data["train"], 20)
    return {"train": train, "dev": dev}


def init_state(config):
    params = model.init(rng.key(config.seed), (784, 8, 10))
    return ftrain.init_state(params, optim.sgd(config.learning_rate), rng.key(1))


def _interrupting(snaps):
    for i, snap in enumerate(snaps):
        if i == 2:
            raise KeyboardInterrupt
        yield snap


def train(config, splits, state=None):
    state = init_state(config) if state is None else state
    quirks = ["bias"] if config.tutorial_quirks and "bias" not in config.fixes else []
    opt = optim.sgd(config.learning_rate)

    def step(state, batch):
        nll, grads, correct = _fused.grads(state.params, batch.x, batch.y, quirks=quirks)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        return ftrain.TrainState(optim.apply_updates(state.params, updates), opt_state,
                                 np.int64(state.step + 1), state.key, np.float64(nll / len(batch.y)),
                                 np.int64(correct), np.int64(len(batch.y)))

    batches = (fdata.Dataset(fdata.scale(splits["train"].x), splits["train"].y) for _ in itertools.count())
    snaps = ftrain.snapshots(step, state, batches, steps=config.steps, per_epoch=1, log_every=2,
                             evaluate=lambda s, w: {"train_loss": float(s.loss)})
    return _interrupting(snaps) if config.seed == config.interrupt_seed else snaps


def evaluate(config, splits, params):
    acc = lambda d: float(np.mean(model.predict(params, fdata.scale(d.x)) == d.y))
    return {"train_accuracy": acc(splits["train"]), "dev_accuracy": acc(splits["dev"]),
            "loss": 1.0}
'''


def png_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of a PNG, read from its IHDR chunk."""
    head = Path(path).read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def no_temp_files(folder: Path) -> bool:
    """Whether ``folder`` holds no leftover ``.*.tmp`` files of an atomic write."""
    return not [p for p in Path(folder).iterdir() if p.name.endswith(".tmp")]
