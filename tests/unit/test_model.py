"""funcnet.model: init schemes, shapes, forward/backward, predict, loss, update."""

import math

import attrs
import numpy as np
import pytest

from funcnet import losses, model, rng, tree


def hand_params(activation="relu", dtype=np.float64):
    """A 2-3-2 network with round numbers."""
    w1 = np.array([[1.0, -1.0, 0.5], [2.0, 0.0, -0.5]], dtype)
    b1 = np.array([0.0, 0.5, -1.0], dtype)
    w2 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]], dtype)
    b2 = np.array([0.1, -0.1], dtype)
    return model.Params((model.Dense(w1, b1), model.Dense(w2, b2)), activation)


# --- init -----------------------------------------------------------------------------

def test_init_shapes_dtype_sizes_and_activation():
    p = model.init(rng.key(0), (5, 4, 3, 2), activation="tanh")
    assert [l.w.shape for l in p.layers] == [(5, 4), (4, 3), (3, 2)]
    assert [l.b.shape for l in p.layers] == [(4,), (3,), (2,)]
    assert p.sizes == (5, 4, 3, 2) and p.activation == "tanh"
    assert all(l.w.dtype == np.float32 and l.b.dtype == np.float32 for l in p.layers)
    p64 = model.init(rng.key(0), [5, 2], dtype=np.float64)
    assert p64.layers[0].w.dtype == np.float64 and p64.sizes == (5, 2)


def test_tutorial_init_is_uniform_in_minus_half_to_half():
    p = model.init(rng.key(1), (300, 400), scheme="tutorial")
    w, b = p.layers[0].w, p.layers[0].b
    for x in (w, b):
        assert x.min() >= -0.5 and x.max() < 0.5
    assert abs(w.mean()) < 0.005 and abs(w.var() - 1 / 12) < 0.002
    assert abs(b.mean()) < 0.05 and b.std() > 0.2  # biases drawn too


def test_he_init_has_std_sqrt_2_over_n_in_and_zero_bias():
    p = model.init(rng.key(2), (200, 600, 10), scheme="he")
    for layer, n_in in zip(p.layers, (200, 600)):
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
    assert not np.array_equal(p.layers[0].w, p.layers[1].w)
    assert not np.array_equal(p.layers[0].b, p.layers[1].b)


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
    z2 = a1 @ p.layers[1].w + p.layers[1].b
    assert acts.inputs[0] is x or np.array_equal(acts.inputs[0], x)
    np.testing.assert_allclose(acts.hidden[0], a1)
    np.testing.assert_allclose(acts.logits, z2)
    np.testing.assert_allclose(acts.probs, losses.softmax(z2))
    assert acts.masks == ()


def test_forward_shapes_for_any_depth_and_casts_inputs_to_the_weights_dtype():
    p = model.init(rng.key(0), (7, 5, 4, 3, 2))
    acts = model.forward(p, np.ones((6, 7), np.float64))
    assert [a.shape for a in acts.inputs] == [(6, 7), (6, 5), (6, 4), (6, 3)]
    assert [h.shape for h in acts.hidden] == [(6, 5), (6, 4), (6, 3)]
    assert acts.logits.shape == acts.probs.shape == (6, 2)
    assert acts.probs.dtype == np.float32 and acts.inputs[0].dtype == np.float32
    np.testing.assert_allclose(acts.probs.sum(axis=1), 1, rtol=1e-6)


def test_forward_without_hidden_layers_is_softmax_regression():
    p = model.init(rng.key(0), (3, 4), dtype=np.float64, scheme="tutorial")
    x = rng.normal(rng.key(1), (5, 3), np.float64)
    acts = model.forward(p, x)
    assert acts.hidden == () and len(acts.inputs) == 1
    np.testing.assert_allclose(acts.probs, losses.softmax(x @ p.layers[0].w + p.layers[0].b))


def test_forward_with_dropout_needs_a_key():
    p = model.init(rng.key(0), (3, 4, 2))
    with pytest.raises(TypeError, match="expected a key"):
        model.forward(p, np.ones((2, 3)), dropout=0.5)


