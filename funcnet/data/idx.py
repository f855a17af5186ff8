"""Strict readers for IDX files, the format MNIST and Fashion-MNIST ship in.

An IDX file is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the data in C order. MNIST uses type ``0x08``
(unsigned byte): images are ``(count, rows, cols)``, labels ``(count,)``.
Files may be gzipped; gzip is detected by its magic bytes ``1f 8b``, never by
the name. Every defect is a :class:`~funcnet.errors.DataError` naming the
file and what was expected.

>>> import numpy as np
>>> parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]), ndim=1, name="labels")
array([7, 8, 9], dtype=uint8)
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset

__all__ = ["IDX_TYPES", "IDX_FILES", "read_idx", "read_folder", "find_idx_files",
           "parse_idx", "unpack", "check_labels"]

# Type byte -> name, as the IDX format defines them; MNIST data uses 0x08 only.
IDX_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16",
             0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}

# The four standard file names (without ``.gz``), keyed by (split, part).
IDX_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}

_GZIP_MAGIC = b"\x1f\x8b"
_ROLE = {3: "images (count, rows, columns)", 1: "labels (count,)"}


def _hex(data: bytes) -> str:
    """Bytes as spaced hex, for messages.

    >>> _hex(b"\\x1f\\x8b")
    '1f 8b'
    """
    return " ".join(f"{b:02x}" for b in data)


def _gunzip(data: bytes, name: str) -> bytes:
    """Decompress a whole gzip stream, turning every defect into a DataError.

    >>> _gunzip(gzip.compress(b"abc"), "f")
    b'abc'
    >>> _gunzip(gzip.compress(b"abc")[:-3], "f.gz")
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: f.gz: truncated gzip stream: the file ends before the gzip end-of-stream marker (an interrupted download?); expected a complete .gz file
    """
    try:
        return gzip.decompress(data)
    except EOFError:
        raise DataError(f"{name}: truncated gzip stream: the file ends before the gzip "
                        "end-of-stream marker (an interrupted download?); "
                        "expected a complete .gz file") from None
    except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{name}: corrupt gzip stream ({e}); "
                        "expected a .gz file whose data match its CRC-32") from None


def unpack(data: bytes, name: str) -> bytes:
    """The IDX bytes of a file's content: gunzipped if it starts with ``1f 8b``.

    Args:
      data: the file's bytes.
      name: the file's name, for messages.
    Returns:
      The raw IDX bytes (magic number first).

    >>> unpack(gzip.compress(bytes([0, 0, 8, 1])), "f")
    b'\\x00\\x00\\x08\\x01'
    >>> unpack(b"PK\\x03\\x04", "f.zip")
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: f.zip: neither gzip nor IDX: expected the first two bytes to be 1f 8b (gzip) or 00 00 (IDX magic number), got 50 4b
    """
    if data[:2] == _GZIP_MAGIC:
        return _gunzip(data, name)
    if data[:2] == b"\x00\x00" or len(data) < 2:
        return data
    raise DataError(f"{name}: neither gzip nor IDX: expected the first two bytes to be "
                    f"1f 8b (gzip) or 00 00 (IDX magic number), got {_hex(data[:2])}")


def _check_magic(data: bytes, ndim: int, name: str) -> None:
    """Check the 4-byte magic number ``00 00 08 <ndim>``; raise DataError otherwise."""
    if len(data) < 4:
        raise DataError(f"{name}: truncated IDX header: expected at least 4 bytes "
                        f"(the magic number), got {len(data)}")
    if data[:2] != b"\x00\x00":
        raise DataError(f"{name}: bad IDX magic number: expected the first two bytes "
                        f"00 00, got {_hex(data[:2])}")
    if data[2] != 0x08:
        known = ", ".join(f"0x{k:02x} {v}" for k, v in IDX_TYPES.items())
        what = f"0x{data[2]:02x} ({IDX_TYPES[data[2]]})" if data[2] in IDX_TYPES \
            else f"0x{data[2]:02x} (not an IDX type)"
        raise DataError(f"{name}: unsupported IDX type byte {what}: expected 0x08 "
                        f"(unsigned byte, as MNIST uses); IDX defines {known}")
    if data[3] != ndim:
        raise DataError(f"{name}: expected {ndim} dimension{'s' * (ndim > 1)} for "
                        f"{_ROLE.get(ndim, 'this file')}, got {data[3]}")


def _sizes(data: bytes, ndim: int, name: str) -> tuple[int, ...]:
    """The ``ndim`` big-endian uint32 sizes after the magic number."""
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated IDX header: expected {header} bytes "
                        f"(magic number and {ndim} sizes), got {len(data)}")
    return tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))


def parse_idx(data: bytes, ndim: int, name: str = "<bytes>") -> np.ndarray:
    """A uint8 array of ``ndim`` dimensions from raw (not gzipped) IDX bytes.

    The data bytes must be exactly the product of the sizes: fewer means a
    truncated file, more means trailing bytes; both are DataErrors.

    Args:
      data: the IDX bytes, magic number first.
      ndim: the number of dimensions expected (3 for images, 1 for labels).
      name: the file's name, for messages.
    Returns:
      A read-only uint8 array of the shape the header gives (no copy).

    >>> parse_idx(bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 5, 6]), 3).shape
    (1, 1, 2)
    >>> parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8]), 1, "l.idx")
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: l.idx: truncated IDX data: sizes 3 need 3 bytes after the 8-byte header, got 2
    """
    _check_magic(data, ndim, name)
    sizes = _sizes(data, ndim, name)
    header, need = 4 + 4 * ndim, math.prod(sizes)
    got = len(data) - header
    if got != need:
        shape = "x".join(map(str, sizes))
        what = "truncated IDX data" if got < need else f"{got - need} trailing bytes"
        raise DataError(f"{name}: {what}: sizes {shape} need {need} bytes after the "
                        f"{header}-byte header, got {got}")
    return np.frombuffer(data, np.uint8, count=need, offset=header).reshape(sizes)


def _read(path, ndim: int) -> np.ndarray:
    """Read, gunzip if needed, and parse one IDX file of ``ndim`` dimensions."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file: expected an IDX file "
                        f"of {_ROLE[ndim]}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    return parse_idx(unpack(data, str(path)), ndim, str(path))


