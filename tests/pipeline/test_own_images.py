"""benchmarks/own_images.py end to end on a few digits: render, funcnet predict --images, agreement."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PIL", reason="needs the images extra (Pillow)")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "own_images.py"


def test_re_rendered_digits_mostly_get_the_label_of_the_original(small_mlp, tmp_path):
    kept = tmp_path / "pictures"
    done = subprocess.run([sys.executable, str(SCRIPT), str(small_mlp), "--count", "40",
                           "--keep", str(kept), "--target", "0.85"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (kept / "png").iterdir())[:2] == ["00000.png", "00001.png"]
    assert len(list((kept / "jpg").iterdir())) == 40
    found = re.search(r"agreement  all: ([\d.]+)% \((\d+) of 80 files", done.stdout)
    assert found, done.stdout
    assert float(found.group(1)) >= 85.0
    assert "target 85%: met" in done.stdout
