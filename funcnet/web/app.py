"""The drawing page's server: a small Flask app over one model, and the loop that serves it.

Routes: ``GET /`` the page (static files shipped in the package),
``GET /api/model`` what the model is, ``POST /api/predict`` a picture
(PNG, JPEG, BMP or GIF as the raw body, at most MAX_BODY bytes) answered
with :func:`look`'s JSON. A bad request gets a 4xx and one line of JSON
``{"error": "..."}``; the server goes on serving.

What the server guards against:

- **DNS rebinding.** A request whose ``Host`` header names neither an IP
  address, ``localhost`` nor this machine (:func:`host_allowed`) is refused
  (400) before any route: a page of another site that has its name point
  at 127.0.0.1 cannot read ``/api/model`` or ask for predictions.
- **Large bodies.** At most MAX_BODY bytes are read, whether the body has a
  ``Content-Length`` or comes in chunks (``Transfer-Encoding: chunked``);
  more is 413.
- **Large pictures.** Pictures are decoded in bounded memory
  (:mod:`funcnet.data.picture_files`), at most DECODERS at a time; a
  request that waits more than BUSY_SECONDS for its turn gets 429.
- **Disclosure.** The model is named by its file and folder names, never
  by its absolute path (:func:`shown_name`).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
import time
from pathlib import Path

import numpy as np

from .. import digitize, model
from ..data import picture_files
from ..errors import DataError, FuncnetError

__all__ = ["MAX_BODY", "TYPES", "DECODERS", "shown_network", "look", "describe", "shown_name", "host_allowed",
           "machine_names", "exposure", "create_app", "serve"]

MAX_BODY = 1_000_000  # bytes: a 280 × 280 canvas as PNG is a few kB
TYPES = ("image/png", "image/jpeg", "image/bmp", "image/gif")
DECODERS = 2          # pictures decoded at once: memory ≤ 2 × the largest decoded picture
BUSY_SECONDS = 30.0   # how long a request waits for a decoder before 429


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
    sees after :func:`funcnet.digitize.preprocess`, probs = softmax(Z_L) (an
    ensemble's: the mean of its members'), and the layer is
    :func:`funcnet.digitize.first_layer` (hidden units for an MLP, feature maps
    ``(H, W, C)`` for a convolutional network); for an ensemble, its first
    member's, and ``layer["of"]`` says so (:func:`shown_network`).

    >>> from funcnet import model, rng
    >>> seen = look(model.init(rng.key(0), (784, 16, 10)), np.eye(40))
    >>> seen["side"], len(seen["field"]), len(seen["probs"]), seen["layer"]["shape"]
    (28, 784, 10, [16])
    """
    side = digitize.field_side(digitize.input_shape(params))
    field = digitize.preprocess(pixels, side)[None]
    probs = digitize.probabilities(params, field, model_state)[0]
    net, state, whose = shown_network(params, model_state)
    layer = digitize.first_layer(net, field, state)[0]
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
            "input_shape": list(digitize.input_shape(params)),
            "classes": list(classes) if classes else [str(c) for c in range(k)]}


def shown_name(path) -> str:
    """The model file as the page names it: its folder's name and its own, never an absolute path.

    >>> shown_name("/home/ada/runs/mlp/model.safetensors"), shown_name("m.safetensors")
    ('mlp/model.safetensors', 'm.safetensors')
    """
    p = Path(path)
    return "/".join(part for part in (p.parent.name, p.name) if part)


def _hostname(host: str) -> str:
    """The name in a ``Host`` header, without its port or brackets, in lower case.

    >>> _hostname("LocalHost:8000"), _hostname("[::1]:8000"), _hostname("::1"), _hostname("a.b.")
    ('localhost', '::1', '::1', 'a.b')
    """
    host = host.strip()
    if host.startswith("["):
        host = host[1:host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".").lower()


def host_allowed(host: str, names=()) -> bool:
    """Whether a request's ``Host`` header names this server.

    Allowed: an IP address (v4 or v6: a page of another site cannot make a
    browser send one for its own name), ``localhost`` and ``*.localhost``
    (which browsers resolve to loopback themselves), and ``names`` (this
    machine's names, the ``--host`` given). Anything else is a name that
    some DNS server made point here: a DNS-rebinding page.

    >>> [host_allowed(h) for h in ("127.0.0.1:8000", "[::1]:80", "localhost:8000", "10.0.0.7")]
    [True, True, True, True]
    >>> host_allowed("evil.example:8000"), host_allowed("box.lan:8000", ["box.lan"])
    (False, True)
    """
    name = _hostname(host)
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return (name == "localhost" or name.endswith(".localhost")
            or name in {_hostname(n) for n in names if n})


def machine_names(host: str = "") -> tuple[str, ...]:
    """The names a browser may use for this server besides its addresses: the machine's host
    name, and ``host`` (the address listened on) when it is a name. (No DNS is asked: a
    lookup of the full name could stall the start.)

    >>> machine_names("box.lan")[-1], socket.gethostname() in machine_names()
    ('box.lan', True)
    """
    return tuple(n for n in dict.fromkeys((socket.gethostname(), host)) if n)


def exposure(host: str) -> str | None:
    """A warning when listening on ``host`` opens the page beyond this machine; None on loopback.

    >>> exposure("127.0.0.1") is None, exposure("localhost") is None, exposure("::1") is None
    (True, True, True)
    >>> exposure("0.0.0.0")
    'listening on 0.0.0.0 (every network interface): the page and the model are reachable from the network by anyone who can reach this port, without a password'
    """
    name = _hostname(host) or "0.0.0.0"
    if name == "localhost":
        return None
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None and address.is_loopback:
        return None
    where = "every network interface" if address is not None and address.is_unspecified else \
        "not only this machine's loopback"
    return (f"listening on {host or '0.0.0.0'} ({where}): the page and the model are reachable "
            "from the network by anyone who can reach this port, without a password")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def create_app(params, name: str = "model", classes=None, model_state=None, hosts=None,
               decoders: int = DECODERS):
    """The Flask app that serves the page and answers ``POST /api/predict`` with ``params``
    (and its ``model_state``: batch norm's running statistics, None for the MLP).

    ``name`` is shown as :func:`shown_name` makes it; ``hosts`` are the
    names allowed in the Host header besides IP addresses and localhost
    (default :func:`machine_names`); at most ``decoders`` pictures are
    decoded at once.
    """
    from flask import Flask, jsonify, request
    from werkzeug.exceptions import (BadRequest, HTTPException, RequestEntityTooLarge,
                                     TooManyRequests, UnsupportedMediaType)

    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1  # the body's cap is checked as it is read
    about = describe(params, shown_name(name), classes)
    names = machine_names() if hosts is None else tuple(hosts)
    turns = threading.BoundedSemaphore(decoders)

    @app.before_request
    def check_host():
        host = request.environ.get("HTTP_HOST")
        if host is not None and not host_allowed(host, names):
            raise BadRequest(f"the Host header {host!r} does not name this server (a page of "
                             "another site?); open the address that funcnet serve printed")

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
        body = picture_files.read_capped(request.stream, MAX_BODY)
        if len(body) > MAX_BODY:
            raise RequestEntityTooLarge()
        if not turns.acquire(timeout=BUSY_SECONDS):
            raise TooManyRequests(f"the server is reading {decoders} other "
                                  f"picture{'' if decoders == 1 else 's'}; try again in a moment")
        try:
            start = time.perf_counter()
            seen = look(params, picture_files.decode_image(body, "the body"), classes, model_state)
        finally:
            turns.release()
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
