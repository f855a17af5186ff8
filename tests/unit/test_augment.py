import numpy as np
from hypothesis import given, settings, strategies as st

from funcnet import augment, rng


def test_each_image_is_translated_within_the_bound():
    n = 50
    x = np.zeros((n, 784), np.float32)
    x[:, 14 * 28 + 14] = 1.0  # one lit pixel in the middle of each image
    out = augment.shift(rng.key(0), x, 2)
    lit = np.argwhere(out.reshape(n, 28, 28))
    assert len(lit) == n  # every image keeps its single pixel
    assert np.all(np.abs(lit[:, 1:] - 14) <= 2)
    assert len({(r, c) for _, r, c in lit}) > 5  # different images, different shifts


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2**31 - 1), s=st.integers(0, 3), n=st.integers(1, 6))
def test_pure_deterministic_and_value_preserving(seed, s, n):
    x = rng.uniform(rng.key(seed), (n, 49))
    x.flags.writeable = False
    before = x.copy()
    a = augment.shift(rng.key(seed), x, s, shape=(7, 7))
    b = augment.shift(rng.key(seed), x, s, shape=(7, 7))
    assert np.array_equal(x, before)
    assert a.dtype == x.dtype and a.shape == x.shape and np.array_equal(a, b)
    # translation moves pixels, it never invents values: each row's multiset of
    # non-zero values is a subset of the input row's
    for row_in, row_out in zip(x, a):
        assert set(row_out[row_out != 0].tolist()) <= set(row_in.tolist())
    if s == 0:
        assert a is x


def test_edges_fill_with_zeros():
    x = np.ones((200, 784), np.float32)
    out = augment.shift(rng.key(1), x, 2).reshape(200, 28, 28)
    assert out.min() == 0.0 and out.max() == 1.0
    assert np.all(out[:, 2:26, 2:26] == 1.0)  # the centre is never uncovered
