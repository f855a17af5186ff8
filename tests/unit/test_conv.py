"""funcnet.layers.conv and funcnet.layers.pool: known values, shapes, dtypes, init, errors."""

import math

import numpy as np
import pytest

from funcnet import rng, tree
from funcnet.layers import conv, pool


def ramp(shape, dtype=np.float64):
    return np.arange(math.prod(shape), dtype=dtype).reshape(shape)


# --- convolution: values ---------------------------------------------------------------------

def test_conv_forward_by_hand():
    # one 2×2 kernel [[1, 0], [0, -1]] over a 3×3 ramp: y = x[i, j] − x[i+1, j+1] + b = −4 + b
    w = np.array([[1.0, 0.0], [0.0, -1.0]]).reshape(2, 2, 1, 1)
    y, _ = conv.conv2d_forward(conv.Conv2D(w, np.array([0.5])), ramp((1, 3, 3, 1)))
    assert np.array_equal(y[0, :, :, 0], np.full((2, 2), -3.5))


def test_conv_channels_mix_as_a_matrix_product():
    # a 1×1 convolution is the dense layer z = x @ w + b at every pixel
    x = rng.normal(rng.key(0), (2, 4, 5, 3), np.float64)
    w = rng.normal(rng.key(1), (1, 1, 3, 4), np.float64)
    b = np.array([1.0, -1.0, 0.0, 2.0])
    y, _ = conv.conv2d_forward(conv.Conv2D(w, b), x)
    assert np.allclose(y, x @ w[0, 0] + b)


def test_conv_same_padding_keeps_the_size_and_centres_the_kernel():
    # a 3×3 kernel with a single 1 in the centre is the identity under 'same' padding
    w = np.zeros((3, 3, 2, 2))
    w[1, 1] = np.eye(2)
    x = ramp((2, 5, 4, 2))
    y, cache = conv.conv2d_forward(conv.Conv2D(w, np.zeros(2), padding="same"), x)
    assert np.array_equal(y, x)
    dx, g = conv.conv2d_backward(conv.Conv2D(w, np.zeros(2), padding="same"), cache, np.ones_like(y))
    assert np.array_equal(dx, np.ones_like(x))
    assert np.array_equal(g.b, np.full(2, 2 * 5 * 4.0))


@pytest.mark.parametrize("h, k, s, expected_out, expected_pads", [
    (28, 3, 1, 28, (1, 1)), (28, 3, 2, 14, (0, 1)), (5, 4, 1, 5, (1, 2)), (7, 1, 3, 3, (0, 0)),
    (2, 5, 1, 2, (2, 2)),
])
def test_same_padding_geometry_is_tensorflows(h, k, s, expected_out, expected_pads):
    (oh, ow), pads = conv._geometry((h, h), (k, k), s, "same")
    assert oh == ow == expected_out == math.ceil(h / s)
    assert pads == expected_pads * 2


def test_conv_stride_two_valid():
    x = ramp((1, 5, 5, 1))
    w = np.ones((2, 2, 1, 1))
    y, cache = conv.conv2d_forward(conv.Conv2D(w, np.zeros(1), stride=2), x)
    assert y.shape == (1, 2, 2, 1)
    assert np.array_equal(y[0, :, :, 0], [[0 + 1 + 5 + 6, 2 + 3 + 7 + 8], [10 + 11 + 15 + 16, 12 + 13 + 17 + 18]])
    dx, _ = conv.conv2d_backward(conv.Conv2D(w, np.zeros(1), stride=2), cache, np.ones_like(y))
    expected = np.zeros((5, 5))
    expected[:4, :4] = 1  # the last row and column feed no window
    assert np.array_equal(dx[0, :, :, 0], expected)


def test_conv_float32_stays_float32_and_uint8_input_is_cast():
    layer, _ = conv.conv2d_init(rng.key(0), (6, 6, 2), 3, 3)
    y, cache = conv.conv2d_forward(layer, np.ones((2, 6, 6, 2), np.uint8))
    dx, g = conv.conv2d_backward(layer, cache, np.ones_like(y))
    assert y.dtype == dx.dtype == g.w.dtype == g.b.dtype == cache.cols.dtype == np.float32


