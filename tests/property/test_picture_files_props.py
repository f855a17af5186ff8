"""Properties of the page's and the picture reader's small pure pieces: tiles change nothing,
any IP address is this server's Host, no shown name is absolute."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcnet.data import picture_files
from funcnet.web import host_allowed, shown_name

Image = pytest.importorskip("PIL.Image", reason="needs the images extra (Pillow)")

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"]


def picture(mode: str, width: int, height: int, seed: int):
    """A random picture of ``mode``: noise, so that every block average differs."""
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    channels = {"1": 1, "L": 1, "P": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    im = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    if mode == "1":
        return im.convert("1")
    if mode == "P":
        return im.convert("P")
    return im


@settings(deadline=None, max_examples=40)
@given(mode=st.sampled_from(MODES), width=st.integers(1, 300), height=st.integers(1, 300),
       side=st.integers(1, 60), tile=st.integers(1, 90), seed=st.integers(0, 2**16))
def test_reducing_tile_by_tile_is_reducing_the_whole_picture(mode, width, height, side, tile, seed):
    im = picture(mode, width, height, seed)
    tiled = picture_files.reduced(im, side, tile)
    whole = picture_files.reduced(im, side, max(width, height) + side)  # one tile
    factor = -(-max(width, height) // side)
    assert tiled.size == whole.size == (-(-width // factor), -(-height // factor))
    assert tiled.mode == whole.mode and max(tiled.size) <= side
    assert np.array_equal(np.asarray(tiled), np.asarray(whole))


@settings(deadline=None, max_examples=40)
@given(mode=st.sampled_from(MODES), width=st.integers(1, 200), height=st.integers(1, 200),
       seed=st.integers(0, 2**16))
def test_reducing_leaves_the_picture_as_it_was(mode, width, height, seed):
    im = picture(mode, width, height, seed)
    before = np.asarray(im).copy()
    picture_files.reduced(im, 16, 20)
    assert im.mode == mode and np.array_equal(np.asarray(im), before)


@given(address=st.ip_addresses(), port=st.none() | st.integers(1, 65535))
def test_any_ip_address_is_a_host_of_this_server(address, port):
    literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    host = literal if port is None else f"{literal}:{port}"
    if port is None and isinstance(address, ipaddress.IPv6Address):
        host = str(address)  # a bare IPv6 address, as some clients send it
    assert host_allowed(host)


@given(label=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
       tld=st.sampled_from(["com", "example", "net", "io"]), port=st.integers(1, 65535))
def test_a_name_that_is_not_this_machines_is_refused(label, tld, port):
    assert not host_allowed(f"{label}.{tld}:{port}", ["box.lan"])
    assert host_allowed(f"{label}.{tld}:{port}", [f"{label}.{tld}"])


@given(parts=st.lists(st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True).filter(
    lambda p: p not in (".", "..")), min_size=1, max_size=6), absolute=st.booleans())
def test_a_shown_name_is_never_absolute_and_keeps_the_file_name(parts, absolute):
    path = ("/" if absolute else "") + "/".join(parts)
    shown = shown_name(path)
    assert not shown.startswith("/") and shown.endswith(parts[-1])
    assert shown.count("/") <= 1 and shown == "/".join(parts[-2:])
