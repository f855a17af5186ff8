"""Core properties: softmax, purity, determinism, split/batches/stream, tree round trips, dropout."""

import copy
from typing import NamedTuple

import attrs
import numpy as np
import pytest
import toolz
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from funcnet import activations, layers, losses, model, optim, rng, train, tree
from funcnet.data.dataset import Dataset, batches, num_batches, scale, split, stream

PROPS = settings(deadline=None, max_examples=60)
FEW = settings(deadline=None, max_examples=25)


def read_only(t):
    """``t`` with every array leaf replaced by a read-only view of it."""
    def freeze(x):
        if isinstance(x, np.ndarray):
            x = x.view()
            x.flags.writeable = False
        return x
    return tree.map(freeze, t)


# --- softmax and cross-entropy ------------------------------------------------------

def logit_rows(elements=st.floats(-50, 50), dtype=np.float64):
    shapes = st.tuples(st.integers(1, 6), st.integers(1, 7))
    return hnp.arrays(dtype, shapes, elements=elements)


@PROPS
@given(logit_rows())
def test_softmax_rows_are_distributions(z):
    a = losses.softmax(z)
    assert a.shape == z.shape
    assert np.all((a >= 0) & (a <= 1))
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@PROPS
@given(logit_rows(elements=st.floats(-1e4, 1e4, width=32), dtype=np.float32))
def test_softmax_float32_rows_sum_to_one_even_for_huge_logits(z):
    with np.errstate(over="raise", invalid="raise"):
        a = losses.softmax(z)
    assert a.dtype == np.float32
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-5)


