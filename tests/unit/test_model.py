"""funcnet.model: init schemes, shapes, forward/backward, predict, loss, update."""

import math

import attrs
import numpy as np
import pytest

import hashlib
import json
from pathlib import Path

from funcnet import data, losses, model, rng, tree
from funcnet.errors import DataError
from funcnet.layers import Activation, Dense, dense, dropout, relu

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def with_dense(net, *dense_layers):
    """``net`` with its dense layers replaced, in order, by ``dense_layers``."""
    new = iter(dense_layers)
    return attrs.evolve(net, layers=tuple(next(new) if type(l) is Dense else l for l in net.layers))


def hand_params(activation="relu", dtype=np.float64):
    """A 2-3-2 network with round numbers."""
    w1 = np.array([[1.0, -1.0, 0.5], [2.0, 0.0, -0.5]], dtype)
    b1 = np.array([0.0, 0.5, -1.0], dtype)
    w2 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]], dtype)
    b2 = np.array([0.1, -0.1], dtype)
    net = model.init(rng.key(0), (2, 3, 2), activation=activation, dtype=dtype)
    return with_dense(net, model.Dense(w1, b1), model.Dense(w2, b2))


def dense_layers(net):
    return [l for l in net.layers if type(l) is Dense]


# --- init -----------------------------------------------------------------------------

def test_init_from_sizes_is_the_network_dense_activation_dense():
    p = model.init(rng.key(0), (5, 4, 3, 2), activation="tanh")
    assert isinstance(p, model.Network) and p.input_shape == (5,)
    assert [type(l).__name__ for l in p.layers] == ["Dense", "Activation"] * 2 + ["Dense"]
    assert p.specs == (dense(4), layers_activation("tanh"), dense(3), layers_activation("tanh"), dense(2))
    assert [l.w.shape for l in dense_layers(p)] == [(5, 4), (4, 3), (3, 2)]
    assert [l.b.shape for l in dense_layers(p)] == [(4,), (3,), (2,)]
    assert p.shapes == ((4,), (4,), (3,), (3,), (2,)) and p.layers[1].name == "tanh"
    assert all(l.dtype == np.float32 for l in tree.leaves(p))
    p64 = model.init(rng.key(0), [5, 2], dtype=np.float64)
    assert p64.layers[0].w.dtype == np.float64 and len(p64.layers) == 1


def layers_activation(name):
    from funcnet.layers import activation
    return activation(name)


def test_init_from_sizes_gives_the_weights_it_always_gave():
    """Every seed, size list, scheme, activation and dtype: the bits recorded from the code
    that built the tutorial's MLP as a record of its own (tests/fixtures)."""
    cases = json.loads((FIXTURES / "mlp_init_before_one_engine.json").read_text())["cases"]
    assert len(cases) == 192
    for c in cases:
        p = model.init(rng.key(c["seed"]), tuple(c["sizes"]), scheme=c["scheme"],
                       activation=c["activation"], dtype=np.dtype(c["dtype"]))
        digest = hashlib.sha256()
        for leaf in tree.leaves(p):
            digest.update(np.ascontiguousarray(leaf).tobytes())
        assert digest.hexdigest() == c["sha256"], c


def test_init_from_specs_equals_the_same_network_built_by_hand():
    from funcnet.layers import network
    a = model.init(rng.key(3), (dense(4), relu(), dense(2)), input_shape=(3,))
    b = network.init(rng.key(3), (dense(4), relu(), dense(2)), (3,))
    assert tree.equal(a, b) and tree.structure(a) == tree.structure(b)


def test_tutorial_init_is_uniform_in_minus_half_to_half():
    p = model.init(rng.key(1), (300, 400), scheme="tutorial")
    w, b = p.layers[0].w, p.layers[0].b
    for x in (w, b):
        assert x.min() >= -0.5 and x.max() < 0.5
    assert abs(w.mean()) < 0.005 and abs(w.var() - 1 / 12) < 0.002
    assert abs(b.mean()) < 0.05 and b.std() > 0.2  # biases drawn too


def test_he_init_has_std_sqrt_2_over_n_in_and_zero_bias():
    p = model.init(rng.key(2), (200, 600, 10), scheme="he")
    for layer, n_in in zip(dense_layers(p), (200, 600)):
        assert layer.w.std() == pytest.approx(math.sqrt(2 / n_in), rel=0.03)
        assert abs(layer.w.mean()) < 0.1 * math.sqrt(2 / n_in)
        assert not layer.b.any()


