"""The drawing page's server: a small Flask app over one model, and the loop that serves it.

Routes: ``GET /`` the page (static files shipped in the package),
``GET /api/model`` what the model is, ``POST /api/predict`` a picture
(PNG, JPEG, BMP or GIF as the raw body, at most MAX_BODY bytes) answered
with :func:`look`'s JSON. A bad request gets a 4xx and one line of JSON
``{"error": "..."}``; the server goes on serving.
"""

from __future__ import annotations

import errno
import socket
import time

import numpy as np

from .. import images, model
from ..data import images as fimages
from ..errors import DataError, FuncnetError

__all__ = ["MAX_BODY", "TYPES", "shown_network", "look", "describe", "create_app", "serve"]

MAX_BODY = 1_000_000  # bytes: a 280 × 280 canvas as PNG is a few kB
TYPES = ("image/png", "image/jpeg", "image/bmp", "image/gif")


def _rounded(values: np.ndarray, digits: int = 4) -> list:
    return np.round(np.asarray(values, np.float64), digits).ravel().tolist()


def shown_network(params, model_state=None) -> tuple:
    """``(network, its model state, whose)``: the network whose first layer the page shows.

    A network's own (``whose`` None); an ensemble's first member's, ``whose``
    saying so (``"member 1 of 2"``): an ensemble has no first layer of its own.

    >>> from funcnet import model, rng
    >>> net = model.init(rng.key(0), (784, 16, 10))
    >>> shown_network(model.Ensemble.of([net, net]))[0] is net, shown_network(net)[2]
    (True, None)
    """
    if not isinstance(params, model.Ensemble):
        return params, model_state, None
    first = model.ensembles.member_states(params, model_state)[0]
    return params.members[0], first, f"member 1 of {len(params.members)}"


def look(params, pixels, classes=None, model_state=None) -> dict:
    """What the page shows for one picture: the field, the probabilities, the first layer.

    ``{"label", "name", "probs": (k,), "field": side² values in [0, 1],
    "side", "layer": {"shape", "values"}}``: the field is what the network
    sees after :func:`funcnet.images.preprocess`, probs = softmax(Z_L) (an
    ensemble's: the mean of its members'), and the layer is
    :func:`funcnet.images.first_layer` (hidden units for an MLP, feature maps
    ``(H, W, C)`` for a convolutional network); for an ensemble, its first
    member's, and ``layer["of"]`` says so (:func:`shown_network`).

    >>> from funcnet import model, rng
    >>> seen = look(model.init(rng.key(0), (784, 16, 10)), np.eye(40))
    >>> seen["side"], len(seen["field"]), len(seen["probs"]), seen["layer"]["shape"]
    (28, 784, 10, [16])
    """
    side = images.field_side(images.input_shape(params))
    field = images.preprocess(pixels, side)[None]
    probs = images.probabilities(params, field, model_state)[0]
    net, state, whose = shown_network(params, model_state)
    layer = images.first_layer(net, field, state)[0]
    label = int(np.argmax(probs))
    shown = {"shape": list(layer.shape), "values": _rounded(layer, 3)}
    return {"label": label, "name": classes[label] if classes else str(label),
            "probs": _rounded(probs), "field": _rounded(field, 3), "side": side,
            "layer": shown if whose is None else {**shown, "of": whose}}


def describe(params, name: str, classes=None) -> dict:
    """The model as the page introduces it: file, network, input shape and class names.

    >>> from funcnet import model, rng
    >>> describe(model.init(rng.key(0), (784, 16, 10)), "m.safetensors")["classes"][:3]
    ['0', '1', '2']
    """
    k = model.num_outputs(params)
    return {"model": name, "network": model.describe(params),
            "input_shape": list(images.input_shape(params)),
            "classes": list(classes) if classes else [str(c) for c in range(k)]}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def create_app(params, name: str = "model", classes=None, model_state=None):
    """The Flask app that serves the page and answers ``POST /api/predict`` with ``params``
    (and its ``model_state``: batch norm's running statistics, None for the MLP)."""
    from flask import Flask, jsonify, request
    from werkzeug.exceptions import HTTPException, UnsupportedMediaType

    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    about = describe(params, name, classes)

    @app.get("/")
    def index():
        return app.send_static_file("index.html")

    @app.get("/api/model")
    def model_info():
        return jsonify(about)

    @app.post("/api/predict")
    def predict():
        if request.mimetype not in TYPES:
            raise UnsupportedMediaType(f"expected a picture as the body ({', '.join(TYPES)}), "
                                       f"got {request.mimetype or 'no content type'}")
        start = time.perf_counter()
        seen = look(params, fimages.decode_image(request.get_data(cache=False), "the body"),
                    classes, model_state)
        response = jsonify(seen)
        response.headers["Server-Timing"] = f"predict;dur={(time.perf_counter() - start) * 1e3:.2f}"
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        message = exc.description if exc.code != 413 else f"the body is over {MAX_BODY:,} bytes"
        return jsonify(error=_one_line(f"{exc.name}: {message}")), exc.code

    @app.errorhandler(DataError)
    def data_error(exc):
        code = 422 if "no ink" in str(exc) else 400
        return jsonify(error=_one_line(exc)), code

    return app


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``, or a one-line FuncnetError (e.g. the port is taken)."""
    from werkzeug.serving import select_address_family

    family = select_address_family(host, port)
    try:
        return socket.create_server((host, port), family=family, backlog=64)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise FuncnetError(f"port {port} on {host} is already in use: "
                               "choose another with --port") from None
        raise FuncnetError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(app, host: str = "127.0.0.1", port: int = 8000, echo=print) -> None:
    """Serve ``app`` on ``host:port`` (0: any free port) until Ctrl-C; ``echo`` tells the URL."""
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request while drawing
    sock = _listen(host, port)
    try:
        server = make_server(host, port, app, threaded=True, fd=sock.fileno())
    finally:
        sock.close()  # the server holds its own duplicate of the socket
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else (f"[{host}]" if ":" in host else host)
    echo(f"serving on http://{shown}:{server.port}/ (Ctrl-C to stop)")
    server.serve_forever()  # returns on Ctrl-C, the socket closed
    echo("stopped")
