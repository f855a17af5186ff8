"""The drawing page in a real browser: ``funcnet serve`` in a subprocess, headless Chromium via selenium.

Uses Debian's ``chromium`` and ``chromium-driver`` packages (``.ci/run``
installs them) and the ``browser`` extra (selenium). Shared by the browser
test and by ``docs/page_screenshot.py``, which makes the README's picture.
"""

from __future__ import annotations

import contextlib
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")
PIXEL = 10  # canvas pixels per MNIST pixel: the 280 x 280 canvas holds a 28 x 28 digit


def missing() -> str | None:
    """Why the browser cannot run here (no chromium, chromedriver or selenium), or None."""
    for name in ("chromium", "chromedriver"):
        if shutil.which(name) is None:
            return f"{name} is not installed (apt-get install chromium chromium-driver)"
    for module, extra in (("selenium", "browser"), ("flask", "serve"), ("PIL", "serve")):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install 'funcnet[{extra}]')"
    return None


def peak_rss_mb(pid: int) -> float | None:
    """The peak resident memory of process ``pid`` so far, in MiB: Linux's VmHWM, the high-water
    mark of its own memory since it started its program; None where /proc does not say.

    Not ``ru_maxrss``: Linux charges a child that is started with vfork and exec (as
    ``subprocess`` starts it) with its parent's high-water mark too, so a small server
    started from a large test process would seem as large as the test process.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return None
    return kib / 1024


class Server:
    """``funcnet serve MODEL --port 0`` running in a subprocess; ``url`` once it listens.

    :meth:`stop` records ``peak_mb``, the server's peak resident memory up to
    then (:func:`peak_rss_mb`; None off Linux).
    """

    def __init__(self, model, timeout: float = 60.0, cwd=None, args=()):
        self.proc = subprocess.Popen([sys.executable, "-m", "funcnet.cli", "serve", str(model),
                                      "--port", "0", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=cwd)
        self.peak_mb: float | None = None
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for_url(timeout)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            found = re.search(r"http://\S+/", line)
            if found:
                return found.group(0)
        self.proc.kill()
        raise RuntimeError(f"funcnet serve did not start: {self.proc.stderr.read()}")

    def stop(self, timeout: float = 20.0) -> tuple[int, list[str], str]:
        """Ctrl-C (SIGINT) as a person would: the exit code, the lines printed after, stderr."""
        self.peak_mb = peak_rss_mb(self.proc.pid)
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        rest = []
        while (line := self.lines.get(timeout=5)) is not None:
            rest.append(line)
        return code, rest, self.proc.stderr.read()


@contextlib.contextmanager
def chromium(width: int = 1180, height: int = 760):
    """A headless Chromium driven by selenium, with a fresh profile folder, quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="funcnet-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def strokes(digit: np.ndarray, threshold: int = 128) -> list[tuple[int, int, int]]:
    """The digit's ink as horizontal strokes ``(row, first column, last column)``, one per run.

    >>> strokes(np.array([[0, 200, 255, 0, 255]] + [[0] * 5] * 4, np.uint8))
    [(0, 1, 2), (0, 4, 4)]
    """
    img = np.asarray(digit).reshape(int(np.sqrt(np.size(digit))), -1) >= threshold
    runs = []
    for r, row in enumerate(img):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
        runs += [(r, int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]
    return runs


def draw(driver, digit: np.ndarray) -> int:
    """Draw ``digit`` (28 x 28) on the page's canvas with the mouse, one stroke per run of ink."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    pad = driver.find_element(By.ID, "pad")
    half = pad.size["width"] / 2, pad.size["height"] / 2
    actions = ActionChains(driver, duration=0)
    runs = strokes(digit)
    for row, first, last in runs:
        y = (row + 0.5) * PIXEL - half[1]
        actions.move_to_element_with_offset(pad, int((first + 0.5) * PIXEL - half[0]), int(y))
        actions.click_and_hold()
        for _ in range(first, last):
            actions.move_by_offset(PIXEL, 0)
        actions.release()
    actions.perform()
    return len(runs)


def wait_for_answer(driver, timeout: float = 30.0) -> dict:
    """``window.funcnet`` once the page has answered the last stroke (no request in flight)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(
        "return window.funcnet && !window.funcnet.busy && window.funcnet.label !== null"))
    return driver.execute_script("return window.funcnet")