def check_labels(y: np.ndarray, name: str, classes: int = 10) -> None:
    """Raise DataError naming the first label outside ``0..classes-1``.

    >>> check_labels(np.array([1, 12, 3]), "labels.idx")
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: labels.idx: label 12 at index 1 (the first bad one) is outside 0..9
    """
    bad = np.flatnonzero((y < 0) | (y >= classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{name}: label {int(y[i])} at index {i} (the first bad one) "
                        f"is outside 0..{classes - 1}")


def read_idx(images, labels=None) -> Dataset:
    """A Dataset from an IDX images file and, optionally, its labels file.

    Either file may be gzipped or not (told by content, not name).

    Args:
      images: path of the images file, ``(n, rows, cols)`` unsigned bytes.
      labels: path of the labels file, ``(n,)`` unsigned bytes 0..9, or None.
    Returns:
      ``Dataset(x, y, source)`` with ``x`` uint8 of shape ``(n, rows * cols)``
      (one image per row), ``y`` int64 of shape ``(n,)`` or None, and
      ``source`` the images path.
    Raises:
      DataError: naming the file and what was expected, for any defect.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "i").write_bytes(gzip.compress(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 1, 2, 3, 4])))
    >>> _ = (d / "l").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]))
    >>> ds = read_idx(d / "i", d / "l")
    >>> ds.x.tolist(), ds.y.tolist(), ds.x.dtype, ds.y.dtype
    ([[1, 2], [3, 4]], [7, 9], dtype('uint8'), dtype('int64'))
    """
    cube = _read(images, 3)
    x = cube.reshape(cube.shape[0], -1)
    if labels is None:
        return Dataset(x, None, str(images))
    y = _read(labels, 1).astype(np.int64)
    if len(y) != len(x):
        raise DataError(f"{labels}: {len(y)} labels for {len(x)} images in {images}: "
                        "expected one label per image")
    check_labels(y, str(labels))
    return Dataset(x, y, str(images))


def find_idx_files(folder) -> dict[tuple[str, str], Path | None]:
    """Where each of the four standard files is in ``folder`` (None if absent).

    ``name.gz`` is preferred to ``name`` when both exist.

    >>> import tempfile
    >>> found = find_idx_files(tempfile.mkdtemp())
    >>> sorted(found.values(), key=str)
    [None, None, None, None]
    """
    def where(stem: str) -> Path | None:
        candidates = (Path(folder) / f"{stem}.gz", Path(folder) / stem)
        return next((p for p in candidates if p.is_file()), None)
    return {key: where(stem) for key, stem in IDX_FILES.items()}


def read_folder(folder) -> dict[str, Dataset]:
    """The train and test Datasets from the four standard IDX files in ``folder``.

    Args:
      folder: a folder holding ``train-images-idx3-ubyte[.gz]``,
        ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]`` and
        ``t10k-labels-idx1-ubyte[.gz]``.
    Returns:
      ``{"train": Dataset, "test": Dataset}``.
    Raises:
      DataError: naming the folder and the missing files, or a bad file.

    >>> import tempfile
    >>> read_folder(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: /...: missing train-images-idx3-ubyte[.gz], ...: expected the four IDX files ...
    """
    if not os.path.isdir(folder):
        raise DataError(f"{folder}: no such folder: expected a folder holding the four "
                        f"IDX files {', '.join(n + '[.gz]' for n in IDX_FILES.values())}")
    found = find_idx_files(folder)
    missing = [IDX_FILES[k] + "[.gz]" for k, p in found.items() if p is None]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)}: expected the four IDX "
                        f"files {', '.join(n + '[.gz]' for n in IDX_FILES.values())}")
    return {split: read_idx(found[(split, "images")], found[(split, "labels")])
            for split in ("train", "test")}
