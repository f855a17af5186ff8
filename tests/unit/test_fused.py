"""The fused dense kernel: the engine picks it by pattern, and it equals the layer-by-layer fold
(bit for bit in one piece and the plain layout, to float rounding across chunks), central
finite differences, the tutorial's quirks written out by hand, the same bits on any number
of threads, pure on read-only inputs."""

import copy

import attrs
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from funcnet import data, losses, model, rng, tree
from funcnet.layers import Dense, activation, batch_norm, dense, dropout, network, relu, residual
from funcnet.model import _fused

# The layouts of the first layer's products: as they are, and padded as under SkylakeX
# (chosen at run time, so each is tested on any machine).
PLANS = [_fused.Layout(), _fused.Layout(forward=16, backward=12), _fused.Layout(backward=12),
         _fused.Layout(forward=9)]
EPS64 = np.finfo(np.float64).eps
# Sums over n rows in another order differ by at most ~n·ε·Σ|terms| (Higham's bound); with
# n ≤ 1,000 rows and gradients within a factor 100 of the sum of their terms' magnitudes,
# 1e3·2.2e-16·1e2 ≈ 2e-11, so 1e-9 leaves room for any BLAS's blocking.
RTOL64 = 1e-9


def problem(n=53, sizes=(6, 7, 5, 3), dtype=np.float64, act="relu", seed=0):
    params = model.init(rng.key(seed), sizes, "tutorial", activation=act, dtype=dtype)
    x = rng.normal(rng.key(seed + 1), (n, sizes[0]), dtype)
    y = rng.generator(rng.key(seed + 2)).integers(0, sizes[-1], n)
    return params, x, y


def by_layers(params, x, y, m=None, quirks=(), key=None):
    """The reference: the layer-by-layer fold, with the tutorial's quirks written out here
    (softmax without the max shift; one scalar Σ dZ for every bias unit)."""
    z, caches, _ = network.forward(params, x, train=True, key=key)
    probs = losses.naive_softmax(z) if "softmax" in quirks else losses.softmax(z)
    grads = network.backward(params, caches, losses.cross_entropy_grad(probs, y, m))
    if "bias" in quirks:
        grads = attrs.evolve(grads, layers=tuple(
            attrs.evolve(g, b=np.full_like(g.b, g.b.sum())) if type(g) is Dense else g
            for g in grads.layers))
    with np.errstate(invalid="ignore"):
        correct = int(np.count_nonzero(probs.argmax(axis=1) == y))
    return losses.cross_entropy(z, y) * len(y), grads, correct


def test_the_pattern_is_dense_activation_dropout_dense():
    assert _fused.match(model.init(rng.key(0), (4, 3, 2))) is not None
    mlp = network.init(rng.key(0), (dense(5), relu(), dropout(0.2), dense(4), activation("tanh"),
                                    dense(2)), (3,))
    s = _fused.match(mlp)
    assert s.acts == ("relu", "tanh") and s.rates == (0.2, 0.0) and s.positions == (0, 3, 5)
    for specs, shape in [((dense(3), relu()), (4,)), ((relu(), dense(3)), (4,)),
                         ((dense(3), batch_norm(), relu(), dense(2)), (4,)),
                         ((dense(3), relu(), relu(), dense(2)), (4,)),
                         ((residual(dense(4)), dense(2)), (4,))]:
        assert _fused.match(network.init(rng.key(0), specs, shape)) is None, specs


@pytest.mark.parametrize("act", ["relu", "tanh", "leaky_relu"])
@pytest.mark.parametrize("quirks", [(), ("softmax", "bias"), ("softmax",), ("bias",)])
@pytest.mark.parametrize("chunk", [1, 8, 52, 53, 512])
@pytest.mark.parametrize("plan", PLANS)
def test_the_kernel_equals_the_fold_of_the_layers(act, quirks, chunk, plan):
    params, x, y = problem(act=act)
    m = 70 if quirks else None
    nll, g, correct = _fused.grads(params, x, y, m=m, quirks=list(quirks), chunk=chunk,
                                   threads=2, plan=plan)
    nll0, g0, correct0 = by_layers(params, x, y, m=m, quirks=quirks)
    assert nll == pytest.approx(nll0, rel=RTOL64)
    assert tree.allclose(g, g0, rtol=RTOL64, atol=1e-14)
    assert correct == correct0
    assert all(leaf.flags.c_contiguous for leaf in tree.leaves(g))
    assert tree.structure(g) == tree.structure(params)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [{}, {"l2": 0.05}, {"m": 100}])
