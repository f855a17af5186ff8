"""A strict reader for the Kaggle "Digit Recognizer" CSV format.

``train.csv`` has the header ``label,pixel0,...,pixel783`` and one row per
image; ``test.csv`` is the same without the ``label`` column. The file may be
compressed (``train.csv.gz``, ``.bz2``, ``.xz``), its header and cells may be
quoted (``"label","pixel0",...``) and blank lines may follow the last row, as
pandas reads them; a blank line between rows is refused. The file is
parsed in one go by pandas' C engine and checked with vectorised dtype and
range tests; only when a check fails is the file scanned line by line to
name the first offending line (as an editor counts them: the header is
line 1), column and value in a :class:`~funcnet.errors.DataError`.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
>>> with open(path, "w") as f:
...     _ = f.write(header_line(True) + "\\n" + "3," + ",".join(["0"] * 783) + ",255\\n")
>>> ds = read_csv(path)
>>> ds.x.shape, ds.x.dtype, ds.x[0, -1], ds.y.tolist()
((1, 784), dtype('uint8'), np.uint8(255), [3])
"""

from __future__ import annotations

import bz2
import csv
import functools
import gzip
import itertools
import lzma
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .dataset import Dataset

__all__ = ["PIXELS", "CLASSES", "SUFFIXES", "header_names", "header_line", "compression",
           "read_csv"]

PIXELS = 784
CLASSES = 10
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Compressed CSV files, by the suffix after ``.csv`` (as pandas infers them).
_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
_OPENERS = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open, None: open}
SUFFIXES = (".csv", *(f".csv{s}" for s in _COMPRESSIONS))
# A damaged compressed file fails with one of these while it is read.
_READ_ERRORS = (OSError, EOFError, lzma.LZMAError)


def compression(path) -> str | None:
    """The compression of a CSV file, by its name: ``gzip``, ``bz2``, ``xz`` or None.

    >>> compression("train.csv.gz"), compression("train.csv"), compression("x.CSV.XZ")
    ('gzip', None, 'xz')
    """
    return _COMPRESSIONS.get(Path(path).suffix.lower())


def _open_text(path: Path):
    """``path`` opened for reading text (decompressed as its name says), lines kept whole."""
    return _OPENERS[compression(path)](path, "rt", encoding="utf-8-sig", newline="")


def header_names(labelled: bool) -> list[str]:
    """The column names: ``label, pixel0, ..., pixel783`` (without ``label`` if unlabelled).

    >>> header_names(True)[:3], len(header_names(True)), header_names(False)[0]
    (['label', 'pixel0', 'pixel1'], 785, 'pixel0')
    """
    return ["label"] * labelled + [f"pixel{i}" for i in range(PIXELS)]


def header_line(labelled: bool) -> str:
    """The header line as text, without the newline.

    >>> header_line(True)[:20]
    'label,pixel0,pixel1,'
    """
    return ",".join(header_names(labelled))


def _short(text: str, width: int = 40) -> str:
    """``text`` cut to ``width`` characters for messages.

    >>> _short("abcdef", 4)
    'abc...'
    """
    return text if len(text) <= width else text[:width - 1] + "..."


_EXPECTED = "'label,pixel0,...,pixel783' (or 'pixel0,...,pixel783' without labels)"


def _header_error(names: list[str]) -> str | None:
    """What is wrong with the header fields ``names``, or None if it is right.

    >>> _header_error(header_names(False)) is None
    True
    >>> _header_error(["label", "pixel0", "pixel_1"])
    "line 1, column 3: expected header name 'pixel1', got 'pixel_1'"
    """
    if names in (header_names(True), header_names(False)):
        return None
    if names == [""] or _INTEGER.fullmatch(names[0]):
        return (f"line 1: missing header: expected {_EXPECTED}, "
                f"got {_short(','.join(names))!r}")
    expected = header_names(names[0] == "label")
    for i, (want, got) in enumerate(zip(expected, names)):
        if want != got:
            return f"line 1, column {i + 1}: expected header name {want!r}, got {_short(got)!r}"
    return (f"line 1: expected {len(expected)} header names "
            f"{_short(','.join(expected[:2]))},...,pixel783, got {len(names)}")


