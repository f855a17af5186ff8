"""Every registered layer kind and whole networks: backward against central finite differences
(with a tolerance derived from the step and the values) and against the autodiff oracle
(float64, 1e-10), purity on read-only inputs, determinism, and model files.

The per-kind tests iterate over the registry (``funcnet.layers.base.KINDS``) and each kind's
own examples: a new kind is checked by them without an edit here (its formula must be added
to the oracle, ``autodiff_oracle.LAYERS``, which the first test demands).
"""

import copy
import json
import subprocess
import sys

import attrs
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff_oracle as oracle
from finite_differences import assert_exact, assert_matches
from funcnet import checkpoint, layers, model, rng, tree
from funcnet.layers import base
from funcnet.layers.base import Ctx

SHIPPED = sorted(name for name, kind in base.KINDS.items()
                 if kind.layer.__module__.startswith("funcnet.layers."))
CASES = [(name, i, spec, shape) for name in SHIPPED for i, (spec, shape) in enumerate(base.examples(name))]
IDS = [f"{name}-{i}" for name, i, _, _ in CASES]


def _perturbed(layer, key):
    """``layer`` with every array (nested ones too) moved off its initial value, so that biases,
    γ and β take part in every gradient."""
    leaves, treedef = tree.flatten(layer)
    keys = rng.split(key, max(len(leaves), 1))
    return tree.unflatten(treedef, [v + 0.3 * rng.normal(k, v.shape, np.float64)
                                    for k, v in zip(keys, leaves)])


def _layer_case(spec, shape, seed=0, n=3):
    k_init, k_x, k_dy, k_ctx, k_p = rng.split(rng.key(seed), 5)
    layer, out = base.init(k_init, spec, shape, "he", np.float64)
    layer = _perturbed(layer, k_p)
    x = rng.normal(k_x, (n, *shape), np.float64)
    dy = rng.normal(k_dy, (n, *out), np.float64)
    return layer, x, dy, Ctx(train=True, key=k_ctx, state=base.initial_state(layer))


def test_every_kind_has_examples_and_an_oracle():
    assert {"dense", "conv2d", "residual", "serial", "avg_pool", "global_avg_pool"} <= set(SHIPPED)
    for name in SHIPPED:
        assert base.examples(name), f"layer kind {name!r} lists no examples (Kind.examples)"
        assert name in oracle.LAYERS or name in oracle.BLOCKS, \
            f"layer kind {name!r} has no formula in the autodiff oracle (autodiff_oracle.LAYERS)"


@pytest.mark.parametrize("name, i, spec, shape", CASES, ids=IDS)
def test_each_kind_backward_equals_central_differences(name, i, spec, shape):
    """For f = Σ forward(x) ⊙ dY: backward's dX and dθ equal ∂f/∂x and ∂f/∂θ."""
    layer, x, dy, ctx = _layer_case(spec, shape)
    y, cache, _ = base.forward(layer, x, ctx)
    dx, grads = base.backward(layer, cache, dy)
    assert y.shape == dy.shape and dx.shape == x.shape
    assert tree.structure(grads) == tree.structure(layer)
    f = lambda lay, xx: float(np.vdot(base.forward(lay, xx, ctx)[0], dy))
    assert_matches(dx, lambda xx: f(layer, xx), x, f"{name} dx")
    leaves, treedef = tree.flatten(layer)
    for j, (path, g) in enumerate(tree.flatten_with_path(grads)):
        moved = lambda v, j=j: f(tree.unflatten(treedef, leaves[:j] + [v] + leaves[j + 1:]), x)
        assert_matches(g, moved, leaves[j], f"{name} {path}")


def _one_kind_network(spec, shape, seed=0):
    """The kind inside a network ending in a dense layer of 3 classes (flattened first)."""
    out = base.init(rng.key(0), spec, shape, "he", np.float64)[1]
    tail = (layers.flatten(),) if len(out) > 1 else ()
    k_init, k_x, k_y, k_drop, k_p = rng.split(rng.key(seed), 5)
    net = model.init(k_init, (spec, *tail, layers.dense(3)), input_shape=shape, dtype=np.float64)
    net = attrs.evolve(net, layers=_perturbed(net.layers, k_p))
    x = rng.normal(k_x, (4, *shape), np.float64)
    return net, x, np.arange(4) % 3, k_drop


