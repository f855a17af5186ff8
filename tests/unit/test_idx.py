"""IDX reader: real MNIST/Fashion-MNIST, and every defect made by mutating real files."""

import gzip

import numpy as np
import pytest

from funcnet.data import Dataset, read_folder, read_idx
from funcnet.errors import DataError

TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"


@pytest.fixture(scope="module")
def raw(shared_data):
    """The uncompressed bytes of MNIST's test images and labels."""
    folder = shared_data / "mnist"
    return {"images": gzip.decompress((folder / TEST_IMAGES).read_bytes()),
            "labels": gzip.decompress((folder / TEST_LABELS).read_bytes())}


def put(tmp_path, name, data, gz=True):
    """Write ``data`` (gzipped unless ``gz`` is false) to ``tmp_path/name``; return the path."""
    path = tmp_path / name
    path.write_bytes(gzip.compress(data, compresslevel=1, mtime=0) if gz else data)
    return path


def edit(data, at, value):
    """``data`` with the byte at ``at`` replaced by ``value``."""
    return data[:at] + bytes([value]) + data[at + 1:]


def raises(match_all, fn, *args):
    """Call ``fn``; assert a DataError whose message holds every string in ``match_all``."""
    with pytest.raises(DataError) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message
    for part in match_all:
        assert part in message, (part, message)
    return message


# --- real data -------------------------------------------------------------

@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_read_folder_real(shared_data, name):
    data = read_folder(shared_data / name)
    assert set(data) == {"train", "test"}
    for split, n in (("train", 60000), ("test", 10000)):
        ds = data[split]
        assert isinstance(ds, Dataset)
        assert ds.x.shape == (n, 784) and ds.x.dtype == np.uint8
        assert ds.y.shape == (n,) and ds.y.dtype == np.int64
        assert ds.y.min() == 0 and ds.y.max() == 9
        assert set(np.unique(ds.y)) == set(range(10))
        assert ds.x.max() == 255 and ds.x.min() == 0
        assert ds.source.endswith(".gz")


def test_mnist_known_values(shared_data):
    data = read_folder(shared_data / "mnist")
    assert data["train"].y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data["test"].y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_train_images_load(shared_data):
    path = shared_data / "mnist" / "train-images-idx3-ubyte.gz"
    ds = read_idx(path)
    assert ds.y is None and ds.x.shape == (60000, 784)


def test_uncompressed_equals_gzipped(tmp_path, raw, shared_data):
    images = put(tmp_path, "imgs.idx", raw["images"], gz=False)
    labels = put(tmp_path, "labels.gz-not-really", raw["labels"], gz=False)
    plain = read_idx(images, labels)
    folder = shared_data / "mnist"
    gzipped = read_idx(folder / TEST_IMAGES, folder / TEST_LABELS)
    assert np.array_equal(plain.x, gzipped.x) and np.array_equal(plain.y, gzipped.y)


def test_gzip_told_by_content_not_name(tmp_path, raw):
    path = put(tmp_path, "labels.idx", raw["labels"], gz=True)
    images = put(tmp_path, "images.raw", raw["images"], gz=True)
    assert len(read_idx(images, path).y) == 10000


def test_read_folder_accepts_uncompressed(tmp_path, raw, shared_data):
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        put(tmp_path, name, raw["images" if "images" in name else "labels"], gz=False)
    for name in (TEST_IMAGES, TEST_LABELS):
        (tmp_path / name).write_bytes((shared_data / "mnist" / name).read_bytes())
    data = read_folder(tmp_path)
    assert len(data["train"]) == len(data["test"]) == 10000


# --- defects -----------------------------------------------------------------

def test_missing_file(tmp_path):
    raises([str(tmp_path / "nope.gz"), "no such file", "images"],
           read_idx, tmp_path / "nope.gz")


def test_empty_file(tmp_path):
    path = put(tmp_path, "empty", b"", gz=False)
    raises([str(path), "truncated IDX header", "got 0"], read_idx, path)


def test_bad_magic_in_gzip(tmp_path, raw):
    path = put(tmp_path, "l.gz", edit(raw["labels"], 0, 0x12))
    images = put(tmp_path, "i.gz", raw["images"])
    raises([str(path), "bad IDX magic number", "expected the first two bytes 00 00",
            "got 12 00"], read_idx, images, path)


def test_neither_gzip_nor_idx(tmp_path, raw):
    path = put(tmp_path, "i.idx", edit(raw["images"], 1, 0x34), gz=False)
    raises([str(path), "neither gzip nor IDX", "1f 8b", "00 00", "got 00 34"], read_idx, path)


