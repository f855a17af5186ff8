"""Shared test set-up: real data live in ../shared/data unless FUNCNET_DATA says otherwise."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

# In CI the property tests draw the same examples every run (a red build is then
# reproducible); locally they explore anew each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

os.environ.setdefault("FUNCNET_DATA",
                      str((Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()))
# Plans chosen by measurement: the suite uses the default plans (same bits, no timing, no
# file in the user's cache folder); the planner's own tests set their mode and folder.
os.environ.setdefault("FUNCNET_PLAN", "default")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder holding mnist/ and fashion-mnist/ with the four IDX files each."""
    return Path(os.environ["FUNCNET_DATA"])


@pytest.fixture(scope="session")
def small_mlp(tmp_path_factory, shared_data) -> Path:
    """A run folder of a 784-64-10 MLP trained for one epoch on 10,000 MNIST digits (~92%)."""
    from click.testing import CliRunner

    from funcnet.cli import cli

    out = tmp_path_factory.mktemp("small-mlp") / "run"
    pipeline = Path(__file__).resolve().parents[1] / "pipelines" / "mnist_mlp.py"
    result = CliRunner().invoke(cli, ["run", str(pipeline), "--set", "epochs=1", "--set",
                                      "sizes=784,64,10", "--set", "dev_size=50000", "--seed", "0",
                                      "--quiet", "--no-plots", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def fed_fifo(tmp_path):
    """``feed(name, payload)``: a FIFO ``tmp_path/name`` that a thread writes ``payload`` into
    as soon as a reader opens it (for up to 5 s), so that a reader that waits is not stuck."""
    import threading
    import time

    def feed(name: str, payload: bytes, seconds: float = 5.0) -> Path:
        fifo = tmp_path / name
        os.mkfifo(fifo)

        def writer():
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:  # no reader yet (ENXIO)
                    time.sleep(0.02)
                    continue
                try:
                    os.set_blocking(fd, True)
                    os.write(fd, payload)
                finally:
                    os.close(fd)
                return

        threading.Thread(target=writer, daemon=True).start()
        return fifo

    if not hasattr(os, "mkfifo"):
        pytest.skip("needs FIFOs")
    return feed
