"""The fold's one plan by pattern: a ReLU followed by max pooling runs as max pooling then ReLU
(``funcnet.layers.blocks.forward_layers``), and must give the bits of the two layers run one by
one — outputs, every gradient and dx, signs of zeros included — on inputs full of ties, zeros
and windows with no positive value, for every window size and stride, inside blocks too, and
with the backward pass stopped between the two layers (frozen layers below)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from funcnet import rng, tree
from funcnet.layers import (base, blocks, conv2d, dense, flatten, max_pool, network, relu,
                            residual, serial)


def _one_by_one(layers, x, ctx):
    """The plain fold, each layer by its own kind (no plan): ``(y, caches)``."""
    caches = []
    for layer, c in zip(layers, blocks._contexts(ctx, len(layers))):
        x, cache, _ = base.forward(layer, x, c)
        caches.append(cache)
    return x, caches


def _back_one_by_one(layers, caches, dy, start=0, need_dx=False):
    grads = []
    for i in reversed(range(start, len(layers))):
        dy, g = base.backward(layers[i], caches[i], dy, need_dx=i > start or need_dx)
        grads.insert(0, g)
    return dy, grads


def _same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b) \
        and np.array_equal(np.signbit(a), np.signbit(b))


@st.composite
def pooled_networks(draw):
    size = draw(st.integers(1, 3))
    stride = draw(st.integers(1, size))
    channels = draw(st.integers(1, 3))
    h = draw(st.integers(size + 2, 9))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    specs = (conv2d(channels, 2), relu(), max_pool(size, stride), flatten(), dense(3))
    net = network.init(rng.key(draw(st.integers(0, 99))), specs, (h, h, 2), dtype=dtype)
    g = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    # small integers: many ties and exact zeros in Z, whole windows ≤ 0
    x = g.integers(-2, 3, (draw(st.integers(1, 4)), h, h, 2)).astype(dtype)
    layers = tuple(tree.map(lambda a: np.round(a * 2), layer) for layer in net.layers)
    return layers, x, g


@settings(deadline=None, max_examples=60)
@given(pooled_networks())
def test_relu_then_max_pool_runs_pooled_first_with_the_bits_of_one_by_one(case):
    layers, x, g = case
    assert blocks.pools_first(layers, 1)
    y, caches, _ = blocks.forward_layers(layers, x)
    assert caches[1] is blocks.RELU_LATER and isinstance(caches[2], blocks.PooledFirst)
    y1, caches1 = _one_by_one(layers, x, base.Ctx())
    assert _same_bits(y, y1)
    dy = g.standard_normal(y.shape).astype(y.dtype)
    dx, grads = blocks.backward_layers(layers, caches, dy, need_dx=True)
    dx1, grads1 = _back_one_by_one(layers, caches1, dy, need_dx=True)
    assert _same_bits(dx, dx1)
    for a, b in zip(tree.leaves(grads), tree.leaves(tuple(grads1))):
        assert _same_bits(a, b)


@pytest.mark.parametrize("start", [1, 2, 3])
def test_the_backward_pass_may_stop_inside_the_pair(start):
    """start = 2 freezes the ReLU but not the pooling: the pair is split, nothing breaks."""
    layers = network.init(rng.key(0), (conv2d(2, 3), relu(), max_pool(2), flatten(), dense(3)),
                          (8, 8, 1)).layers
    x = rng.normal(rng.key(1), (3, 8, 8, 1), np.float32)
    y, caches, _ = blocks.forward_layers(layers, x)
    dy = rng.normal(rng.key(2), y.shape, np.float32)
    _, grads = blocks.backward_layers(layers, caches, dy, need_dx=False, start=start)
    _, grads1 = _back_one_by_one(layers, _one_by_one(layers, x, base.Ctx())[1], dy, start)
    for a, b in zip(tree.leaves(grads[start:]), tree.leaves(tuple(grads1))):
        assert _same_bits(a, b)
    assert all(not np.any(a) for a in tree.leaves(grads[:start]))


def test_the_pair_inside_blocks_and_in_a_whole_network():
    specs = (conv2d(3, 3, padding="same"), serial(relu(), max_pool(2)),
             residual(conv2d(3, 3, padding="same"), relu()), relu(), max_pool(2, 1), flatten(), dense(4))
    net = network.init(rng.key(3), specs, (10, 10, 1))
    x = rng.normal(rng.key(4), (5, 10, 10, 1), np.float32)
    y, caches, _ = network.forward(net, x)
    assert caches[3] is blocks.RELU_LATER and caches[1][0] is blocks.RELU_LATER
    y1, caches1 = _one_by_one(net.layers, x, base.Ctx())
    assert _same_bits(y, y1)
    dy = rng.normal(rng.key(5), y.shape, np.float32)
    grads = network.backward(net, caches, dy)
    _, grads1 = _back_one_by_one(net.layers, caches1, dy)
    for a, b in zip(tree.leaves(grads.layers), tree.leaves(tuple(grads1))):
        assert _same_bits(a, b)


def test_other_activations_before_pooling_are_not_paired():
    """Only ReLU: a saturating activation (sigmoid(30) = sigmoid(31) in float32) can tie where Z
    does not, and the gradient would go to another pixel."""
    from funcnet.layers import sigmoid
    layers = network.init(rng.key(0), (conv2d(2, 3), sigmoid(), max_pool(2)), (6, 6, 1)).layers
    assert not any(blocks.pools_first(layers, l) for l in range(len(layers)))
    layers = network.init(rng.key(0), (conv2d(2, 3), relu(), conv2d(2, 1), max_pool(2)), (6, 6, 1)).layers
    assert not any(blocks.pools_first(layers, l) for l in range(len(layers)))
