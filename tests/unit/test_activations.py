"""funcnet.activations: values, derivatives (in terms of the output), lookup."""

import numpy as np
import pytest

from funcnet import activations as A

Z = np.array([[-3.0, -0.5, 0.0], [0.25, 2.0, 7.0]])


def test_relu_and_its_derivative():
    np.testing.assert_array_equal(A.relu(Z), [[0, 0, 0], [0.25, 2, 7]])
    np.testing.assert_array_equal(A.relu_grad(A.relu(Z)), [[0, 0, 0], [1, 1, 1]])
    assert A.relu_grad(np.array([0.0], np.float32)).dtype == np.float32


def test_leaky_relu_and_its_derivative():
    np.testing.assert_allclose(A.leaky_relu(Z), [[-0.03, -0.005, 0], [0.25, 2, 7]])
    np.testing.assert_allclose(A.leaky_relu_grad(A.leaky_relu(Z)),
                               [[0.01, 0.01, 0.01], [1, 1, 1]])
    assert A.leaky_relu(np.array([-1.0], np.float32)).dtype == np.float32


def test_tanh_and_its_derivative():
    np.testing.assert_allclose(A.tanh(Z), np.tanh(Z))
    np.testing.assert_allclose(A.tanh_grad(A.tanh(Z)), 1 / np.cosh(Z) ** 2)


def test_sigmoid_values_and_derivative():
    np.testing.assert_allclose(A.sigmoid(Z), 1 / (1 + np.exp(-Z)), rtol=1e-15)
    np.testing.assert_allclose(A.sigmoid_grad(A.sigmoid(Z)),
                               np.exp(-Z) / (1 + np.exp(-Z)) ** 2, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_at_plus_minus_1000(dtype):
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = A.sigmoid(z)
    assert s.dtype == dtype
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5
    assert np.isfinite(s).all() and ((s >= 0) & (s <= 1)).all()
    assert np.all(np.diff(s) >= 0)


def test_identity_and_its_derivative():
    np.testing.assert_array_equal(A.identity(Z), Z)
    np.testing.assert_array_equal(A.identity_grad(Z), np.ones_like(Z))


@pytest.mark.parametrize("name", A.NAMES)
def test_derivatives_match_finite_differences_away_from_zero(name):
    act = A.get(name)
    z = np.array([-2.0, -0.7, -0.1, 0.1, 0.6, 1.5])
    h = 1e-6
    numeric = (act.fn(z + h) - act.fn(z - h)) / (2 * h)
    np.testing.assert_allclose(act.grad(act.fn(z)), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", A.NAMES)
def test_fused_forms_agree_with_the_plain_ones(name):
    from funcnet import _kernels
    act, fused = A.get(name), _kernels.fused(name)
    z = Z.copy()
    a = fused.apply_(z.copy())
    np.testing.assert_array_equal(a, act.fn(Z))
    da = np.arange(6.0).reshape(2, 3) - 2
    np.testing.assert_allclose(fused.backprop_(da.copy(), a), da * act.grad(a))


@pytest.mark.parametrize("name", A.NAMES)
def test_plain_forms_do_not_write_into_their_input(name):
    act = A.get(name)
    z = Z.copy()
    z.flags.writeable = False
    act.fn(z)
    act.grad(act.fn(z))
    np.testing.assert_array_equal(z, Z)


def test_get_by_name_and_names():
    assert A.NAMES == ("relu", "leaky_relu", "tanh", "sigmoid", "identity")
    assert A.get("tanh").name == "tanh" and A.get("tanh").fn is A.tanh


def test_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown activation 'swish': expected one of "
                                         r"relu, leaky_relu, tanh, sigmoid, identity"):
        A.get("swish")


def test_no_public_activation_or_loss_writes_in_place():
    from funcnet import losses
    assert not [n for n in A.__all__ + losses.__all__ if n.endswith("_")]
    assert not hasattr(A.get("relu"), "apply_")