def test_known_but_unsupported_type_byte(tmp_path, raw):
    path = put(tmp_path, "i.gz", edit(raw["images"], 2, 0x0D))
    message = raises([str(path), "type byte 0x0d (float32)", "expected 0x08 (unsigned byte"],
                     read_idx, path)
    for known in ("0x09 signed byte", "0x0b int16", "0x0c int32", "0x0d float32", "0x0e float64"):
        assert known in message


def test_unknown_type_byte(tmp_path, raw):
    path = put(tmp_path, "i.gz", edit(raw["images"], 2, 0x07))
    raises([str(path), "0x07 (not an IDX type)", "expected 0x08"], read_idx, path)


def test_wrong_dimensions(tmp_path, raw):
    images = put(tmp_path, "i.gz", raw["images"])
    labels = put(tmp_path, "l.gz", raw["labels"])
    raises([str(labels), "expected 3 dimensions", "images", "got 1"], read_idx, labels)
    raises([str(images), "expected 1 dimension for labels", "got 3"], read_idx, images, images)


def test_truncated_header(tmp_path, raw):
    path = put(tmp_path, "i.gz", raw["images"][:10])
    raises([str(path), "truncated IDX header", "expected 16 bytes", "got 10"], read_idx, path)


def test_truncated_data(tmp_path, raw):
    path = put(tmp_path, "i.gz", raw["images"][:-100])
    raises([str(path), "truncated IDX data", "sizes 10000x28x28 need 7840000 bytes",
            "16-byte header", "got 7839900"], read_idx, path)


def test_trailing_bytes(tmp_path, raw):
    path = put(tmp_path, "l.gz", raw["labels"] + b"\0" * 7)
    images = put(tmp_path, "i.gz", raw["images"])
    raises([str(path), "7 trailing bytes", "need 10000 bytes", "got 10007"],
           read_idx, images, path)


def test_counts_differ(tmp_path, raw):
    fewer = raw["labels"][:4] + (9999).to_bytes(4, "big") + raw["labels"][8:-1]
    labels = put(tmp_path, "l.gz", fewer)
    images = put(tmp_path, "i.gz", raw["images"])
    raises([str(labels), str(images), "9999 labels for 10000 images", "one label per image"],
           read_idx, images, labels)


def test_label_out_of_range(tmp_path, raw):
    labels = put(tmp_path, "l.gz", edit(edit(raw["labels"], 8 + 5, 12), 8 + 70, 200))
    images = put(tmp_path, "i.gz", raw["images"])
    raises([str(labels), "label 12 at index 5", "first bad", "outside 0..9"],
           read_idx, images, labels)


def test_truncated_gzip(tmp_path, shared_data):
    data = (shared_data / "mnist" / TEST_IMAGES).read_bytes()
    path = tmp_path / "i.gz"
    path.write_bytes(data[:len(data) // 2])
    raises([str(path), "truncated gzip stream", "expected a complete .gz file"], read_idx, path)


def test_bad_crc(tmp_path, shared_data):
    data = (shared_data / "mnist" / TEST_LABELS).read_bytes()
    path = tmp_path / "l.gz"
    path.write_bytes(edit(data, len(data) - 8, data[-8] ^ 0xFF))  # the CRC-32 in the trailer
    raises([str(path), "corrupt gzip stream", "CRC check failed", "CRC-32"], read_idx, path)


def test_corrupt_byte_mid_stream(tmp_path, shared_data):
    data = (shared_data / "mnist" / TEST_IMAGES).read_bytes()
    middle = len(data) // 2
    path = tmp_path / "i.gz"
    path.write_bytes(edit(data, middle, data[middle] ^ 0x55))
    raises([str(path), "gzip stream"], read_idx, path)


def test_read_folder_missing_files(tmp_path, shared_data):
    (tmp_path / TEST_IMAGES).write_bytes((shared_data / "mnist" / TEST_IMAGES).read_bytes())
    message = raises([str(tmp_path), "missing", "train-images-idx3-ubyte[.gz]",
                      "train-labels-idx1-ubyte[.gz]", "t10k-labels-idx1-ubyte[.gz]"],
                     read_folder, tmp_path)
    assert message.split(": expected")[0].count("t10k-images") == 0


def test_read_folder_no_such_folder(tmp_path):
    raises([str(tmp_path / "nope"), "no such folder"], read_folder, tmp_path / "nope")