@pytest.mark.parametrize("name, i, spec, shape", CASES, ids=IDS)
def test_each_kind_equals_the_autodiff_oracle_in_a_network(name, i, spec, shape):
    net, x, y, key = _one_kind_network(spec, shape)
    state = model.init_model_state(net)
    for l2 in (0.0, 0.1):
        trace = model.forward(net, x, train=True, key=key, model_state=state)
        loss, expected = oracle.network_grads(net, x, y, oracle.dropout_masks(net, trace.caches), l2)
        got_loss, got, _, _ = model.value_and_grads(net, x, y, model_state=state, key=key, l2=l2)
        assert abs(loss - got_loss) <= 1e-10 * max(1.0, abs(loss))
        for (path, e), g in zip(tree.flatten_with_path(oracle.as_tree(net, expected)),
                                tree.leaves(got)):
            assert_exact(e, g, f"{name} {path}")


@pytest.mark.parametrize("name, i, spec, shape", CASES, ids=IDS)
def test_each_kind_is_pure_on_read_only_inputs_and_deterministic(name, i, spec, shape):
    layer, x, dy, ctx = _layer_case(spec, shape)
    frozen = [layer, x, dy, ctx.state]
    for leaf in tree.leaves(frozen):
        if isinstance(leaf, np.ndarray):
            leaf.setflags(write=False)
    before = copy.deepcopy(frozen)
    y1, cache, s1 = base.forward(layer, x, ctx)
    dx1, g1 = base.backward(layer, cache, dy)
    y2, cache2, s2 = base.forward(layer, x, ctx)
    dx2, g2 = base.backward(layer, cache2, dy)
    assert tree.equal(before, frozen)
    assert np.array_equal(y1, y2) and np.array_equal(dx1, dx2) and tree.equal(g1, g2)
    assert tree.equal(s1, s2)
    eval_y = base.forward(layer, x, Ctx(state=ctx.state))[0]  # evaluation mode runs too
    assert eval_y.shape == y1.shape


@pytest.mark.parametrize("name, i, spec, shape", CASES, ids=IDS)
def test_each_kind_spec_round_trips_through_json(name, i, spec, shape):
    text = json.dumps(base.spec_to_json(spec))
    assert base.spec_from_json(json.loads(text)) == spec