def _read_header(path: Path) -> list[str]:
    """The header's fields (quotes removed); DataError if the file is missing, empty or binary."""
    try:
        with _open_text(path) as f:
            first = f.readline()
            rest = first.strip() or f.read(1)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file: expected a CSV file with the header "
                        f"{_EXPECTED}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file: expected a UTF-8 CSV file "
                        f"with the header {_EXPECTED}") from None
    except _READ_ERRORS as e:
        raise DataError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    if not rest:
        raise DataError(f"{path}: empty file: expected the header {_EXPECTED} "
                        "and then one row per image")
    return next(csv.reader([first.rstrip("\r\n")]), None) or [""]


def _last_line(path: Path) -> tuple[int, int | None]:
    """The number of the last non-blank line, and of the first blank line before it (or None).

    Blank lines after the last row are allowed (pandas skips them); one
    between rows is an error, found here so that pandas cannot skip it.
    """
    last, first_blank = 1, None
    try:
        with _OPENERS[compression(path)](path, "rb") as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    last = number
                elif first_blank is None:
                    first_blank = number
    except _READ_ERRORS as e:
        raise DataError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    return last, (first_blank if first_blank is not None and first_blank < last else None)


def _cell_error(text: str, name: str) -> str | None:
    """What is wrong with one cell's ``text`` in column ``name``, or None.

    >>> _cell_error("300", "pixel5")
    "column 'pixel5': expected an integer 0..255, got '300'"
    >>> _cell_error("", "label")
    "column 'label': expected an integer 0..9, got an empty cell"
    >>> _cell_error("7", "label") is None
    True
    """
    top = CLASSES - 1 if name == "label" else 255
    if _INTEGER.fullmatch(text) and 0 <= int(text) <= top:
        return None
    got = "an empty cell" if text == "" else repr(_short(text))
    return f"column {name!r}: expected an integer 0..{top}, got {got}"


def _row_error(fields: list[str], names: list[str]) -> str | None:
    """What is wrong with one data row's ``fields``, or None if it is right.

    >>> _row_error(["1", "2", "3"], ["label", "pixel0"])
    'expected 2 fields (label,pixel0), got 3'
    """
    if len(fields) != len(names):
        got = "an empty line" if not fields else len(fields)
        return f"expected {len(names)} fields ({_short(','.join(names))}), got {got}"
    return next((e for e in map(_cell_error, fields, names) if e), None)


# One cell as text: an integer 0..255 (pixel) or 0..9 (label), as pandas reads them.
_PIXEL = r"(?:\+?0*(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])|-0+)"
_LABEL = r"(?:\+?0*[0-9]|-0+)"


@functools.lru_cache(maxsize=2)
def _good_line(labelled: bool) -> re.Pattern:
    """A regex matching exactly the good data lines (with their newline).

    >>> bool(_good_line(False).fullmatch(",".join(["255"] * 784) + "\\r\\n"))
    True
    """
    cells = [_LABEL] * labelled + [_PIXEL] * PIXELS
    return re.compile(",".join(cells) + r"\r?\n?")


def _first_error(path: Path, names: list[str], last: int) -> tuple[int, str] | None:
    """The first bad data line up to line ``last``: its number and what is wrong, or None.

    A regex over each raw line finds suspects fast; only those are split.
    """
    good = _good_line(names[0] == "label")
    with _open_text(path) as f:
        numbered = enumerate(itertools.islice(f, 1, last), start=2)
        suspects = ((n, t) for n, t in numbered if not good.fullmatch(t))
        errors = ((n, _row_error(next(csv.reader([t]), []), names)) for n, t in suspects)
        return next(((n, e) for n, e in errors if e), None)


def _locate(path: Path, names: list[str], last: int) -> DataError:
    """The DataError for the first bad line of ``path`` (up to line ``last``), by a line scan.

    Only called on failure: it reads the raw lines (pandas pads short rows
    and drops an extra field in the first row, so its frame cannot tell).
    """
    found = _first_error(path, names, last)
    if found is None:
        return DataError(f"{path}: malformed CSV: expected {len(names)} integer "
                         "fields on every line")
    line, error = found
    sep = ", " if error.startswith("column") else ": "
    return DataError(f"{path}: line {line}{sep}{error}")