@PROPS
@given(logit_rows(), st.data())
def test_softmax_is_shift_invariant_per_row(z, data):
    c = data.draw(hnp.arrays(np.float64, (z.shape[0], 1), elements=st.floats(-1e3, 1e3)))
    np.testing.assert_allclose(losses.softmax(z + c), losses.softmax(z), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(losses.log_softmax(z + c), losses.log_softmax(z),
                               rtol=1e-9, atol=1e-9)


@PROPS
@given(logit_rows())
def test_log_softmax_is_log_of_softmax(z):
    np.testing.assert_allclose(losses.log_softmax(z), np.log(losses.softmax(z)),
                               rtol=1e-10, atol=1e-10)


@PROPS
@given(logit_rows(elements=st.floats(-1e4, 1e4)), st.data())
def test_cross_entropy_is_non_negative_and_finite(z, data):
    y = data.draw(hnp.arrays(np.int64, z.shape[0], elements=st.integers(0, z.shape[1] - 1)))
    ce = losses.cross_entropy(z, y)
    assert np.isfinite(ce) and ce >= 0


@PROPS
@given(logit_rows(), st.data())
def test_cross_entropy_grad_is_softmax_minus_one_hot_over_m(z, data):
    y = data.draw(hnp.arrays(np.int64, z.shape[0], elements=st.integers(0, z.shape[1] - 1)))
    expected = (losses.softmax(z) - losses.one_hot(y, z.shape[1], np.float64)) / len(y)
    np.testing.assert_allclose(losses.cross_entropy_grad(losses.softmax(z), y), expected,
                               atol=1e-15)


# --- networks for the purity and determinism properties -----------------------------

def mlp(key, sizes, activation="relu", dropout=0.0, scheme="he", dtype=np.float64):
    """dense(h), g, dropout(p) for each hidden size h, then dense(sizes[-1]) (no dropout at p = 0)."""
    drop = (layers.dropout(dropout),) if dropout else ()
    specs = tuple(s for h in sizes[1:-1] for s in (layers.dense(h), layers.activation(activation), *drop))
    return model.init(key, specs + (layers.dense(sizes[-1]),), input_shape=(sizes[0],),
                      scheme=scheme, dtype=dtype)


@st.composite
def networks(draw, dtype=np.float64, dropout=(0.0,)):
    sizes = (draw(st.integers(1, 5)),
             *draw(st.lists(st.integers(1, 6), min_size=0, max_size=3)),
             draw(st.integers(2, 4)))
    activation = draw(st.sampled_from(activations.NAMES))
    scheme = draw(st.sampled_from(model.SCHEMES))
    p = draw(st.sampled_from(dropout))
    seed = draw(st.integers(0, 2 ** 31))
    batch = draw(st.integers(1, 6))
    k_init, k_x, k_y, k_drop = rng.split(rng.key(seed), 4)
    params = mlp(k_init, sizes, activation, p, scheme, dtype)
    x = rng.normal(k_x, (batch, sizes[0]), dtype)
    y = rng.generator(k_y).integers(0, sizes[-1], batch)
    return params, x, y, k_drop


def unchanged(f, *args, **kwargs):
    """Call ``f`` on read-only ``args``; assert they equal their deep copies afterwards."""
    args = read_only(args)
    kwargs = read_only(kwargs)
    before = copy.deepcopy((args, kwargs))
    out = f(*args, **kwargs)
    assert tree.equal((args, kwargs), before)
    return out


@FEW
@given(networks(dropout=(0.0, 0.5)))
def test_init_forward_backward_loss_update_are_pure(net):
    params, x, y, key = net
    unchanged(lambda k: model.init(k, params.specs, input_shape=params.input_shape,
                                   scheme="tutorial"), key)
    acts = unchanged(model.forward, params, x, key=key, train=True)
    grads = unchanged(model.backward, params, acts, y, l2=0.1)
    unchanged(model.loss, params, x, y, l2=0.1)
    unchanged(model.loss_and_grads, params, x, y, key=key, l2=0.1)
    unchanged(model.value_and_grads, params, x, y, key=key, l2=0.1)
    unchanged(model.update, params, grads, 0.1)
    unchanged(model.predict, params, x)


@FEW
@given(networks(dtype=np.float32, dropout=(0.0, 0.3)), st.sampled_from(["sgd", "adam"]))
def test_training_step_is_pure(net, opt_name):
    params, x, y, key = net
    opt = {"sgd": optim.sgd(0.1), "adam": optim.adam(0.01)}[opt_name]
    step = train.make_step(opt, l2=0.01)
    state = train.init_state(params, opt, key)
    batch = Dataset(x.astype(np.float32), y)
    state = unchanged(step, state, batch)
    unchanged(step, state, batch)  # again, with a non-trivial optimizer state


@FEW
@given(st.integers(1, 30), st.integers(0, 2 ** 31), st.data())
def test_split_and_batches_are_pure(n, seed, data):
    ds = Dataset(np.arange(2 * n, dtype=np.uint8).reshape(n, 2), np.arange(n) % 3, "mem")
    cut = data.draw(st.integers(0, n))
    unchanged(split, rng.key(seed), ds, cut)
    size = data.draw(st.integers(1, n + 1))
    unchanged(lambda k, d: list(batches(k, d, size)), rng.key(seed), ds)
    unchanged(lambda k, d: list(toolz.take(5, stream(k, d, size, start_step=2))),
              rng.key(seed), ds)


# --- determinism -----------------------------------------------------------------------

@FEW
@given(networks(dropout=(0.5,)), st.integers(0, 2 ** 31))
def test_same_key_same_bits_other_key_other_bits(net, seed):
    params, x, y, _ = net
    k, other = rng.key(seed), rng.key(seed + 1)
    build = lambda key: model.init(key, params.specs, input_shape=params.input_shape)
    assert tree.equal(build(k), build(k)) and not tree.equal(build(k), build(other))
    assert tree.equal(model.forward(params, x), model.forward(params, x))
    a = model.forward(params, x, key=k, train=True)
    b = model.forward(params, x, key=k, train=True)
    assert tree.equal(a, b)


def test_different_dropout_keys_give_different_masks():
    params = mlp(rng.key(0), (4, 8, 8, 3), dropout=0.5)
    x = rng.normal(rng.key(1), (8, 4))
    a = model.forward(params, x, key=rng.key(2), train=True)
    b = model.forward(params, x, key=rng.key(3), train=True)
    masks = [(a.caches[i], b.caches[i]) for i, l in enumerate(params.layers)
             if layers.kind_of(l) == "dropout"]
    assert len(masks) == 2 and all(not np.array_equal(m, n) for m, n in masks)


def _run(train_seed, steps=12, dropout=0.3, opt=None):
    ds = Dataset(rng.normal(rng.key(7), (40, 5)), np.arange(40) % 3)
    opt = opt or optim.adam(0.01)
    state = train.init_state(mlp(rng.key(8), (5, 6, 3), dropout=dropout), opt, rng.key(train_seed))
    step = train.make_step(opt)
    return train.fit(step, state, toolz.take(steps, stream(rng.key(9), ds, 16)))


def test_training_runs_are_bit_identical_for_the_same_key():
    assert tree.equal(_run(1), _run(1))
    assert not tree.equal(_run(1).params, _run(2).params)


# --- split, batches, stream ---------------------------------------------------------

def rows(x, y):
    """The multiset of (x row, label) pairs, as a sorted list."""
    return sorted((tuple(np.asarray(r).tolist()), int(l)) for r, l in zip(x, y))


@st.composite
def datasets(draw, max_rows=40):
    n = draw(st.integers(1, max_rows))
    f = draw(st.integers(1, 3))
    x = draw(hnp.arrays(np.uint8, (n, f), elements=st.integers(0, 4)))  # duplicates likely
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 2)))
    return Dataset(x, y)


