"""funcnet.rng: explicit keys, splitting, and samplers."""

import numpy as np
import pytest

from funcnet import rng


def test_a_key_is_four_read_only_uint32_words():
    k = rng.key(0)
    assert k.shape == (4,) and k.dtype == np.uint32
    assert not k.flags.writeable
    with pytest.raises(ValueError):
        k[0] = 1


def test_same_seed_same_key_other_seed_other_key():
    assert np.array_equal(rng.key(123), rng.key(123))
    assert not np.array_equal(rng.key(123), rng.key(124))


def test_negative_seed_is_refused():
    with pytest.raises(ValueError, match="non-negative"):
        rng.key(-1)


@pytest.mark.parametrize("bad", [np.zeros(4), np.zeros(3, np.uint32), 42, [1, 2, 3, 4],
                                 np.zeros((2, 4), np.uint32)])
def test_bad_keys_are_refused_with_a_message(bad):
    with pytest.raises(TypeError, match=r"expected a key \(uint32 array of shape \(4,\)\)"):
        rng.split(bad)
    with pytest.raises(TypeError, match="expected a key"):
        rng.uniform(bad, (2,))
    with pytest.raises(TypeError, match="expected a key"):
        rng.fold_in(bad, 1)


def test_split_gives_distinct_children_and_leaves_the_parent_alone():
    k = rng.key(5)
    before = k.copy()
    children = rng.split(k, 4)
    assert len(children) == 4
    assert np.array_equal(k, before)
    words = {c.tobytes() for c in children} | {k.tobytes()}
    assert len(words) == 5
    assert all(c.dtype == np.uint32 and c.shape == (4,) and not c.flags.writeable
               for c in children)


def test_split_is_a_function_of_the_key():
    a = rng.split(rng.key(9), 3)
    b = rng.split(rng.key(9), 3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert np.array_equal(rng.split(rng.key(9), 2)[0], a[0])  # a prefix of a longer split


def test_fold_in_differs_by_data_and_from_split():
    k = rng.key(1)
    f1, f2 = rng.fold_in(k, 1), rng.fold_in(k, 2)
    assert not np.array_equal(f1, f2)
    assert np.array_equal(f1, rng.fold_in(k, 1))
    assert all(not np.array_equal(f1, c) for c in rng.split(k, 4))


def test_samplers_repeat_for_a_key_and_differ_across_keys():
    a, b = rng.split(rng.key(0))
    for draw in (lambda k: rng.uniform(k, (50,)), lambda k: rng.normal(k, (50,)),
                 lambda k: rng.permutation(k, 50), lambda k: rng.bernoulli(k, 0.5, (50,))):
        assert np.array_equal(draw(a), draw(a))
        assert not np.array_equal(draw(a), draw(b))


def test_uniform_range_dtype_and_moments():
    u = rng.uniform(rng.key(0), (100000,), -0.5, 0.5)
    assert u.dtype == np.float32
    assert u.min() >= -0.5 and u.max() < 0.5
    assert abs(u.mean()) < 0.01 and abs(u.var() - 1 / 12) < 0.002
    v = rng.uniform(rng.key(0), (3, 2), 2.0, 3.0, dtype=np.float64)
    assert v.shape == (3, 2) and v.dtype == np.float64 and ((v >= 2) & (v < 3)).all()


def test_normal_moments_and_dtype():
    x = rng.normal(rng.key(3), (100000,), np.float64)
    assert x.dtype == np.float64
    assert abs(x.mean()) < 0.02 and abs(x.std() - 1) < 0.02
    assert rng.normal(rng.key(3), (2, 2)).dtype == np.float32


def test_permutation_is_a_permutation():
    p = rng.permutation(rng.key(4), 100)
    assert sorted(p.tolist()) == list(range(100))
    assert p.tolist() != list(range(100))


def test_bernoulli_rate_and_edges():
    m = rng.bernoulli(rng.key(0), 0.3, (200000,))
    assert m.dtype == bool and abs(m.mean() - 0.3) < 0.005
    assert rng.bernoulli(rng.key(0), 1.0, (100,)).all()
    assert not rng.bernoulli(rng.key(0), 0.0, (100,)).any()


def test_generator_is_fresh_each_time():
    g1, g2 = rng.generator(rng.key(0)), rng.generator(rng.key(0))
    assert g1.random() == g2.random()
