"""funcnet.data.dataset: the Dataset record, scale, split, batches, stream."""

import numpy as np
import pytest
import toolz

from funcnet import rng, tree
from funcnet.data.dataset import Dataset, batches, num_batches, scale, split, stream


def numbered(n, features=2, dtype=np.uint8):
    """Row i is (i, i, ...) with label i, so rows can be traced through shuffles."""
    return Dataset(np.repeat(np.arange(n, dtype=dtype)[:, None], features, axis=1),
                   np.arange(n), "numbered")


def test_dataset_len_features_take_and_pytree():
    ds = numbered(5, 3)
    assert len(ds) == 5 and ds.num_features == 3
    part = ds.take(np.array([4, 1]))
    assert part.y.tolist() == [4, 1] and part.x[:, 0].tolist() == [4, 1]
    assert part.source == "numbered"
    assert ds.take(slice(1, 3)).y.tolist() == [1, 2]
    unlabelled = Dataset(np.zeros((3, 2)))
    assert unlabelled.take(slice(0, 2)).y is None
    assert len(tree.leaves(ds)) == 2 and len(tree.leaves(unlabelled)) == 1


def test_scale_maps_pixels_to_unit_interval():
    out = scale(np.array([[0, 51, 255]], np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]], rtol=1e-7)
    assert out.max() == 1.0
    assert scale(np.array([[255]], np.uint8), np.float64).dtype == np.float64
    x = np.ones((2, 2), np.float32)
    assert scale(x) is x
    y = scale(np.ones((1, 2), np.float64))
    assert y.dtype == np.float32 and y.tolist() == [[1.0, 1.0]]


def test_split_sizes_and_disjoint_cover():
    ds = numbered(20)
    dev, val, rest = split(rng.key(0), ds, 5, 3)
    assert (len(dev), len(val), len(rest)) == (5, 3, 12)
    ids = np.concatenate([dev.y, val.y, rest.y])
    assert sorted(ids.tolist()) == list(range(20))
    for piece in (dev, val, rest):
        assert np.array_equal(piece.x[:, 0], piece.y)  # rows keep their labels
        assert piece.source == "numbered"


def test_split_shuffles_with_the_key_and_only_with_it():
    ds = numbered(50)
    a = split(rng.key(1), ds, 10)
    assert tree.equal(a, split(rng.key(1), ds, 10))
    assert not tree.equal(a[0], split(rng.key(2), ds, 10)[0])
    assert a[0].y.tolist() != list(range(10))


def test_split_with_no_sizes_and_edge_sizes():
    ds = numbered(4)
    (whole,) = split(rng.key(0), ds)
    assert sorted(whole.y.tolist()) == [0, 1, 2, 3]
    empty, rest = split(rng.key(0), ds, 0)
    assert len(empty) == 0 and len(rest) == 4
    allrows, nothing = split(rng.key(0), ds, 4)
    assert len(allrows) == 4 and len(nothing) == 0


@pytest.mark.parametrize("sizes", [(5,), (3, 3), (-1,)])
def test_split_refuses_impossible_sizes(sizes):
    with pytest.raises(ValueError, match="cannot cut 4 rows into pieces of"):
        split(rng.key(0), numbered(4), *sizes)


def test_num_batches():
    assert num_batches(60000, 128) == 469
    assert num_batches(10, 5) == 2 and num_batches(10, 3) == 4
    assert num_batches(10, 100) == 1
    assert num_batches(0, 4) == 0


def test_batches_cut_one_permuted_epoch():
    ds = numbered(10)
    epoch = list(batches(rng.key(0), ds, 4))
    assert [len(b) for b in epoch] == [4, 4, 2]
    ids = np.concatenate([b.y for b in epoch])
    assert sorted(ids.tolist()) == list(range(10)) and ids.tolist() != list(range(10))
    for b in epoch:
        assert b.x.dtype == np.float32
        np.testing.assert_allclose(b.x[:, 0] * 255, b.y, rtol=1e-6)
        assert b.source == "numbered"


def test_batches_are_lazy_and_start_skips_batches():
    ds = numbered(10)
    it = batches(rng.key(0), ds, 3)
    assert not isinstance(it, (list, tuple))
    full = list(it)
    skipped = list(batches(rng.key(0), ds, 3, start=2))
    assert tree.equal(skipped, full[2:])
    assert list(batches(rng.key(0), ds, 3, start=4)) == []


def test_full_batch_is_the_dataset_in_its_order():
    ds = numbered(6)
    (only,) = batches(rng.key(0), ds, 6)
    assert only.y.tolist() == list(range(6))
    (only,) = batches(rng.key(0), ds, 100, dtype=np.float64)
    assert only.x.dtype == np.float64
    assert list(batches(rng.key(0), ds, 100, start=1)) == []


def test_batches_of_unlabelled_data():
    ds = Dataset(np.arange(10, dtype=np.float32)[:, None])
    epoch = list(batches(rng.key(0), ds, 4))
    assert all(b.y is None for b in epoch)
    assert sorted(np.concatenate([b.x for b in epoch])[:, 0].tolist()) == list(range(10))


@pytest.mark.parametrize("cut, size", [(batches, -2), (stream, -2), (stream, 0)])
def test_a_non_positive_batch_size_is_refused(cut, size):
    with pytest.raises(ValueError, match="size"):
        cut(rng.key(0), numbered(5), size)  # the iterator is not consumed: it may never end


def test_stream_runs_epoch_after_epoch_with_fresh_permutations():
    ds = numbered(6)
    items = list(toolz.take(6, stream(rng.key(1), ds, 4)))
    assert [len(b) for b in items] == [4, 2, 4, 2, 4, 2]
    epochs = [np.concatenate([b.y for b in items[i:i + 2]]) for i in (0, 2, 4)]
    assert all(sorted(e.tolist()) == list(range(6)) for e in epochs)
    assert not np.array_equal(epochs[0], epochs[1])
    first = np.concatenate([b.y for b in batches(rng.fold_in(rng.key(1), 0), ds, 4)])
    assert np.array_equal(first, epochs[0])


def test_stream_resumes_mid_epoch():
    ds = numbered(7)
    whole = list(toolz.take(10, stream(rng.key(2), ds, 3)))
    for k in (1, 3, 4, 7):
        tail = list(toolz.take(10 - k, stream(rng.key(2), ds, 3, start_step=k)))
        assert tree.equal(tail, whole[k:])
