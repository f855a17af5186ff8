"""Picture files in: PNG, JPEG, BMP and GIF decoded with Pillow (the ``images`` extra).

The edge of the own-pictures path: it reads files and bytes and hands
arrays to the pure recipe in :mod:`funcnet.digitize`. Every failure is a
DataError naming the file and the reason, so that a caller can report it
as one line and go on with the other files.

>>> decode_image(b"", "digit.png")
Traceback (most recent call last):
...
funcnet.errors.DataError: digit.png: empty file
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError, FuncnetError

__all__ = ["SUFFIXES", "MAX_SIDE", "pillow", "decode_image", "read_image", "image_files",
           "read_fields"]

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
MAX_SIDE = 1024        # larger pictures are first reduced to this (a digit needs far fewer pixels)
MAX_PIXELS = 50_000_000  # refused before decoding (a decompression bomb)


def pillow():
    """Pillow's Image module, or a one-line error naming the extra that installs it."""
    try:
        from PIL import Image
    except ImportError:
        raise FuncnetError("reading images needs Pillow: pip install 'funcnet[images]'") from None
    return Image


def _pixels(im) -> np.ndarray:
    """A decoded Pillow image as ``(H, W, 4)`` uint8 RGBA, or ``(H, W)`` for 16-bit and float grey."""
    if im.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(im).astype(np.uint16)
    if im.mode in ("I", "F"):
        arr = np.asarray(im, np.float64)
        return arr / (65535.0 if arr.max(initial=0) > 255 else 255.0)
    return np.asarray(im.convert("RGBA"))


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """The pixels of a PNG, JPEG, BMP or GIF (its first frame) held in ``data``.

    Returns ``(H, W, 4)`` uint8 RGBA (``(H, W)`` for 16-bit or float grey).
    Pictures wider or taller than MAX_SIDE are reduced to fit it first.
    Raises DataError naming ``name`` when ``data`` is empty, not a picture,
    damaged or too large.
    """
    if not data:
        raise DataError(f"{name}: empty file")
    Image = pillow()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.width * im.height > MAX_PIXELS:
                raise DataError(f"{name}: {im.width}x{im.height} pixels is too large "
                                f"(at most {MAX_PIXELS:,} pixels)")
            if im.format not in ("PNG", "JPEG", "BMP", "GIF"):
                raise DataError(f"{name}: a {im.format} picture; expected PNG, JPEG, BMP or GIF")
            im.load()
            if max(im.size) > MAX_SIDE:
                im = im.convert("RGBA") if im.mode not in ("RGBA", "RGB", "L", "LA") else im
                im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BOX)
            return _pixels(im)
    except DataError:
        raise
    except (Image.UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        reason = "not a picture" if isinstance(exc, Image.UnidentifiedImageError) else str(exc)
        raise DataError(f"{name}: {reason} (expected PNG, JPEG, BMP or GIF)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise DataError(f"{name}: damaged picture ({' '.join(str(exc).split())})") from None


def read_image(path) -> np.ndarray:
    """The pixels of the picture file at ``path`` (see :func:`decode_image`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror or exc}") from None
    return decode_image(data, str(path))


def image_files(paths) -> tuple[list[Path], list[str]]:
    """``(files, problems)``: the files named and the pictures in the folders named.

    A folder contributes its files (searched recursively, in sorted order)
    whose suffix is one of SUFFIXES; a file named is taken whatever its
    suffix. ``problems`` has one line per path that is missing or a folder
    without pictures.
    """
    files, problems = [], []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
            files += found
            if not found:
                problems.append(f"{path}: no PNG, JPEG, BMP or GIF files in this folder")
        elif path.exists():
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
