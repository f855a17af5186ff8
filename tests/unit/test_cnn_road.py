"""The CNN road: batch norm's sums as matrix products (float32 accuracy, purity) and a
convolutional network's inference chunks on worker threads (the same bits, pure)."""

import numpy as np
import pytest

from funcnet import model, rng, runtime
from funcnet._kernels import column_sums
from funcnet.layers import base, batch_norm, conv2d, dense, flatten, max_pool, norm, relu

U32 = 2.0 ** -24  # float32's unit roundoff


def test_column_sums_are_the_sums_over_rows():
    a = rng.normal(rng.key(0), (1000, 7), np.float64)
    # |Ŝ − S| ≤ γ_{n−1} Σ|a_i| for any order of summation (Higham, Accuracy and Stability
    # of Numerical Algorithms, 2nd ed., §4.2), n = 1000 rows, in float64
    bound = 1000 * 2.0 ** -53 * np.abs(a).sum(axis=0)
    assert np.all(np.abs(column_sums(a) - a.sum(axis=0)) <= bound)
    assert column_sums(a).dtype == np.float64 and column_sums(a.astype(np.float32)).dtype == np.float32


def test_float32_batch_statistics_of_a_large_mean_stay_within_the_two_pass_bound():
    """x = 100 + N(0, 1): the one-pass E[x²] − μ² loses the variance to cancellation
    (its error grows with μ²/σ² = 10⁴), the two-pass σ² = mean((x − μ)²) does not."""
    shape = (64, 14, 14, 8)
    x = (100 + rng.normal(rng.key(1), shape, np.float64)).astype(np.float32)
    n = x.size // x.shape[-1]
    ref = x.astype(np.float64).reshape(n, -1)
    mu64, var64 = ref.mean(axis=0), ref.var(axis=0)
    mu, var = norm.batch_stats(x)
    assert mu.dtype == var.dtype == np.float32
    # sum of n positive terms: relative error ≤ γ_{n−1} ≈ (n − 1)·u, one more u for the
    # division; the variance sums n squares of the centred values (the same bound), whose
    # error from μ's is second order (mean(x − μ̂) = μ − μ̂, σ̂² = σ² + (μ − μ̂)²), and each
    # square and difference adds one rounding u: 2·n·u covers both
    assert np.all(np.abs(mu - mu64) <= 2 * n * U32 * mu64)
    assert np.all(np.abs(var - var64) <= 2 * n * U32 * var64)
    one_pass = column_sums(np.square(x).reshape(n, -1)) / np.float32(n) - mu * mu
    assert np.any(np.abs(one_pass - var64) > 2 * n * U32 * var64)  # the bound tells them apart


@pytest.mark.parametrize("train", [True, False])
def test_batch_norm_writes_none_of_its_inputs(train):
    layer = norm.BatchNorm(np.array([1.5, -0.5, 2.0]), np.array([0.1, 0.2, -0.3]))
    state = norm.BatchNormState(np.array([0.5, -1.0, 0.0]), np.array([2.0, 0.5, 1.0]))
    x = rng.normal(rng.key(2), (4, 5, 5, 3), np.float64)
    dy = rng.normal(rng.key(3), (4, 5, 5, 3), np.float64)
    held = [a.copy() for a in (x, dy, layer.gamma, layer.beta, state.mean, state.var)]
    y, cache, _ = norm.forward(layer, x, base.Ctx(train=train, state=state))
    xhat = cache.xhat.copy()
    dx, _ = norm.backward(layer, cache, dy)
    norm.backward(layer, cache, dy, need_dx=False)
    for before, after in zip(held, (x, dy, layer.gamma, layer.beta, state.mean, state.var)):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(cache.xhat, xhat)  # backward leaves the cache as it found it
    assert not np.shares_memory(y, x) and not np.shares_memory(dx, dy)


def test_batch_norm_at_evaluation_backward_is_dy_gamma_over_sqrt_v_plus_eps():
    layer = norm.BatchNorm(np.array([1.5, -0.5]), np.array([0.1, 0.2]))
    state = norm.BatchNormState(np.array([0.5, -1.0]), np.array([2.0, 0.5]))
    x = rng.normal(rng.key(4), (6, 2), np.float64)
    dy = rng.normal(rng.key(5), (6, 2), np.float64)
    y, cache, _ = norm.forward(layer, x, base.Ctx(state=state))
    dx, grads = norm.backward(layer, cache, dy)
    inv = 1 / np.sqrt(state.var + 1e-5)
    # each entry a product or sum of a few roundings apart: a few ulps, 8 of them allowed
    np.testing.assert_allclose(y, (x - state.mean) * inv * layer.gamma + layer.beta, rtol=8 * 2.0 ** -52)
    np.testing.assert_allclose(dx, dy * layer.gamma * inv, rtol=8 * 2.0 ** -52)
    np.testing.assert_allclose(grads.beta, dy.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(grads.gamma, (dy * (x - state.mean) * inv).sum(axis=0), rtol=1e-12)


def bn_cnn():
    return model.init(rng.key(6), (conv2d(4, 3), batch_norm(), relu(), max_pool(2), flatten(),
                                   dense(5)), input_shape=(10, 10, 1))


def test_cnn_logits_are_the_same_bits_on_one_thread_or_two_and_use_the_model_state():
    net = bn_cnn()
    state = model.init_model_state(net)
    assert isinstance(state[1], norm.BatchNormState)  # layer 1's running statistics
    moved = (state[0], norm.BatchNormState(np.full(4, 0.3, np.float32), np.full(4, 2.5, np.float32)),
             *state[2:])
    x = rng.uniform(rng.key(7), (50, 10, 10, 1), 0.0, 1.0)
    held = x.copy()
    with runtime.threads(1):
        one = model.logits(net, x, chunk=7, model_state=moved)
    with runtime.threads(2):
        two = model.logits(net, x, chunk=7, model_state=moved)
    np.testing.assert_array_equal(x, held)  # the input is not written
    assert one.shape == (50, 5) and one.tobytes() == two.tobytes()
    # the chunks put back in order: the same as each chunk's own forward pass
    from funcnet.layers import network
    serial = np.concatenate([network.forward(net, x[i:i + 7], model_state=moved)[0]
                             for i in range(0, 50, 7)])
    assert serial.tobytes() == one.tobytes()
    # the running statistics are used: other ones give other logits
    other = model.logits(net, x, chunk=7, model_state=state)
    assert not np.allclose(other, one)
    with pytest.raises(ValueError, match="model state"):
        model.logits(net, x, chunk=7)