def test_forward_dropout_masks_and_scaling():
    p = model.init(rng.key(0), (3, 50, 40, 2))
    acts = model.forward(p, np.ones((20, 3), np.float32), key=rng.key(1), dropout=0.25)
    assert len(acts.masks) == 2
    for mask, h, a in zip(acts.masks, acts.hidden, acts.inputs[1:]):
        assert mask.shape == h.shape
        assert set(np.unique(mask).tolist()) <= {0.0, np.float32(1 / 0.75)}
        np.testing.assert_allclose(a, h * mask)


@pytest.mark.parametrize("p", [1.0, 1.5, -0.5])
def test_forward_refuses_a_dropout_rate_outside_0_1(p):
    params = model.init(rng.key(0), (3, 4, 2))
    with pytest.raises(ValueError, match="dropout"):
        model.forward(params, np.ones((2, 3)), key=rng.key(1), dropout=p)


def test_quirks_forward_uses_the_naive_softmax():
    p = model.init(rng.key(0), (3, 2), dtype=np.float64)
    x = np.ones((2, 3))
    np.testing.assert_allclose(model.forward(p, x, quirks=True).probs, model.forward(p, x).probs)


# --- backward ---------------------------------------------------------------------

def test_backward_by_hand_for_a_two_layer_relu_net():
    p = hand_params()
    x = np.array([[1.0, 1.0], [0.0, -1.0]])
    y = np.array([1, 0])
    acts = model.forward(p, x)
    m = 2
    dz2 = (acts.probs - losses.one_hot(y, 2, np.float64)) / m
    a1 = acts.hidden[0]
    dw2, db2 = a1.T @ dz2, dz2.sum(axis=0)
    dz1 = (dz2 @ p.layers[1].w.T) * (a1 > 0)
    dw1, db1 = x.T @ dz1, dz1.sum(axis=0)
    g = model.backward(p, acts, y)
    np.testing.assert_allclose(g.layers[1].w, dw2, rtol=1e-14)
    np.testing.assert_allclose(g.layers[1].b, db2, rtol=1e-14)
    np.testing.assert_allclose(g.layers[0].w, dw1, rtol=1e-14)
    np.testing.assert_allclose(g.layers[0].b, db1, rtol=1e-14)
    assert g.activation == "relu"


def test_backward_l2_adds_lambda_w_to_weights_only():
    p = hand_params("tanh")
    x = np.array([[1.0, 2.0]])
    acts = model.forward(p, x)
    g0 = model.backward(p, acts, np.array([0]))
    g1 = model.backward(p, acts, np.array([0]), l2=0.3)
    for a, b, layer in zip(g0.layers, g1.layers, p.layers):
        np.testing.assert_allclose(b.w, a.w + 0.3 * layer.w, rtol=1e-14)
        np.testing.assert_array_equal(b.b, a.b)


def test_backward_quirks_gives_one_bias_scalar_per_layer():
    p = hand_params()
    x = np.array([[1.0, 1.0], [0.0, -1.0]])
    y = np.array([1, 0])
    acts = model.forward(p, x)
    exact, quirky = model.backward(p, acts, y), model.backward(p, acts, y, quirks=True)
    for e, q in zip(exact.layers, quirky.layers):
        np.testing.assert_allclose(q.b, np.full_like(e.b, e.b.sum()), atol=1e-15)
        np.testing.assert_array_equal(q.w, e.w)


def test_backward_keeps_float32():
    p = model.init(rng.key(0), (4, 3, 2))
    g = model.backward(p, model.forward(p, np.ones((2, 4))), np.array([0, 1]))
    assert all(l.dtype == np.float32 for l in tree.leaves(g))


# --- predict, loss, loss_and_grads, update -------------------------------------------------

def test_predict_is_argmax_of_the_logits():
    p = model.Params((model.Dense(np.eye(3) * 5, np.zeros(3)),), "relu")
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
    p = model.Params((model.Dense.zeros(3, 4, np.float64), model.Dense.zeros(4, 5, np.float64)))
    x = rng.normal(rng.key(0), (6, 3), np.float64)
    assert model.loss(p, x, np.arange(6) % 5) == pytest.approx(math.log(5), rel=1e-14)


def test_loss_adds_the_l2_penalty():
    p = hand_params()
    x, y = np.array([[1.0, 0.0]]), np.array([1])
    penalty = 0.5 * 0.2 * sum(float((l.w ** 2).sum()) for l in p.layers)
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
        p.activation = "tanh"
    assert attrs.evolve(p, activation="tanh").activation == "tanh"
