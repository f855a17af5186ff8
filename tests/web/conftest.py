"""Fixtures of the page's tests: the real MNIST test digits."""

from __future__ import annotations

import pytest

from funcnet import data as fdata


@pytest.fixture(scope="session")
def mnist_test() -> fdata.Dataset:
    """The 10,000 real MNIST test digits."""
    return fdata.load("mnist", download=False)["test"]


@pytest.fixture(scope="session")
def ensemble_folder(tmp_path_factory, small_mlp):
    """An ensemble folder of two members: the small MLP run and an untrained little CNN
    (conv2d(4, 3), relu, flatten, dense(10) on 28 x 28 x 1) saved as a finished run."""
    import json

    from funcnet import checkpoint, experiments, model, rng, runs
    from funcnet.layers import conv2d, dense, flatten, relu

    folder = tmp_path_factory.mktemp("ensemble")
    cnn = folder / "cnn"
    cnn.mkdir()
    net = model.init(rng.key(0), (conv2d(4, 3), relu(), flatten(), dense(10)), input_shape=(28, 28, 1))
    checkpoint.save_network(cnn / runs.MODEL, net, config={})
    (cnn / runs.CONFIG).write_text("{}")
    (cnn / runs.STATE).write_text("")
    (cnn / runs.METRICS).write_text(json.dumps({"test_accuracy": 0.1}))
    return experiments.ensemble([small_mlp, cnn], folder / "ens")