def test_xavier_init_is_uniform_within_its_bound_and_zero_bias():
    p = model.init(rng.key(3), (300, 500), scheme="xavier")
    w = p.layers[0].w
    r = math.sqrt(6 / (300 + 500))
    assert np.abs(w).max() <= r and np.abs(w).max() > 0.99 * r
    assert w.var() == pytest.approx(r * r / 3, rel=0.02)
    assert not p.layers[0].b.any()


def test_each_layer_draws_from_its_own_key():
    p = model.init(rng.key(4), (6, 6, 6), scheme="tutorial")
    assert not np.array_equal(p.layers[0].w, p.layers[2].w)
    assert not np.array_equal(p.layers[0].b, p.layers[2].b)


def test_unknown_init_scheme_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown init scheme 'glorot': "
                                         r"expected one of tutorial, he, xavier"):
        model.init(rng.key(0), (3, 2), scheme="glorot")


def test_unknown_activation_is_refused_at_init():
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        model.init(rng.key(0), (3, 2), activation="gelu")


@pytest.mark.parametrize("sizes", [(5,), (), (3, 0, 2), (3, -1), (0, 2)])
def test_bad_sizes_are_refused(sizes):
    with pytest.raises(ValueError, match=r"sizes must be at least \(inputs, outputs\), all ≥ 1"):
        model.init(rng.key(0), sizes)


def test_dense_zeros():
    d = model.Dense.zeros(3, 2, np.float64)
    assert d.w.shape == (3, 2) and d.b.shape == (2,) and d.w.dtype == np.float64
    assert not d.w.any() and not d.b.any()


# --- forward ------------------------------------------------------------------------

def test_forward_by_hand():
    p = hand_params()
    x = np.array([[1.0, 1.0], [0.0, -1.0]])
    acts = model.forward(p, x)
    z1 = x @ p.layers[0].w + p.layers[0].b
    a1 = np.maximum(z1, 0)
    z2 = a1 @ p.layers[2].w + p.layers[2].b
    assert isinstance(acts, model.Trace) and len(acts.caches) == 3
    np.testing.assert_allclose(acts.caches[1], a1)  # relu's cache: its output A1
    np.testing.assert_allclose(acts.logits, z2)
    np.testing.assert_allclose(acts.probs, losses.softmax(z2))


def test_forward_shapes_for_any_depth_and_casts_inputs_to_the_weights_dtype():
    p = model.init(rng.key(0), (7, 5, 4, 3, 2))
    acts = model.forward(p, np.ones((6, 7), np.float64))
    assert [c.shape for c in acts.caches[::2]] == [(6, 7), (6, 5), (6, 4), (6, 3)]
    assert acts.logits.shape == acts.probs.shape == (6, 2)
    assert acts.probs.dtype == np.float32 and acts.caches[0].dtype == np.float32
    np.testing.assert_allclose(acts.probs.sum(axis=1), 1, rtol=1e-6)


def test_forward_without_hidden_layers_is_softmax_regression():
    p = model.init(rng.key(0), (3, 4), dtype=np.float64, scheme="tutorial")
    x = rng.normal(rng.key(1), (5, 3), np.float64)
    acts = model.forward(p, x)
    assert len(acts.caches) == 1
    np.testing.assert_allclose(acts.probs, losses.softmax(x @ p.layers[0].w + p.layers[0].b))


def test_integer_pixels_are_scaled_the_same_way_at_every_entry_point():
    p = model.init(rng.key(0), (784, 16, 10), dtype=np.float64)
    pixels = (np.arange(5 * 784) % 256).astype(np.uint8).reshape(5, 784)
    scaled = data.scale(pixels, np.float64)  # the one rule, X·(1/255)
    y = np.arange(5) % 10
    assert tree.equal(model.forward(p, pixels), model.forward(p, scaled))
    np.testing.assert_array_equal(model.logits(p, pixels), model.logits(p, scaled))
    assert model.loss(p, pixels, y) == model.loss(p, scaled, y)
    a, b = model.value_and_grads(p, pixels, y), model.value_and_grads(p, scaled, y)
    assert a[0] == b[0] and tree.equal(a[1], b[1])
    cnn = model.init(rng.key(0), (layers_flatten(), dense(10)), input_shape=(28, 28, 1))
    np.testing.assert_array_equal(model.logits(cnn, pixels), model.logits(cnn, data.scale(pixels)))


def layers_flatten():
    from funcnet.layers import flatten
    return flatten()


