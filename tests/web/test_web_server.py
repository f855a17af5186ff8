"""The drawing page's server as a browser or an attacker meets it: ``funcnet serve`` in a
subprocess on 127.0.0.1, spoken to over HTTP (Host headers, chunked bodies, large pictures)."""

from __future__ import annotations

import http.client
import io
import json
import sys
import threading

import numpy as np
import pytest

from funcnet.web import MAX_BODY

from . import browser

pytest.importorskip("flask", reason="needs the serve extra (Flask)")
Image = pytest.importorskip("PIL.Image", reason="needs the serve extra (Pillow)")

TARGET_MB = 600  # funcnet serve's peak while four clients upload a 49-megapixel picture


def port_of(server) -> int:
    return int(server.url.rstrip("/").rsplit(":", 1)[1])


def ask(port: int, method: str, path: str, body=None, headers=None, chunked: bool = False):
    """``(status, parsed JSON or None, raw bytes)`` of one request to 127.0.0.1:``port``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        parsed = json.loads(raw) if response.getheader("Content-Type", "").startswith(
            "application/json") else None
    except ValueError:
        parsed = None
    return response.status, parsed, raw


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def canvas() -> bytes:
    """The page's canvas as it posts it: a white "1" on black, 280 x 280 RGBA."""
    pad = np.zeros((280, 280, 4), np.uint8)
    pad[..., 3] = 255
    pad[40:240, 130:150, :3] = 255
    return png(pad)


def pieces(data: bytes, size: int = 64 * 1024):
    """``data`` as an iterator of pieces: http.client sends each as one chunk."""
    return (data[i:i + size] for i in range(0, len(data), size))


@pytest.fixture(scope="module")
def server(small_mlp):
    served = browser.Server(small_mlp)
    yield served
    served.stop()


# ---------------------------------------------------------------- DNS rebinding


@pytest.mark.parametrize("method, path", [("GET", "/api/model"), ("GET", "/"),
                                          ("POST", "/api/predict")])
def test_a_page_of_another_site_cannot_read_the_model_or_ask_for_predictions(server, method, path):
    """A DNS-rebinding page (evil.example made to point at 127.0.0.1) sends its own name."""
    port = port_of(server)
    body = canvas() if method == "POST" else None
    status, answer, raw = ask(port, method, path, body,
                              {"Host": f"evil.example:{port}", "Content-Type": "image/png"})
    assert status == 400
    assert set(answer) == {"error"} and "\n" not in answer["error"]
    assert "Host header 'evil.example:" in answer["error"]
    assert b"network" not in raw and b"probs" not in raw


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_the_page_answers_requests_addressed_to_this_machine(server, host):
    port = port_of(server)
    status, about, _ = ask(port, "GET", "/api/model", headers={"Host": f"{host}:{port}"})
    assert status == 200 and about["network"] == "784-64-10 relu"


def test_the_model_is_named_without_its_absolute_path(server, small_mlp):
    status, about, raw = ask(port_of(server), "GET", "/api/model")
    assert status == 200
    assert about["model"] == f"{small_mlp.name}/model.safetensors"
    assert str(small_mlp.parent).encode() not in raw


# ---------------------------------------------------------------- bodies


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_cap_is_413_with_or_without_a_length(server, chunked):
    """Chunked bodies (no Content-Length) are cut at the same cap as plain ones."""
    body = b"\0" * (MAX_BODY + 10_000)
    status, answer, _ = ask(port_of(server), "POST", "/api/predict",
                            pieces(body) if chunked else body,
                            {"Content-Type": "image/png"}, chunked=chunked)
    assert status == 413 and f"over {MAX_BODY:,} bytes" in answer["error"]


def test_a_chunked_picture_under_the_cap_is_answered(server):
    status, seen, _ = ask(port_of(server), "POST", "/api/predict", pieces(canvas(), 1000),
                          {"Content-Type": "image/png"}, chunked=True)
    assert status == 200 and seen["label"] in range(10) and seen["side"] == 28


def test_the_server_still_answers_after_the_refusals(server):
    status, seen, _ = ask(port_of(server), "POST", "/api/predict", canvas(),
                          {"Content-Type": "image/png"})
    assert status == 200 and len(seen["probs"]) == 10


# ---------------------------------------------------------------- memory


def one_bit_png(side: int = 7000) -> bytes:
    """A ``side`` x ``side`` one-bit PNG of a dark "1" on white: 49 megapixels in 14 kB."""
    ink = np.ones((side, side), bool)
    ink[side // 7: side - side // 7, side * 9 // 20: side * 11 // 20] = False
    buf = io.BytesIO()
    Image.fromarray(ink).save(buf, "PNG", optimize=True)
    return buf.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak from /proc")
def test_four_simultaneous_49_megapixel_uploads_stay_under_600_mb(small_mlp):
    picture = one_bit_png()
    assert len(picture) < 20_000
    served = browser.Server(small_mlp)
    answers: list = []
    try:
        port = port_of(served)
        threads = [threading.Thread(target=lambda: answers.append(
            ask(port, "POST", "/api/predict", picture, {"Content-Type": "image/png"})[:2]))
            for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        code, _, stderr = served.stop()
    assert len(answers) == 4
    for status, answer in answers:
        assert status == 200 or 400 <= status < 500, answer
    assert len({answer["label"] for status, answer in answers if status == 200}) <= 1
    assert served.peak_mb is not None and served.peak_mb < TARGET_MB, (served.peak_mb, stderr)
