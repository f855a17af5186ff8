"""The Dataset record, and pure ways to cut it: split, batches, epochs.

Images stay as the readers give them (``uint8``, one example per row) until a
batch is drawn; :func:`scale` turns a batch into floats in [0, 1]. That keeps
60,000 MNIST digits at 47 MB instead of 188 MB, and costs a few microseconds
per batch. A dataset that is already float passes through :func:`scale`
unchanged (the full-batch pipelines scale once up front).
"""

from __future__ import annotations

import itertools
from typing import Iterator

import attrs
import numpy as np
import toolz

from .. import rng
from ..errors import DataError
from ..pixels import scale  # the one scaling rule, below data/ and the engine
from ..tree import pytree, static_field

__all__ = ["Dataset", "as_dataset", "require_labels", "scale", "split", "batches", "stream", "num_batches"]


@pytree
@attrs.frozen(eq=False)
class Dataset:
    """Examples ``x`` of shape ``(n, features)`` and integer labels ``y`` of shape ``(n,)``.

    ``y`` is None for unlabelled data (Kaggle's ``test.csv``). ``source`` names
    where the data came from, for messages.

    >>> ds = Dataset(np.zeros((3, 4), np.uint8), np.array([0, 1, 2]))
    >>> len(ds), ds.num_features
    (3, 4)
    """

    x: np.ndarray
    y: np.ndarray | None = None
    source: str = static_field(default="")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.x.shape[1])

    def take(self, index) -> "Dataset":
        """The rows at ``index`` (a slice, or an integer array)."""
        return Dataset(self.x[index], None if self.y is None else self.y[index], self.source)


def as_dataset(data) -> Dataset:
    """``data`` as a :class:`Dataset`: a Dataset itself, or an ``(x, y)`` pair (or ``(x,)``).

    >>> as_dataset((np.zeros((2, 3)), np.array([0, 1]))).y.tolist()
    [0, 1]
    >>> as_dataset([1, 2, 3])
    Traceback (most recent call last):
    ...
    TypeError: expected a Dataset or an (x, y) pair of arrays, got a list of 3 items
    """
    if isinstance(data, Dataset):
        return data
    if isinstance(data, tuple) and len(data) in (1, 2):
        x, y = (data[0], None) if len(data) == 1 else data
        return Dataset(np.asarray(x), None if y is None else np.asarray(y))
    what = f"a {type(data).__name__} of {len(data)} items" if hasattr(data, "__len__") \
        else type(data).__name__
    raise TypeError(f"expected a Dataset or an (x, y) pair of arrays, got {what}")


def require_labels(dataset: Dataset) -> Dataset:
    """``dataset`` itself if it has labels, else a DataError naming its file (training needs them).

    >>> require_labels(Dataset(np.zeros((2, 784), np.uint8), None, "test.csv"))
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: test.csv: this file has no label column: training needs labelled data (Kaggle's train.csv: label,pixel0,...,pixel783); an unlabelled file such as test.csv is for funcnet predict
    """
    if dataset.y is None:
        raise DataError(f"{dataset.source or 'the training data'}: this file has no label column: "
                        "training needs labelled data (Kaggle's train.csv: label,pixel0,...,"
                        "pixel783); an unlabelled file such as test.csv is for funcnet predict")
    return dataset


def split(key, dataset: Dataset, *sizes: int) -> tuple[Dataset, ...]:
    """Shuffle with ``key``, then cut into pieces of ``sizes`` and the rest.

    Returns ``len(sizes) + 1`` datasets; every row lands in exactly one. The
    tutorial's ``dev, train = split(key, data, 1000)``.

    >>> ds = Dataset(np.arange(10)[:, None], np.arange(10))
    >>> dev, train = split(rng.key(0), ds, 3)
    >>> len(dev), len(train), sorted(np.concatenate([dev.y, train.y]).tolist()) == list(range(10))
    (3, 7, True)
    """
    n = len(dataset)
    if any(s < 0 for s in sizes) or sum(sizes) > n:
        raise ValueError(f"cannot cut {n} rows into pieces of {list(sizes)} and a rest")
    perm = rng.permutation(key, n)
    bounds = list(itertools.accumulate((0, *sizes))) + [n]
    return tuple(dataset.take(np.sort(perm[a:b])) for a, b in zip(bounds, bounds[1:]))


def num_batches(n: int, size: int) -> int:
    """Batches in one epoch of ``n`` rows: ⌈n / size⌉.

    >>> num_batches(60000, 128)
    469
    """
    return -(-n // min(size, n)) if n else 0


def _check_size(dataset: Dataset, size: int) -> int:
    """The number of rows, after refusing a batch size < 1 or an empty dataset."""
    if int(size) < 1:
        raise ValueError(f"batch size must be a positive integer, got {size}")
    if len(dataset) == 0:
        raise ValueError(f"cannot draw batches from an empty dataset {dataset.source!r}")
    return len(dataset)


def batches(key, dataset: Dataset, size: int, start: int = 0,
            dtype=np.float32) -> Iterator[Dataset]:
    """One epoch of minibatches, lazily: permute once, then slice.

    The row order is one permutation drawn from ``key`` for the epoch; batch
    ``k`` gathers rows ``perm[k·size:(k+1)·size]`` into a new contiguous
    array (the last batch may be smaller) and scales it with :func:`scale`.
    Gathering batch by batch copies each row once, as permuting the whole
    dataset up front would, without holding a second copy of it. ``start``
    skips that many batches (to resume mid-epoch). With
    ``size >= len(dataset)`` the one batch is the whole dataset in its order
    (full-batch gradient descent).

    ``dataset`` may be an ``(x, y)`` pair.

    >>> ds = Dataset(np.arange(5)[:, None], np.arange(5))
    >>> [b.y.tolist() for b in batches(rng.key(0), ds, 2)]
    [[3, 2], [0, 1], [4]]
    >>> [b.y.tolist() for b in batches(rng.key(0), (ds.x, ds.y), 2)]
    [[3, 2], [0, 1], [4]]
    """
    dataset = as_dataset(dataset)
    n = _check_size(dataset, size)
    if size >= n:
        whole = Dataset(scale(dataset.x, dtype), dataset.y, dataset.source)
        return iter([whole] if start == 0 else [])
    perm = rng.permutation(key, n)

    def batch(i: int) -> Dataset:
        rows = dataset.take(perm[i:i + size])
        return Dataset(scale(rows.x, dtype), rows.y, dataset.source)

    return map(batch, range(start * size, n, size))


def stream(key, dataset: Dataset, size: int, start_step: int = 0,
           dtype=np.float32) -> Iterator[Dataset]:
    """An endless stream of batches, epoch after epoch, from step ``start_step``.

    Epoch ``e`` is permuted by ``rng.fold_in(key, e)``, so the stream from
    step ``k`` is exactly the tail of the stream from step 0 (resuming
    equals one long run).

    >>> ds = Dataset(np.arange(4)[:, None], np.arange(4))
    >>> whole = [b.y.tolist() for b in toolz.take(5, stream(rng.key(1), ds, 3))]
    >>> tail = [b.y.tolist() for b in toolz.take(3, stream(rng.key(1), ds, 3, start_step=2))]
    >>> whole[2:] == tail
    True
    """
    dataset = as_dataset(dataset)
    per_epoch = num_batches(_check_size(dataset, size), size)
    first_epoch, offset = divmod(start_step, per_epoch)
    return toolz.concat(
        batches(rng.fold_in(key, e), dataset, size, offset if e == first_epoch else 0, dtype)
        for e in itertools.count(first_epoch))