@PROPS
@given(datasets(), st.integers(0, 2 ** 31), st.data())
def test_split_loses_and_repeats_no_row(ds, seed, data):
    n = len(ds)
    sizes = data.draw(st.lists(st.integers(0, n), max_size=3).filter(lambda s: sum(s) <= n))
    pieces = split(rng.key(seed), ds, *sizes)
    assert [len(p) for p in pieces] == [*sizes, n - sum(sizes)]
    assert rows(np.concatenate([p.x for p in pieces]), np.concatenate([p.y for p in pieces])) \
        == rows(ds.x, ds.y)


@PROPS
@given(datasets(), st.integers(0, 2 ** 31), st.integers(1, 50))
def test_one_epoch_of_batches_loses_and_repeats_no_row(ds, seed, size):
    epoch = list(batches(rng.key(seed), ds, size))
    assert len(epoch) == num_batches(len(ds), size)
    assert all(len(b) == min(size, len(ds)) for b in epoch[:-1])
    assert 1 <= len(epoch[-1]) <= size
    assert all(b.x.dtype == np.float32 for b in epoch)
    assert rows(np.concatenate([b.x for b in epoch]), np.concatenate([b.y for b in epoch])) \
        == rows(scale(ds.x), ds.y)


@PROPS
@given(datasets(max_rows=15), st.integers(0, 2 ** 31), st.integers(1, 20), st.integers(0, 12))
def test_stream_from_step_k_is_the_tail_of_the_stream_from_zero(ds, seed, size, k):
    whole = list(toolz.take(k + 6, stream(rng.key(seed), ds, size)))
    tail = list(toolz.take(6, stream(rng.key(seed), ds, size, start_step=k)))
    assert all(tree.equal(a, b) for a, b in zip(whole[k:], tail))


@FEW
@given(datasets(max_rows=15), st.integers(0, 2 ** 31), st.integers(1, 20))
def test_every_epoch_of_the_stream_is_a_permutation(ds, seed, size):
    per_epoch = num_batches(len(ds), size)
    items = list(toolz.take(3 * per_epoch, stream(rng.key(seed), ds, size)))
    for e in range(3):
        epoch = items[e * per_epoch:(e + 1) * per_epoch]
        assert rows(np.concatenate([b.x for b in epoch]), np.concatenate([b.y for b in epoch])) \
            == rows(scale(ds.x), ds.y)


