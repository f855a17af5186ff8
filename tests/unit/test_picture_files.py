"""funcnet.data.picture_files: decoding PNG, JPEG, BMP and GIF with Pillow, folders, and bad files."""

from __future__ import annotations

import io
import os
import warnings
import zlib
from pathlib import Path

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
    (b"no\n", "not a picture"),  # shorter than some formats' signature tests
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
    factor = -(-3000 // picture_files.MAX_SIDE)  # the smallest integer factor that fits
    assert pixels.shape == (-(-3000 // factor), -(-1500 // factor), 4)
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


# ---------------------------------------------------------------- bounded decoding


def png_header(width: int, height: int, bit_depth: int = 1, colour: int = 0) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels: signature, IHDR, one tiny IDAT, IEND.

    Enough for a reader of headers; decoding it would need the full picture.
    """
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (len(body).to_bytes(4, "big") + kind + body
                + zlib.crc32(kind + body).to_bytes(4, "big"))

    ihdr = (width.to_bytes(4, "big") + height.to_bytes(4, "big")
            + bytes([bit_depth, colour, 0, 0, 0]))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height", [(20000, 20000), (10000, 9500), (8000, 7000)])
def test_a_picture_over_the_pixel_limit_is_refused_before_decoding_in_funcnets_words(width, height):
    """Pillow's own refusals (an error above 2 x 89 M pixels, a warning above 89 M) never show."""
    assert width * height > picture_files.MAX_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning would fail here
        with pytest.raises(DataError) as caught:
            picture_files.decode_image(png_header(width, height), "big.png")
    assert str(caught.value) == (f"big.png: {width}x{height} pixels is too large "
                                 f"(at most {picture_files.MAX_PIXELS:,} pixels are decoded)")


def test_a_large_jpeg_is_decoded_already_reduced():
    """8000 x 7000 pixels is over the limit at full size, but a JPEG decodes at 1/4 scale."""
    side = (8000, 7000)
    assert side[0] * side[1] > picture_files.MAX_PIXELS
    im = Image.new("L", side, 255)
    im.paste(0, (3800, 1000, 4200, 6000))  # a dark "1" on white paper
    pixels = picture_files.decode_image(encode_image(im, "JPEG", quality=90), "photo.jpg")
    scale = 4  # libjpeg's largest scale that keeps MAX_SIDE: 8000 // 1024 = 7 -> 4
    factor = -(-(side[0] // scale) // picture_files.MAX_SIDE)
    assert pixels.shape == (-(-side[1] // scale // factor), -(-side[0] // scale // factor), 4)
    field = digitize.preprocess(pixels)
    assert field[:, 14].sum() > field[14, :].sum()  # upright: a vertical stroke


def encode_image(im, fmt="PNG", **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


def seven(height: int = 60, width: int = 40) -> np.ndarray:
    """A dark "7" on white: a top bar and a stroke down the right, asymmetric under every turn."""
    img = np.full((height, width), 255, np.uint8)
    img[height // 8: height // 8 + height // 10, width // 5: width * 4 // 5] = 0
    img[height // 8: height * 7 // 8, width * 3 // 5: width * 3 // 4] = 0
    return img


STORED = {  # how a camera stores an upright picture for each EXIF orientation
    1: lambda a: a, 2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud,
    5: lambda a: a.T, 6: lambda a: np.rot90(a, 1), 7: lambda a: np.rot90(a, 2).T,
    8: lambda a: np.rot90(a, -1),
}


def with_orientation(upright: np.ndarray, orientation: int, fmt: str) -> bytes:
    from PIL import ExifTags

    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    stored = np.ascontiguousarray(STORED[orientation](upright))
    return encode_image(Image.fromarray(stored), fmt, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_pictures_are_read_upright_as_their_exif_orientation_says(orientation, fmt):
    upright = seven()
    data_ = with_orientation(upright, orientation, fmt)
    pixels = picture_files.decode_image(data_, f"photo.{fmt.lower()}")
    assert pixels.shape[:2] == upright.shape
    if fmt == "PNG":  # lossless: the very pixels, turned
        assert np.array_equal(pixels[..., 0], upright)
    else:  # JPEG's error sits next to the strokes; a wrong turn would misplace whole strokes
        assert ((pixels[..., 0] < 128) == (upright < 128)).mean() > 0.97


def test_a_large_sideways_photo_is_reduced_and_turned_upright():
    upright = seven(3000, 2000)
    pixels = picture_files.decode_image(with_orientation(upright, 6, "PNG"), "phone.png")
    factor = -(-3000 // picture_files.MAX_SIDE)
    assert pixels.shape[:2] == (3000 // factor, -(-2000 // factor))
    stored = np.ascontiguousarray(STORED[6](upright))  # reduced as stored, then turned
    expected = np.rot90(np.asarray(Image.fromarray(stored).reduce(factor)), -1)
    assert np.array_equal(pixels[..., 0], expected)


def test_16_bit_grey_larger_than_the_working_size_keeps_its_ink():
    """A 16-bit scan (grey ink on light paper, levels above 255) reads as its 8-bit copy does."""
    eight = np.where(seven(2000, 1500) == 0, 51, 230).astype(np.uint8)  # 20% ink, 90% paper
    sixteen = eight.astype(np.uint16) * 257
    field16 = digitize.preprocess(picture_files.decode_image(encode(sixteen), "deep.png"))
    field8 = digitize.preprocess(picture_files.decode_image(encode(eight), "flat.png"))
    # box averages rounded to 8 bits (and to 16): at most half a step of each apart; the
    # recipe stretches the grey levels by 1 / ((1 - 0.1) * contrast) and then only averages
    contrast = (230 - 51) / 255
    bound = (0.5 / 255 + 0.5 / 65535) / ((1 - digitize.NOISE) * contrast)
    np.testing.assert_allclose(field16, field8, atol=bound + 8 * np.finfo(np.float32).eps)


@pytest.mark.parametrize("side", [(300, 200), (3000, 2000)])
def test_a_palette_picture_with_a_transparent_colour_reads_as_ink_on_paper(side):
    ink = seven(*side) == 0
    palette = Image.fromarray(ink.astype(np.uint8), "L").convert("P")
    palette.putpalette([255, 255, 255, 0, 0, 0])
    field = digitize.preprocess(picture_files.decode_image(
        encode_image(palette, "PNG", transparency=0), "clear.png"))
    reference = digitize.preprocess(np.where(ink, 0, 255).astype(np.uint8))
    assert np.abs(field - reference).max() < 0.5  # the same digit, on paper either way
    assert np.abs(field - reference).mean() < 0.02


def test_a_one_bit_picture_is_reduced_in_grey_levels_not_dropped_pixels():
    """A 1-pixel line in a 4000-pixel picture survives the reduction as a grey line."""
    ink = np.ones((4000, 4000), bool)
    ink[200:3800, 2000] = False  # one pixel wide
    pixels = picture_files.decode_image(encode(ink), "thin.png")
    assert pixels[..., 0].min() < 255  # not lost between sampled pixels
    assert digitize.preprocess(pixels)[:, 14].sum() > 0


# ---------------------------------------------------------------- files: caps and kinds


def test_a_fifo_is_refused_without_being_read(fed_fifo):
    fifo = fed_fifo("pipe.png", encode(np.eye(40, dtype=np.uint8) * 255))  # would unblock a reader
    with pytest.raises(DataError) as caught:
        picture_files.read_image(fifo)
    assert str(caught.value) == (f"{fifo}: a FIFO (named pipe), not a regular file "
                                 "(expected a PNG, JPEG, BMP or GIF file)")


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_a_device_is_refused():
    with pytest.raises(DataError, match=r"^/dev/null: a character device, not a regular file"):
        picture_files.read_image("/dev/null")


def test_a_file_over_the_size_cap_is_refused_without_reading_it_all(tmp_path):
    big = tmp_path / "huge.png"
    with open(big, "wb") as fh:  # sparse: no disk blocks written
        fh.truncate(picture_files.MAX_FILE_BYTES + 1)
    with pytest.raises(DataError) as caught:
        picture_files.read_image(big)
    assert str(caught.value).startswith(
        f"{big}: over {picture_files.MAX_FILE_BYTES:,} bytes, too large for a picture file")


def test_read_capped_stops_one_byte_past_the_cap():
    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            b[:] = b"x" * len(b)
            return len(b)

    assert len(picture_files.read_capped(Endless(), 1000)) == 1001


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_image_files_keeps_special_files_named_as_pictures_to_refuse_them(tmp_path):
    os.mkfifo(tmp_path / "b.png")
    (tmp_path / "a.png").write_bytes(b"x")
    files, problems = picture_files.image_files([tmp_path])
    assert [f.name for f in files] == ["a.png", "b.png"] and problems == []
