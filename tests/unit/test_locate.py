"""locate/load: explicit path, $FUNCNET_DATA, system folders, the cache, then a download."""

import hashlib
import importlib
import shutil

import numpy as np
import pytest

from funcnet.data import load, locate
from funcnet.data.csvio import header_line
from funcnet.errors import DataError

from test_fetch import ALL, Mirrors

# funcnet.data.fetch and funcnet.data.locate are also the names of the functions
# that funcnet.data exports, so attribute access gives the function: go by module name.
fetch_module = importlib.import_module("funcnet.data.fetch")
locate_module = importlib.import_module("funcnet.data.locate")


@pytest.fixture
def no_fetch(monkeypatch):
    """Fail the test if locate tries to download."""
    def fetch(*args, **kwargs):
        raise AssertionError(f"unexpected download: {args} {kwargs}")
    monkeypatch.setattr(locate_module, "fetch", fetch)


@pytest.fixture
def fake_fetch(monkeypatch, tmp_path):
    """Record downloads instead of making them; return the calls list."""
    calls = []

    def fetch(dataset, **kwargs):
        calls.append((dataset, kwargs))
        return tmp_path / "fetched" / dataset
    monkeypatch.setattr(locate_module, "fetch", fetch)
    return calls


@pytest.fixture
def empty_env(monkeypatch, tmp_path):
    """FUNCNET_DATA pointing at an empty folder; no system folders; the cache empty."""
    monkeypatch.setenv("FUNCNET_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(locate_module, "SYSTEM_FOLDERS", {})
    return tmp_path / "data"


def copy_files(source, target, names=ALL):
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(source / name, target / name)
    return target


def test_funcnet_data_folder_used_in_place(shared_data, monkeypatch, no_fetch):
    monkeypatch.setenv("FUNCNET_DATA", str(shared_data))
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (shared_data / "mnist").iterdir())
    assert locate("mnist") == shared_data / "mnist"
    data = load("mnist")
    assert len(data["train"]) == 60000 and len(data["test"]) == 10000
    after = sorted((p.name, p.stat().st_mtime_ns) for p in (shared_data / "mnist").iterdir())
    assert before == after  # read, never written


def test_explicit_folder(shared_data, no_fetch):
    data = load("fashion-mnist", shared_data / "fashion-mnist")
    assert data["train"].x.shape == (60000, 784) and data["test"].y.dtype == np.int64


def test_explicit_csv(tmp_path, shared_data, no_fetch):
    path = tmp_path / "train.csv"
    path.write_text(header_line(True) + "\n" + "4," + ",".join(["1"] * 784) + "\n")
    assert locate(path=path) == path
    data = load(path=str(path))
    assert list(data) == ["train"] and data["train"].y.tolist() == [4]


def test_explicit_path_missing(tmp_path, no_fetch):
    with pytest.raises(DataError, match="no such file or folder"):
        load(path=tmp_path / "nope")


def test_explicit_path_not_csv(tmp_path, no_fetch):
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(DataError, match=r"data.txt: expected a .csv file or a folder"):
        locate(path=tmp_path / "data.txt")


def test_explicit_folder_missing_files(tmp_path, no_fetch):
    with pytest.raises(DataError, match=f"{tmp_path}: missing train-images-idx3-ubyte"):
        load(path=tmp_path)


def test_nothing_found_no_download(empty_env, monkeypatch, tmp_path, no_fetch):
    monkeypatch.setattr(locate_module, "cache_folder", lambda d: tmp_path / "cache" / d)
    with pytest.raises(DataError) as info:
        locate("mnist", download=False)
    message = str(info.value)
    assert "no mnist data found" in message and "downloading is off" in message
    assert str(empty_env / "mnist") in message
    assert "--data" in message and "$FUNCNET_DATA/mnist/train-images-idx3-ubyte.gz" in message
    assert "\n" not in message


def test_download_when_nothing_found(empty_env, fake_fetch, tmp_path):
    assert locate("mnist", progress=False) == tmp_path / "fetched" / "mnist"
    assert fake_fetch == [("mnist", {"progress": False})]


def test_partial_folder_is_completed_by_download(empty_env, shared_data, fake_fetch):
    copy_files(shared_data / "mnist", empty_env / "mnist", ALL[:2])
    locate("mnist")
    assert [c[0] for c in fake_fetch] == ["mnist"]


def test_system_folder_for_fashion(empty_env, monkeypatch, shared_data, tmp_path, no_fetch):
    system = copy_files(shared_data / "fashion-mnist", tmp_path / "usr-share")
    monkeypatch.setattr(locate_module, "SYSTEM_FOLDERS", {"fashion-mnist": (system,)})
    assert locate("fashion-mnist") == system


def test_funcnet_data_before_system_folder(empty_env, monkeypatch, shared_data, tmp_path):
    system = copy_files(shared_data / "fashion-mnist", tmp_path / "usr-share")
    monkeypatch.setattr(locate_module, "SYSTEM_FOLDERS", {"fashion-mnist": (system,)})
    mine = copy_files(shared_data / "fashion-mnist", empty_env / "fashion-mnist")
    assert locate("fashion-mnist") == mine


def test_debian_folder_is_the_default_system_folder():
    assert locate_module.SYSTEM_FOLDERS["fashion-mnist"][0].as_posix() == \
        "/usr/share/datasets/fashion-mnist"


def test_cache_used_without_funcnet_data(monkeypatch, tmp_path, shared_data, no_fetch):
    monkeypatch.delenv("FUNCNET_DATA")
    monkeypatch.setattr(locate_module, "SYSTEM_FOLDERS", {})
    cache = copy_files(shared_data / "mnist", tmp_path / "cache" / "mnist")
    monkeypatch.setattr(locate_module, "cache_folder", lambda d: tmp_path / "cache" / d)
    assert locate("mnist", download=False) == cache


def test_unknown_dataset(no_fetch):
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        locate("cifar")


def test_bad_file_in_place_is_reported(empty_env, shared_data, no_fetch):
    folder = copy_files(shared_data / "mnist", empty_env / "mnist")
    data = (folder / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(data[:-20])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: truncated gzip"):
        load("mnist")


def test_load_downloads_end_to_end(empty_env, monkeypatch, shared_data):
    files = {n: (shared_data / "mnist" / n).read_bytes() for n in ALL}
    server = Mirrors(files)
    try:
        monkeypatch.setenv("FUNCNET_MIRRORS", server.url("m"))
        monkeypatch.setitem(fetch_module.REGISTRY, "mnist",
                            {n: "sha256:" + hashlib.sha256(b).hexdigest() for n, b in files.items()})
        data = load("mnist", progress=False)
        assert len(data["train"]) == 60000
        assert sorted(p.name for p in (empty_env / "mnist").glob("*.gz")) == sorted(ALL)
        requests = len(server.requests)
        load("mnist", progress=False)
        assert len(server.requests) == requests == 4
    finally:
        server.close()


def test_explicit_compressed_csv_is_accepted(tmp_path, no_fetch):
    (tmp_path / "train.csv.gz").write_bytes(b"")
    assert locate(path=tmp_path / "train.csv.gz") == tmp_path / "train.csv.gz"
