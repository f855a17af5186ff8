"""fetch against HTTP mirrors this test starts on 127.0.0.1 (never the internet)."""

import hashlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from funcnet.data import fetch, read_folder
from funcnet.data.fetch import MIRRORS, REGISTRY, cache_folder, mirror_list
from funcnet.errors import DownloadError

LABELS = ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
ALL = LABELS + ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")


class Mirrors:
    """An HTTP server holding several mirrors, ``/<mirror>/<file>``, each in a mode.

    Modes: ``ok``; ``corrupt`` (one byte flipped); ``cut`` (announces the full
    length, sends half, closes). Every request path is logged in ``requests``.
    """

    def __init__(self, files):
        self.files, self.modes, self.requests = files, {}, []
        mirrors = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                mirrors.requests.append(self.path)
                _, mirror, name = self.path.split("/", 2)
                body = mirrors.files.get(name)
                if body is None or mirror not in mirrors.modes:
                    return self.send_error(404)
                mode = mirrors.modes[mirror]
                if mode == "corrupt":
                    body = body[:100] + bytes([body[100] ^ 1]) + body[101:]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if mode == "cut" else body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def url(self, mirror, mode="ok"):
        """The base URL of a mirror that serves every file in ``mode``."""
        self.modes[mirror] = mode
        return f"http://127.0.0.1:{self.httpd.server_port}/{mirror}/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def files(shared_data):
    return {name: (shared_data / "mnist" / name).read_bytes() for name in ALL}


@pytest.fixture
def mirrors(files):
    server = Mirrors(files)
    yield server
    server.close()


def registry(files, names=LABELS):
    """name -> "sha256:..." of the local copies (the shared bytes are not the canonical ones)."""
    return {n: "sha256:" + hashlib.sha256(files[n]).hexdigest() for n in names}


@pytest.fixture
def dead_url():
    """A base URL on a port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def leftovers(folder):
    """Files in ``folder`` other than the lock file."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def run(folder, mirror_urls, files, names=LABELS, **kwargs):
    return fetch("mnist", folder, mirror_urls, progress=False,
                 registry=registry(files, names), retries=0, timeout=5, **kwargs)


def test_all_four_files_then_readable(tmp_path, mirrors, files):
    folder = run(tmp_path / "cache", [mirrors.url("a")], files, names=ALL)
    assert folder == tmp_path / "cache"
    assert leftovers(folder) == sorted(ALL)
    data = read_folder(folder)
    assert len(data["train"]) == 60000 and len(data["test"]) == 10000


def test_first_mirror_dead_second_used(tmp_path, mirrors, files, dead_url):
    folder = run(tmp_path, [dead_url, mirrors.url("b")], files)
    assert leftovers(folder) == sorted(LABELS)
    assert mirrors.requests == [f"/b/{n}" for n in LABELS]


def test_corrupt_file_rejected_next_mirror_used(tmp_path, mirrors, files):
    run(tmp_path, [mirrors.url("a", "corrupt"), mirrors.url("b")], files, names=LABELS[:1])
    assert mirrors.requests == [f"/a/{LABELS[0]}", f"/b/{LABELS[0]}"]
    assert (tmp_path / LABELS[0]).read_bytes() == files[LABELS[0]]
    assert leftovers(tmp_path) == [LABELS[0]]


def test_corrupt_everywhere_nothing_cached(tmp_path, mirrors, files):
    with pytest.raises(DownloadError) as info:
        run(tmp_path, [mirrors.url("a", "corrupt")], files)
    assert "SHA-256 mismatch, rejected" in str(info.value)
    assert leftovers(tmp_path) == []


def test_interrupted_download_leaves_nothing(tmp_path, mirrors, files):
    with pytest.raises(DownloadError) as info:
        run(tmp_path, [mirrors.url("a", "cut")], files, names=ALL[2:3])
    message = str(info.value)
    assert f"{mirrors.url('a', 'cut')}{ALL[2]} (" in message
    assert "connection closed before the end of the file" in message
    assert leftovers(tmp_path) == []


