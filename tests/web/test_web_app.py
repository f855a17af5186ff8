"""The drawing page's server through Flask's test client: the page, answers, and bad requests."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from funcnet import digitize, model, rng
from funcnet.cli import load_model
from funcnet.web import MAX_BODY, create_app, look

pytest.importorskip("flask", reason="needs the serve extra (Flask)")
Image = pytest.importorskip("PIL.Image", reason="needs the serve extra (Pillow)")


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def canvas_of(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit as the page's canvas draws it: white on black, 280 x 280 RGBA."""
    big = np.kron(digit.reshape(28, 28), np.ones((10, 10), np.uint8))
    return np.dstack([big, big, big, np.full_like(big, 255)])


@pytest.fixture(scope="module")
def params(small_mlp):
    return load_model(small_mlp)[0]


@pytest.fixture(scope="module")
def client(params):
    app = create_app(params, name="small.safetensors")
    app.testing = True
    return app.test_client()


def error_of(response, code: int) -> str:
    assert response.status_code == code, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and "\n" not in body["error"]
    return body["error"]


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and b'<canvas id="pad"' in page.data
    for name in ("page.js", "page.css"):
        assert client.get(f"/static/{name}").status_code == 200


def test_the_model_describes_itself(client):
    about = client.get("/api/model").get_json()
    assert about == {"model": "small.safetensors", "network": "784-64-10 relu", "input_shape": [784],
                     "classes": [str(k) for k in range(10)]}


def test_a_drawn_digit_gets_the_models_answer_for_the_digit(client, params, mnist_test):
    for i in range(5):
        response = client.post("/api/predict", data=png(canvas_of(mnist_test.x[i])),
                               content_type="image/png")
        assert response.status_code == 200
        seen = response.get_json()
        expected = digitize.probabilities(params, mnist_test.x[i].reshape(1, 28, 28) / 255)[0]
        assert seen["label"] == int(expected.argmax())
        assert seen["side"] == 28 and len(seen["field"]) == 784
        assert seen["layer"]["shape"] == [64] and len(seen["layer"]["values"]) == 64
        assert abs(sum(seen["probs"]) - 1) < 1e-3
        assert response.headers["Server-Timing"].startswith("predict;dur=")


def test_look_shows_the_same_field_as_the_recipe(params, mnist_test):
    pixels = canvas_of(mnist_test.x[0])
    seen = look(params, pixels)
    np.testing.assert_allclose(seen["field"], digitize.preprocess(pixels).ravel(), atol=5e-4)
    np.testing.assert_allclose(seen["layer"]["values"],
                               digitize.first_layer(params, digitize.preprocess(pixels)[None])[0],
                               atol=5e-4)


@pytest.mark.parametrize("content_type", ["text/plain", "application/json",
                                          "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_declared_a_picture_is_415(client, content_type):
    response = client.post("/api/predict", data=b"{}", content_type=content_type)
    assert "expected a picture as the body" in error_of(response, 415)


def test_a_body_over_the_cap_is_413(client):
    response = client.post("/api/predict", data=b"\0" * (MAX_BODY + 1), content_type="image/png")
    assert f"over {MAX_BODY:,} bytes" in error_of(response, 413)


@pytest.mark.parametrize("payload, reason", [(b"", "empty file"), (b"\x89PNG\r\n garbage", "not a picture"),
                                             (b"GIF89a" + b"\0" * 20, "not a picture|damaged")])
def test_a_malformed_picture_is_400(client, payload, reason):
    message = error_of(client.post("/api/predict", data=payload, content_type="image/png"), 400)
    assert message.startswith("the body: ")
    assert any(r in message for r in reason.split("|"))


def test_a_blank_canvas_is_422_no_ink(client):
    blank = png(np.zeros((280, 280), np.uint8))
    assert "no ink" in error_of(client.post("/api/predict", data=blank, content_type="image/png"), 422)


def test_wrong_routes_and_methods_are_json_too(client):
    assert "Not Found" in error_of(client.get("/nowhere"), 404)
    assert "Method Not Allowed" in error_of(client.get("/api/predict"), 405)


def test_the_server_keeps_answering_after_bad_requests(client, mnist_test):
    client.post("/api/predict", data=b"\0" * (MAX_BODY + 10), content_type="image/png")
    client.post("/api/predict", data=b"junk", content_type="image/png")
    ok = client.post("/api/predict", data=png(canvas_of(mnist_test.x[1])), content_type="image/png")
    assert ok.status_code == 200 and json.loads(ok.data)["label"] in range(10)


def test_a_network_without_hidden_layers_shows_its_logits():
    params = model.init(rng.key(0), (784, 10))
    seen = look(params, np.eye(40))
    assert seen["layer"]["shape"] == [10]


def test_a_request_that_waits_too_long_for_a_decoder_is_429(params, monkeypatch):
    """At most ``decoders`` pictures are read at once; a request that waits longer is told so."""
    import threading

    from funcnet.web import app as web_app

    started, release = threading.Event(), threading.Event()
    decode = web_app.picture_files.decode_image

    def slow_decode(data, name):
        started.set()
        release.wait(30)
        return decode(data, name)

    monkeypatch.setattr(web_app.picture_files, "decode_image", slow_decode)
    monkeypatch.setattr(web_app, "BUSY_SECONDS", 0.2)
    app = create_app(params, decoders=1)
    body = png(canvas_of(np.eye(28, dtype=np.uint8).ravel() * 255))
    first: list = []
    holder = threading.Thread(target=lambda: first.append(
        app.test_client().post("/api/predict", data=body, content_type="image/png")))
    holder.start()
    assert started.wait(30)
    busy = app.test_client().post("/api/predict", data=body, content_type="image/png")
    release.set()
    holder.join(30)
    assert "the server is reading 1 other picture;" in error_of(busy, 429)
    assert first[0].status_code == 200


@pytest.mark.parametrize("host, allowed", [("127.0.0.1:8000", True), ("localhost", True),
                                           ("[::1]:8000", True), ("192.168.1.20:8000", True),
                                           ("app.localhost:8000", True), ("box:8000", True),
                                           ("evil.example:8000", False), ("127.0.0.1.nip.io", False),
                                           ("", False)])
def test_only_addresses_and_this_machines_names_may_be_the_host(params, host, allowed):
    app = create_app(params, hosts=["box"])
    response = app.test_client().get("/api/model", headers={"Host": host})
    assert (response.status_code == 200) == allowed, response.data