def test_one_piece_plain_layout_is_the_fold_bit_for_bit(dtype, kw, monkeypatch):
    monkeypatch.setattr(_fused, "layout", lambda dtype, kernel=None: _fused.Layout())
    params, x, y = problem(dtype=dtype)
    value, grads, correct, _ = model.value_and_grads(params, x, y, **kw)
    value0, grads0, acts = model.loss_and_grads(params, x, y, **kw)
    assert tree.equal(grads, grads0)
    assert value == pytest.approx(value0, rel=10 * float(np.finfo(dtype).eps))
    assert correct == int(np.count_nonzero(acts.probs.argmax(axis=1) == y))


def test_dropout_masks_are_those_the_dropout_layers_draw():
    net = network.init(rng.key(0), (dense(7), relu(), dropout(0.3), dense(5), activation("tanh"),
                                    dropout(0.5), dense(3)), (6,))
    x = rng.normal(rng.key(1), (40, 6), np.float64)
    x, y = x.astype(np.float32), np.arange(40) % 3
    nll, g, correct = _fused.grads(net, x, y, key=rng.key(9), chunk=16, plan=PLANS[0])
    nll0, g0, correct0 = by_layers(net, x, y, key=rng.key(9))
    assert correct == correct0 and nll == pytest.approx(nll0, rel=1e-5)
    assert tree.allclose(g, g0, rtol=1e-4, atol=1e-6)
    assert not tree.allclose(g, _fused.grads(net, x, y, key=rng.key(10))[1])


@pytest.mark.parametrize("plan", PLANS)
def test_padded_layouts_on_the_tutorial_shapes(plan):
    params, x, y = problem(n=3000, sizes=(784, 10, 10), dtype=np.float32)
    x = np.abs(x) / 4
    nll, g, correct = _fused.grads(params, x, y, plan=plan)
    nll0, g0, correct0 = by_layers(params, x, y)
    # float32 sums of 3,000 rows in another order: ~3e3·6e-8 relative at worst
    assert nll == pytest.approx(nll0, rel=1e-4)
    assert tree.allclose(g, g0, rtol=1e-3, atol=1e-6)
    assert correct == correct0


def test_layout_by_kernel_and_dtype():
    assert _fused.layout(np.float32, "SkylakeX") == _fused.Layout(
        chunk_bytes=2 * _fused.CHUNK_BYTES, forward=16, backward=12)
    assert _fused.layout(np.float64, "SkylakeX") == _fused.Layout(backward=12)
    for kernel in ("Haswell", "Zen", "SomethingNew"):
        assert _fused.layout(np.float32, kernel) == _fused.Layout()
        assert _fused.layout(np.float64, kernel) == _fused.Layout()


def test_one_layer_network_is_not_padded():
    params, x, y = problem(n=40, sizes=(6, 3))
    nll, g, correct = _fused.grads(params, x, y, chunk=16, plan=PLANS[1])
    nll0, g0, correct0 = by_layers(params, x, y)
    assert tree.allclose(g, g0, rtol=RTOL64, atol=1e-14) and correct == correct0


@pytest.mark.parametrize("quirks", [False, True])
@pytest.mark.parametrize("plan", PLANS[:2])
def test_same_bits_for_any_number_of_threads_and_runs(quirks, plan):
    params, x, y = problem(n=1000, sizes=(20, 9, 4), dtype=np.float32)
    runs = [_fused.grads(params, x, y, quirks=quirks, chunk=64, threads=t, plan=plan)
            for t in (1, 2, 3, 4, 2, None)]
    for nll, g, correct in runs[1:]:
        assert nll == runs[0][0] and correct == runs[0][2]
        assert tree.equal(g, runs[0][1])


def test_gradients_against_central_differences():
    params, x, y = problem(n=23, sizes=(4, 5, 3), act="tanh")
    _, g, _ = _fused.grads(params, x, y, chunk=5, threads=2)
    leaves, treedef = tree.flatten(params)
    h = 1e-6

    def loss(ls):
        return _fused.grads(tree.unflatten(treedef, ls), x, y, chunk=5)[0] / len(y)

    f0 = abs(loss(leaves))
    # central differences: truncation ~h²·|f'''|, rounding ~ε·|f|/h (|f'''| ≤ a few here)
    atol = 10 * (h * h + EPS64 * f0 / h)
    for i, leaf in enumerate(leaves):
        for j in range(leaf.size):
            plus = [a.copy() for a in leaves]
            minus = [a.copy() for a in leaves]
            plus[i].flat[j] += h
            minus[i].flat[j] -= h
            numeric = (loss(plus) - loss(minus)) / (2 * h)
            assert tree.leaves(g)[i].flat[j] == pytest.approx(numeric, rel=1e-6, abs=atol)


