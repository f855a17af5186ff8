"""The fused row-chunked full-batch pass: equal to the one-piece forward/backward to
float tolerance, to central finite differences, the same bits for any number of
threads and across runs, pure on read-only inputs, quirks included."""

import copy

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from funcnet import chunked, losses, mlp, rng, tree

# The layouts of the first layer's products: as they are, and padded as under SkylakeX
# (chosen by the BLAS kernel at run time, so both are tested on any machine).
PLANS = [chunked.Layout(), chunked.Layout(forward=16, backward=12), chunked.Layout(backward=12),
         chunked.Layout(forward=9)]


def problem(n=53, sizes=(6, 7, 5, 3), dtype=np.float64, activation="relu", seed=0):
    params = mlp.init(rng.key(seed), sizes, "tutorial", activation=activation, dtype=dtype)
    x = rng.normal(rng.key(seed + 1), (n, sizes[0]), dtype)
    y = rng.generator(rng.key(seed + 2)).integers(0, sizes[-1], n)
    return params, x, y


def one_piece(params, x, y, m=None, quirks=False):
    naive, scalar_bias = mlp._quirk_flags(quirks)
    acts = mlp.forward(params, x, quirks=naive)
    g = mlp.backward(params, acts, y, m=m, quirks=scalar_bias)
    with np.errstate(invalid="ignore"):
        correct = int(np.count_nonzero(acts.probs.argmax(axis=1) == y))
    return losses.cross_entropy(acts.logits, y) * len(y), g, correct


@pytest.mark.parametrize("activation", ["relu", "tanh", "leaky_relu"])
@pytest.mark.parametrize("quirks", [False, True, ["softmax"], ["bias"]])
@pytest.mark.parametrize("chunk", [1, 8, 52, 53, 512])
@pytest.mark.parametrize("plan", PLANS)
def test_chunked_equals_one_piece(activation, quirks, chunk, plan):
    params, x, y = problem(activation=activation)
    m = 70 if quirks else None
    nll, g, correct = chunked.grads(params, x, y, m=m, quirks=quirks, chunk=chunk, threads=2,
                                    plan=plan)
    nll0, g0, correct0 = one_piece(params, x, y, m=m, quirks=quirks)
    assert nll == pytest.approx(nll0, rel=1e-12)
    assert tree.allclose(g, g0, rtol=1e-10, atol=1e-14)
    assert correct == correct0
    assert all(leaf.flags.c_contiguous for leaf in tree.leaves(g))
    assert tree.structure(g) == tree.structure(params)
    assert [a.shape for a in tree.leaves(g)] == [a.shape for a in tree.leaves(params)]


@pytest.mark.parametrize("plan", PLANS)
def test_padded_layouts_on_the_tutorial_shapes(plan):
    params, x, y = problem(n=3000, sizes=(784, 10, 10), dtype=np.float32)
    x = np.abs(x) / 4
    nll, g, correct = chunked.grads(params, x, y, plan=plan)
    nll0, g0, correct0 = one_piece(params, x, y)
    assert nll == pytest.approx(nll0, rel=1e-5)
    assert tree.allclose(g, g0, rtol=1e-3, atol=1e-6)
    assert correct == correct0


def test_layout_by_kernel_and_dtype():
    assert chunked.layout(np.float32, "SkylakeX") == chunked.Layout(
        chunk_bytes=2 * chunked.CHUNK_BYTES, forward=16, backward=12)
    assert chunked.layout(np.float64, "SkylakeX") == chunked.Layout(backward=12)
    for kernel in ("Haswell", "Zen", "SomethingNew"):
        assert chunked.layout(np.float32, kernel) == chunked.Layout()
        assert chunked.layout(np.float64, kernel) == chunked.Layout()
    assert chunked.layout(np.float32) in (chunked.Layout(), *chunked.LAYOUTS.values())


def test_one_layer_network_is_not_padded():
    params, x, y = problem(n=40, sizes=(6, 3))
    nll, g, correct = chunked.grads(params, x, y, chunk=16, plan=PLANS[1])
    nll0, g0, correct0 = one_piece(params, x, y)
    assert tree.allclose(g, g0, rtol=1e-10, atol=1e-14) and correct == correct0


def test_chunked_float32_tutorial_shapes():
    params, x, y = problem(n=3000, sizes=(784, 10, 10), dtype=np.float32)
    x = np.abs(x) / 4
    nll, g, correct = chunked.grads(params, x, y, quirks=True, m=4200)
    nll0, g0, correct0 = one_piece(params, x, y, m=4200, quirks=True)
    assert all(a.dtype == np.float32 for a in tree.leaves(g))
    assert nll == pytest.approx(nll0, rel=1e-5)
    assert tree.allclose(g, g0, rtol=1e-3, atol=1e-6)
    assert correct == correct0


