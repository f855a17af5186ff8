"""Every layer kind and whole networks: backward against central finite differences and the
autodiff oracle (float64), purity on read-only inputs, determinism."""

import copy

import attrs
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff_oracle as oracle
from funcnet import layers, model, rng, tree
from funcnet.layers import base, serial
from funcnet.layers.base import Ctx

PROPS = settings(deadline=None, max_examples=25)
STEP = 1e-4  # five-point stencil: truncation O(h⁴), rounding O(ε/h)
TOL = 1e-6


def _arrays(layer) -> dict:
    return {k: v for k, v in attrs.asdict(layer, recurse=False).items() if isinstance(v, np.ndarray)}


# A gradient that cancels to ~0 (a bias right before batch norm) is held to an absolute
# error of TOL·TINY = 1e-11 instead of a relative one.
TINY = 1e-5


def _close(expected, got, what=""):
    err = np.linalg.norm(expected - got) / max(np.linalg.norm(expected), np.linalg.norm(got), TINY)
    assert err <= TOL, f"{what}: relative error {err:.3g}"


def _numeric(f, a):
    """Five-point central differences of the scalar f at every entry of a (copies perturbed):
    df/da ≈ [8(f(a+h) − f(a−h)) − (f(a+2h) − f(a−2h))] / 12h."""
    g = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        def at(d):
            moved = a.copy()
            moved[idx] += d
            return f(moved)
        g[idx] = (8 * (at(STEP) - at(-STEP)) - (at(2 * STEP) - at(-2 * STEP))) / (12 * STEP)
    return g


@st.composite
def layer_problems(draw):
    """A float64 layer of a random kind on a random input shape, its input, dy and context."""
    kinds = ["dense", "tanh", "sigmoid", "leaky_relu", "flatten", "dropout", "batch_norm"]
    kinds += ["conv2d", "max_pool"]
    kind = draw(st.sampled_from(kinds))
    n = draw(st.integers(1, 4))
    image = kind in ("conv2d", "max_pool", "flatten") or draw(st.booleans())
    shape = ((draw(st.integers(2, 6)), draw(st.integers(2, 6)), draw(st.integers(1, 3)))
             if image else (draw(st.integers(1, 6)),))
    if kind == "batch_norm":
        n = max(n, 2)
    spec = {"dense": lambda: layers.dense(draw(st.integers(1, 5))),
            "tanh": layers.tanh, "sigmoid": layers.sigmoid, "leaky_relu": layers.leaky_relu,
            "flatten": layers.flatten,
            "dropout": lambda: layers.dropout(draw(st.sampled_from([0.0, 0.3, 0.5]))),
            "batch_norm": layers.batch_norm,
            "conv2d": lambda: layers.conv2d(draw(st.integers(1, 3)), draw(st.integers(1, 2)),
                                            draw(st.integers(1, 2)),
                                            draw(st.sampled_from(["valid", "same"]))),
            "max_pool": lambda: layers.max_pool(2, draw(st.sampled_from([None, 1])))}[kind]()
    if kind == "dense" and image:
        shape = (int(np.prod(shape)),)
    seed = draw(st.integers(0, 2 ** 32 - 1))
    k_init, k_x, k_dy, k_ctx, k_p = rng.split(rng.key(seed), 5)
    layer, out = base.init(k_init, spec, shape, "he", np.float64)
    # non-trivial parameters (biases, γ, β away from 0/1) so every gradient is exercised
    layer = attrs.evolve(layer, **{k: v + 0.3 * rng.normal(rng.fold_in(k_p, i), v.shape, np.float64)
                                   for i, (k, v) in enumerate(_arrays(layer).items())})
    x = rng.normal(k_x, (n, *shape), np.float64)
    dy = rng.normal(k_dy, (n, *out), np.float64)
    state = base.initial_state(layer)
    train = draw(st.booleans()) if kind == "batch_norm" else True
    return layer, x, dy, Ctx(train=train, key=k_ctx, state=state)


@PROPS
@given(layer_problems())
def test_layer_backward_equals_central_differences(problem):
    """For f = Σ forward(x) ⊙ dY: backward's dX and dθ equal ∂f/∂x, ∂f/∂θ."""
    layer, x, dy, ctx = problem
    y, cache = base.forward(layer, x, ctx)
    dx, grads = base.backward(layer, cache, dy)
    assert y.shape == dy.shape and dx.shape == x.shape
    assert tree.structure(grads) == tree.structure(layer)
    f = lambda lay, xx: float(np.vdot(base.forward(lay, xx, ctx)[0], dy))
    _close(_numeric(lambda xx: f(layer, xx), x), dx, "dx")
    for name, value in _arrays(layer).items():
        numeric = _numeric(lambda v: f(attrs.evolve(layer, **{name: v}), x), value)
        _close(numeric, getattr(grads, name), name)


