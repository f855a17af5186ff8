"""Which known data set a Dataset is, told by its labels alone (a pure fingerprint).

A model file records the data set it was trained on; judging it on another
one (an MNIST model on Fashion-MNIST) gives a meaningless figure, so the CLI
warns. MNIST and Fashion-MNIST have the same file names, shapes and classes
0..9, but their label sequences differ: the SHA-256 of a split's labels,
written as an uncompressed IDX label file (magic 2049, count, one byte per
label), names the data set. For MNIST these are the published checksums of
the uncompressed label files; for Fashion-MNIST they were computed from the
decompressed label files of Debian's ``dataset-fashion-mnist`` package.
A subset or reordering (Kaggle's train.csv) is not recognised: no name.

>>> import numpy as np
>>> identify(Dataset(np.zeros((3, 784), np.uint8), np.array([1, 2, 3]))) is None
True
"""

from __future__ import annotations

import hashlib

import numpy as np

from .dataset import Dataset

__all__ = ["KNOWN_LABELS", "label_fingerprint", "identify", "other_data_warning"]

# SHA-256 of the uncompressed IDX label files: {fingerprint: (data set, split)}.
KNOWN_LABELS: dict[str, tuple[str, str]] = {
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5": ("mnist", "train"),
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2": ("mnist", "test"),
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9": ("fashion-mnist", "train"),
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34": ("fashion-mnist", "test"),
}


def label_fingerprint(y: np.ndarray) -> str | None:
    """SHA-256 of labels ``y`` (shape ``(n,)``) written as an IDX label file, or None.

    The bytes hashed are ``00 00 08 01`` (magic 2049), n as 4 big-endian
    bytes, then one unsigned byte per label; labels outside 0..255 (or no
    labels) give None.

    >>> label_fingerprint(np.array([], np.int64))[:12]
    'd49cd2c2d09f'
    >>> label_fingerprint(None) is None
    True
    """
    if y is None or (len(y) and (y.min() < 0 or y.max() > 255)):
        return None
    head = b"\x00\x00\x08\x01" + len(y).to_bytes(4, "big")
    return hashlib.sha256(head + np.asarray(y).astype(np.uint8).tobytes()).hexdigest()


def identify(*datasets: Dataset | None) -> str | None:
    """The name of the known data set the first recognised split of ``datasets`` belongs to.

    Returns ``"mnist"`` or ``"fashion-mnist"`` when a split's labels are
    exactly one of theirs (a whole train or test split), else None.
    """
    for ds in datasets:
        found = KNOWN_LABELS.get(label_fingerprint(getattr(ds, "y", None)) or "")
        if found is not None:
            return found[0]
    return None


def other_data_warning(trained_on: str | None, dataset: Dataset, where: str = "") -> str | None:
    """A one-line warning if ``dataset`` is a known data set other than ``trained_on``, else None.

    No warning when either side is unknown (an older model file records
    nothing; a CSV file or a subset is not recognised).

    >>> other_data_warning(None, Dataset(np.zeros((1, 1), np.uint8), np.array([0]))) is None
    True
    """
    name = identify(dataset)
    if trained_on is None or name is None or name == trained_on:
        return None
    return (f"the model was trained on {trained_on}, but {where or dataset.source or 'these data'} "
            f"is {name}: its figures here say little about the model")
