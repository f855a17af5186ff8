"""Known data sets told by their labels: MNIST and Fashion-MNIST, whole splits only."""

import numpy as np
import pytest

from funcnet.data import Dataset, identify, load, other_data_warning
from funcnet.data.identify import label_fingerprint


@pytest.fixture(scope="module")
def sets():
    return {name: load(name, download=False) for name in ("mnist", "fashion-mnist")}


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_whole_splits_are_recognised(sets, name, split):
    assert identify(sets[name][split]) == name


def test_subsets_reorderings_and_unlabelled_data_are_not(sets):
    test = sets["mnist"]["test"]
    assert identify(test.take(slice(0, 120))) is None
    assert identify(test.take(np.arange(len(test))[::-1])) is None
    assert identify(Dataset(test.x, None)) is None


def test_the_first_recognised_split_names_the_data(sets):
    part = sets["fashion-mnist"]["train"].take(slice(0, 10))
    assert identify(part, None, sets["fashion-mnist"]["test"]) == "fashion-mnist"


def test_mnist_fingerprints_are_the_published_checksums_of_the_label_files(sets):
    assert label_fingerprint(sets["mnist"]["test"].y) == (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")


def test_warning_only_for_a_known_other_data_set(sets):
    fashion = sets["fashion-mnist"]["test"]
    assert "trained on mnist" in other_data_warning("mnist", fashion)
    assert other_data_warning("fashion-mnist", fashion) is None
    assert other_data_warning(None, fashion) is None
    assert other_data_warning("mnist", fashion.take(slice(0, 50))) is None