def test_training_a_network_with_dropout_needs_a_key():
    p = model.init(rng.key(0), (dense(4), relu(), dropout(0.5), dense(2)), input_shape=(3,))
    with pytest.raises(ValueError, match="this network has dropout: training it needs a key"):
        model.forward(p, np.ones((2, 3)), train=True)
    with pytest.raises(ValueError, match="needs a key"):
        model.value_and_grads(p, np.ones((2, 3)), np.array([0, 1]))
    model.forward(p, np.ones((2, 3)))  # at evaluation dropout draws nothing


def test_forward_dropout_masks_and_scaling():
    p = model.init(rng.key(0), (dense(50), relu(), dropout(0.25), dense(2)), input_shape=(3,))
    acts = model.forward(p, np.ones((20, 3), np.float32), key=rng.key(1), train=True)
    mask = acts.caches[2]
    assert mask.shape == (20, 50)
    assert set(np.unique(mask).tolist()) <= {0.0, np.float32(1 / 0.75)}
    np.testing.assert_allclose(acts.caches[3], acts.caches[1] * mask)  # the next dense's input


@pytest.mark.parametrize("p", [1.0, 1.5, -0.5])
def test_a_dropout_rate_outside_0_1_is_refused(p):
    with pytest.raises(ValueError, match="dropout"):
        dropout(p)


@pytest.mark.parametrize("x, fragment", [
    (np.zeros((784, 5)), r"expected one example per row, \(n, 784\); got \(784, 5\) — the tutorial's X is transposed"),
    (np.zeros((5, 785)), r"expected one example per row, \(n, 784\); got \(5, 785\)"),
    (np.zeros((5, 28, 28)), r"got \(5, 28, 28\)"),
])
def test_inputs_of_the_wrong_shape_are_one_line_naming_both_shapes(x, fragment):
    p = model.init(rng.key(0), (784, 10, 10))
    for call in (lambda: model.forward(p, x), lambda: model.logits(p, x),
                 lambda: model.value_and_grads(p, x, np.zeros(len(x), int))):
        with pytest.raises(DataError, match=fragment):
            call()


@pytest.mark.parametrize("y, fragment", [
    (np.eye(10)[[0, 1, 2]], r"one-hot labels of shape \(3, 10\): pass y.argmax\(axis=1\)"),
    (np.eye(10)[[0, 1, 2]].T, r"the tutorial's one-hot Y of shape \(10, 3\): pass Y.argmax\(axis=0\)"),
    (np.array([0, 1]), r"one integer class id per example, shape \(3,\); got shape \(2,\)"),
    (np.array([0, 10, 1]), r"class ids 0..9, got 10 at row 1"),
    (np.array([0.0, 1.0, 2.0]), r"integer class ids, got dtype float64"),
])
def test_labels_that_are_not_class_ids_are_one_line_naming_the_fix(y, fragment):
    p = model.init(rng.key(0), (4, 6, 10))
    x = np.zeros((3, 4))
    for call in (lambda: model.backward(p, model.forward(p, x), y),
                 lambda: model.value_and_grads(p, x, y), lambda: model.loss(p, x, y)):
        with pytest.raises(DataError, match=fragment):
            call()


def test_backward_given_the_inputs_instead_of_the_forward_pass_says_so():
    p = model.init(rng.key(0), (4, 6, 10))
    with pytest.raises(TypeError, match=r"takes the forward pass's result \(acts = funcnet.forward"):
        model.backward(p, np.zeros((3, 4)), np.zeros(3, int))


# --- backward ---------------------------------------------------------------------

def test_backward_by_hand_for_a_two_layer_relu_net():
    p = hand_params()
    x = np.array([[1.0, 1.0], [0.0, -1.0]])
    y = np.array([1, 0])
    acts = model.forward(p, x)
    m = 2
    dz2 = (acts.probs - losses.one_hot(y, 2, np.float64)) / m
    a1 = acts.caches[1]
    dw2, db2 = a1.T @ dz2, dz2.sum(axis=0)
    dz1 = (dz2 @ p.layers[2].w.T) * (a1 > 0)
    dw1, db1 = x.T @ dz1, dz1.sum(axis=0)
    g = model.backward(p, acts, y)
    np.testing.assert_allclose(g.layers[2].w, dw2, rtol=1e-14)
    np.testing.assert_allclose(g.layers[2].b, db2, rtol=1e-14)
    np.testing.assert_allclose(g.layers[0].w, dw1, rtol=1e-14)
    np.testing.assert_allclose(g.layers[0].b, db1, rtol=1e-14)
    assert g.layers[1].name == "relu" and tree.structure(g) == tree.structure(p)


