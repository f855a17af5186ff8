"""A network of nested blocks on the command line: trained by make_step, stopped in the middle of
an epoch and resumed (batch norm inside a residual block), equal to the uncut run bit for bit;
its model file read by ``funcnet predict``, ``evaluate`` and ``serve`` in fresh processes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from funcnet import checkpoint, model, tree

from .cli_helpers import invoke

RESIDUAL_PIPELINE = '''
import os

import attrs

from funcnet import classify
from funcnet.classify import evaluate, init_state, load, split


@attrs.frozen
class Config(classify.CNNConfig):
    """A small residual network: conv, a residual block with batch norm and dropout inside,
    global average pooling, a dense head."""

    def network(self, classes=10):
        from funcnet.layers import (batch_norm, conv2d, dense, dropout, global_avg_pool,
                                    max_pool, relu, residual)
        return (conv2d(6, 3, padding="same"), relu(), max_pool(2),
                residual(conv2d(6, 3, padding="same"), batch_norm(), relu(), dropout(0.2)),
                global_avg_pool(), dense(classes))


def train(config, splits, state=None, **resume):
    stop = int(os.environ.get("FUNCNET_TEST_STOP_AT", "0"))
    for snap in classify.train(config, splits, state, **resume):
        yield snap
        if stop and int(snap.state.step) == stop:
            raise KeyboardInterrupt
'''

COMMON = ["--set", "epochs=2", "--set", "dev_size=58000", "--set", "batch_size=64",
          "--set", "schedule=cosine", "--set", "warmup_epochs=0.5", "--quiet", "--no-plots"]


@pytest.fixture(scope="module")
def runs_(tmp_path_factory):
    """The same run uncut and cut at step 40 (epoch 2 is steps 33..64), then resumed."""
    import os
    root = tmp_path_factory.mktemp("nested")
    pipe = root / "residual.py"
    pipe.write_text(RESIDUAL_PIPELINE, encoding="utf-8")
    straight = invoke("run", pipe, *COMMON, "--out", root / "straight")
    assert straight.exit_code == 0, straight.stderr
    os.environ["FUNCNET_TEST_STOP_AT"] = "40"
    try:
        cut = invoke("run", pipe, *COMMON, "--out", root / "halves")
    finally:
        del os.environ["FUNCNET_TEST_STOP_AT"]
    assert cut.exit_code == 130, cut.stderr
    resumed = invoke("run", pipe, "--resume", root / "halves", "--quiet", "--no-plots")
    assert resumed.exit_code == 0, resumed.stderr
    return root


def test_resumed_mid_epoch_equals_the_uncut_run_bit_for_bit(runs_):
    a, b = (checkpoint.load_network(runs_ / d / "model.safetensors") for d in ("straight", "halves"))
    assert tree.equal(a[0], b[0]) and tree.equal(a[1], b[1])  # parameters and running statistics
    assert a[1][3][1].var.shape == (6,)  # batch norm's statistics inside the residual block
    names = checkpoint.read_info(runs_ / "straight" / "model.safetensors")["tensors"]
    assert "layers.3.layers.0.w" in names and "model_state.3.1.mean" in names
    ma, mb = (json.loads((runs_ / d / "metrics.json").read_text()) for d in ("straight", "halves"))
    assert ma["steps"] == mb["steps"] == 64 and ma["dev_accuracy"] == mb["dev_accuracy"]


def test_the_model_file_is_read_by_predict_and_evaluate_in_fresh_processes(runs_, shared_data):
    run = runs_ / "straight"
    out = runs_ / "preds.csv"
    cmd = [sys.executable, "-m", "funcnet.cli"]
    got = subprocess.run(cmd + ["predict", run, "--data", shared_data / "mnist", "--split", "test",
                                "--out", out], capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr
    params, state, _ = checkpoint.load_network(run / "model.safetensors")
    from funcnet import data
    test = data.load("mnist", shared_data / "mnist")["test"]
    expected = model.predict(params, test.x, model_state=state)
    written = np.loadtxt(out, delimiter=",", skiprows=1, dtype=int)[:, 1]
    np.testing.assert_array_equal(written, expected)
    judged = subprocess.run(cmd + ["evaluate", run, "--data", shared_data / "mnist"],
                            capture_output=True, text=True, timeout=300)
    assert judged.returncode == 0, judged.stderr
    assert "accuracy" in judged.stdout and "summary" not in judged.stderr


def test_the_page_serves_the_nested_model(runs_):
    pytest.importorskip("flask", reason="needs the serve extra")
    from tests.web import browser
    from tests.web.test_web_server import ask, canvas, port_of
    server = browser.Server(runs_ / "straight")
    try:
        status, about, _ = ask(port_of(server), "GET", "/api/model")
        assert status == 200 and "residual" in json.dumps(about)
        status, answer, _ = ask(port_of(server), "POST", "/api/predict", body=canvas(),
                                headers={"Content-Type": "image/png"})
        assert status == 200 and len(answer["probs"]) == 10
    finally:
        server.stop()
