"""funcnet.losses: softmax, log-softmax, cross-entropy and its gradient, one-hot, L2."""

import math

import numpy as np
import pytest

from funcnet import losses


def test_softmax_of_known_rows():
    z = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, math.log(2), math.log(3), math.log(4)],
                  [1.0, 2.0, 3.0, 4.0]])
    e = np.exp([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(losses.softmax(z), [[0.25] * 4, [0.1, 0.2, 0.3, 0.4], e / e.sum()],
                               rtol=1e-14)


def test_softmax_is_stable_where_the_naive_one_overflows():
    z = np.array([[1000.0, 1000.0 + math.log(3)], [-1000.0, -1000.0]])
    with np.errstate(over="raise", invalid="raise"):
        np.testing.assert_allclose(losses.softmax(z), [[0.25, 0.75], [0.5, 0.5]])
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(losses.naive_softmax(z)[0]).all()


def test_naive_softmax_agrees_for_moderate_logits():
    z = np.array([[0.5, -1.0, 2.0], [3.0, 3.0, -3.0]])
    np.testing.assert_allclose(losses.naive_softmax(z), losses.softmax(z), rtol=1e-14)


def test_softmax_keeps_float32_and_does_not_write_into_its_input():
    z = np.array([[1.0, 2.0]], np.float32)
    z.flags.writeable = False
    assert losses.softmax(z).dtype == np.float32
    assert losses.log_softmax(z).dtype == np.float32
    np.testing.assert_array_equal(z, [[1.0, 2.0]])


def test_log_softmax_of_known_rows_and_huge_logits():
    np.testing.assert_allclose(losses.log_softmax(np.array([[0.0, math.log(3.0)]])),
                               [[math.log(0.25), math.log(0.75)]], rtol=1e-14)
    out = losses.log_softmax(np.array([[1e4, 0.0]]))
    np.testing.assert_allclose(out, [[0.0, -1e4]])


@pytest.mark.parametrize("k", [2, 3, 10])
def test_cross_entropy_of_uniform_logits_is_log_k(k):
    z = np.full((5, k), 3.7)
    assert losses.cross_entropy(z, np.arange(5) % k) == pytest.approx(math.log(k), rel=1e-14)


def test_cross_entropy_of_known_case_and_confident_predictions():
    z = np.array([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    assert losses.cross_entropy(z, np.array([1, 0])) == pytest.approx(
        -(math.log(0.75) + math.log(0.25)) / 2, rel=1e-14)
    assert losses.cross_entropy(np.array([[100.0, 0.0]]), np.array([0])) == pytest.approx(
        0.0, abs=1e-40)
    assert losses.cross_entropy(np.array([[1000.0, 0.0]]), np.array([1])) == pytest.approx(1000.0)
    assert isinstance(losses.cross_entropy(z, np.array([1, 0])), float)


def test_cross_entropy_grad_is_softmax_minus_one_hot_over_m():
    a = losses.softmax(np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]]))
    y = np.array([2, 0])
    expected = (a - losses.one_hot(y, 3, np.float64)) / 2
    np.testing.assert_allclose(losses.cross_entropy_grad(a, y), expected, rtol=1e-15)
    np.testing.assert_allclose(losses.cross_entropy_grad(a, y, m=8), expected * 2 / 8, rtol=1e-15)


def test_cross_entropy_grad_matches_finite_differences():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 3))
    y = np.array([0, 2, 1, 2])
    h = 1e-6
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[idx] = h
        numeric[idx] = (losses.cross_entropy(z + e, y) - losses.cross_entropy(z - e, y)) / (2 * h)
    np.testing.assert_allclose(losses.cross_entropy_grad(losses.softmax(z), y), numeric,
                               rtol=1e-6, atol=1e-9)


def test_cross_entropy_grad_does_not_write_into_probabilities():
    a = np.array([[0.25, 0.75]])
    a.flags.writeable = False
    losses.cross_entropy_grad(a, np.array([1]))
    np.testing.assert_array_equal(a, [[0.25, 0.75]])


def test_one_hot():
    np.testing.assert_array_equal(losses.one_hot(np.array([2, 0, 1, 2]), 3),
                                  [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert losses.one_hot(np.array([1]), 2).dtype == np.float32
    assert losses.one_hot(np.array([1]), 2, np.float64).dtype == np.float64
    assert losses.one_hot(np.array([], np.int64), 4).shape == (0, 4)


def test_l2_penalty():
    assert losses.l2_penalty([np.ones((2, 2)), np.full(3, 2.0)], 0.1) == pytest.approx(
        0.5 * 0.1 * (4 + 12))
    assert losses.l2_penalty([np.ones(3)], 0.0) == 0.0