def test_backward_l2_adds_lambda_w_to_weights_only():
    p = hand_params("tanh")
    x = np.array([[1.0, 2.0]])
    acts = model.forward(p, x)
    g0 = model.backward(p, acts, np.array([0]))
    g1 = model.backward(p, acts, np.array([0]), l2=0.3)
    for a, b, layer in zip(dense_layers(g0), dense_layers(g1), dense_layers(p)):
        np.testing.assert_allclose(b.w, a.w + 0.3 * layer.w, rtol=1e-14)
        np.testing.assert_array_equal(b.b, a.b)


def test_backward_keeps_float32():
    p = model.init(rng.key(0), (4, 3, 2))
    g = model.backward(p, model.forward(p, np.ones((2, 4))), np.array([0, 1]))
    assert all(l.dtype == np.float32 for l in tree.leaves(g))


# --- predict, loss, loss_and_grads, update -------------------------------------------------

def test_predict_is_argmax_of_the_logits():
    p = with_dense(model.init(rng.key(0), (3, 3), dtype=np.float64), model.Dense(np.eye(3) * 5, np.zeros(3)))
    x = np.array([[0.1, 0.9, 0.0], [1.0, 0.0, 0.2], [0.0, 0.1, 0.3]])
    assert model.predict(p, x).tolist() == [1, 0, 2]
    q = model.init(rng.key(0), (4, 6, 3))
    x = rng.normal(rng.key(1), (10, 4))
    np.testing.assert_array_equal(model.predict(q, x), model.forward(q, x).probs.argmax(axis=1))


def test_logits_in_chunks_equal_one_pass():
    p = model.init(rng.key(0), (4, 6, 3), dtype=np.float64)
    x = rng.normal(rng.key(1), (25, 4), np.float64)
    np.testing.assert_allclose(model.logits(p, x, chunk=7), model.forward(p, x).logits,
                               rtol=1e-14)
    assert model.logits(p, np.zeros((0, 4))).shape == (0, 3)
    np.testing.assert_allclose(model.predict_proba(p, x), model.forward(p, x).probs, rtol=1e-12)


def test_loss_of_a_zero_network_is_log_classes():
    p = with_dense(model.init(rng.key(0), (3, 4, 5), dtype=np.float64),
                   model.Dense.zeros(3, 4, np.float64), model.Dense.zeros(4, 5, np.float64))
    x = rng.normal(rng.key(0), (6, 3), np.float64)
    assert model.loss(p, x, np.arange(6) % 5) == pytest.approx(math.log(5), rel=1e-14)


def test_loss_adds_the_l2_penalty():
    p = hand_params()
    x, y = np.array([[1.0, 0.0]]), np.array([1])
    penalty = 0.5 * 0.2 * sum(float((l.w ** 2).sum()) for l in dense_layers(p))
    assert model.loss(p, x, y, l2=0.2) == pytest.approx(model.loss(p, x, y) + penalty, rel=1e-14)
    assert model.loss(p, x, y) == pytest.approx(
        losses.cross_entropy(model.forward(p, x).logits, y), rel=1e-14)


def test_loss_and_grads_agree_with_loss_forward_and_backward():
    p = model.init(rng.key(0), (4, 5, 3), dtype=np.float64)
    x = rng.normal(rng.key(1), (7, 4), np.float64)
    y = np.arange(7) % 3
    value, grads, acts = model.loss_and_grads(p, x, y, l2=0.05)
    assert value == pytest.approx(model.loss(p, x, y, l2=0.05), rel=1e-12)
    assert tree.equal(acts, model.forward(p, x))
    assert tree.equal(grads, model.backward(p, acts, y, l2=0.05))


def test_update_is_p_minus_lr_g():
    p = model.init(rng.key(0), (3, 4, 2), scheme="tutorial")
    g = tree.map(lambda a: np.full_like(a, 2.0), p)
    q = model.update(p, g, 0.25)
    assert tree.structure(q) == tree.structure(p)
    for new, old in zip(tree.leaves(q), tree.leaves(p)):
        np.testing.assert_array_equal(new, old - np.float32(0.5))
        assert new.dtype == np.float32
    assert tree.equal(q, tree.map(lambda a, b: a - np.float32(0.25) * b, p, g))


def test_params_are_frozen_records():
    p = hand_params()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.layers = ()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.layers[1].name = "tanh"
    assert attrs.evolve(p, layers=p.layers[:1]).layers == p.layers[:1]
