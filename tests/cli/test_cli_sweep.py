"""funcnet sweep: a grid × seeds in parallel, results.csv, reruns, failures, bad input, Ctrl-C."""

from __future__ import annotations

import json
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

from .cli_helpers import REPO, TOY_PIPELINE, invoke

TOY_SLOW = TOY_PIPELINE.replace(
    "def train(config, splits, state=None):",
    "def _slowly(snaps, seconds):\n    import time\n    for snap in snaps:\n"
    "        time.sleep(seconds)\n        yield snap\n\n\n"
    "def train(config, splits, state=None):\n"
    "    return _slowly(_train(config, splits, state), 0.05 if config.steps > 100 else 0)\n\n\n"
    "def _train(config, splits, state=None):")


@pytest.fixture
def slow_toy(tmp_path) -> Path:
    path = tmp_path / "slow_toy.py"
    path.write_text(TOY_SLOW, encoding="utf-8")
    return path


def test_sweep_prints_a_line_per_task_then_the_summary(toy_pipeline, tmp_path):
    out = tmp_path / "sweep"
    result = invoke("sweep", toy_pipeline, "--grid", "learning_rate=0.1,0.3", "--seeds", "0,1",
                    "--set", "steps=4", "--out", out)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    done = [line for line in lines if line.startswith("[")]
    assert len(done) == 4 and all(re.match(r"\[\d/4\] learning_rate=0\.[13] seed [01]: train ", l)
                                  for l in done)
    header = lines.index(next(l for l in lines if l.lstrip().startswith("learning_rate  runs")))
    assert lines[header].split() == ["learning_rate", "runs", "failed", "train_accuracy",
                                     "dev_accuracy", "loss", "seconds"]
    assert len(lines) == header + 3
    frame = read_results(out / "results.csv")
    assert sorted(zip(frame["learning_rate"], frame["seed"])) == [(0.1, 0), (0.1, 1), (0.3, 0), (0.3, 1)]
    assert (frame["status"] == "ok").all() and {"steps", "error", "dev_accuracy"} <= set(frame)
    assert json.loads((out / "sweep.json").read_text())["grid"] == {"learning_rate": [0.1, 0.3]}
    for name in ("learning_rate=0.1_seed-0", "learning_rate=0.3_seed-1"):
        assert (out / name / "metrics.json").is_file() and (out / name / "model.safetensors").is_file()


def test_running_the_same_sweep_again_skips_the_finished_tasks(toy_pipeline, tmp_path):
    args = ("sweep", toy_pipeline, "--grid", "steps=2,4", "--out", tmp_path, "--workers", "1")
    assert invoke(*args).exit_code == 0
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/metrics.json")}
    again = invoke(*args, "--seeds", "0,1")
    assert again.exit_code == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # seed 0 not run again
    assert len(list(tmp_path.glob("*/metrics.json"))) == 4 and len(read_results(tmp_path / "results.csv")) == 4


def test_a_failing_task_is_a_row_and_exit_1_naming_how_many(toy_pipeline, tmp_path):
    result = invoke("sweep", toy_pipeline, "--grid", "learning_rate=0.1,inf", "--seeds", "0,1",
                    "--out", tmp_path)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"funcnet: error: 2 of 4 tasks failed (their errors are in the error column of "
        f"{tmp_path / 'results.csv'})"]
    frame = read_results(tmp_path / "results.csv")
    failed = frame[frame["status"] == "error"]
    assert len(frame) == 4 and len(failed) == 2 and failed["error"].str.startswith("non-finite").all()
    assert re.search(r"^\[\d/4\] learning_rate=inf seed \d: error: non-finite", result.stdout, re.M)


@pytest.mark.parametrize("args, code, words", [
    (["--grid", "learnin_rate=0.1"], 2,
     "--grid learnin_rate: unknown config key (did you mean learning_rate?)"),
    (["--grid", "steps=2,two"], 2, "--grid steps=two: expected int"),
    (["--set", "stepz=2", "--grid", "steps=2"], 2, "--set stepz: unknown config key (did you mean steps?)"),
    (["--grid", "steps=2", "--scheduler", "tcp://127.0.0.1:1", "--dask"], 2, "--scheduler or --dask"),
    (["--grid", "steps=2", "--seeds", "1,1"], 2, "distinct"),
])
def test_bad_input_is_one_line(toy_pipeline, tmp_path, args, code, words):
    result = invoke("sweep", toy_pipeline, *args, "--out", tmp_path / "s")
    assert result.exit_code == code
    [line] = result.stderr.splitlines()
    assert line.startswith("funcnet: error: ") and words in line
    assert not (tmp_path / "s" / "results.csv").exists()


