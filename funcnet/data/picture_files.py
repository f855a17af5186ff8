"""Picture files in: PNG, JPEG, BMP and GIF decoded with Pillow (the ``images`` extra).

The edge of the own-pictures path: it reads files and bytes and hands
arrays to the pure recipe in :mod:`funcnet.digitize`. Every failure is a
DataError naming the file and the reason, so that a caller can report it
as one line and go on with the other files.

A picture is read as a photo viewer shows it, in memory bounded by the
picture the recipe needs (at most MAX_SIDE pixels a side), not by the
size the file claims:

1. the file: a regular file only (a FIFO or a device is refused without
   being opened), at most MAX_FILE_BYTES bytes;
2. the header: the format is identified by Pillow's own test of the first
   bytes, and only PNG, JPEG, BMP and GIF go on; nothing is decoded yet;
3. a JPEG is decoded already reduced (Pillow's ``draft``: libjpeg's 1/2,
   1/4 or 1/8 scale, the largest that keeps MAX_SIDE pixels);
4. a picture of more than MAX_PIXELS pixels to decode is refused before
   decoding, in funcnet's own one-line message;
5. after decoding, the picture is reduced in its own mode, tile by tile
   (Pillow's ``reduce``, a box average over factor × factor pixels, with
   alpha weighting) to at most MAX_SIDE a side, each tile converted from
   1-bit, palette or 16-bit grey only as it is reduced: the full-size
   picture is never converted;
6. the EXIF orientation is applied (``ImageOps.exif_transpose``): a phone
   photo stored sideways is read upright.

>>> decode_image(b"", "digit.png")
Traceback (most recent call last):
...
funcnet.errors.DataError: digit.png: empty file
"""

from __future__ import annotations

import io
import os
import stat
import struct
from pathlib import Path

import numpy as np

from ..errors import DataError, FuncnetError

__all__ = ["SUFFIXES", "FORMATS", "MAX_SIDE", "MAX_PIXELS", "MAX_FILE_BYTES", "pillow",
           "read_capped", "read_file", "identify", "reduced", "decode_image", "read_image",
           "image_files", "read_fields"]

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
FORMATS = ("PNG", "JPEG", "BMP", "GIF")
MAX_SIDE = 1024             # pictures are reduced to at most this a side (a digit needs far fewer)
MAX_PIXELS = 50_000_000     # pixels to decode, refused above before decoding (a decompression bomb)
MAX_FILE_BYTES = 50_000_000  # a picture file is read up to this size, refused above
TILE = 1024                 # source pixels a side converted and reduced at a time
EXPECTED = "expected PNG, JPEG, BMP or GIF"

# The mode a picture is reduced in: 8 bits per channel (or 32-bit ints for 16-bit grey),
# alpha kept; a palette becomes its colours. Other modes (CMYK, YCbCr, RGBX) become RGB.
WORKING = {"1": "L", "L": "L", "LA": "LA", "La": "LA", "PA": "RGBA", "RGBA": "RGBA",
           "RGBa": "RGBA", "I;16": "I", "I;16L": "I", "I;16B": "I", "I;16N": "I", "I": "I",
           "F": "F"}
WITH_ALPHA = {"1": "LA", "L": "LA", "RGB": "RGBA", "P": "RGBA"}  # a tRNS colour is transparency


def pillow():
    """Pillow's Image module, or a one-line error naming the extra that installs it."""
    try:
        from PIL import Image
    except ImportError:
        raise FuncnetError("reading images needs Pillow: pip install 'funcnet[images]'") from None
    return Image


# ---------------------------------------------------------------- bytes in, with a cap


