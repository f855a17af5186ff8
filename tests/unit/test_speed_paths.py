"""The fast paths agree with the plain ones: make_step on big batches, the fused softmax/loss,
BLAS row and column sums, the leafwise optimizer application in make_step, and the batches'
layout. (The fused dense kernel against the layer-by-layer fold: test_fused.py.)"""

import copy

import numpy as np
import pytest

from funcnet import _kernels

from funcnet import data, losses, model, optim, rng, train, tree
from funcnet.data.dataset import Dataset


def problem(n=40, sizes=(6, 7, 5, 3), dtype=np.float64, activation="relu", seed=0):
    params = model.init(rng.key(seed), sizes, activation=activation, dtype=dtype)
    x = rng.normal(rng.key(seed + 1), (n, sizes[0]), dtype)
    y = rng.generator(rng.key(seed + 2)).integers(0, sizes[-1], n)
    return params, x, y


def correct_of(acts, y):
    return int(np.count_nonzero(acts.probs.argmax(axis=1) == y))


def test_make_step_on_a_big_full_batch_is_gradient_descent():
    params, x, y = problem(n=5000, sizes=(4, 6, 3))
    batch = Dataset(x, y)
    step = train.make_step(optim.sgd(0.5))
    state = step(train.init_state(params, optim.sgd(0.5), rng.key(0)), batch)
    _, grads, acts = model.loss_and_grads(params, x, y)
    assert tree.allclose(state.params, model.update(params, grads, 0.5), rtol=1e-10)
    assert int(state.correct) == correct_of(acts, y) and int(state.count) == len(y)


@pytest.mark.parametrize("opt", [optim.adam(0.01), optim.adamw(0.01, weight_decay=0.1),
                                 optim.sgd(0.1, momentum=0.9, nesterov=True),
                                 optim.chain(optim.clip_by_global_norm(0.5), optim.rmsprop(0.01))])
def test_leafwise_application_equals_update_then_apply_updates(opt):
    params, x, y = problem(n=12, dtype=np.float32)
    step = train.make_step(opt)
    state = train.init_state(params, opt, rng.key(0))
    p, s = params, opt.init(params)
    for i in range(3):
        state = step(state, Dataset(x, y))
        _, g, _ = model.loss_and_grads(p, x, y)
        u, s = opt.update(g, s, p)
        p = optim.apply_updates(p, u)
    assert tree.equal(state.params, p)
    assert tree.equal(state.opt_state, s)


def test_a_non_leafwise_optimizer_still_works():
    base = optim.sgd(0.1)
    opt = optim.Optimizer(base.init, lambda g, s, p=None: base.update(g, s, p))
    params, x, y = problem(n=8)
    state = train.make_step(opt)(train.init_state(params, opt, rng.key(0)), Dataset(x, y))
    _, g, _ = model.loss_and_grads(params, x, y)
    assert tree.equal(state.params, model.update(params, g, 0.1))


@pytest.mark.parametrize("shape", [(3, 4), (300, 10), (300, 17), (1, 1)])
def test_row_max_and_row_sum_equal_numpys(shape):
    z = rng.normal(rng.key(4), shape, np.float64)
    np.testing.assert_array_equal(losses.row_max(z), z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(losses.row_sum(z), z.sum(axis=1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("naive", [False, True])
def test_softmax_nll_is_softmax_and_summed_cross_entropy(naive):
    z = rng.normal(rng.key(5), (50, 10), np.float32) * 3
    y = np.arange(50) % 10
    a, nll = _kernels.softmax_nll_(z.copy(), y, naive=naive)
    expect = losses.naive_softmax(z) if naive else losses.softmax(z)
    np.testing.assert_array_equal(a, expect)
    assert nll / 50 == pytest.approx(losses.cross_entropy(z, y), rel=1e-6)


def test_the_loss_stays_finite_where_a_probability_underflows():
    z = np.array([[0.0, 200.0]], np.float32)
    a, nll = _kernels.softmax_nll_(z.copy(), np.array([0]))
    assert a[0, 0] == 0 and nll == pytest.approx(200.0)


def test_batches_are_contiguous_float32_and_the_dataset_untouched():
    ds = Dataset(np.arange(70 * 3, dtype=np.uint8).reshape(70, 3), np.arange(70) % 4)
    before = copy.deepcopy(ds)
    got = list(data.batches(rng.key(0), ds, 16))
    assert all(b.x.flags.c_contiguous and b.x.dtype == np.float32 for b in got)
    assert sorted(np.concatenate([b.y for b in got]).tolist()) == sorted(ds.y.tolist())
    assert tree.equal(ds, before)


def test_scale_divides_by_255_in_the_requested_dtype():
    x = np.array([[0, 1, 128, 255]], np.uint8)
    np.testing.assert_array_equal(data.scale(x), x.astype(np.float32) * np.float32(1 / 255))
    assert data.scale(x, np.float64).dtype == np.float64
