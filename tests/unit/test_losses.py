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


# --- label smoothing ---------------------------------------------------------------------

def smoothed_cross_entropy_by_hand(z, y, eps):
    """−(1/m) Σ_i Σ_k q_ik log(e^z_ik / Σ_j e^z_ij), q = (1 − ε)·onehot + ε/K, in plain Python."""
    total = []
    for row, label in zip(z.tolist(), y.tolist()):
        top = max(row)
        log_sum = top + math.log(math.fsum(math.exp(v - top) for v in row))
        k = len(row)
        total.append(-math.fsum(((1 - eps) * (j == label) + eps / k) * (v - log_sum)
                                for j, v in enumerate(row)))
    return math.fsum(total) / len(total)


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.1, 0.5, 0.99])
def test_smoothed_cross_entropy_against_an_independent_computation(eps):
    r = np.random.default_rng(1)
    z = r.normal(scale=4.0, size=(7, 5))
    y = r.integers(0, 5, 7)
    # Both sides round each of the ~m·K terms once or twice (|terms| ≤ max|z| + log K + |L|).
    magnitude = np.abs(z).max() + math.log(5) + 1
    tol = 8 * z.size * np.finfo(np.float64).eps * magnitude
    assert losses.cross_entropy(z, y, label_smoothing=eps) == pytest.approx(
        smoothed_cross_entropy_by_hand(z, y, eps), rel=0, abs=tol)


def test_no_smoothing_is_the_plain_loss_and_gradient_bit_for_bit():
    r = np.random.default_rng(2)
    z = r.normal(size=(6, 4)).astype(np.float32)
    y = r.integers(0, 4, 6)
    assert losses.cross_entropy(z, y, label_smoothing=0.0) == losses.cross_entropy(z, y)
    assert losses.cross_entropy(z, y, label_smoothing=0) == losses.cross_entropy(z, y)
    a = losses.softmax(z)
    plain = losses.cross_entropy_grad(a, y)
    assert np.array_equal(losses.cross_entropy_grad(a, y, label_smoothing=0.0), plain)
    assert np.array_equal(plain, (a - losses.one_hot(y, 4)) * np.float32(1 / 6))


def test_smoothed_gradient_is_softmax_minus_smoothed_targets_over_m():
    a = losses.softmax(np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]]))
    y = np.array([2, 0])
    eps = 0.2
    q = (1 - eps) * losses.one_hot(y, 3, np.float64) + eps / 3
    np.testing.assert_allclose(losses.cross_entropy_grad(a, y, label_smoothing=eps), (a - q) / 2,
                               rtol=0, atol=4 * np.finfo(np.float64).eps)
    np.testing.assert_allclose(losses.cross_entropy_grad(a, y, m=8, label_smoothing=eps),
                               (a - q) / 8, rtol=0, atol=4 * np.finfo(np.float64).eps)


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_smoothed_gradient_matches_central_finite_differences(eps):
    r = np.random.default_rng(3)
    m, k = 4, 5
    z = r.normal(scale=2.0, size=(m, k))
    y = np.array([0, 4, 1, 4])
    h = 1e-5
    # Central differences err by at most (h²/6)·max|∂³L/∂z³| + δ/h. Along one logit, L's
    # third derivative is (1/m)·p(1 − p)(1 − 2p) ≤ 1/(6√3·m) (the smoothing adds only a
    # linear term); δ bounds the rounding of L: ~(K + 4) roundings per log A_ik of size
    # ≤ max|z| + log K + 1, the weights of a row summing to ≤ 2 (twice that for safety).
    delta = 4 * (k + 4) * np.finfo(np.float64).eps * (np.abs(z).max() + math.log(k) + 1)
    tol = h ** 2 / 6 / (6 * math.sqrt(3) * m) + delta / h
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[idx] = h
        numeric[idx] = (losses.cross_entropy(z + e, y, label_smoothing=eps)
                        - losses.cross_entropy(z - e, y, label_smoothing=eps)) / (2 * h)
    analytic = losses.cross_entropy_grad(losses.softmax(z), y, label_smoothing=eps)
    np.testing.assert_allclose(analytic, numeric, rtol=0, atol=tol)


def test_smoothed_loss_is_least_where_the_softmax_equals_the_targets():
    eps, k = 0.1, 4
    y = np.array([0, 3])
    q = (1 - eps) * losses.one_hot(y, k, np.float64) + eps / k
    z = np.log(q)  # softmax(z) = q: the loss is the entropy of q, the gradient zero
    entropy = -(q * np.log(q)).sum(axis=1).mean()
    tiny = 8 * k * np.finfo(np.float64).eps
    assert losses.cross_entropy(z, y, label_smoothing=eps) == pytest.approx(entropy, abs=tiny)
    np.testing.assert_allclose(losses.cross_entropy_grad(losses.softmax(z), y, label_smoothing=eps),
                               0.0, atol=tiny)
    for shift in (0.5, -0.5):
        moved = z + np.array([shift, 0.0, 0.0, 0.0])
        assert losses.cross_entropy(moved, y, label_smoothing=eps) > entropy


def test_smoothed_loss_and_gradient_keep_dtype_and_leave_inputs_alone():
    z = np.array([[1.0, 2.0, -1.0]], np.float32)
    a = losses.softmax(z)
    z.flags.writeable = False
    a.flags.writeable = False
    assert isinstance(losses.cross_entropy(z, np.array([1]), label_smoothing=0.1), float)
    g = losses.cross_entropy_grad(a, np.array([1]), label_smoothing=0.1)
    assert g.dtype == np.float32
    np.testing.assert_array_equal(z, [[1.0, 2.0, -1.0]])
    np.testing.assert_array_equal(a, losses.softmax(z))


@pytest.mark.parametrize("eps", [-0.1, 1.0, 1.5, float("nan")])
def test_label_smoothing_outside_0_1_is_refused_in_one_line(eps):
    z, y = np.zeros((1, 3)), np.array([0])
    with pytest.raises(ValueError, match=r"^label_smoothing must be in \[0, 1\), got") as err:
        losses.cross_entropy(z, y, label_smoothing=eps)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"^label_smoothing must be in \[0, 1\)"):
        losses.cross_entropy_grad(losses.softmax(z), y, label_smoothing=eps)
