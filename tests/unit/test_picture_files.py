"""funcnet.data.picture_files: decoding PNG, JPEG, BMP and GIF with Pillow, folders, and bad files."""

from __future__ import annotations

import io

import numpy as np
import pytest

from funcnet import digitize
from funcnet.data import picture_files
from funcnet.errors import DataError, FuncnetError

Image = pytest.importorskip("PIL.Image", reason="needs the images extra (Pillow)")


def encode(array, fmt="PNG", **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt, **options)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF"])
def test_each_format_decodes_to_rgba(fmt):
    img = np.zeros((30, 20), np.uint8)
    img[5:25, 8:12] = 255
    pixels = picture_files.decode_image(encode(img, fmt), f"x.{fmt.lower()}")
    assert pixels.shape == (30, 20, 4) and pixels.dtype == np.uint8
    assert abs(int(pixels[15, 10, 0]) - 255) < 8 and pixels[0, 0, 0] < 8


def test_a_16_bit_png_keeps_its_grey_levels():
    img = np.zeros((8, 8), np.uint16)
    img[2:6, 3:5] = 65535
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    pixels = picture_files.decode_image(buf.getvalue(), "deep.png")
    assert digitize.grayscale(pixels).max() == 1.0 and digitize.grayscale(pixels)[0, 0] == 0.0


@pytest.mark.parametrize("payload, reason", [
    (b"", "empty file"),
    (b"hello, not a picture", "not a picture"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a picture|damaged"),
])
def test_bad_bytes_name_the_file_and_the_reason(payload, reason):
    with pytest.raises(DataError, match=rf"^x\.png: ({reason})"):
        picture_files.decode_image(payload, "x.png")


def test_a_truncated_png_is_damaged():
    data_ = encode(np.eye(64, dtype=np.uint8) * 255)
    with pytest.raises(DataError, match=r"^cut\.png: (damaged|not a picture)"):
        picture_files.decode_image(data_[: len(data_) // 2], "cut.png")


def test_formats_other_than_the_four_are_refused():
    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, "TIFF")
    with pytest.raises(DataError, match="a TIFF picture; expected PNG, JPEG, BMP or GIF"):
        picture_files.decode_image(buf.getvalue(), "scan.tif")


def test_a_large_picture_is_reduced_before_the_recipe():
    img = np.zeros((3000, 1500), np.uint8)
    img[500:2500, 600:900] = 255
    pixels = picture_files.decode_image(encode(img), "big.png")
    assert max(pixels.shape[:2]) == picture_files.MAX_SIDE
    assert digitize.preprocess(pixels).shape == (28, 28)


def test_image_files_searches_folders_and_takes_named_files(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/1.PNG", "a/b/2.jpg", "a/notes.txt", "a/b/3.gif"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    files, problems = picture_files.image_files([tmp_path / "a", tmp_path / "a" / "notes.txt",
                                           tmp_path / "empty", tmp_path / "missing.png"])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == \
        ["a/1.PNG", "a/b/2.jpg", "a/b/3.gif", "a/notes.txt"]
    assert problems == [f"{tmp_path / 'empty'}: no PNG, JPEG, BMP or GIF files in this folder",
                        f"{tmp_path / 'missing.png'}: no such file or folder"]


def test_read_fields_keeps_going_past_a_bad_file(tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(encode(np.eye(40, dtype=np.uint8) * 255))
    blank = tmp_path / "blank.png"
    blank.write_bytes(encode(np.zeros((9, 9), np.uint8)))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    read, fields, problems = picture_files.read_fields([bad, good, blank], digitize.preprocess)
    assert read == [good] and fields.shape == (1, 28, 28)
    assert problems[0].startswith(f"{bad}: not a picture")
    assert problems[1].startswith(f"{blank}: no ink")


def test_without_pillow_the_error_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(FuncnetError, match=r"pip install 'funcnet\[images\]'"):
        picture_files.pillow()
