"""Peak resident memory of ``funcnet serve`` while several clients upload a large picture at once.

The server runs in a child process (``funcnet serve RUN --port 0``); after
one ordinary request (a 280 x 280 canvas) its peak so far is read, then
CLIENTS threads post the same large PNG together, each answer's status is
printed, and the server's peak is read again before it is stopped with
Ctrl-C. The peak is Linux's VmHWM of the server process (/proc/PID/status),
not the child's ru_maxrss: Linux charges a child started with vfork and
exec (as ``subprocess`` starts it) with its parent's high-water mark too,
and this script holds the large picture before it starts the server. The target:
under 600 MB with four clients and a 7000 x 7000 one-bit PNG (14 kB), each
answered with a prediction or a 4xx.

    python benchmarks/serve_memory.py                   # trains a small MLP first
    python benchmarks/serve_memory.py runs/mlp --clients 4 --side 7000 --kind one-bit
    python benchmarks/serve_memory.py runs/mlp --kind rgba --side 7000    # 4 bytes a pixel
"""

from __future__ import annotations

import argparse
import http.client
import io
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import _common as C

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.web import browser  # noqa: E402

TARGET_MB = 600
KINDS = ("one-bit", "grey", "rgba", "grey16")


def big_picture(side: int, kind: str = "one-bit") -> bytes:
    """A ``side`` x ``side`` PNG of a dark "1" on white paper: mode 1, L, RGBA or 16-bit grey."""
    from PIL import Image

    bar = (slice(side // 7, side - side // 7), slice(side * 9 // 20, side * 11 // 20))
    if kind == "one-bit":
        ink = np.ones((side, side), bool)
        ink[bar] = False
        im = Image.fromarray(ink)
    elif kind == "grey16":
        ink = np.full((side, side), 65535, np.uint16)
        ink[bar] = 0
        im = Image.fromarray(ink)
    else:
        ink = np.full((side, side), 255, np.uint8)
        ink[bar] = 0
        im = Image.fromarray(ink)
        im = im.convert("RGBA") if kind == "rgba" else im
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=kind == "one-bit")
    return buf.getvalue()


def canvas() -> bytes:
    """The page's 280 x 280 canvas holding a white "1" on black, as the browser posts it."""
    from PIL import Image

    pad = np.zeros((280, 280), np.uint8)
    pad[40:240, 130:150] = 255
    buf = io.BytesIO()
    Image.fromarray(pad).convert("RGBA").save(buf, "PNG")
    return buf.getvalue()


def post(port: int, body: bytes, answers: list, timeout: float = 300.0) -> None:
    """POST ``body`` to /api/predict; append ``(status, seconds, label or error)``."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/api/predict", body=body, headers={"Content-Type": "image/png"})
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        answers.append((response.status, time.perf_counter() - start, text[-80:]))
    except OSError as exc:
        answers.append((None, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def small_model(folder: Path) -> Path:
    """A 784-64-10 MLP trained for one epoch on 10,000 digits (as the tests' small_mlp)."""
    out = folder / "run"
    subprocess.run([sys.executable, "-m", "funcnet.cli", "run", str(ROOT / "pipelines" / "mnist_mlp.py"),
                    "--set", "epochs=1", "--set", "sizes=784,64,10", "--set", "dev_size=50000",
                    "--seed", "0", "--quiet", "--no-plots", "--out", str(out)], check=True)
    return out


def measure(model, picture: bytes, clients: int) -> dict:
    """Serve ``model``; one canvas, then ``clients`` uploads of ``picture`` at once; the figures."""
    server = browser.Server(model)
    port = int(server.url.rstrip("/").rsplit(":", 1)[1])
    first: list = []
    post(port, canvas(), first)
    idle = browser.peak_rss_mb(server.proc.pid)
    answers: list = []
    threads = [threading.Thread(target=post, args=(port, picture, answers)) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    server.stop()
    return {"canvas": first[0], "idle_mb": idle, "peak_mb": server.peak_mb, "answers": answers,
            "seconds": seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a run folder or model file (default: train one)")
    parser.add_argument("--clients", type=int, default=4, help="uploads at once (default 4)")
    parser.add_argument("--side", type=int, default=7000, help="the picture's side (default 7000)")
    parser.add_argument("--kind", choices=KINDS, default="one-bit", help="the PNG's pixels")
    args = parser.parse_args(argv)
    C.print_header("funcnet serve: peak resident memory under simultaneous large uploads")
    where = C.machine_lines()[0].split(",")[0].removeprefix("machine: ")
    kernel = C.blas_line().partition("kernel=")[2].split()[0] if "kernel=" in C.blas_line() else "?"
    picture = big_picture(args.side, args.kind)
    print(f"   picture: {args.side}x{args.side} {args.kind} PNG, {len(picture):,} bytes; "
          f"{args.clients} clients at once")
    with tempfile.TemporaryDirectory(prefix="funcnet-serve-memory-") as tmp:
        model = args.model or small_model(Path(tmp))
        figures = measure(model, picture, args.clients)
    status, secs, _ = figures["canvas"]
    print(f"   a canvas first: status {status} in {secs * 1e3:.0f} ms")
    for i, (status, secs, text) in enumerate(figures["answers"], 1):
        print(f"   client {i}: status {status} after {secs:.2f} s  ...{text.strip()[-48:]}")
    ok = all(s is not None and (s == 200 or 400 <= s < 500) for s, _, _ in figures["answers"])
    peak, idle = figures["peak_mb"], figures["idle_mb"]
    print(f"peak resident memory {peak:.0f} MB (idle after one canvas {idle:.0f} MB; "
          f"{peak / idle:.2f}x idle) for {args.clients} x {args.side}x{args.side} {args.kind}, "
          f"all answered in {figures['seconds']:.2f} s [{where}; BLAS kernel {kernel}]")
    verdict = "met" if peak < TARGET_MB and ok else "NOT met"
    print(f"target: under {TARGET_MB} MB, each answered with a prediction or a 4xx: {verdict}")
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main())
