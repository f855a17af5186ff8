"""funcnet.digitize: MNIST's recipe on known pictures, and the lookups of the model's input and first layer."""

from __future__ import annotations

import numpy as np
import pytest

from funcnet import data, digitize, model, rng
from funcnet.errors import DataError


@pytest.fixture(scope="module")
def mnist_digits():
    return data.load("mnist", download=False)["test"].take(slice(0, 200))


# ---------------------------------------------------------------- the recipe


def test_grayscale_weighs_red_green_blue_as_itu_601():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    np.testing.assert_allclose(digitize.grayscale(rgb), [[0.299, 0.587, 0.114]], atol=1e-6)


@pytest.mark.parametrize("ink, paper", [(0, 1.0), (255, 0.0)])
def test_transparent_paper_becomes_the_colour_that_contrasts_with_the_strokes(ink, paper):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[1:3, 1:3] = [ink, ink, ink, 255]
    gray = digitize.grayscale(rgba)
    assert gray[0, 0] == paper and gray[1, 1] == ink / 255


def test_a_picture_of_five_channels_is_refused():
    with pytest.raises(DataError, match=r"expected an image of shape \(H, W\)"):
        digitize.grayscale(np.zeros((3, 3, 5)))


def test_16_bit_pixels_are_scaled_by_their_maximum():
    assert digitize.grayscale(np.array([[0, 65535]], np.uint16)).tolist() == [[0.0, 1.0]]


def test_an_mnist_digit_comes_back_nearly_as_it_was(mnist_digits):
    """MNIST's own digits already are 20x20 boxes centred by mass: the recipe keeps them."""
    x = mnist_digits.x.reshape(-1, 28, 28) / 255
    fields = np.stack([digitize.preprocess(d) for d in x])
    assert np.abs(fields - x).mean() < 0.01
    with_floor_off = np.abs(fields - x).max(axis=(1, 2))
    assert np.median(with_floor_off) < 0.15  # only the faintest tenth of the ink differs


def test_a_digit_4x_larger_dark_on_white_gives_nearly_the_same_field(mnist_digits):
    digit = mnist_digits.x[0].reshape(28, 28)
    big = 255 - np.kron(digit, np.ones((4, 4), np.uint8))
    field = digitize.preprocess(np.pad(big, ((30, 5), (2, 40)), constant_values=255))
    assert np.abs(field - digit / 255).mean() < 0.05


def test_input_shape_and_field_side_of_an_mlp():
    params = model.init(rng.key(0), (784, 8, 10))
    assert digitize.input_shape(params) == (784,)
    assert digitize.field_side(digitize.input_shape(params)) == 28
    assert digitize.field_side((16, 16, 1)) == 16


@pytest.mark.parametrize("shape", [(10,), (28, 14, 1), (28, 28)])
def test_a_model_that_takes_no_square_picture_is_a_clear_error(shape):
    with pytest.raises(DataError, match="not a square image"):
        digitize.field_side(shape)


def test_as_input_makes_rows_or_nhwc_batches():
    fields = rng.uniform(rng.key(1), (3, 28, 28))
    assert np.array_equal(digitize.as_input(fields, (784,)), fields.reshape(3, 784))
    nhwc = digitize.as_input(fields, (28, 28, 3))
    assert nhwc.shape == (3, 28, 28, 3) and np.array_equal(nhwc[..., 2], fields)


def test_first_layer_is_the_hidden_activation_of_x_w1_plus_b1():
    params = model.init(rng.key(2), (784, 12, 10), activation="tanh")
    fields = rng.uniform(rng.key(3), (4, 28, 28))
    x = fields.reshape(4, 784)
    expected = np.tanh(x @ params.layers[0].w + params.layers[0].b)
    np.testing.assert_allclose(digitize.first_layer(params, fields), expected, rtol=1e-5, atol=1e-6)


def test_first_layer_of_a_network_without_hidden_layers_is_its_logits():
    params = model.init(rng.key(2), (784, 10))
    fields = rng.uniform(rng.key(3), (2, 28, 28))
    np.testing.assert_allclose(digitize.first_layer(params, fields),
                               model.logits(params, fields.reshape(2, 784)), rtol=1e-6)


def test_probabilities_are_the_models_on_the_flattened_fields():
    params = model.init(rng.key(4), (784, 8, 10))
    fields = rng.uniform(rng.key(5), (3, 28, 28))
    np.testing.assert_array_equal(digitize.probabilities(params, fields),
                                  model.predict_proba(params, fields.reshape(3, 784)))


def test_prediction_line_names_the_class_when_the_dataset_has_names():
    probs = np.array([0.1, 0.7, 0.2])
    assert digitize.prediction_line("a.png", probs, ("cat", "dog", "eel")) == \
        "a.png: dog (70.0%), runner-up eel (20.0%)"
