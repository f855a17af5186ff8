"""Run folders through funcnet run: locking, resume rules, history, signals, damaged folders, disk errors."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from funcnet import checkpoint, plots, tree

from .cli_helpers import MLP, MNIST, TINY, TINY_MLP, invoke, no_temp_files
from .test_cli_run import FINAL_LINE, ITERATION_LINE, START_LINE, state_template

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
LONG = ["--set", "rows=3000", "--set", "iterations=100000", "--no-plots"]
QUIET = ["--no-plots", "-q"]

# The minibatch pipeline, stopped as by Ctrl-C right after the step named by
# $FUNCNET_TEST_STOP_AT (in the middle of an epoch).
STOPPING_PIPELINE = '''
import os

from funcnet import classify
from funcnet.classify import evaluate, init_state, load, split

Config = classify.MLPConfig


def train(config, splits, state=None, **resume):
    stop = int(os.environ.get("FUNCNET_TEST_STOP_AT", "0"))
    for snap in classify.train(config, splits, state, **resume):
        yield snap
        if stop and int(snap.state.step) == stop:
            raise KeyboardInterrupt
'''


def start(*args) -> subprocess.Popen:
    """``funcnet ARGS`` in a process of its own, its output read line by line."""
    cmd = [sys.executable, "-m", "funcnet.cli", *map(str, args)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def first_lines(proc: subprocess.Popen, n: int) -> list[str]:
    """The first ``n`` metrics lines the process prints (each printed once its state is saved),
    after the line that says what is trained."""
    assert START_LINE.match(proc.stdout.readline().rstrip("\n"))
    lines = [proc.stdout.readline() for _ in range(n)]
    assert all(ITERATION_LINE.match(line.rstrip("\n")) for line in lines), (lines, proc.stderr.read()
                                                                            if not lines[-1] else "")
    return lines


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def snapshot(folder: Path) -> dict:
    """Every file in ``folder`` with its bytes and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------- one run per folder


def test_a_second_run_on_a_folder_in_use_is_refused_at_once(tmp_path):
    out = tmp_path / "run"
    first = start("run", MNIST, *LONG, "--out", out)
    try:
        first_lines(first, 1)
        began = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "funcnet.cli", "run", MNIST, *TINY,
                                 "--out", str(out), "--overwrite", "--no-plots"],
                                capture_output=True, text=True, env=ENV, timeout=120)
        took = time.monotonic() - began
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    finally:
        stop(first)
    assert second.returncode == 2, second.stderr
    [line] = second.stderr.splitlines()
    assert line.startswith(f"funcnet: error: {out}: another run holds this folder"), line
    assert second.stdout == "" and took < 30  # refused before loading data or training
    assert first.returncode == 130  # the first run was not disturbed
    assert json.loads((out / "metrics.json").read_text())["stopped"] == "interrupted"


def test_an_unwritable_out_is_refused_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = invoke("run", MNIST, *TINY, "--out", blocker / "run")
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"funcnet: error: {blocker / 'run'}: cannot write a run here"), line


