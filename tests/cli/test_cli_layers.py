"""The commands on networks of layers: show prints the network; predict and evaluate rebuild
a CNN with batch norm from its model file alone; weights.png draws conv filters."""

from __future__ import annotations

import numpy as np
import pytest

from funcnet import checkpoint, model, plots, rng, tree
from funcnet.cli import load_model, probabilities
from funcnet.layers import batch_norm, conv2d, dense, flatten, max_pool, relu

from .cli_helpers import MNIST, invoke



def test_show_prints_the_default_network():
    result = invoke("show", MNIST)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index("network (default config):")
    assert lines[at + 1].split() == ["layer", "kind", "output_shape", "params"]
    assert [line.split()[1] for line in lines[at + 2:at + 5]] == ["dense", "relu", "dense"]
    assert "7,960 trainable parameters" in lines


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory):
    net = model.init(rng.key(0), (conv2d(4, 3), batch_norm(), relu(), max_pool(2), flatten(),
                                  dense(10)), input_shape=(28, 28, 1))
    state = model.init_model_state(net)
    path = tmp_path_factory.mktemp("cnn") / "model.safetensors"
    return checkpoint.save_network(path, net, state, config={"dataset": "mnist"}), net, state


def test_evaluate_and_predict_rebuild_a_cnn_from_its_file(cnn_file, mnist_test, tmp_path):
    path, net, state = cnn_file
    result = invoke("evaluate", path)
    assert result.exit_code == 0, result.stderr
    assert "conv2d batch_norm relu max_pool flatten dense on (28, 28, 1)" in result.stdout
    params, info = load_model(path)
    expected = model.predict(net, mnist_test.x, model_state=state)
    np.testing.assert_array_equal(probabilities(params, mnist_test.x, info["model_state"])
                                  .argmax(axis=1), expected)
    out = tmp_path / "pred.csv"
    result = invoke("predict", path, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert out.read_text().splitlines()[1] == f"1,{expected[0]}"


def test_weights_png_shows_conv_filters(cnn_file, tmp_path):
    if not plots.available():
        pytest.skip("matplotlib is not installed")
    _, net, _ = cnn_file
    assert plots.weights(model.weights(net)[0], tmp_path / "weights.png").stat().st_size > 0


BN_PIPELINE = '''
import itertools

import attrs
import numpy as np

from funcnet import data as fdata
from funcnet import model, optim, rng, train as ftrain
from funcnet.layers import batch_norm, dense, dropout, flatten, relu


@attrs.frozen
class Config:
    seed: int = 0
    iterations: int = 6


def load(config):
    x = (np.arange(60 * 784) % 251).astype(np.uint8).reshape(60, 784)
    return {"train": fdata.Dataset(x, np.arange(60) % 10)}


def split(config, data):
    dev, train = fdata.split(rng.key(config.seed), data["train"], 20)
    return {"train": train, "dev": dev, "test": dev}


def init_state(config):
    net = model.init(rng.key(config.seed), (flatten(), dense(8), batch_norm(), relu(),
                                            dropout(0.2), dense(10)), input_shape=(28, 28, 1))
    return ftrain.init_state(net, optim.adam(0.01), rng.key(1))


def train(config, splits, state=None):
    state = init_state(config) if state is None else state
    step = ftrain.make_step(optim.adam(0.01))
    batches = fdata.stream(rng.key(2), splits["train"], 10, start_step=int(state.step))
    return ftrain.snapshots(step, state, batches, steps=config.iterations, per_epoch=4,
                            evaluate=lambda s, w: {"train_loss": float(s.loss)})


def evaluate(config, splits, params, model_state=None):
    acc = lambda d: float(np.mean(model.predict(params, d.x, model_state=model_state) == d.y))
    return {"train_accuracy": acc(splits["train"]), "dev_accuracy": acc(splits["dev"]),
            "test_accuracy": acc(splits["dev"]), "loss": 1.0}
'''


def test_run_saves_and_resumes_a_network_with_batch_norm(tmp_path):
    pipe = tmp_path / "bn.py"
    pipe.write_text(BN_PIPELINE, encoding="utf-8")
    straight, first = tmp_path / "straight", tmp_path / "first"
    assert invoke("run", pipe, "--out", straight, "--quiet").exit_code == 0
    result = invoke("run", pipe, "--out", first, "--quiet", "--set", "iterations=4")
    assert result.exit_code == 0, result.stderr
    result = invoke("run", pipe, "--resume", first, "--quiet", "--set", "iterations=6")
    assert result.exit_code == 0, result.stderr
    a, a_info = load_model(straight)
    b, b_info = load_model(first)
    assert tree.equal(a, b) and tree.equal(a_info["model_state"], b_info["model_state"])
    assert a_info["model_state"][2].mean.shape == (8,)
    assert a_info["metadata"]["architecture"]["input_shape"] == [28, 28, 1]
    result = invoke("evaluate", straight, "--data", str(tmp_path / "nowhere"))
    assert result.exit_code != 0 and "Traceback" not in result.stderr
