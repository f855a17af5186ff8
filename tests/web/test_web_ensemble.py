"""The drawing page's server with an ensemble folder: the mean probabilities, and the first
member's first layer, said to be the first member's."""

from __future__ import annotations

import numpy as np
import pytest

from funcnet import digitize
from funcnet.cli import load_model
from funcnet.web import create_app, look

from .test_web_app import canvas_of, png

pytest.importorskip("flask", reason="needs the serve extra (Flask)")


@pytest.fixture(scope="module")
def loaded(ensemble_folder):
    return load_model(ensemble_folder)


@pytest.fixture(scope="module")
def client(loaded):
    ens, info = loaded
    app = create_app(ens, name="ens/ensemble.json", model_state=info["model_state"])
    app.testing = True
    return app.test_client()


def test_the_ensemble_describes_itself(client):
    about = client.get("/api/model").get_json()
    assert about["network"] == ("ensemble of 2: 784-64-10 relu; conv2d relu flatten dense "
                                "on (28, 28, 1)")
    assert about["input_shape"] == [28, 28, 1] and len(about["classes"]) == 10


def test_a_drawn_digit_gets_the_mean_of_the_members_and_the_first_members_layer(
        client, loaded, mnist_test):
    ens, info = loaded
    for i in range(3):
        canvas = canvas_of(mnist_test.x[i])
        response = client.post("/api/predict", data=png(canvas), content_type="image/png")
        assert response.status_code == 200
        seen = response.get_json()
        field = digitize.preprocess(canvas)[None]
        members = [digitize.probabilities(net, field)[0] for net in ens.members]
        expected = (members[0] + members[1]) / 2
        assert seen["label"] == int(expected.argmax())
        # rounded to 4 decimals by the server
        np.testing.assert_allclose(seen["probs"], expected, rtol=0, atol=5e-5 + 4 * 2.0 ** -23)
        assert seen["layer"]["shape"] == [64] and seen["layer"]["of"] == "member 1 of 2"
        first = digitize.first_layer(ens.members[0], field)[0]
        np.testing.assert_allclose(seen["layer"]["values"], first, rtol=0, atol=5e-4 + 1e-6)


def test_a_network_says_nothing_of_members(loaded):
    net = loaded[0].members[0]
    assert "of" not in look(net, canvas_of(np.eye(28, dtype=np.uint8) * 255))["layer"]
