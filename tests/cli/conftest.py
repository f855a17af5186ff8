"""Fixtures for the CLI tests: a runner, tiny configs, a trained run folder, Kaggle-style CSVs.

Real MNIST digits come from $FUNCNET_DATA/mnist (set by tests/conftest.py).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from funcnet import data as fdata

from .cli_helpers import (BROKEN_PIPELINE, MNIST, QUIRKS_PIPELINE, TINY, TOY_PIPELINE, invoke,
                          write_csv)


@pytest.fixture(scope="session")
def mnist_test() -> fdata.Dataset:
    """The 10,000 real MNIST test digits."""
    return fdata.load("mnist", download=False)["test"]


@pytest.fixture(scope="session")
def kaggle_test_csv(tmp_path_factory, mnist_test) -> Path:
    """Kaggle's test.csv format (pixel0..pixel783, no label) holding 120 real test digits."""
    return write_csv(tmp_path_factory.mktemp("kaggle") / "test.csv", mnist_test.x[:120], None)


@pytest.fixture(scope="session")
def labelled_csv(tmp_path_factory, mnist_test) -> Path:
    """Kaggle's train.csv format (label, pixel0..pixel783) holding 120 real test digits."""
    return write_csv(tmp_path_factory.mktemp("kaggle") / "train.csv", mnist_test.x[:120],
                      mnist_test.y[:120])


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A finished tiny run of pipelines/mnist.py saved with --out (pictures included)."""
    out = tmp_path_factory.mktemp("runs") / "mnist"
    result = invoke("run", MNIST, *TINY, "--seed", "0", "--out", out)
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture
def quirks_pipeline(tmp_path) -> Path:
    """A pipeline file offering QUIRKS and Config.fixes (for --ablation)."""
    path = tmp_path / "quirky.py"
    path.write_text(textwrap.dedent(QUIRKS_PIPELINE), encoding="utf-8")
    return path


@pytest.fixture
def broken_pipeline(tmp_path) -> Path:
    """A pipeline file whose load raises RuntimeError."""
    path = tmp_path / "broken.py"
    path.write_text(BROKEN_PIPELINE, encoding="utf-8")
    return path


@pytest.fixture
def toy_pipeline(tmp_path) -> Path:
    """A pipeline on synthetic images (milliseconds a run) that can simulate Ctrl-C."""
    path = tmp_path / "toy.py"
    path.write_text(TOY_PIPELINE, encoding="utf-8")
    return path


@pytest.fixture(scope="package", autouse=True)
def _one_blas_thread():
    """One BLAS thread while the CLI tests run: their small matrices go faster that way."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1):
        yield
