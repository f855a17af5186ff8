"""Every benchmark script runs on a tiny problem, end to end, in a process of its own.

The figures are not judged here (timed unit tests would judge the machine): this only
keeps the scripts working as the library changes under them, as the one-engine change
once broke ``tutorial.py`` (a ``Network``'s activation layer has no weights) and
``augment.py`` (``make_step`` no longer takes ``dropout``) without a test noticing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

RUNS = {
    "tutorial": (["tutorial.py", "--iterations", "20", "--repeats", "1", "--quirks"],
                 "the tutorial pipeline (funcnet)"),
    "tutorial_keep_freed": (["tutorial.py", "--iterations", "10", "--repeats", "1", "--quirks",
                             "--keep-freed-memory"],
                            ("funcnet.runtime.keep_freed_memory() -> ", "target: tutorial_quirks=true")),
    "epoch_time": (["epoch_time.py", "--epochs", "1", "--sizes", "784,16,10",
                    "--only", "funcnet,funcnet-donate,funcnet-repl,numpy"], "funcnet-donate / numpy"),
    "cnn_step": (["cnn_step.py", "--steps", "1", "--rounds", "2", "--threads", "1", "--donate",
                  "--keep-freed-memory"], "× PyTorch"),
    "cnn_step_bn_alone": (["cnn_step.py", "--bn-alone", "8,6,6,4", "--rounds", "2", "--steps", "1",
                           "--threads", "1"], "funcnet batch_norm   mean"),
    "augment": (["augment.py", "--rounds", "2", "--calls", "1", "--threads", "1"], "round 1: affine"),
    "frozen_step": (["frozen_step.py", "--steps", "1", "--rounds", "2", "--threads", "1"],
                    "× whole"),
    "search": (["search.py", "--trials", "3", "--epochs", "3", "--min-epochs", "1",
                "--sizes", "784,8,10", "--workers", "1", "--no-dask"], "training steps: halving"),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_benchmark_runs_end_to_end(name, tmp_path):
    args, expected = RUNS[name]
    env = {**os.environ, "FUNCNET_CACHE": str(tmp_path), "FUNCNET_PLAN": "default"}
    result = subprocess.run([sys.executable, str(BENCHMARKS / args[0]), *args[1:]],
                            capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for line in (expected,) if isinstance(expected, str) else expected:
        assert line in result.stdout, result.stdout[-2000:]
