"""The commands on networks of layers: show prints the network; predict and evaluate rebuild
a CNN with batch norm from its model file alone; weights.png draws conv filters."""

from __future__ import annotations

import numpy as np
import pytest

from funcnet import checkpoint, model, plots, rng
from funcnet.cli import load_model, probabilities
from funcnet.layers import batch_norm, conv2d, dense, flatten, max_pool, relu, spatial

from .cli_helpers import MNIST, invoke

CONV = pytest.mark.skipif(not spatial.AVAILABLE, reason="no convolution kernels in this build")


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


@CONV
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


@CONV
def test_weights_png_shows_conv_filters(cnn_file, tmp_path):
    if not plots.available():
        pytest.skip("matplotlib is not installed")
    _, net, _ = cnn_file
    assert plots.weights(model.weights(net)[0], tmp_path / "weights.png").stat().st_size > 0
