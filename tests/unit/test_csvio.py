"""Kaggle CSV reader: round trips from real MNIST rows, and every defect with its line and column."""


import numpy as np
import pytest

from funcnet.data import read_csv, read_idx
from funcnet.data.csvio import header_line
from funcnet.errors import DataError

ROWS = 300


@pytest.fixture(scope="module")
def digits(shared_data):
    """The first ROWS MNIST training digits: (labels, pixels)."""
    folder = shared_data / "mnist"
    ds = read_idx(folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz")
    return ds.y[:ROWS], ds.x[:ROWS]


def lines_of(digits, labelled=True):
    """The CSV's lines (header first) as lists of cell strings."""
    y, x = digits
    table = np.column_stack([y, x]) if labelled else x
    return [header_line(labelled).split(",")] + [[str(v) for v in row] for row in table.tolist()]


def write(tmp_path, lines, name="train.csv", newline="\n"):
    """Write ``lines`` (lists of cells, or raw strings) as a CSV; return its path."""
    path = tmp_path / name
    text = newline.join(l if isinstance(l, str) else ",".join(l) for l in lines)
    path.write_text(text + newline if lines else "", newline="")
    return path


def error(path):
    """The DataError message read_csv gives for ``path``."""
    with pytest.raises(DataError) as info:
        read_csv(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


# --- round trips ---------------------------------------------------------------

@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_round_trip_labelled(tmp_path, digits, newline):
    ds = read_csv(write(tmp_path, lines_of(digits), newline=newline))
    y, x = digits
    assert ds.x.dtype == np.uint8 and ds.x.shape == (ROWS, 784)
    assert ds.y.dtype == np.int64 and ds.y.shape == (ROWS,)
    assert np.array_equal(ds.x, x) and np.array_equal(ds.y, y)
    assert ds.source == str(tmp_path / "train.csv")


def test_round_trip_unlabelled(tmp_path, digits):
    ds = read_csv(write(tmp_path, lines_of(digits, labelled=False), name="test.csv"))
    assert ds.y is None and np.array_equal(ds.x, digits[1])


def test_full_range_values(tmp_path, digits):
    lines = lines_of(digits)
    lines[1] = ["9"] + ["255"] * 784
    lines[2] = ["0"] * 785
    ds = read_csv(write(tmp_path, lines))
    assert ds.y[0] == 9 and ds.x[0].min() == 255 and ds.x[1].max() == 0


@pytest.mark.slow
def test_42000_rows_round_trip(tmp_path, shared_data):
    folder = shared_data / "mnist"
    ds = read_idx(folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz")
    path = tmp_path / "train.csv"
    with open(path, "w") as f:
        f.write(header_line(True) + "\n")
        np.savetxt(f, np.column_stack([ds.y[:42000], ds.x[:42000]]), fmt="%d", delimiter=",")
    back = read_csv(path)
    assert np.array_equal(back.x, ds.x[:42000]) and np.array_equal(back.y, ds.y[:42000])


# --- field counts ----------------------------------------------------------------

def test_extra_field_in_first_row(tmp_path, digits):
    lines = lines_of(digits)
    lines[1] = lines[1] + ["0"]
    message = error(write(tmp_path, lines))
    assert message.endswith("line 2: expected 785 fields (label,pixel0,pixel1,pixel2,pixel3,pixel...), got 786")


def test_extra_field_in_later_row(tmp_path, digits):
    lines = lines_of(digits)
    lines[6] = lines[6] + ["0"]
    assert "line 7: expected 785 fields" in error(write(tmp_path, lines))


@pytest.mark.parametrize("row", [1, 40])
def test_too_few_fields(tmp_path, digits, row):
    lines = lines_of(digits)
    lines[row] = lines[row][:-1]
    assert f"line {row + 1}: expected 785 fields" in error(write(tmp_path, lines))
    assert error(write(tmp_path, lines)).endswith("got 784")


def test_blank_line(tmp_path, digits):
    lines = lines_of(digits)
    lines.insert(4, "")
    assert error(write(tmp_path, lines)).endswith("line 5: expected 785 fields "
                                                  "(label,pixel0,pixel1,pixel2,pixel3,pixel...), "
                                                  "got an empty line")


# --- cells -----------------------------------------------------------------------

@pytest.mark.parametrize("text, got", [
    ("300", "'300'"), ("256", "'256'"), ("-1", "'-1'"), ("abc", "'abc'"), ("", "an empty cell"),
    ("NaN", "'NaN'"), ("3.5", "'3.5'"), ("3.0", "'3.0'"), ("1e2", "'1e2'"),
])
def test_bad_pixel(tmp_path, digits, text, got):
    lines = lines_of(digits)
    lines[3][11] = text  # column 11 is pixel10 (label is column 1)
    message = error(write(tmp_path, lines))
    assert message.endswith(f"line 4, column 'pixel10': expected an integer 0..255, got {got}")


@pytest.mark.parametrize("text", ["12", "10", "-3", "x"])
def test_bad_label(tmp_path, digits, text):
    lines = lines_of(digits)
    lines[7][0] = text
    message = error(write(tmp_path, lines))
    assert message.endswith(f"line 8, column 'label': expected an integer 0..9, got {text!r}")


def test_first_error_in_file_order(tmp_path, digits):
    lines = lines_of(digits)
    lines[200][5] = "abc"
    lines[100][700] = "300"
    lines[100][600] = "1000"
    assert "line 101, column 'pixel599': expected an integer 0..255, got '1000'" \
        in error(write(tmp_path, lines))


def test_pixel_300_is_not_wrapped(tmp_path, digits):
    lines = lines_of(digits, labelled=False)
    lines[2][783] = "300"  # 300 % 256 == 44 if it were cast to uint8
    assert error(write(tmp_path, lines, name="test.csv")).endswith(
        "line 3, column 'pixel783': expected an integer 0..255, got '300'")


# --- whole-file defects ----------------------------------------------------------

def test_missing_file(tmp_path):
    assert "no such file" in error(tmp_path / "nope.csv")


def test_empty_file(tmp_path):
    message = error(write(tmp_path, []))
    assert "empty file: expected the header 'label,pixel0,...,pixel783'" in message


def test_header_only(tmp_path):
    message = error(write(tmp_path, [header_line(True)]))
    assert message.endswith("no data rows after the header (line 1): expected one row per image")


def test_missing_header(tmp_path, digits):
    message = error(write(tmp_path, lines_of(digits)[1:]))
    assert "line 1: missing header: expected 'label,pixel0,...,pixel783'" in message
    assert "got '5,0,0,0," in message


def test_wrong_header_name(tmp_path, digits):
    lines = lines_of(digits)
    lines[0][3] = "pixel_2"
    assert error(write(tmp_path, lines)).endswith(
        "line 1, column 4: expected header name 'pixel2', got 'pixel_2'")


def test_header_too_short(tmp_path, digits):
    lines = lines_of(digits)
    lines[0] = lines[0][:-1]
    assert "line 1: expected 785 header names" in error(write(tmp_path, lines))
    assert error(write(tmp_path, lines)).endswith("got 784")


def test_binary_file(tmp_path, shared_data):
    path = tmp_path / "x.csv"
    path.write_bytes((shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    message = error(path)
    assert "not a text file" in message or "header" in message


# --- forms pandas reads: quoted names, blank lines at the end, compressed files ---

def test_quoted_header_and_cells(tmp_path, digits):
    lines = [[f'"{cell}"' for cell in line] for line in lines_of(digits)]
    ds = read_csv(write(tmp_path, lines))
    assert np.array_equal(ds.y, digits[0]) and np.array_equal(ds.x, digits[1])


def test_quoted_header_still_checked(tmp_path, digits):
    lines = lines_of(digits)
    lines[0] = [f'"{name}"' for name in lines[0]]
    lines[0][3] = '"pixel_2"'
    assert error(write(tmp_path, lines)).endswith(
        "line 1, column 4: expected header name 'pixel2', got 'pixel_2'")


@pytest.mark.parametrize("blank", ["", "\n", "\n\n", "  "])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_blank_lines_after_the_last_row(tmp_path, digits, blank, newline):
    lines = lines_of(digits) + [blank]
    ds = read_csv(write(tmp_path, lines, newline=newline))
    assert np.array_equal(ds.y, digits[0]) and np.array_equal(ds.x, digits[1])


def test_bad_cell_before_trailing_blank_line(tmp_path, digits):
    lines = lines_of(digits) + [""]
    lines[-2][11] = "300"
    assert error(write(tmp_path, lines)).endswith(
        f"line {len(lines) - 1}, column 'pixel10': expected an integer 0..255, got '300'")


def test_blank_line_between_rows_with_trailing_blank_line(tmp_path, digits):
    lines = lines_of(digits) + [""]
    lines.insert(4, "")
    assert "line 5: expected 785 fields" in error(write(tmp_path, lines))


def test_header_then_blank_lines_has_no_rows(tmp_path):
    message = error(write(tmp_path, [header_line(True), "", ""]))
    assert message.endswith("no data rows after the header (line 1): expected one row per image")


@pytest.mark.parametrize("suffix, opener", [(".gz", "gzip"), (".bz2", "bz2"), (".xz", "lzma")])
def test_compressed_file_round_trip(tmp_path, digits, suffix, opener):
    import importlib
    plain = write(tmp_path, lines_of(digits))
    packed = tmp_path / f"train.csv{suffix}"
    with importlib.import_module(opener).open(packed, "wb") as f:
        f.write(plain.read_bytes())
    ds = read_csv(packed)
    assert np.array_equal(ds.y, digits[0]) and np.array_equal(ds.x, digits[1])
    assert ds.source == str(packed)


def test_compressed_file_keeps_every_check(tmp_path, digits):
    import gzip
    lines = lines_of(digits)
    lines[3][11] = "abc"
    packed = tmp_path / "train.csv.gz"
    packed.write_bytes(gzip.compress(write(tmp_path, lines).read_bytes()))
    assert error(packed).endswith("line 4, column 'pixel10': expected an integer 0..255, got 'abc'")


def test_damaged_compressed_file(tmp_path, digits):
    import gzip
    packed = tmp_path / "train.csv.gz"
    whole = gzip.compress(write(tmp_path, lines_of(digits)).read_bytes())
    packed.write_bytes(whole[:len(whole) // 2])
    assert "cannot read" in error(packed)


def test_not_gzip_despite_the_name(tmp_path, digits):
    packed = tmp_path / "train.csv.gz"
    packed.write_bytes(write(tmp_path, lines_of(digits)).read_bytes())
    assert "cannot read" in error(packed)