def read_capped(stream, limit: int) -> bytes:
    """The bytes of ``stream`` up to its end, but never more than ``limit + 1`` of them.

    A result longer than ``limit`` says that the stream holds more than
    ``limit`` bytes (the rest is left unread).

    >>> read_capped(io.BytesIO(b"abcdef"), 4), read_capped(io.BytesIO(b"abc"), 4)
    (b'abcde', b'abc')
    """
    parts, size = [], 0
    while size <= limit:
        part = stream.read(limit + 1 - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in a few words."""
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "a special file")


def read_file(path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file at ``path``, refused (DataError) if it holds more than ``limit``.

    Anything that is not a regular file (a FIFO, a device, a socket) is
    refused from its ``stat`` without being opened for reading, so that it
    can neither block nor stream without end.
    """
    path = Path(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{path}: {_kind(info.st_mode)}, not a regular file "
                            "(expected a PNG, JPEG, BMP or GIF file)")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # replaced since the stat
                raise DataError(f"{path}: not a regular file (expected a PNG, JPEG, BMP or GIF file)")
            data = read_capped(fh, limit)
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise DataError(f"{path}: over {limit:,} bytes, too large for a picture file "
                        f"(at most {limit:,} bytes are read)")
    return data


# ---------------------------------------------------------------- the header, then the pixels


def identify(prefix: bytes) -> str | None:
    """The name of the picture format whose signature starts ``prefix`` (Pillow's own test), or None.

    >>> identify(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8)), identify(b"GIF89a" + bytes(10)), identify(b"no")
    ('PNG', 'GIF', None)
    """
    Image = pillow()
    for load in (Image.preinit, Image.init):  # the common formats first, then every plugin
        load()
        for name, (_, accept) in list(Image.OPEN.items()):
            try:
                found = accept(prefix) if accept else False
            except (SyntaxError, IndexError, TypeError, struct.error):  # too short for its test
                found = False
            if found and not isinstance(found, str):
                return name
    return None


def _header(data: bytes, name: str):
    """The picture in ``data`` opened by its format's own reader: header read, nothing decoded.

    Pillow's ``Image.open`` would refuse a large picture in its own words
    (a DecompressionBombError, or a warning); the format's reader is
    called directly instead, and the size is checked here.
    """
    Image = pillow()
    fmt = identify(data[:16])
    if fmt is None:
        raise DataError(f"{name}: not a picture ({EXPECTED})")
    if fmt not in FORMATS:
        raise DataError(f"{name}: a {fmt} picture; {EXPECTED}")
    factory, _ = Image.OPEN[fmt]
    return factory(io.BytesIO(data), "")


def _decoded_size(im, name: str) -> None:
    """Ask a JPEG's decoder for the smallest scale that keeps MAX_SIDE a side; refuse what is
    still more than MAX_PIXELS pixels to decode (DataError), before decoding."""
    width, height = im.size
    longest = max(width, height, 1)
    im.draft(None, (max(1, width * MAX_SIDE // longest), max(1, height * MAX_SIDE // longest)))
    if im.size[0] * im.size[1] > MAX_PIXELS:
        raise DataError(f"{name}: {width}x{height} pixels is too large "
                        f"(at most {MAX_PIXELS:,} pixels are decoded)")


def _working_mode(im) -> str:
    """The mode ``im`` is reduced in (see WORKING); a transparent colour (tRNS) adds alpha."""
    if "transparency" in im.info and im.mode in WITH_ALPHA:
        return WITH_ALPHA[im.mode]
    return "RGB" if im.mode == "P" else WORKING.get(im.mode, "RGB")


def reduced(im, side: int = MAX_SIDE, tile: int = TILE):
    """``im`` box-averaged by the integer factor f = ⌈max(W, H) / side⌉, in its working mode.

    out[i, j] = mean of the f × f source pixels of block (i, j) (alpha
    weighted: Pillow's ``reduce``), ``⌈W/f⌉ × ⌈H/f⌉``. Converted and reduced
    tile by tile (about ``tile`` source pixels a side, a multiple of f), so
    that memory beyond the decoded picture is one tile; the result is the
    same as reducing the whole picture at once.

    >>> Image = pillow()
    >>> small = reduced(Image.new("1", (3000, 1000), 1), 1024)
    >>> small.mode, small.size, small.getpixel((0, 0))
    ('L', (1000, 334), 255)
    """
    Image = pillow()
    work, (width, height) = _working_mode(im), im.size
    factor = -(-max(width, height) // side)
    if factor == 1:
        return im.convert(work)
    step = factor * max(1, tile // factor)
    out = Image.new(work, (-(-width // factor), -(-height // factor)))
    for top in range(0, height, step):
        for left in range(0, width, step):
            tile = im.crop((left, top, min(width, left + step), min(height, top + step)))
            out.paste(tile.convert(work).reduce(factor), (left // factor, top // factor))
    return out


def _upright(small, im):
    """``small`` turned as ``im``'s EXIF orientation says (``ImageOps.exif_transpose``)."""
    from PIL import ExifTags, ImageOps

    try:
        orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    except (OSError, ValueError, SyntaxError, KeyError, IndexError, TypeError):
        return small  # damaged metadata: the pixels as stored, as a viewer shows them
    small.getexif()[ExifTags.Base.Orientation] = orientation
    return ImageOps.exif_transpose(small)


def _pixels(im, source_mode: str) -> np.ndarray:
    """A reduced picture as ``(H, W, 4)`` uint8 RGBA, or ``(H, W)`` for 16-bit and float grey."""
    if source_mode.startswith("I;16"):
        return np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
    if im.mode in ("I", "F"):
        arr = np.asarray(im, np.float64)
        return arr / (65535.0 if arr.max(initial=0) > 255 else 255.0)
    return np.asarray(im.convert("RGBA"))


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """The pixels of a PNG, JPEG, BMP or GIF (its first frame) held in ``data``, upright.

    Returns ``(H, W, 4)`` uint8 RGBA (``(H, W)`` uint16 for 16-bit grey),
    at most MAX_SIDE a side: larger pictures are reduced (module
    docstring). Raises DataError naming ``name`` when ``data`` is empty,
    not a picture, damaged or too large (more than MAX_PIXELS pixels to
    decode, refused before decoding).

    >>> Image = pillow()
    >>> buf = io.BytesIO(); Image.new("1", (2048, 600), 1).save(buf, "PNG")
    >>> decode_image(buf.getvalue(), "wide.png").shape
    (300, 1024, 4)
    """
    if not data:
        raise DataError(f"{name}: empty file")
    Image = pillow()
    try:
        im = _header(data, name)
        _decoded_size(im, name)
        im.load()
        return _pixels(_upright(reduced(im), im), im.mode)
    except DataError:
        raise
    except Image.DecompressionBombError:  # a GIF frame or MPO picture larger than its header
        raise DataError(f"{name}: too large a picture (at most {MAX_PIXELS:,} pixels "
                        "are decoded)") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError,
            struct.error) as exc:
        raise DataError(f"{name}: damaged picture ({' '.join(str(exc).split())})") from None


def read_image(path) -> np.ndarray:
    """The pixels of the picture file at ``path`` (see :func:`read_file`, :func:`decode_image`)."""
    return decode_image(read_file(path), str(path))


def _pictures_in(folder: Path) -> list[Path]:
    """The entries below ``folder`` (recursively, sorted) with a picture's suffix: regular
    files, and anything else so named (a FIFO, a device, a dangling link) to be refused."""
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in SUFFIXES and not p.is_dir())


def image_files(paths) -> tuple[list[Path], list[str]]:
    """``(files, problems)``: the files named and the pictures in the folders named.

    A folder contributes its entries (searched recursively, in sorted order)
    whose suffix is one of SUFFIXES; a file named is taken whatever its
    suffix. ``problems`` has one line per path that is missing or a folder
    without pictures. Entries that are not regular files are kept, for
    :func:`read_image` to refuse by name.
    """
    files, problems = [], []
    for path in map(Path, paths):
        if path.is_dir():
            found = _pictures_in(path)
            files += found
            if not found:
                problems.append(f"{path}: no PNG, JPEG, BMP or GIF files in this folder")
        elif path.exists() or path.is_symlink():
            files.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    return files, problems


def read_fields(files, prepare) -> tuple[list[Path], np.ndarray, list[str]]:
    """``(read, fields, problems)``: ``prepare(pixels)`` of every file that could be read.

    ``prepare`` turns pixels into the network's field (e.g.
    :func:`funcnet.digitize.preprocess`) and raises DataError when it cannot.
    ``fields`` stacks the fields of the files in ``read``; each file that
    failed has one line in ``problems`` naming it and the reason.
    """
    read, fields, problems = [], [], []
    for path in files:
        try:
            fields.append(prepare(read_image(path)))
            read.append(path)
        except DataError as exc:
            message = str(exc)
            problems.append(message if message.startswith(str(path)) else f"{path}: {message}")
    return read, (np.stack(fields) if fields else np.zeros((0, 0, 0), np.float32)), problems