def test_interrupted_then_next_mirror(tmp_path, mirrors, files):
    run(tmp_path, [mirrors.url("a", "cut"), mirrors.url("b")], files)
    assert leftovers(tmp_path) == sorted(LABELS)


def test_a_wrong_hash_is_rejected_at_once_then_the_next_mirror(tmp_path, mirrors, files, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    fetch("mnist", tmp_path, [mirrors.url("a", "corrupt"), mirrors.url("b")], progress=False,
          registry=registry(files, LABELS[:1]), retries=2, timeout=5)
    assert mirrors.requests == [f"/a/{LABELS[0]}", f"/b/{LABELS[0]}"]  # never the bad file twice
    assert leftovers(tmp_path) == [LABELS[0]]


def test_a_cut_transfer_is_tried_again_on_the_same_mirror(tmp_path, mirrors, files, monkeypatch):
    waits = []
    monkeypatch.setattr("time.sleep", waits.append)
    with pytest.raises(DownloadError, match="connection closed before the end"):
        fetch("mnist", tmp_path, [mirrors.url("a", "cut")], progress=False,
              registry=registry(files, LABELS[:1]), retries=2, timeout=5)
    assert mirrors.requests == [f"/a/{LABELS[0]}"] * 3
    assert len(waits) == 2 and sum(waits) < 1  # quick: a fraction of a second in all
    assert leftovers(tmp_path) == []


def test_http_404_and_refused_connections_are_not_tried_again(tmp_path, mirrors, files, dead_url,
                                                              monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: pytest.fail("no retry expected"))
    with pytest.raises(DownloadError, match=r"\(HTTP 404\).*\(cannot connect\)"):
        fetch("mnist", tmp_path, [mirrors.url("a") + "missing/", dead_url], progress=False,
              registry=registry(files, LABELS[:1]), retries=2, timeout=5)
    assert mirrors.requests == [f"/a/missing/{LABELS[0]}"]
    assert not list(tmp_path.rglob("*.lock"))  # a failed download leaves no lock file behind


def test_offline_message(tmp_path, files, dead_url, monkeypatch):
    monkeypatch.setenv("FUNCNET_DATA", str(tmp_path / "data"))
    other = dead_url.replace("/mnist/", "/other/")
    with pytest.raises(DownloadError) as info:
        run(tmp_path / "cache", [dead_url, other], files)
    message = str(info.value)
    assert "\n" not in message
    assert f"{dead_url}{LABELS[0]} (cannot connect)" in message
    assert f"{other}{LABELS[0]} (cannot connect)" in message
    assert f"cache folder {tmp_path / 'cache'}" in message
    assert f"FUNCNET_DATA={tmp_path / 'data'}" in message
    assert "by hand" in message and "train-images-idx3-ubyte.gz" in message
    assert "--data" in message and "FUNCNET_MIRRORS" in message
    assert leftovers(tmp_path / "cache") == []


def test_offline_message_without_funcnet_data(tmp_path, files, dead_url, monkeypatch):
    monkeypatch.delenv("FUNCNET_DATA", raising=False)
    with pytest.raises(DownloadError, match="FUNCNET_DATA=not set"):
        run(tmp_path, [dead_url], files)


def test_http_404(tmp_path, mirrors, files):
    with pytest.raises(DownloadError, match=r"\(HTTP 404\)"):
        run(tmp_path, [mirrors.url("a") + "missing/"], files)


def test_files_in_place_are_not_downloaded(tmp_path, mirrors, files):
    for name in LABELS:
        (tmp_path / name).write_bytes(files[name])
    before = {n: (tmp_path / n).stat().st_mtime_ns for n in LABELS}
    run(tmp_path, [mirrors.url("a")], files)
    assert mirrors.requests == []
    assert {n: (tmp_path / n).stat().st_mtime_ns for n in LABELS} == before


def test_damaged_file_in_cache_replaced(tmp_path, mirrors, files):
    (tmp_path / LABELS[0]).write_bytes(b"junk")
    run(tmp_path, [mirrors.url("a")], files, names=LABELS[:1])
    assert (tmp_path / LABELS[0]).read_bytes() == files[LABELS[0]]


def test_funcnet_mirrors_env(tmp_path, mirrors, files, monkeypatch, dead_url):
    monkeypatch.setenv("FUNCNET_MIRRORS", f"{dead_url}, {mirrors.url('env')}")
    run(tmp_path, None, files)
    assert mirrors.requests == [f"/env/{n}" for n in LABELS]
    assert mirror_list("mnist") == (dead_url, mirrors.url("env"))


def test_default_mirrors(monkeypatch):
    monkeypatch.delenv("FUNCNET_MIRRORS", raising=False)
    assert mirror_list("mnist") == MIRRORS["mnist"]
    assert MIRRORS["mnist"][0].startswith("https://storage.googleapis.com/cvdf-datasets/")
    assert "ossci-datasets" in MIRRORS["mnist"][1] and "lecun" in MIRRORS["mnist"][2]
    assert mirror_list("mnist", ["http://x/a", " ", "http://y/b/"]) == ("http://x/a/", "http://y/b/")


def test_default_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("FUNCNET_DATA", str(tmp_path))
    assert cache_folder("fashion-mnist") == tmp_path / "fashion-mnist"
    monkeypatch.delenv("FUNCNET_DATA")
    assert cache_folder("mnist").parts[-2:] == ("funcnet", "mnist")


def test_fetch_defaults_to_cache_folder(tmp_path, mirrors, files, monkeypatch):
    monkeypatch.setenv("FUNCNET_DATA", str(tmp_path))
    folder = fetch("mnist", mirrors=[mirrors.url("a")], progress=False,
                   registry=registry(files), retries=0)
    assert folder == tmp_path / "mnist" and leftovers(folder) == sorted(LABELS)


def test_lock_held_elsewhere(tmp_path, mirrors, files):
    import filelock
    with filelock.FileLock(str(tmp_path / ".funcnet-download.lock")):
        with pytest.raises(DownloadError, match="download lock"):
            run(tmp_path, [mirrors.url("a")], files, lock_timeout=0.2)
    assert mirrors.requests == []


def test_cache_folder_cannot_be_made(tmp_path, files, mirrors):
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(DownloadError, match="cannot create the cache folder"):
        run(tmp_path / "a-file" / "mnist", [mirrors.url("a")], files)
    assert mirrors.requests == []


def test_one_quiet_line_per_file_and_no_pooch_log(tmp_path, mirrors, files, capfd, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    fetch("mnist", tmp_path / "quiet", [mirrors.url("a")], progress=False,
          registry=registry(files), retries=0)
    quiet = capfd.readouterr()
    assert quiet.out == "" and quiet.err == ""
    fetch("mnist", tmp_path / "loud", [mirrors.url("a", "corrupt"), mirrors.url("cut", "cut"),
                                       mirrors.url("b")], progress=True,
          registry=registry(files), retries=2)
    loud = capfd.readouterr()
    assert loud.out == ""
    assert loud.err.splitlines() == [f"funcnet: downloading mnist/{n}" for n in LABELS]
    fetch("mnist", tmp_path / "loud", [mirrors.url("a")], progress=True, registry=registry(files))
    assert capfd.readouterr().err == ""  # nothing downloaded, nothing said


def test_progress_bar_only_on_a_terminal(tmp_path, mirrors, files, capfd, monkeypatch):
    monkeypatch.setattr(sys.modules["funcnet.data.fetch"], "_on_terminal", lambda: True)
    fetch("mnist", tmp_path, [mirrors.url("a")], progress=True,
          registry=registry(files, LABELS[:1]), retries=0)
    err = capfd.readouterr().err
    assert err.startswith(f"funcnet: downloading mnist/{LABELS[0]}\n") and "100%" in err


def test_canonical_registry_pinned():
    assert set(REGISTRY) == {"mnist", "fashion-mnist"}
    for table in REGISTRY.values():
        assert set(table) == set(ALL)
        assert all(h.startswith("sha256:") and len(h) == 7 + 64 for h in table.values())
    assert REGISTRY["mnist"]["train-images-idx3-ubyte.gz"].endswith("8f203523609")


def test_unknown_dataset():
    with pytest.raises(DownloadError, match="unknown dataset 'cifar'"):
        fetch("cifar", progress=False)