def test_conv_cache_and_grads_are_frozen_records():
    layer, _ = conv.conv2d_init(rng.key(0), (5, 5, 1), 2, 3, stride=2, padding="same")
    y, cache = conv.conv2d_forward(layer, np.ones((1, 5, 5, 1), np.float32))
    with pytest.raises(AttributeError):
        cache.cols = None
    _, g = conv.conv2d_backward(layer, cache, y)
    assert tree.structure(g) == tree.structure(layer)


# --- convolution: init -----------------------------------------------------------------------

def test_conv_init_schemes():
    he, shape = conv.conv2d_init(rng.key(0), (10, 10, 16), 64, 3)
    assert shape == (8, 8, 64) and he.w.shape == (3, 3, 16, 64) and he.w.dtype == np.float32
    assert abs(he.w.std() - math.sqrt(2 / (9 * 16))) < 0.01 and not he.b.any()
    xa, _ = conv.conv2d_init(rng.key(0), (10, 10, 16), 64, 3, scheme="xavier")
    r = math.sqrt(6 / (9 * 16 + 9 * 64))
    assert -r <= xa.w.min() and xa.w.max() <= r and xa.w.max() > 0.9 * r and not xa.b.any()
    tu, _ = conv.conv2d_init(rng.key(0), (10, 10, 16), 64, 3, scheme="tutorial")
    assert -0.5 <= tu.w.min() and tu.w.max() < 0.5 and tu.b.any()
    f64, _ = conv.conv2d_init(rng.key(0), (10, 10, 16), 64, 3, dtype=np.float64)
    assert f64.w.dtype == f64.b.dtype == np.float64


def test_conv_init_is_deterministic_per_key():
    a, _ = conv.conv2d_init(rng.key(3), (8, 8, 2), 4, (3, 2))
    b, _ = conv.conv2d_init(rng.key(3), (8, 8, 2), 4, (3, 2))
    c, _ = conv.conv2d_init(rng.key(4), (8, 8, 2), 4, (3, 2))
    assert tree.equal(a, b) and not np.array_equal(a.w, c.w)


# --- convolution: bad input ------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (((2, 2, 1), 4, 3), r"kernel \(3, 3\) is larger than the input \(2, 2\)"),
    (((28, 28), 4, 3), r"input shape must be \(height, width, channels\), got \(28, 28\)"),
    (((28, 28, 1), 4, 3, 1, "full"), r"unknown padding 'full'"),
    (((28, 28, 1), 4, 3, 0), r"stride and kernel must be ≥ 1"),
    (((28, 28, 1), 0, 3), r"filters must be ≥ 1"),
])
def test_conv_init_refuses_bad_shapes_in_one_line(args, message):
    with pytest.raises(ValueError, match=message) as err:
        conv.conv2d_init(rng.key(0), *args)
    assert "\n" not in str(err.value)


def test_conv_init_refuses_an_unknown_scheme():
    with pytest.raises(ValueError, match="unknown init scheme 'lecun'"):
        conv.conv2d_init(rng.key(0), (8, 8, 1), 2, 3, scheme="lecun")


