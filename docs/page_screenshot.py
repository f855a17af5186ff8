"""The README's picture of the drawing page: an MNIST test digit drawn in headless Chromium.

Serves MODEL with ``funcnet serve`` (the model shown as ``mlp/model.safetensors``),
draws test digit DIGIT on the canvas with the mouse, one stroke per run of
ink, and saves the page as docs/gallery/page.png. Needs Debian's chromium
and chromium-driver and ``pip install '.[serve,browser]'``.

    funcnet run pipelines/mnist_mlp.py --seed 0 --out /tmp/mlp0
    python docs/page_screenshot.py /tmp/mlp0 --digit 0
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from funcnet import data as fdata  # noqa: E402
from funcnet.cli import model_file  # noqa: E402
from tests.web import browser  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model.safetensors file or a run folder")
    parser.add_argument("--digit", type=int, default=0, help="which MNIST test digit to draw")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery" / "page.png")
    args = parser.parse_args(argv)
    if browser.missing():
        raise SystemExit(browser.missing())
    digit = fdata.load("mnist", download=False)["test"].x[args.digit]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "runs" / "mlp").mkdir(parents=True)
        shutil.copy(model_file(args.model), Path(tmp) / "runs" / "mlp" / "model.safetensors")
        server = browser.Server("runs/mlp", cwd=tmp)
        try:
            with browser.chromium(width=1040, height=700) as driver:
                driver.get(server.url)
                browser.draw(driver, digit)
                state = browser.wait_for_answer(driver)
                driver.save_screenshot(str(args.out))
        finally:
            server.stop()
    fetch = sorted(a["fetch"] for a in state["answers"])
    print(f"label {state['label']}; {len(fetch)} answers while drawing, median "
          f"{statistics.median(fetch):.1f} ms, max {fetch[-1]:.1f} ms (the browser's resource "
          f"timing of each fetch); wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