def _parse(path: Path) -> pd.DataFrame | None:
    """The whole file as a DataFrame, or None if pandas finds a malformed row.

    ``index_col=False`` keeps pandas from shifting columns when the first row
    has an extra field; the warning it gives instead is turned into a
    failure, like the ParserError it gives for a later row. Blank lines are
    skipped (:func:`_last_line` has refused any between rows). A damaged
    compressed file is a DataError.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(path, engine="c", index_col=False, na_filter=False,
                               skip_blank_lines=True, low_memory=False,
                               encoding="utf-8-sig", compression=compression(path))
        except (ValueError, pd.errors.ParserWarning):  # ParserError is a ValueError
            return None
        except _READ_ERRORS as e:
            raise DataError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None


def _values(frame: pd.DataFrame | None) -> np.ndarray | None:
    """The frame as one int64 matrix, or None unless every column parsed as int64."""
    if frame is None or not all(t == np.dtype(np.int64) for t in frame.dtypes):
        return None
    return frame.to_numpy(dtype=np.int64)


def _out_of_range(values: np.ndarray, labelled: bool) -> tuple[int, int] | None:
    """(row, column) of the first value outside its range, in file order, or None.

    Labels must be 0..9 and pixels 0..255.

    >>> _out_of_range(np.array([[1, 0], [3, 256]]), True)
    (1, 1)
    >>> _out_of_range(np.array([[12, 0]]), True), _out_of_range(np.array([[12, 0]]), False)
    ((0, 0), None)
    """
    top = np.full(values.shape[1], 255)
    top[:int(labelled)] = CLASSES - 1
    bad = (values < 0) | (values > top)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.unravel_index(np.argmax(bad), bad.shape))


def _dataset(values: np.ndarray, labelled: bool, path: Path) -> Dataset:
    """Split a checked int64 matrix into uint8 pixels and int64 labels."""
    x = values[:, int(labelled):].astype(np.uint8)
    y = values[:, 0].copy() if labelled else None
    return Dataset(x, y, str(path))


def read_csv(path) -> Dataset:
    """A Dataset from a Kaggle "Digit Recognizer" CSV file (train.csv or test.csv).

    Args:
      path: a CSV file with the header ``label,pixel0,...,pixel783`` (or
        ``pixel0,...,pixel783`` for unlabelled data) and one row per image:
        a label 0..9 and 784 pixels 0..255, all integers. Names and cells
        may be quoted; blank lines may end the file; ``.csv.gz``,
        ``.csv.bz2`` and ``.csv.xz`` files are decompressed as they are read.
    Returns:
      ``Dataset(x, y, source)`` with ``x`` uint8 of shape ``(n, 784)``, ``y``
      int64 of shape ``(n,)`` (None without a ``label`` column) and ``source``
      the path.
    Raises:
      DataError: ``<path>: line <n>, column '<name>': expected ..., got ...``
        for the first bad cell (line 1 is the header), or
        ``<path>: line <n>: expected 785 fields (...), got <k>`` for a row
        of the wrong length; also for a missing or empty file, a wrong
        header, or a header with no rows.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "test.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write(header_line(False) + "\\n" + ",".join(["7"] * 783) + ",abc\\n")
    >>> read_csv(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: /.../test.csv: line 2, column 'pixel783': expected an integer 0..255, got 'abc'
    """
    path = Path(path)
    names = _read_header(path)
    problem = _header_error(names)
    if problem:
        raise DataError(f"{path}: {problem}")
    labelled = names[0] == "label"
    last, blank = _last_line(path)
    if blank is not None:  # a blank line between rows (or an earlier error)
        raise _locate(path, names, last)
    frame = _parse(path)
    if frame is not None and len(frame) == 0:
        raise DataError(f"{path}: no data rows after the header (line 1): "
                        "expected one row per image")
    values = _values(frame)
    if values is None:
        raise _locate(path, names, last)
    bad = _out_of_range(values, labelled)
    if bad is not None:
        row, col = bad
        raise DataError(f"{path}: line {row + 2}, "
                        f"{_cell_error(str(values[row, col]), names[col])}")
    return _dataset(values, labelled, path)