def test_conv_forward_names_the_shapes_of_a_bad_input():
    layer, _ = conv.conv2d_init(rng.key(0), (8, 8, 3), 2, 3)
    with pytest.raises(ValueError, match=r"expected input \(batch, height, width, 3\), got shape "
                                         r"\(4, 8, 8, 1\) \(kernel \(3, 3, 3, 2\)\)"):
        conv.conv2d_forward(layer, np.zeros((4, 8, 8, 1)))
    with pytest.raises(ValueError, match=r"got shape \(8, 8, 3\)"):
        conv.conv2d_forward(layer, np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match=r"kernel \(3, 3\) is larger than the input \(2, 9\)"):
        conv.conv2d_forward(layer, np.zeros((1, 2, 9, 3)))
    y, cache = conv.conv2d_forward(layer, np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected dy of shape \(1, 6, 6, 2\), got \(1, 6, 6, 3\)"):
        conv.conv2d_backward(layer, cache, np.zeros((1, 6, 6, 3), np.float32))


# --- max pooling -----------------------------------------------------------------------------

def test_max_pool_by_hand_with_floor_mode():
    x = ramp((1, 5, 5, 1))
    layer, shape = pool.max_pool_init((5, 5, 1), 2)
    assert shape == (2, 2, 1) and (layer.size, layer.stride) == (2, 2)
    y, cache = pool.max_pool_forward(layer, x)
    assert np.array_equal(y[0, :, :, 0], [[6, 8], [16, 18]])
    dx = pool.max_pool_backward(layer, cache, np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1))
    expected = np.zeros((5, 5))
    expected[1, 1], expected[1, 3], expected[3, 1], expected[3, 3] = 1, 2, 3, 4
    assert np.array_equal(dx[0, :, :, 0], expected)  # the dropped last row and column get 0


def test_max_pool_tie_goes_to_the_first_in_column_major_order():
    # window [[0, 5], [5, 5]]: the maxima are (0, 1), (1, 0), (1, 1); column-major first is (1, 0)
    x = np.array([[0.0, 5.0], [5.0, 5.0]]).reshape(1, 2, 2, 1)
    for layer in (pool.MaxPool(2, 2), pool.MaxPool(2, 1)):  # the tiled and the strided paths
        y, cache = pool.max_pool_forward(layer, x)
        dx = pool.max_pool_backward(layer, cache, np.ones_like(y))
        assert np.array_equal(dx[0, :, :, 0], [[0.0, 0.0], [1.0, 0.0]])


def test_max_pool_overlapping_windows_add_up():
    x = np.array([[0.0, 9.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]).reshape(1, 3, 3, 1)
    layer, shape = pool.max_pool_init((3, 3, 1), 2, stride=1)
    assert shape == (2, 2, 1)
    y, cache = pool.max_pool_forward(layer, x)
    assert np.array_equal(y[0, :, :, 0], [[9, 9], [0, 0]])
    dx = pool.max_pool_backward(layer, cache, np.ones_like(y))
    assert dx[0, 0, 1, 0] == 2 and dx.sum() == 4


def test_max_pool_keeps_dtype_and_copies():
    x = rng.normal(rng.key(0), (3, 8, 6, 4))
    y, cache = pool.max_pool_forward(pool.MaxPool(2, 2), x)
    assert y.dtype == np.float32 and not np.shares_memory(y, x)
    dx = pool.max_pool_backward(pool.MaxPool(2, 2), cache, np.ones_like(y))
    assert dx.dtype == np.float32 and dx.shape == x.shape and dx.sum() == y.size


@pytest.mark.parametrize("call, message", [
    (lambda: pool.max_pool_init((1, 1, 8), 2), r"window 2×2 leaves nothing of an input of shape \(1, 1, 8\)"),
    (lambda: pool.max_pool_init((28, 28), 2), r"must be \(height, width, channels\), got \(28, 28\)"),
    (lambda: pool.max_pool_init((28, 28, 1), 0), r"size must be in 1..16 and stride ≥ 1"),
    (lambda: pool.max_pool_forward(pool.MaxPool(2, 2), np.zeros((4, 4))), r"got shape \(4, 4\)"),
    (lambda: pool.max_pool_forward(pool.MaxPool(3, 3), np.zeros((1, 2, 5, 1))),
     r"window 3×3 leaves nothing of an input of shape \(2, 5, 1\)"),
])
def test_max_pool_refuses_bad_shapes_in_one_line(call, message):
    with pytest.raises(ValueError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


def test_max_pool_backward_checks_dy():
    y, cache = pool.max_pool_forward(pool.MaxPool(2, 2), np.zeros((1, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"expected dy of shape \(1, 2, 2, 2\), got \(1, 2, 2\)"):
        pool.max_pool_backward(pool.MaxPool(2, 2), cache, np.zeros((1, 2, 2)))
