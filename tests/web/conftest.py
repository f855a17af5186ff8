"""Fixtures of the page's tests: the real MNIST test digits."""

from __future__ import annotations

import pytest

from funcnet import data as fdata


@pytest.fixture(scope="session")
def mnist_test() -> fdata.Dataset:
    """The 10,000 real MNIST test digits."""
    return fdata.load("mnist", download=False)["test"]