@pytest.mark.parametrize("quirks", [False, True])
@pytest.mark.parametrize("plan", PLANS[:2])
def test_same_bits_for_any_number_of_threads_and_runs(quirks, plan):
    params, x, y = problem(n=1000, sizes=(20, 9, 4), dtype=np.float32)
    runs = [chunked.grads(params, x, y, quirks=quirks, chunk=64, threads=t, plan=plan)
            for t in (1, 2, 3, 4, 2, None)]
    for nll, g, correct in runs[1:]:
        assert nll == runs[0][0]
        assert tree.equal(g, runs[0][1])
        assert correct == runs[0][2]


def test_gradients_against_central_differences():
    params, x, y = problem(n=23, sizes=(4, 5, 3), activation="tanh")
    _, g, _ = chunked.grads(params, x, y, chunk=5, threads=2)
    leaves, treedef = tree.flatten(params)
    eps = 1e-6

    def loss(ls):
        return chunked.grads(tree.unflatten(treedef, ls), x, y, chunk=5)[0] / len(y)

    for i, leaf in enumerate(leaves):
        for j in range(leaf.size):
            plus = [a.copy() for a in leaves]
            minus = [a.copy() for a in leaves]
            plus[i].flat[j] += eps
            minus[i].flat[j] -= eps
            numeric = (loss(plus) - loss(minus)) / (2 * eps)
            assert tree.leaves(g)[i].flat[j] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("plan", PLANS[:2])
def test_pure_on_read_only_inputs(plan):
    params, x, y = problem(n=100)
    before = copy.deepcopy((params, x, y))
    for a in (*tree.leaves(params), x, y):
        a.setflags(write=False)
    chunked.grads(params, x, y, chunk=16, threads=2, quirks=True, m=120, plan=plan)
    assert tree.equal(params, before[0])
    assert np.array_equal(x, before[1]) and np.array_equal(y, before[2])


def test_blas_threads_restored_after_the_pass():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"]
    params, x, y = problem(n=100)
    chunked.grads(params, x, y, chunk=16, threads=2)
    after = [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"]
    assert before == after


def test_no_rows_is_refused():
    params, x, y = problem(n=3)
    with pytest.raises(ValueError, match="no rows"):
        chunked.grads(params, x[:0], y[:0])


@settings(deadline=None, max_examples=25)
@given(n=st.integers(1, 60), chunk=st.integers(1, 70), threads=st.integers(1, 3),
       hidden=st.lists(st.integers(1, 6), min_size=0, max_size=2), seed=st.integers(0, 50),
       plan=st.sampled_from(PLANS))
def test_property_chunked_matches_one_piece_and_threads(n, chunk, threads, hidden, seed, plan):
    params, x, y = problem(n=n, sizes=(3, *hidden, 4), seed=seed)
    nll, g, correct = chunked.grads(params, x, y, chunk=chunk, threads=threads, plan=plan)
    nll0, g0, correct0 = one_piece(params, x, y)
    assert nll == pytest.approx(nll0, rel=1e-10)
    assert tree.allclose(g, g0, rtol=1e-9, atol=1e-12)
    assert correct == correct0
    assert tree.equal(g, chunked.grads(params, x, y, chunk=chunk, threads=1, plan=plan)[1])


def test_train_grads_over_threads_same_bits(monkeypatch):
    """make_step's fused pass shares its chunks (above ``chunk`` rows) among threads too."""
    params, x, y = problem(n=700, sizes=(12, 9, 4), dtype=np.float32)
    masks_key = rng.key(4)
    runs = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(mlp, "default_threads", lambda t=threads: t)
        runs.append(mlp.train_grads(params, x, y, chunk=64, l2=0.01, dropout=0.2, key=masks_key))
    for value, g, correct in runs[1:]:
        assert value == runs[0][0] and correct == runs[0][2]
        assert tree.equal(g, runs[0][1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_integer_pixels_are_scaled_chunk_by_chunk_with_the_bits_of_data_scale(dtype):
    from funcnet import data
    params = mlp.init(rng.key(0), (30, 6, 4), "tutorial", dtype=dtype)
    pixels = rng.generator(rng.key(1)).integers(0, 256, (300, 30)).astype(np.uint8)
    y = np.arange(300) % 4
    a = chunked.grads(params, pixels, y, chunk=64, threads=2)
    b = chunked.grads(params, data.scale(pixels, dtype), y, chunk=64, threads=2)
    assert a[0] == b[0] and a[2] == b[2]
    assert tree.equal(a[1], b[1])