def test_every_kind_round_trips_through_a_model_file_in_a_fresh_process(tmp_path):
    expected = {}
    for name, i, spec, shape in CASES:
        net, x, _, _ = _one_kind_network(spec, shape, seed=i)
        state = model.init_model_state(net)
        if state is not None:  # running statistics away from their start
            state = model.forward(net, x, train=True, key=rng.key(1), model_state=state).model_state
        path = tmp_path / f"{name}-{i}.safetensors"
        checkpoint.save_network(path, net, state)
        np.save(tmp_path / f"{name}-{i}.npy", x)
        expected[f"{name}-{i}"] = model.logits(net, x, model_state=state)
    script = f"""
import sys, numpy as np
from pathlib import Path
from funcnet import checkpoint, model
out = {{}}
for path in sorted(Path({str(tmp_path)!r}).glob("*.safetensors")):
    params, state, _ = checkpoint.load_network(path)
    out[path.stem] = model.logits(params, np.load(path.with_suffix(".npy")), model_state=state)
np.savez({str(tmp_path / "fresh.npz")!r}, **out)
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    fresh = np.load(tmp_path / "fresh.npz")
    assert sorted(fresh.files) == sorted(expected)
    for key, logits in expected.items():
        np.testing.assert_array_equal(fresh[key], logits, err_msg=key)


def _net_spec(draw, image: bool, smooth: bool):
    """A random stack of layer specs, blocks among them."""
    acts = ["tanh", "sigmoid"] if smooth else ["relu", "tanh", "leaky_relu", "sigmoid"]
    act = lambda: layers.activation(draw(st.sampled_from(acts)))
    specs = []
    if image:
        c = draw(st.integers(1, 3))
        specs += [layers.conv2d(c, draw(st.integers(1, 3)), padding="same")]
        if draw(st.booleans()):
            inner = [layers.conv2d(c, draw(st.integers(1, 3)), padding="same")]
            inner += [layers.batch_norm()] if draw(st.booleans()) else []
            inner += [act()]
            inner += [layers.dropout(0.3)] if not smooth and draw(st.booleans()) else []
            specs += [layers.residual(*inner)]
        specs += [layers.batch_norm()] if draw(st.booleans()) else []
        specs += [act()]
        # max pooling is piecewise: finite differences may cross a tie, so smooth nets skip it
        pools = [layers.avg_pool(2)] + ([] if smooth else [layers.max_pool(2)])
        specs += [draw(st.sampled_from(pools))] if draw(st.booleans()) else []
        specs += [draw(st.sampled_from([layers.flatten(), layers.global_avg_pool()]))]
    for _ in range(draw(st.integers(0, 2))):
        width = draw(st.integers(1, 5))
        block = [layers.dense(width)]
        block += [layers.batch_norm()] if draw(st.booleans()) else []
        block += [act()]
        block += [layers.dropout(0.3)] if not smooth and draw(st.booleans()) else []
        specs += [layers.serial(*block)] if draw(st.booleans()) else block
    return specs


@st.composite
def network_problems(draw, smooth=False):
    """A random float64 network (an image branch with conv, residual, pooling, or a flat one),
    a batch, labels, an L2 weight and a dropout key."""
    image = draw(st.booleans())
    shape = ((draw(st.integers(4, 6)), draw(st.integers(4, 6)), draw(st.integers(1, 2)))
             if image else (draw(st.integers(1, 6)),))
    specs = _net_spec(draw, image, smooth)
    classes = draw(st.integers(2, 4))
    specs += [layers.dense(classes)]
    batch = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    k_init, k_x, k_y, k_drop, k_p = rng.split(rng.key(seed), 5)
    net = model.init(k_init, tuple(specs), input_shape=shape, dtype=np.float64)
    net = attrs.evolve(net, layers=_perturbed(net.layers, k_p))
    x = rng.normal(k_x, (batch, *shape), np.float64)
    y = rng.generator(k_y).integers(0, classes, batch)
    l2 = draw(st.sampled_from([0.0, 0.1]))
    return net, x, y, l2, k_drop


@settings(deadline=None, max_examples=30)
@given(network_problems())
def test_network_gradients_equal_the_autodiff_oracle(problem):
    net, x, y, l2, key = problem
    state = model.init_model_state(net)
    trace = model.forward(net, x, train=True, key=key, model_state=state)
    grads = model.backward(net, trace, y, l2=l2)
    loss, expected = oracle.network_grads(net, x, y, oracle.dropout_masks(net, trace.caches), l2)
    got_loss, got, _, _ = model.value_and_grads(net, x, y, model_state=state, key=key, l2=l2)
    assert abs(loss - got_loss) <= 1e-10 * max(1.0, abs(loss))
    assert tree.structure(grads) == tree.structure(net)
    for (path, e), g, h in zip(tree.flatten_with_path(oracle.as_tree(net, expected)),
                               tree.leaves(grads), tree.leaves(got)):
        assert_exact(e, g, path)
        assert_exact(e, h, path)


@settings(deadline=None, max_examples=10)
@given(network_problems(smooth=True))
def test_network_gradients_equal_central_differences(problem):
    net, x, y, l2, key = problem
    state = model.init_model_state(net)
    _, grads, _, _ = model.value_and_grads(net, x, y, model_state=state, l2=l2)
    leaves, treedef = tree.flatten(net)

    def loss_at(i, value):
        p = tree.unflatten(treedef, leaves[:i] + [value] + leaves[i + 1:])
        return model.value_and_grads(p, x, y, model_state=state, l2=l2)[0]

    for i, ((path, leaf), g) in enumerate(zip(tree.flatten_with_path(net), tree.leaves(grads))):
        assert_matches(g, lambda v: loss_at(i, v), leaf, path)


@settings(deadline=None, max_examples=10)
@given(network_problems(), st.integers(0, 2 ** 31))
def test_same_key_same_bits(problem, seed):
    net, x, y, _, key = problem
    again = model.init(rng.key(seed), net.specs, input_shape=net.input_shape, dtype=np.float64)
    assert tree.equal(model.init(rng.key(seed), net.specs, input_shape=net.input_shape,
                                 dtype=np.float64), again)
    state = model.init_model_state(net)
    a = model.value_and_grads(net, x, y, model_state=state, key=key)
    b = model.value_and_grads(net, x, y, model_state=state, key=key)
    assert a[0] == b[0] and tree.equal(a[1], b[1]) and tree.equal(a[3], b[3])


def residual_network(dtype=np.float64):
    """Residual blocks with batch norm and dropout inside, global average pooling, a dense head."""
    L = layers
    specs = (L.conv2d(4, 3, padding="same"), L.batch_norm(), L.relu(),
             L.residual(L.conv2d(4, 3, padding="same"), L.batch_norm(), L.relu(), L.dropout(0.25),
                        L.conv2d(4, 3, padding="same"), L.batch_norm()),
             L.relu(),
             L.residual(L.serial(L.conv2d(4, 1), L.batch_norm(), L.tanh()), L.dropout(0.5)),
             L.avg_pool(2), L.global_avg_pool(), L.dense(8), L.relu(), L.dropout(0.2), L.dense(3))
    return model.init(rng.key(7), specs, input_shape=(6, 6, 2), dtype=dtype)


def test_a_residual_network_with_batch_norm_and_dropout_inside_blocks_equals_the_oracle():
    net = attrs.evolve(residual_network(), layers=_perturbed(residual_network().layers, rng.key(8)))
    x = rng.normal(rng.key(9), (5, 6, 6, 2), np.float64)
    y = np.array([0, 1, 2, 1, 0])
    state = model.init_model_state(net)
    key = rng.key(10)
    assert model.stochastic(net) and len(model.weights(net)) == 6
    trace = model.forward(net, x, train=True, key=key, model_state=state)
    masks = oracle.dropout_masks(net, trace.caches)
    assert sorted(masks) == [(3, 3), (5, 1), (10,)]  # the dropouts inside blocks drew masks
    loss, expected = oracle.network_grads(net, x, y, masks, l2=0.05)
    got_loss, got, _, moved = model.value_and_grads(net, x, y, model_state=state, key=key, l2=0.05)
    assert abs(loss - got_loss) <= 1e-10 * abs(loss)
    for (path, e), g in zip(tree.flatten_with_path(oracle.as_tree(net, expected)), tree.leaves(got)):
        assert_exact(e, g, path, rtol=1e-10)
    names = [p for p, _ in tree.flatten_with_path({"model_state": moved})]
    assert "model_state.3.1.mean" in names and "model_state.5.0.1.var" in names


@settings(deadline=None, max_examples=8)
@given(network_problems(smooth=True), st.sampled_from([0.1, 0.3]))
def test_label_smoothing_gradients_equal_central_differences(problem, eps):
    net, x, y, l2, _ = problem
    state = model.init_model_state(net)
    loss, grads, _, _ = model.value_and_grads(net, x, y, model_state=state, l2=l2, label_smoothing=eps)
    leaves, treedef = tree.flatten(net)

    def loss_at(i, value):
        p = tree.unflatten(treedef, leaves[:i] + [value] + leaves[i + 1:])
        return model.value_and_grads(p, x, y, model_state=state, l2=l2, label_smoothing=eps)[0]

    for i, ((path, leaf), g) in enumerate(zip(tree.flatten_with_path(net), tree.leaves(grads))):
        assert_matches(g, lambda v: loss_at(i, v), leaf, path)