@pytest.mark.parametrize("plan", PLANS[:2])
def test_pure_on_read_only_inputs(plan):
    params, x, y = problem(n=100)
    before = copy.deepcopy((params, x, y))
    for a in (*tree.leaves(params), x, y):
        a.setflags(write=False)
    _fused.grads(params, x, y, chunk=16, threads=2, quirks=True, m=120, plan=plan)
    model.value_and_grads(params, x, y, l2=0.1)
    assert tree.equal(params, before[0])
    assert np.array_equal(x, before[1]) and np.array_equal(y, before[2])


def test_blas_threads_restored_after_the_pass():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"]
    params, x, y = problem(n=100)
    _fused.grads(params, x, y, chunk=16, threads=2)
    after = [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"]
    assert before == after


def test_no_rows_and_unknown_quirks_are_refused():
    params, x, y = problem(n=3)
    with pytest.raises(ValueError, match="no rows"):
        _fused.grads(params, x[:0], y[:0])
    with pytest.raises(ValueError, match="unknown quirks"):
        _fused.grads(params, x, y, quirks={"float64"})
    with pytest.raises(ValueError, match="the fused kernel runs dense"):
        _fused.grads(network.init(rng.key(0), (dense(3), relu()), (6,)), x, y)


@settings(deadline=None, max_examples=25)
@given(n=st.integers(1, 60), chunk=st.integers(1, 70), threads=st.integers(1, 3),
       hidden=st.lists(st.integers(1, 6), min_size=0, max_size=2), seed=st.integers(0, 50),
       plan=st.sampled_from(PLANS))
def test_property_kernel_matches_the_fold_and_threads(n, chunk, threads, hidden, seed, plan):
    params, x, y = problem(n=n, sizes=(3, *hidden, 4), seed=seed)
    nll, g, correct = _fused.grads(params, x, y, chunk=chunk, threads=threads, plan=plan)
    nll0, g0, correct0 = by_layers(params, x, y)
    assert nll == pytest.approx(nll0, rel=RTOL64)
    assert tree.allclose(g, g0, rtol=RTOL64, atol=1e-13)
    assert correct == correct0
    assert tree.equal(g, _fused.grads(params, x, y, chunk=chunk, threads=1, plan=plan)[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_integer_pixels_are_scaled_chunk_by_chunk_with_the_bits_of_data_scale(dtype):
    params = model.init(rng.key(0), (30, 6, 4), "tutorial", dtype=dtype)
    pixels = rng.generator(rng.key(1)).integers(0, 256, (300, 30)).astype(np.uint8)
    y = np.arange(300) % 4
    a = _fused.grads(params, pixels, y, chunk=64, threads=2)
    b = _fused.grads(params, data.scale(pixels, dtype), y, chunk=64, threads=2)
    assert a[0] == b[0] and a[2] == b[2]
    assert tree.equal(a[1], b[1])


def test_inference_rows_equal_the_fold():
    params, x, _ = problem(n=3000, sizes=(12, 9, 4))
    np.testing.assert_allclose(model.logits(params, x), network.forward(params, x)[0], rtol=RTOL64)


@pytest.mark.parametrize("eps", [0.1, 0.25])
@pytest.mark.parametrize("chunk", [7, 512])
def test_label_smoothing_in_the_kernel_equals_the_fold(eps, chunk):
    params, x, y = problem(n=60)
    nll, g, correct = _fused.grads(params, x, y, label_smoothing=eps, chunk=chunk, threads=2)
    z, caches, _ = network.forward(params, x)
    expected = network.backward(params, caches, losses.cross_entropy_grad(losses.softmax(z), y,
                                                                         label_smoothing=eps))
    assert nll / 60 == pytest.approx(losses.cross_entropy(z, y, label_smoothing=eps), rel=RTOL64)
    assert tree.allclose(g, expected, rtol=RTOL64, atol=1e-14)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        _fused.grads(params, x, y, label_smoothing=1.0)