def test_a_folder_holding_another_sweep_or_a_run_is_refused(toy_pipeline, quirks_pipeline, tmp_path):
    out = tmp_path / "s"
    assert invoke("sweep", toy_pipeline, "--grid", "steps=2", "--out", out).exit_code == 0
    other = invoke("sweep", quirks_pipeline, "--grid", "iterations=2", "--out", out)
    assert other.exit_code == 2
    assert re.match(rf"funcnet: error: {re.escape(str(out))}: holds another sweep \(its pipeline "
                    r"and grid differ", other.stderr)
    assert invoke("sweep", toy_pipeline, "--grid", "steps=3", "--out", out).exit_code == 2
    replaced = invoke("sweep", toy_pipeline, "--grid", "steps=3", "--out", out, "--overwrite")
    assert replaced.exit_code == 0 and read_results(out / "results.csv")["steps"].tolist() == [3]
    run = tmp_path / "run"
    assert invoke("run", toy_pipeline, "--out", run, "--no-plots").exit_code == 0
    refused = invoke("sweep", toy_pipeline, "--grid", "steps=2", "--out", run)
    assert refused.exit_code == 2 and "holds a run, not a sweep" in refused.stderr


def test_an_unreachable_scheduler_is_one_line(toy_pipeline, tmp_path):
    start = time.monotonic()
    result = invoke("sweep", toy_pipeline, "--grid", "steps=2", "--out", tmp_path,
                    "--scheduler", "tcp://127.0.0.1:9")
    assert time.monotonic() - start < 10
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("funcnet: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")


def test_dask_runs_the_sweep_on_a_local_cluster(toy_pipeline, tmp_path):
    pytest.importorskip("distributed")
    here = invoke("sweep", toy_pipeline, "--grid", "steps=2,3", "--out", tmp_path / "a", "--workers", "1")
    there = invoke("sweep", toy_pipeline, "--grid", "steps=2,3", "--out", tmp_path / "b", "--dask",
                   "--workers", "2")
    assert here.exit_code == there.exit_code == 0, there.stderr
    a, b = (read_results(tmp_path / n / "results.csv").sort_values("steps").drop(columns="seconds")
            .reset_index(drop=True) for n in "ab")
    pd.testing.assert_frame_equal(a, b)


def test_ctrl_c_cancels_pending_tasks_keeps_finished_rows_and_exits_130(slow_toy, tmp_path):
    """A real SIGINT to the process group, as a terminal sends on Ctrl-C."""
    out = tmp_path / "s"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "funcnet.cli", "sweep", str(slow_toy), "--grid",
               "steps=2,400", "--seeds", "0,1,2,3", "--out", str(out), "--workers", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=REPO, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            rows = read_results(out / "results.csv") if (out / "results.csv").exists() else []
            if len(rows) >= 4:  # the four short tasks are done
                break
            time.sleep(0.1)
        time.sleep(0.5)  # the slow tasks are training now
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stderr.decode()
    [line] = stderr.decode().splitlines()
    assert re.match(r"funcnet: interrupted after [4-7] of 8 tasks; the finished rows are in ", line)
    frame = read_results(out / "results.csv")
    assert (frame[frame["steps"] == 2]["status"] == "ok").all() and len(frame[frame["steps"] == 2]) == 4
    assert (frame[frame["steps"] == 400]["status"] == "interrupted").sum() >= 1
    assert len(frame) < 8 or (frame["status"] == "interrupted").any()


def test_help_names_every_option():
    result = invoke("sweep", "--help")
    assert result.exit_code == 0 and result.stderr == ""
    text = " ".join(result.stdout.split())
    for word in ("--grid", "--set", "--seeds", "--out", "--workers", "--scheduler", "--dask",
                 "--overwrite", "KEY=V1,V2", "exit 130", "exit 1"):
        assert word in text, word


def test_run_spreads_only_seeds_or_an_ablation(toy_pipeline):
    result = invoke("run", toy_pipeline, "--workers", "2")
    assert result.exit_code == 2 and "spread the runs of --seeds or --ablation" in result.stderr


def test_run_seeds_on_workers_equal_the_serial_table(toy_pipeline):
    serial = invoke("run", toy_pipeline, "--seeds", "0,1,2", "--quiet", "--workers", "1")
    parallel = invoke("run", toy_pipeline, "--seeds", "0,1,2", "--quiet", "--workers", "2")
    assert serial.exit_code == parallel.exit_code == 0
    strip = lambda out: [line.rsplit(None, 1)[0] for line in out.splitlines()[:-1]]  # no seconds
    assert strip(serial.stdout) == strip(parallel.stdout)
