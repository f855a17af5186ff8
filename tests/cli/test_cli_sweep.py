"""funcnet sweep: a grid × seeds in parallel, results.csv, reruns, failures, bad input, Ctrl-C."""

from __future__ import annotations

import contextlib
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
    for name in ("learning_rate=0.1_seed-0_*", "learning_rate=0.3_seed-1_*"):
        [folder] = out.glob(name)
        assert (folder / "metrics.json").is_file() and (folder / "model.safetensors").is_file()


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


# ---------------------------------------------------------------- the sweep owns its tasks


@pytest.mark.parametrize("args, words", [
    (["--grid", "seed=1,2", "--seeds", "0,1"], "--grid seed: the seeds are given by --seeds"),
    (["--set", "seed=1", "--seeds", "0"], "--set seed: the seeds are given by --seeds"),
    (["--set", "steps=3", "--grid", "steps=2,4"], "--set steps=3 contradicts --grid steps=2,4"),
])
def test_a_seed_grid_with_seeds_or_a_set_contradicting_the_grid_is_one_line(toy_pipeline, tmp_path,
                                                                            args, words):
    result = invoke("sweep", toy_pipeline, *args, "--out", tmp_path / "s")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("funcnet: error: ") and words in line
    assert not (tmp_path / "s" / "results.csv").exists()


def test_a_grid_over_seed_alone_runs_those_seeds(toy_pipeline, tmp_path):
    result = invoke("sweep", toy_pipeline, "--grid", "seed=1,2,2", "--set", "steps=2",
                    "--out", tmp_path, "--workers", "1")
    assert result.exit_code == 0, result.stderr
    assert sorted(read_results(tmp_path / "results.csv")["seed"]) == [1, 2]


def test_a_long_value_and_values_that_named_one_folder_each_get_their_own(toy_pipeline, tmp_path):
    long = "x" * 300
    result = invoke("sweep", toy_pipeline, "--grid", "learning_rate=0.1,0.10,0.2",
                    "--set", "steps=2", "--out", tmp_path / "a", "--workers", "1")
    assert result.exit_code == 0, result.stderr
    assert len(read_results(tmp_path / "a" / "results.csv")) == 2  # 0.1 and 0.10 run once
    quirky = TOY_PIPELINE.replace("    steps: int = 6\n", "    steps: int = 2\n    note: str = ''\n")
    (tmp_path / "noted.py").write_text(quirky, encoding="utf-8")
    result = invoke("sweep", tmp_path / "noted.py", "--grid", f"note=/x/a-b.csv,/x/a/b.csv,{long}",
                    "--out", tmp_path / "b", "--workers", "1")
    assert result.exit_code == 0, result.stderr
    assert len([p for p in (tmp_path / "b").iterdir() if p.is_dir()]) == 3


def test_the_same_grid_reordered_resumes_and_another_grid_is_one_clear_line(toy_pipeline, tmp_path):
    first = invoke("sweep", toy_pipeline, "--grid", "steps=2,3", "--grid", "learning_rate=0.1,0.2",
                   "--out", tmp_path, "--workers", "1")
    assert first.exit_code == 0, first.stderr
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/metrics.json")}
    again = invoke("sweep", toy_pipeline, "--grid", "learning_rate=0.2,0.1", "--grid", "steps=3,2",
                   "--out", tmp_path, "--workers", "1")
    assert again.exit_code == 0, again.stderr
    assert len(stamps) == 4 and {p: p.stat().st_mtime_ns for p in stamps} == stamps
    other = invoke("sweep", toy_pipeline, "--grid", "learning_rate=0.2,0.3", "--grid", "steps=3,2",
                   "--out", tmp_path, "--workers", "1")
    assert other.exit_code == 2
    [line] = other.stderr.splitlines()
    assert re.match(r"funcnet: error: .*: holds another sweep \(its grid differs: grid "
                    r"steps=2,3 learning_rate=0.1,0.2 there, learning_rate=0.2,0.3 steps=3,2 here\)",
                    line), line


def _children() -> dict[int, int]:
    """Every live process's parent: ``{pid: ppid}`` read from /proc (zombies left out)."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            table[int(stat.parent.name)] = int(fields[1])
    return table


def _descendants(pid: int) -> set[int]:
    table, found, todo = _children(), set(), [pid]
    while todo:
        parent = todo.pop()
        kids = {p for p, pp in table.items() if pp == parent} - found
        found |= kids
        todo.extend(kids)
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.parametrize("where", [["--workers", "2"], ["--dask", "--workers", "2"]])
def test_sigkill_of_the_sweep_leaves_no_worker_behind_and_a_rerun_resumes(slow_toy, tmp_path, where):
    if "--dask" in where:
        pytest.importorskip("distributed")
    out = tmp_path / "s"
    command = [sys.executable, "-m", "funcnet.cli", "sweep", str(slow_toy), "--grid", "steps=160",
               "--seeds", "0,1", "--out", str(out), *where]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(list(out.glob("*/state.safetensors"))) < 2:
            time.sleep(0.1)
        assert len(list(out.glob("*/state.safetensors"))) == 2  # both tasks are training
        kids = _descendants(proc.pid)
        assert kids
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and kids & set(_children()):
            time.sleep(0.1)
        left = kids & set(_children())
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in _descendants(proc.pid) if proc.poll() is None else ():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {sorted(left)}"
    steps_then = {p.parent.name: len(pd.read_csv(p)) for p in out.glob("*/history.csv")}
    rerun = invoke("sweep", slow_toy, "--grid", "steps=160", "--seeds", "0,1", "--out", out,
                   "--workers", "2")
    assert rerun.exit_code == 0, rerun.stderr
    frame = read_results(out / "results.csv")
    assert (frame["status"] == "ok").all() and frame["steps"].tolist() == [160, 160]
    for name, rows in steps_then.items():  # continued, not started afresh: the rows kept
        history = pd.read_csv(out / name / "history.csv")
        assert len(history) == 80 and history["step"].tolist() == list(range(2, 161, 2)), rows