# --- tree round trips ---------------------------------------------------------------

class Point(NamedTuple):
    x: object
    y: object


@tree.pytree
@attrs.frozen(eq=False)
class Record:
    a: object
    b: object
    name: str = tree.static_field(default="r")


leaf_values = st.one_of(
    st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=2),
    hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64]),
               hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)))

trees = st.recursive(
    st.one_of(leaf_values, st.none()),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3),
        st.lists(kids, max_size=3).map(tuple),
        st.dictionaries(st.text("abcxyz", max_size=3), kids, max_size=3),
        st.builds(Point, kids, kids),
        st.builds(Record, kids, kids, st.sampled_from(["r", "s"]))),
    max_leaves=12)


@PROPS
@given(trees)
def test_unflatten_of_flatten_is_the_tree(t):
    ls, treedef = tree.flatten(t)
    assert treedef.num_leaves == len(ls)
    back = tree.unflatten(treedef, ls)
    assert tree.equal(back, t)
    assert tree.structure(back) == treedef
    assert all(a is b for a, b in zip(tree.leaves(back), ls))


@PROPS
@given(trees)
def test_map_identity_preserves_structure_and_leaves(t):
    mapped = tree.map(lambda x: x, t)
    assert tree.structure(mapped) == tree.structure(t)
    assert tree.equal(mapped, t)
    assert tree.equal(tree.map(lambda a, b: a, t, t), t)


@PROPS
@given(trees)
def test_paths_name_the_leaves_in_flatten_order(t):
    pairs = tree.flatten_with_path(t)
    assert [id(leaf) for _, leaf in pairs] == [id(leaf) for leaf in tree.leaves(t)]
    assert all(isinstance(p, str) for p, _ in pairs)


@PROPS
@given(st.dictionaries(st.text(max_size=4), st.integers(), max_size=6))
def test_dicts_flatten_in_sorted_key_order(d):
    assert tree.leaves(d) == [d[k] for k in sorted(d)]


# --- dropout --------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.2, 0.5])
def test_inverted_dropout_keeps_the_expectation(p):
    params = mlp(rng.key(0), (4, 16, 3), dropout=p)
    x = rng.normal(rng.key(1), (8, 4), np.float64)
    keys = rng.split(rng.key(2), 400)
    runs = [model.forward(params, x, key=k, train=True) for k in keys]
    hidden = runs[0].caches[1]  # relu's cache: A before dropout
    assert all(np.array_equal(r.caches[1], hidden) for r in runs)
    masked = np.mean([r.caches[3] for r in runs], axis=0)  # the last dense layer's input
    sigma = np.abs(hidden) * np.sqrt(p / ((1 - p) * len(keys)))
    assert np.all(np.abs(masked - hidden) <= 5 * sigma + 1e-12)
    assert abs(masked.sum() / hidden.sum() - 1) < 0.03
    masks = np.stack([r.caches[2] for r in runs])
    assert set(np.unique(masks).tolist()) <= {0.0, 1 / (1 - p)}
    assert abs((masks > 0).mean() - (1 - p)) < 0.01


def test_no_dropout_at_evaluation_or_at_rate_zero():
    params = mlp(rng.key(0), (4, 5, 5, 3), dropout=0.5)
    x = rng.normal(rng.key(1), (6, 4))
    plain = model.forward(params, x)
    assert [plain.caches[i] for i in (2, 5)] == [None, None]  # evaluation: no masks drawn
    zero = mlp(rng.key(0), (4, 5, 5, 3), dropout=0.0)
    assert not model.stochastic(zero) and tree.equal(model.forward(zero, x),
                                                     model.forward(zero, x, key=rng.key(2), train=True))
