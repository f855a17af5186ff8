"""funcnet sweep --space: a search (sampled trials, successive halving) in one line per run, its
best trials, its pictures, funcnet show SWEEP_DIR, bad input, and a rerun after kill -9."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from funcnet.experiments import read_results

from .cli_helpers import REPO, invoke
from .test_cli_sweep import _children, _descendants

pytest.importorskip("optuna")

_spec = importlib.util.spec_from_file_location(
    "experiments_toys_cli", Path(__file__).resolve().parents[1] / "unit" / "experiments_helpers.py")
toys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toys)

SPACE = ["--space", "learning_rate=log:1e-3..3", "--space", "hidden=choice:4,16"]


@pytest.fixture
def toy(tmp_path) -> Path:
    return toys.write_search_toy(tmp_path)


def test_a_search_prints_each_run_its_best_trials_and_the_budget_spent(toy, tmp_path):
    out = tmp_path / "s"
    result = invoke("sweep", toy, *SPACE, "--trials", "9", "--min-epochs", "1", "--out", out,
                    "--workers", "1")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.match(r"\[1\] trial 0 rung 0 \(1 epochs\) learning_rate=\S+ hidden=(4|16) seed 0: "
                    r"train \d\.\d{4}  dev \d\.\d{4}", lines[0])
    frame = read_results(out / "results.csv")
    assert len([l for l in lines if l.startswith("[")]) == len(frame)
    head = lines.index("best trials (dev accuracy at the largest budget each reached):")
    assert lines[head + 1].split() == ["trial", "learning_rate", "hidden", "budget", "dev_accuracy",
                                       "decision"]
    assert lines[head + 2].split()[3] == "9" and lines[head + 2].split()[-1] == "done"
    spent = re.fullmatch(r"budget spent: (\d+) of 81 epochs \((\d+)% of running every trial to the end\)",
                         lines[-1])
    assert spent and int(spent[1]) < 81
    assert {"trial", "rung", "budget", "decision"} <= set(frame)
    shown = invoke("show", out)
    assert shown.exit_code == 0, shown.stderr
    text = shown.stdout.splitlines()
    assert text[0].startswith(f"{out}: a search of {toy}: 9 trials (random sampler, seed 0, "
                              "halving η=3 over epochs [1, 3, 9])")
    assert text[2:4] == lines[head + 1: head + 3]


@pytest.mark.parametrize("args, words", [
    (["--trials", "3"], "--trials searches a --space; give --space KEY=SPEC"),
    (["--halving"], "--halving searches a --space"),
    ([*SPACE, "--grid", "hidden=4,8"], "give --grid or --space, not both"),
    ([*SPACE, "--min-iterations", "2"], "counts its budget in epochs: use --min-epochs"),
    (["--space", "learning_rate=log:-1..1"], "a log-uniform range needs LOW > 0"),
    (["--space", "hidden=2..8", "--set", "hidden=4"], "--set hidden=4 contradicts --space hidden=int:2..8"),
    ([*SPACE, "--halving", "1"], "--halving"),
])
def test_a_bad_search_is_one_line(toy, tmp_path, args, words):
    result = invoke("sweep", toy, *args, "--out", tmp_path / "s")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("funcnet: error: ") and words in line
    assert not (tmp_path / "s" / "results.csv").exists()


def test_a_failing_trial_is_a_row_and_exit_1_naming_how_many(toy, tmp_path):
    result = invoke("sweep", toy, "--space", "learning_rate=choice:0.1,1e30", "--trials", "4",
                    "--seed", "2", "--halving", "--min-epochs", "1", "--out", tmp_path,
                    "--workers", "1")
    frame = read_results(tmp_path / "results.csv")
    failed = frame[frame["status"] == "error"]["trial"].nunique()
    assert failed >= 1 and result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"funcnet: error: {failed} of 4 trials failed (their errors are in the error column of "
        f"{tmp_path / 'results.csv'})"]


def test_sweep_help_names_the_search_options():
    text = " ".join(invoke("sweep", "--help").stdout.split())
    for word in ("--space", "--trials", "--seed", "--sampler", "--halving", "--min-epochs",
                 "--min-iterations", "log:LOW..HIGH", "choice:V1,V2", "tpe"):
        assert word in text, word


@pytest.mark.slow
def test_kill_9_of_a_search_leaves_no_worker_and_a_rerun_goes_on_with_the_same_decisions(toy, tmp_path):
    """The search is killed with SIGKILL half way; its workers exit; the same command again
    ends with the rows, and so the decisions, of the search run in one go."""
    args = [*SPACE, "--trials", "9", "--min-epochs", "1", "--set", "sleep=0.05"]
    out = tmp_path / "s"
    command = [sys.executable, "-m", "funcnet.cli", "sweep", str(toy), *args, "--out", str(out),
               "--workers", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "results.csv").exists() and len(read_results(out / "results.csv")) >= 5:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the search ended before it could be killed"
        kids = _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and kids & set(_children()):
            time.sleep(0.1)
        left = kids & set(_children())
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert kids and not left, f"processes left behind: {sorted(left)}"
    cut = read_results(out / "results.csv")
    assert 5 <= len(cut)
    again = invoke("sweep", toy, *args, "--out", out, "--workers", "2")
    assert again.exit_code == 0, again.stderr
    quick = [*args[:-1], "sleep=0"]  # the same search without the sleep that made it killable
    whole = invoke("sweep", toy, *quick, "--out", tmp_path / "whole", "--workers", "1")
    assert whole.exit_code == 0, whole.stderr
    a, b = (read_results(f / "results.csv").drop(columns=["seconds", "sleep"])
            for f in (out, tmp_path / "whole"))
    pd.testing.assert_frame_equal(a, b)
    assert len(a) > len(cut)