@PROPS
@given(layer_problems())
def test_layer_is_pure_on_read_only_inputs_and_deterministic(problem):
    layer, x, dy, ctx = problem
    frozen = [layer, x, dy, ctx.state]
    for leaf in tree.leaves(frozen):
        if isinstance(leaf, np.ndarray):
            leaf.setflags(write=False)
    before = copy.deepcopy(frozen)
    y1, cache = base.forward(layer, x, ctx)
    dx1, g1 = base.backward(layer, cache, dy)
    y2, cache2 = base.forward(layer, x, ctx)
    dx2, g2 = base.backward(layer, cache2, dy)
    assert tree.equal(before, frozen)
    assert np.array_equal(y1, y2) and np.array_equal(dx1, dx2) and tree.equal(g1, g2)


@st.composite
def network_problems(draw, smooth=False):
    """A random float64 network (an image branch with conv/pool, or a flat one), a batch, labels."""
    acts = ["tanh", "sigmoid"] if smooth else ["relu", "tanh", "leaky_relu", "sigmoid"]
    act = lambda: layers.activation(draw(st.sampled_from(acts)))
    specs = []
    if draw(st.booleans()):
        shape = (draw(st.integers(4, 7)), draw(st.integers(4, 7)), draw(st.integers(1, 2)))
        specs += [layers.conv2d(draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                                padding=draw(st.sampled_from(["valid", "same"])))]
        specs += [layers.batch_norm()] if draw(st.booleans()) else []
        specs += [act()]
        # max pooling is piecewise: finite differences may cross a tie, so smooth nets skip it
        specs += [layers.max_pool(2)] if not smooth and draw(st.booleans()) else []
        specs += [layers.flatten()]
    else:
        shape = (draw(st.integers(1, 6)),)
    for _ in range(draw(st.integers(0, 2))):
        specs += [layers.dense(draw(st.integers(1, 6)))]
        specs += [layers.batch_norm()] if draw(st.booleans()) else []
        specs += [act()]
        specs += [layers.dropout(0.3)] if not smooth and draw(st.booleans()) else []
    classes = draw(st.integers(2, 4))
    specs += [layers.dense(classes)]
    batch = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    k_init, k_x, k_y, k_drop = rng.split(rng.key(seed), 4)
    net = model.init(k_init, tuple(specs), input_shape=shape, dtype=np.float64)
    x = rng.normal(k_x, (batch, *shape), np.float64)
    y = rng.generator(k_y).integers(0, classes, batch)
    l2 = draw(st.sampled_from([0.0, 0.1]))
    return net, x, y, l2, k_drop


def _oracle_tree(net, grads: dict):
    return attrs.evolve(net, layers=tuple(
        attrs.evolve(layer, **{k: grads[(l, k)] for k in _arrays(layer)})
        for l, layer in enumerate(net.layers)))


@settings(deadline=None, max_examples=30)
@given(network_problems())
def test_network_gradients_equal_the_autodiff_oracle(problem):
    net, x, y, l2, key = problem
    state = model.init_model_state(net)
    trace = model.forward(net, x, train=True, key=key, model_state=state)
    grads = model.backward(net, trace, y, l2=l2)
    masks = {l: c for l, (layer, c) in enumerate(zip(net.layers, trace.caches))
             if layers.kind_of(layer) == "dropout" and c is not None}
    loss, expected = oracle.network_grads(net, x, y, masks, l2)
    got_loss, got, _, _ = model.value_and_grads(net, x, y, model_state=state, key=key, l2=l2)
    assert abs(loss - got_loss) <= 1e-10 * max(1.0, abs(loss))
    assert tree.structure(grads) == tree.structure(net)
    for (path, e), g, h in zip(tree.flatten_with_path(_oracle_tree(net, expected)),
                               tree.leaves(grads), tree.leaves(got)):
        _close(e, g, path)
        _close(e, h, path)


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

    for i, (leaf, g) in enumerate(zip(leaves, tree.leaves(grads))):
        _close(_numeric(lambda v: loss_at(i, v), leaf), g, f"leaf {i}")


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


def test_oracle_batch_norm_equals_funcnet_forward():
    x = rng.normal(rng.key(0), (6, 3), np.float64) * 3 + 1
    layer, _ = base.init(None, layers.batch_norm(), (3,), "he", np.float64)
    y, _ = base.forward(layer, x, Ctx(train=True, state=base.initial_state(layer)))
    node = oracle.batch_norm(oracle.constant(x), oracle.Node(layer.gamma), oracle.Node(layer.beta),
                             layer.eps)
    np.testing.assert_allclose(node.value, y, rtol=1e-12)


def test_oracle_conv_and_pool_equal_the_loop_oracle():
    import conv_oracle
    x = rng.normal(rng.key(1), (2, 5, 6, 2), np.float64)
    w = rng.normal(rng.key(2), (3, 2, 2, 4), np.float64)
    b = rng.normal(rng.key(3), (4,), np.float64)
    for stride, padding in [(1, "valid"), (2, "same"), (1, "same")]:
        got = oracle.conv2d(oracle.constant(x), oracle.Node(w), oracle.Node(b), stride, padding)
        np.testing.assert_allclose(got.value, conv_oracle.conv2d(x, w, b, stride, padding), rtol=1e-12)
    np.testing.assert_allclose(oracle.max_pool(oracle.constant(x), 2, 2).value,
                               conv_oracle.max_pool(x, 2, 2)[0])