def test_a_read_only_out_is_refused_before_training(tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(out)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    result = invoke("run", MNIST, *TINY, "--out", out)
    monkeypatch.undo()
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "cannot write a run here (Read-only file system)" in line, line


# ---------------------------------------------------------------- resume rules


def test_resume_refuses_a_changed_split_or_seed_and_leaves_the_folder(tmp_path):
    out = tmp_path / "run"
    assert invoke("run", MNIST, *TINY, "--seed", "0", "--out", out, *QUIET).exit_code == 0
    before = snapshot(out)
    for change, field in ((["--set", "dev_size=500"], "dev_size"), (["--seed", "3"], "seed"),
                          (["--set", "sizes=784,20,10"], "sizes")):
        result = invoke("run", MNIST, "--resume", out, *change, "--set", "iterations=30", *QUIET)
        assert result.exit_code == 2, (change, result.stderr)
        [line] = result.stderr.splitlines()
        assert line.startswith(f"funcnet: error: --resume {out}: {field} cannot change"), line
    assert snapshot(out) == before
    longer = invoke("run", MNIST, "--resume", out, "--set", "iterations=30", *QUIET)
    assert longer.exit_code == 0, longer.stderr  # the length may grow


def test_resume_keeps_a_decaying_schedule_so_epochs_cannot_change(tmp_path):
    out = tmp_path / "run"
    assert invoke("run", MLP, *TINY_MLP, "--out", out, *QUIET).exit_code == 0
    result = invoke("run", MLP, "--resume", out, "--set", "epochs=2", *QUIET)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert "epochs cannot change under schedule=cosine" in line and "keeps its schedule" in line


@pytest.mark.slow
def test_resume_mid_epoch_with_warmup_and_cosine_equals_one_long_run(tmp_path, monkeypatch):
    pipe = tmp_path / "stopping.py"
    pipe.write_text(STOPPING_PIPELINE, encoding="utf-8")
    common = ["--set", "epochs=2", "--set", "sizes=784,32,10", "--set", "dev_size=55000",
              "--set", "schedule=cosine", "--set", "warmup_epochs=0.5", *QUIET]
    assert invoke("run", pipe, *common, "--out", tmp_path / "straight").exit_code == 0
    monkeypatch.setenv("FUNCNET_TEST_STOP_AT", "60")  # epoch 2 is steps 41..80
    stopped = invoke("run", pipe, *common, "--out", tmp_path / "halves")
    assert stopped.exit_code == 130, stopped.stderr
    monkeypatch.delenv("FUNCNET_TEST_STOP_AT")
    assert pd.read_csv(tmp_path / "halves" / "history.csv")["step"].tolist() == [40]
    resumed = invoke("run", pipe, "--resume", tmp_path / "halves", *QUIET)
    assert resumed.exit_code == 0, resumed.stderr
    like = state_template(MLP, "sizes=784,32,10", "epochs=2", "dev_size=55000")
    a, b = (checkpoint.load(tmp_path / d / "state.safetensors", like) for d in ("straight", "halves"))
    assert int(a.step) == int(b.step) == 80 and tree.equal(a, b)
    h1, h2 = (pd.read_csv(tmp_path / d / "history.csv").drop(columns=["seconds", "elapsed"])
              for d in ("straight", "halves"))
    pd.testing.assert_frame_equal(h1, h2)  # epoch 2's training figures cover the whole epoch
    assert h2["step"].tolist() == [40, 80]


def test_resume_keeps_early_stopping_so_it_stops_and_delivers_as_the_uncut_run(tmp_path, monkeypatch):
    # Uncut, this run's dev accuracy peaks at epoch 6 and early stopping (patience 2) ends it
    # after epoch 8, delivering epoch 6's parameters. Cut in epoch 8 (one bad epoch behind
    # it) and resumed, it must do the same, not start counting afresh.
    pipe = tmp_path / "stopping.py"
    pipe.write_text(STOPPING_PIPELINE, encoding="utf-8")
    common = ["--set", "epochs=15", "--set", "sizes=784,32,10", "--set", "dev_size=55000",
              "--set", "patience=2", "--set", "schedule=constant", "--set", "warmup_epochs=0",
              "--set", "learning_rate=0.05", *QUIET]
    assert invoke("run", pipe, *common, "--out", tmp_path / "straight").exit_code == 0
    straight = pd.read_csv(tmp_path / "straight" / "history.csv")
    assert straight["epoch"].tolist() == list(range(1, 9))  # early-stopped: the premise holds
    assert straight["dev_accuracy"].idxmax() == 5
    monkeypatch.setenv("FUNCNET_TEST_STOP_AT", "300")  # epoch 8 is steps 281..320
    assert invoke("run", pipe, *common, "--out", tmp_path / "halves").exit_code == 130
    monkeypatch.delenv("FUNCNET_TEST_STOP_AT")
    assert (tmp_path / "halves" / "best.safetensors").is_file()
    resumed = invoke("run", pipe, "--resume", tmp_path / "halves", *QUIET)
    assert resumed.exit_code == 0, resumed.stderr
    halves = pd.read_csv(tmp_path / "halves" / "history.csv")
    pd.testing.assert_frame_equal(straight.drop(columns=["seconds", "elapsed"]),
                                  halves.drop(columns=["seconds", "elapsed"]))
    a, b = (checkpoint.load_network(tmp_path / d / "model.safetensors")[0]
            for d in ("straight", "halves"))
    assert tree.equal(a, b)  # epoch 6's parameters, delivered by both
    metrics = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("straight", "halves")]
    assert metrics[0]["steps"] == metrics[1]["steps"] == 320
    assert metrics[0]["dev_accuracy"] == metrics[1]["dev_accuracy"]


