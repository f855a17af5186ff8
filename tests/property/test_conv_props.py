"""Convolution and max pooling against loop oracles and central finite differences (float64)."""

import copy

import numpy as np
from hypothesis import given, settings, strategies as st

import conv_oracle
from funcnet import rng, tree
from funcnet.layers import conv, pool

PROPS = settings(deadline=None, max_examples=40)
STEP = 1e-5  # conv is linear in x, w and b: central differences are exact up to rounding


@st.composite
def conv_problems(draw):
    """A float64 Conv2D with non-zero bias, an input batch and an upstream gradient dy."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3))
    padding = draw(st.sampled_from(conv.PADDINGS))
    h = draw(st.integers(kh if padding == "valid" else 1, 7))
    w = draw(st.integers(kw if padding == "valid" else 1, 7))
    n, c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    k_init, k_b, k_x, k_dy = rng.split(rng.key(seed), 4)
    layer, out_shape = conv.conv2d_init(k_init, (h, w, c_in), c_out, (kh, kw), stride, padding,
                                        scheme=draw(st.sampled_from(conv.SCHEMES)),
                                        dtype=np.float64)
    layer = layer.__class__(layer.w, rng.normal(k_b, (c_out,), np.float64), stride, padding)
    x = rng.normal(k_x, (n, h, w, c_in), np.float64)
    dy = rng.normal(k_dy, (n, *out_shape), np.float64)
    return layer, x, dy


def numeric_grad(f, a):
    """Central differences of the scalar f at every entry of a (a copy is perturbed)."""
    g = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        hi, lo = a.copy(), a.copy()
        hi[idx] += STEP
        lo[idx] -= STEP
        g[idx] = (f(hi) - f(lo)) / (2 * STEP)
    return g


def close(a, b):
    return np.allclose(a, b, rtol=1e-6, atol=1e-8)


@PROPS
@given(conv_problems())
def test_conv_forward_equals_the_loop_oracle(problem):
    layer, x, _ = problem
    y, _ = conv.conv2d_forward(layer, x)
    expected = conv_oracle.conv2d(x, layer.w, layer.b, layer.stride, layer.padding)
    assert y.shape == expected.shape
    assert np.allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert y.shape[1:] == conv.conv2d_output_shape(x.shape[1:], layer.w.shape[3],
                                                   layer.w.shape[:2], layer.stride, layer.padding)


@PROPS
@given(conv_problems())
def test_conv_backward_equals_central_differences(problem):
    layer, x, dy = problem

    def loss(layer_, x_):  # L = Σ y ⊙ dy, so ∂L/∂y = dy
        return float(np.vdot(conv.conv2d_forward(layer_, x_)[0], dy))

    y, cache = conv.conv2d_forward(layer, x)
    dx, grads = conv.conv2d_backward(layer, cache, dy)
    assert dx.shape == x.shape and grads.w.shape == layer.w.shape and grads.b.shape == layer.b.shape
    assert (grads.stride, grads.padding) == (layer.stride, layer.padding)
    assert close(dx, numeric_grad(lambda x_: loss(layer, x_), x))
    assert close(grads.w, numeric_grad(lambda w_: loss(conv.Conv2D(w_, layer.b, layer.stride,
                                                                   layer.padding), x), layer.w))
    assert close(grads.b, numeric_grad(lambda b_: loss(conv.Conv2D(layer.w, b_, layer.stride,
                                                                   layer.padding), x), layer.b))
    none, same = conv.conv2d_backward(layer, cache, dy, need_dx=False)
    assert none is None and tree.equal(same, grads)


@st.composite
def pool_problems(draw):
    """A MaxPool, an input of distinct float64 values (gaps 0.1 ≫ STEP) and an upstream dy."""
    size, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(size, 8)), draw(st.integers(size, 8))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    k_x, k_dy = rng.split(rng.key(seed), 2)
    layer, out_shape = pool.max_pool_init((h, w, c), size, stride)
    x = rng.permutation(k_x, n * h * w * c).reshape(n, h, w, c) * 0.1
    dy = rng.normal(k_dy, (n, *out_shape), np.float64)
    return layer, x, dy


@PROPS
@given(pool_problems())
def test_max_pool_equals_the_loop_oracle_and_central_differences(problem):
    layer, x, dy = problem
    y, cache = pool.max_pool_forward(layer, x)
    expected, _ = conv_oracle.max_pool(x, layer.size, layer.stride)
    assert np.array_equal(y, expected)
    dx = pool.max_pool_backward(layer, cache, dy)
    # overlapping windows add at shared positions, in another order than the oracle's
    assert np.allclose(dx, conv_oracle.max_pool_grad(x, layer.size, layer.stride, dy),
                       rtol=1e-12, atol=1e-15)
    fd = numeric_grad(lambda x_: float(np.vdot(pool.max_pool_forward(layer, x_)[0], dy)), x)
    assert close(dx, fd)


@PROPS
@given(pool_problems(), st.integers(0, 2))
def test_max_pool_ties_follow_the_documented_rule(problem, levels):
    """With few distinct values most windows tie; the gradient goes to one argmax each."""
    layer, x, dy = problem
    x = np.floor(x * 10) % (levels + 1)  # values in {0, .., levels}
    y, cache = pool.max_pool_forward(layer, x)
    dx = pool.max_pool_backward(layer, cache, dy)
    assert np.array_equal(y, conv_oracle.max_pool(x, layer.size, layer.stride)[0])
    assert np.allclose(dx, conv_oracle.max_pool_grad(x, layer.size, layer.stride, dy))
    if layer.stride >= layer.size:  # disjoint windows: each dy lands exactly once
        assert np.isclose(dx.sum(), dy.sum())


@PROPS
@given(conv_problems())
def test_conv_is_pure_on_read_only_inputs_and_deterministic(problem):
    layer, x, dy = problem
    for a in (x, dy, layer.w, layer.b):
        a.flags.writeable = False
    before = copy.deepcopy((layer, x, dy))
    y1, cache = conv.conv2d_forward(layer, x)
    dx1, g1 = conv.conv2d_backward(layer, cache, dy)
    y2, cache2 = conv.conv2d_forward(layer, x)
    dx2, g2 = conv.conv2d_backward(layer, cache2, dy)
    assert tree.equal(before, (layer, x, dy))
    assert np.array_equal(y1, y2) and np.array_equal(dx1, dx2) and tree.equal(g1, g2)


@PROPS
@given(pool_problems())
def test_max_pool_is_pure_on_read_only_inputs(problem):
    layer, x, dy = problem
    x.flags.writeable = False
    dy.flags.writeable = False
    before = copy.deepcopy((x, dy))
    y, cache = pool.max_pool_forward(layer, x)
    dx = pool.max_pool_backward(layer, cache, dy)
    assert tree.equal(before, (x, dy))
    assert np.array_equal(dx, pool.max_pool_backward(layer, pool.max_pool_forward(layer, x)[1], dy))