def test_a_resume_with_nothing_left_to_train_leaves_the_folder_as_it_was(tmp_path):
    out = tmp_path / "run"
    assert invoke("run", MNIST, *TINY, "--out", out, *QUIET).exit_code == 0
    before = snapshot(out)
    for more in ([], ["--set", "iterations=10"]):
        result = invoke("run", MNIST, "--resume", out, *more, "--no-plots")
        assert result.exit_code == 0, result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith("funcnet: nothing left to train: the run has made 20 steps"), line
        assert snapshot(out) == before


# ---------------------------------------------------------------- saved as it goes; signals


def test_kill_9_keeps_the_history_of_every_saved_record_and_the_run_resumes(tmp_path):
    out = tmp_path / "run"
    proc = start("run", MNIST, *LONG, "--out", out)
    try:
        first_lines(proc, 2)
        proc.kill()  # SIGKILL: no handler runs
        proc.wait(timeout=60)
    finally:
        stop(proc)
    state = checkpoint.load(out / "state.safetensors", state_template(MNIST, "rows=3000"))
    steps = pd.read_csv(out / "history.csv")["step"].tolist()
    done = int(state.step)
    assert done >= 20 and steps[:2] == [10, 20] and steps[-1] >= done
    resumed = invoke("run", MNIST, "--resume", out, "--set", f"iterations={done + 10}", *QUIET)
    assert resumed.exit_code == 0, resumed.stderr
    assert pd.read_csv(out / "history.csv")["step"].tolist() == list(range(10, done + 11, 10))
    assert no_temp_files(out)


def test_sigterm_finishes_the_step_saves_and_exits_143(tmp_path):
    out = tmp_path / "run"
    proc = start("run", MNIST, *LONG, "--out", out)
    try:
        first_lines(proc, 1)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 143, stderr
    assert stderr.splitlines() == [f"funcnet: terminated; kept the last good state in {out}"]
    assert FINAL_LINE.match(stdout.splitlines()[-1])
    assert json.loads((out / "metrics.json").read_text())["stopped"] == "interrupted"
    state = checkpoint.load(out / "state.safetensors", state_template(MNIST, "rows=3000"))
    assert 10 <= int(state.step) < 100000


# ---------------------------------------------------------------- damaged folders, full disks


def test_a_folder_left_by_a_killed_first_save_is_not_a_saved_run(run_dir, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(run_dir / "model.safetensors", out / "model.safetensors")
    stale = out / ".state.safetensors.0123456789ab.tmp"
    stale.write_bytes(b"half a checkpoint")
    again = invoke("run", MNIST, *TINY, "--out", out, *QUIET)
    assert again.exit_code == 2
    [line] = again.stderr.splitlines()
    assert "holds an incomplete run" in line and "no config.json, state.safetensors" in line
    assert "--resume" not in line and "--overwrite" in line
    resume = invoke("run", MNIST, "--resume", out, *QUIET)
    assert resume.exit_code == 2
    [line] = resume.stderr.splitlines()
    assert f"{out}: no saved run to resume: it holds an incomplete run" in line
    forced = invoke("run", MNIST, *TINY, "--out", out, "--overwrite", *QUIET)
    assert forced.exit_code == 0, forced.stderr
    assert no_temp_files(out) and (out / "config.json").is_file()


@pytest.mark.skipif(not plots.available(), reason="needs the plot extra (matplotlib)")
def test_a_full_disk_while_drawing_names_the_picture_and_no_old_picture_survives(run_dir, tmp_path,
                                                                                 monkeypatch):
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    old = {p.name: p.read_bytes() for p in out.glob("*.png")}
    assert len(old) == 4
    real_open = os.open

    def full_disk(path, flags, *args, **kwargs):  # the confusion picture meets a full disk
        if Path(path).name.startswith(".confusion.png.") and str(path).endswith(".tmp"):
            return real_open("/dev/full", os.O_WRONLY)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", full_disk)
    result = invoke("run", MNIST, *TINY, "--seed", "1", "--out", out, "--overwrite")
    monkeypatch.undo()
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line == f"funcnet: error: {out / 'confusion.png'}: No space left on device", line
    assert FINAL_LINE.match(result.stdout.splitlines()[-1])  # the figures are still shown
    assert (out / "curves.png").read_bytes() != old["curves.png"]  # drawn anew
    assert not [p for p in ("confusion.png", "mistakes.png", "weights.png") if (out / p).exists()]
    assert json.loads((out / "metrics.json").read_text())["seed"] == 1
