"""funcnet run: output lines, --quiet/--verbose, the --out files, pictures, resume, stops."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import attrs
import numpy as np
import pandas as pd
import pytest

from funcnet import checkpoint, model, pipeline, plots, tree
from funcnet.cli import load_model

from .cli_helpers import MLP, MNIST, PNG_SIGNATURE, TINY, TINY_MLP, invoke, no_temp_files, png_size

ITERATION_LINE = re.compile(
    r"^iteration +\d+/\d+  loss \d+\.\d{4}  train_acc [01]\.\d{4}  (dev_loss \d+\.\d{4}  )?"
    r"dev_acc [01]\.\d{4}"
    r"  lr \d\.\d\de[+-]\d\d  \d+\.\d{2} s for \d+ iterations?$")
EPOCH_LINE = re.compile(
    r"^epoch +\d+/\d+  loss~ \d+\.\d{4}  train_acc~ [01]\.\d{4}  dev_loss \d+\.\d{4}"
    r"  dev_acc [01]\.\d{4}  lr \d\.\d\de[+-]\d\d  \d+\.\d{2} s for this epoch$")
START_LINE = re.compile(r"^training .+ on [\d,]+ examples .*: [\d,]+ (steps, [\d,]+ an epoch|"
                        r"full-batch iterations)$")
FINAL_LINE = re.compile(
    r"^train accuracy [01]\.\d{4}, dev accuracy [01]\.\d{4}, test accuracy [01]\.\d{4}; "
    r"training loss \d+\.\d{4}; trained in \d+\.\d{2} s \(\d+ steps\)$")


def state_template(pipeline_file, *overrides):
    """The TrainState template of a pipeline under ``overrides`` (to load state files)."""
    pipe = pipeline.load_pipeline(pipeline_file)
    config = pipeline.apply_overrides(pipe.Config(), ["seed=0", *overrides])
    return pipe.init_state(config)


def test_metric_lines_every_10_iterations_then_the_final_figures():
    result = invoke("run", MNIST, *TINY, "--seed", "0")
    assert result.exit_code == 0, result.stderr
    start, *lines = result.stdout.splitlines()
    assert START_LINE.match(start), start
    assert start.startswith("training 784-10-10 relu on 2,000 examples") and start.endswith(
        ": 20 full-batch iterations")
    assert len(lines) == 3
    assert all(ITERATION_LINE.match(line) for line in lines[:2]), lines
    assert lines[0].startswith("iteration 10/20") and lines[1].startswith("iteration 20/20")
    assert FINAL_LINE.match(lines[2]), lines[2]
    assert result.stderr == ""  # no bar off a terminal, no warnings


def test_metric_line_per_epoch_for_minibatch_pipelines():
    result = invoke("run", MLP, *TINY_MLP, "--set", "epochs=2")
    assert result.exit_code == 0, result.stderr
    start, *lines = result.stdout.splitlines()
    assert START_LINE.match(start) and " an epoch" in start, start
    assert [bool(EPOCH_LINE.match(line)) for line in lines] == [True, True, False]
    assert lines[0].startswith("epoch 1/2") and FINAL_LINE.match(lines[2])


def test_quiet_prints_the_final_figures_only():
    result = invoke("run", MNIST, *TINY, "--quiet")
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 1 and FINAL_LINE.match(result.stdout.strip())


def test_verbose_adds_each_history_record_as_json():
    result = invoke("run", MNIST, *TINY, "--verbose")
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("  {")]
    assert [r["step"] for r in records] == [10, 20]
    assert {"train_loss", "train_accuracy", "dev_accuracy", "seconds"} <= set(records[0])


def test_out_folder_holds_config_metrics_history_model_and_state(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "metrics.json", "history.csv", "model.safetensors",
            "state.safetensors"} <= names
    config = json.loads((run_dir / "config.json").read_text())
    assert config["iterations"] == 20 and config["rows"] == 3000 and config["seed"] == 0
    assert config["sizes"] == [784, 10, 10]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"train_accuracy", "dev_accuracy", "test_accuracy", "loss", "seconds", "seed"} <= set(metrics)
    assert metrics["seed"] == 0 and metrics["stopped"] is None and 0 < metrics["test_accuracy"] < 1
    history = pd.read_csv(run_dir / "history.csv")
    assert list(history.columns) == ["step", "epoch", "train_loss", "train_accuracy", "dev_loss",
                                     "dev_accuracy", "learning_rate", "seconds", "elapsed"]
    assert history["step"].tolist() == [10, 20]
    params, info = load_model(run_dir)
    assert model.describe(params) == "784-10-10 relu"
    assert [s["kind"] for s in info["metadata"]["architecture"]["layers"]] == ["dense", "activation", "dense"]
    state = checkpoint.load(run_dir / "state.safetensors",
                            state_template(MNIST, "iterations=20", "rows=3000"))
    assert int(state.step) == 20 and tree.equal(state.params, params)
    assert no_temp_files(run_dir)


@pytest.mark.skipif(not plots.available(), reason="needs the plot extra (matplotlib)")
def test_pictures_are_pngs_of_the_expected_size(run_dir):
    for name in ("curves", "confusion", "mistakes", "weights"):
        path = run_dir / f"{name}.png"
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        assert png_size(path) == plots.SIZES[name]
        from matplotlib import image  # an independent reader agrees
        height, width = image.imread(path).shape[:2]
        assert (width, height) == plots.SIZES[name]


def test_without_matplotlib_a_one_line_hint_and_no_pictures(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    result = invoke("run", MNIST, *TINY, "--out", tmp_path)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [line for line in result.stderr.splitlines()
                                          if "install funcnet[plot] for pictures" in line]
    assert len(result.stderr.splitlines()) == 1
    assert not list(tmp_path.glob("*.png")) and (tmp_path / "model.safetensors").is_file()


def test_no_plots_skips_the_pictures(tmp_path):
    result = invoke("run", MNIST, *TINY, "--out", tmp_path, "--no-plots")
    assert result.exit_code == 0 and result.stderr == ""
    assert not list(tmp_path.glob("*.png"))


def test_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path):
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    common = ["--set", "rows=3000", "--no-plots", "-q"]
    assert invoke("run", MNIST, *common, "--set", "iterations=20", "--out", straight).exit_code == 0
    assert invoke("run", MNIST, *common, "--set", "iterations=10", "--out", halves).exit_code == 0
    resumed = invoke("run", MNIST, *common, "--set", "iterations=20", "--resume", halves)
    assert resumed.exit_code == 0, resumed.stderr
    like = state_template(MNIST, "iterations=20", "rows=3000")
    a = checkpoint.load(straight / "state.safetensors", like)
    b = checkpoint.load(halves / "state.safetensors", like)
    assert int(b.step) == 20 and tree.equal(a, b)
    assert tree.equal(load_model(straight)[0], load_model(halves)[0])
    history = pd.read_csv(halves / "history.csv")
    assert history["step"].tolist() == [10, 20]  # the earlier rows are kept
    assert history["elapsed"].is_monotonic_increasing


def test_resume_of_a_minibatch_run_equals_an_uninterrupted_run(tmp_path):
    common = [*TINY_MLP, "--set", "schedule=constant", "--set", "warmup_epochs=0", "--no-plots", "-q"]
    assert invoke("run", MLP, *common, "--set", "epochs=2", "--out", tmp_path / "a").exit_code == 0
    assert invoke("run", MLP, *common, "--out", tmp_path / "b").exit_code == 0
    assert invoke("run", MLP, *common, "--set", "epochs=2", "--resume", tmp_path / "b").exit_code == 0
    like = state_template(MLP, "sizes=784,32,10", "epochs=2", "schedule=constant", "dev_size=50000")
    a, b = (checkpoint.load(tmp_path / d / "state.safetensors", like) for d in "ab")
    assert int(a.step) == int(b.step) > 0 and tree.equal(a, b)


def test_a_kaggle_train_csv_as_data_has_no_test_figure(labelled_csv, tmp_path):
    result = invoke("run", MNIST, "--data", labelled_csv, "--set", "rows=120", "--set", "dev_size=20",
                    "--set", "iterations=10", "--out", tmp_path, "--no-plots")
    assert result.exit_code == 0, result.stderr
    assert "test accuracy n/a" in result.stdout.splitlines()[-1]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] is None and 0 <= metrics["dev_accuracy"] <= 1
    assert json.loads((tmp_path / "config.json").read_text())["data"] == str(labelled_csv)


def test_resume_of_a_folder_without_a_run_is_a_config_error(tmp_path):
    result = invoke("run", MNIST, "--resume", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.startswith("funcnet: error: ") and len(result.stderr.splitlines()) == 1


def test_nonfinite_loss_stops_with_exit_6_and_keeps_the_last_finite_state(tmp_path):
    result = invoke("run", MLP, *TINY_MLP, "--set", "learning_rate=1e6", "--set", "warmup_epochs=0",
                    "--out", tmp_path, "--no-plots")
    assert result.exit_code == 6
    [line] = result.stderr.splitlines()
    assert re.match(r"funcnet: error: non-finite loss at step (\d+) \((first non-finite parameter: "
                    r"layers\.\d\.[wb]|the parameters are finite: the forward pass overflowed)\); "
                    r"kept the state of step \d+", line), line
    step = int(re.search(r"at step (\d+)", line).group(1))
    state = checkpoint.load(tmp_path / "state.safetensors", state_template(MLP, "sizes=784,32,10", "dev_size=50000"))
    assert int(state.step) == int(re.search(r"kept the state of step (\d+)", line).group(1))
    assert step - 2 <= int(state.step) <= step - 1
    assert tree.first_nonfinite(state.params) is None and np.isfinite(state.loss)
    params, _ = load_model(tmp_path)
    assert tree.first_nonfinite(params) is None
    assert json.loads((tmp_path / "metrics.json").read_text())["stopped"].startswith("non-finite")


def test_sigint_stops_after_the_current_step_with_exit_130_and_a_saved_state(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "funcnet.cli", "run", MNIST, "--set", "rows=3000",
           "--set", "iterations=100000", "--out", str(out), "--no-plots"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        start, first = proc.stdout.readline(), proc.stdout.readline()
        assert START_LINE.match(start.rstrip("\n")), (start, proc.stderr.read() if not start else "")
        assert ITERATION_LINE.match(first.rstrip("\n")), (first, proc.stderr.read() if not first else "")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted; kept the last good state" in stderr and "Traceback" not in stderr
    assert FINAL_LINE.match(stdout.splitlines()[-1])
    like = state_template(MNIST, "rows=3000", "iterations=100000")
    state = checkpoint.load(out / "state.safetensors", like)
    assert 10 <= int(state.step) < 100000 and tree.first_nonfinite(state.params) is None
    assert json.loads((out / "metrics.json").read_text())["stopped"] == "interrupted"


def test_out_refuses_to_replace_a_saved_run_without_overwrite(tmp_path):
    out = tmp_path / "run"
    assert invoke("run", MNIST, *TINY, "--seed", "0", "--out", out, "--no-plots", "-q").exit_code == 0
    before = (out / "model.safetensors").read_bytes()
    again = invoke("run", MNIST, *TINY, "--seed", "1", "--out", out, "--no-plots", "-q")
    assert again.exit_code == 2
    [line] = again.stderr.splitlines()
    assert "already holds a run" in line and "--overwrite" in line and "--resume" in line
    assert (out / "model.safetensors").read_bytes() == before  # the earlier model is untouched
    forced = invoke("run", MNIST, *TINY, "--seed", "1", "--out", out, "--no-plots", "-q", "--overwrite")
    assert forced.exit_code == 0
    assert (out / "model.safetensors").read_bytes() != before
    assert json.loads((out / "metrics.json").read_text())["seed"] == 1


def test_a_diverged_run_ends_with_one_warning_line_and_exit_0():
    result = invoke("run", MNIST, *TINY, "--set", "learning_rate=1e6", "--quiet")
    assert result.exit_code == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert re.fullmatch(r"funcnet: warning: training diverged: the loss rose from \S+ to \S+; "
                        r"try a smaller learning rate, e\.g\. --set learning_rate=1e\+05", line), line


def test_a_diverged_seed_is_named_in_its_warning():
    result = invoke("run", MNIST, *TINY, "--set", "learning_rate=1e6", "--seeds", "0,1", "--quiet")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()  # in the order the seeds' workers finish
    assert sorted(line.split(":")[:3] for line in lines) == [
        ["funcnet", " warning", " seed 0"], ["funcnet", " warning", " seed 1"]], lines


def test_a_run_that_learns_gives_no_warning():
    result = invoke("run", MNIST, *TINY, "--quiet")
    assert result.exit_code == 0 and result.stderr == "", result.stderr


def test_the_judgement_compares_the_first_step_with_the_end():
    pipe = pipeline.load_pipeline(MNIST)
    config = pipeline.apply_overrides(pipe.Config(), ["iterations=20", "rows=3000", "learning_rate=1e6"])
    result = pipeline.run(pipe, config)
    assert 1 < result.first_loss < 10 < result.metrics["loss"]
    assert pipeline.diverged(result).startswith("training diverged")
    assert pipeline.diverged(pipeline.run(pipe, attrs.evolve(config, learning_rate=0.1))) is None


def test_a_gzipped_kaggle_csv_trains_like_the_plain_file(labelled_csv, tmp_path):
    import gzip
    packed = tmp_path / "train.csv.gz"
    packed.write_bytes(gzip.compress(labelled_csv.read_bytes()))
    args = ["--set", "rows=120", "--set", "dev_size=20", "--set", "iterations=10", "--quiet"]
    plain, gz = invoke("run", MNIST, "--data", labelled_csv, *args), invoke("run", MNIST, "--data", packed, *args)
    assert gz.exit_code == 0, gz.stderr
    strip = lambda text: re.sub(r"trained in .*", "", text)
    assert strip(gz.stdout) == strip(plain.stdout)


def test_piped_output_starts_with_what_is_trained_and_beats_between_epochs(tmp_path):
    """Without a terminal: the start line comes first, then a heartbeat line every
    FUNCNET_HEARTBEAT seconds (10 by default) between the epoch lines, each saying how long
    since the last line; timestamps taken as the lines arrive."""
    import time
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "FUNCNET_HEARTBEAT": "0.3"}
    cmd = [sys.executable, "-m", "funcnet.cli", "run", MLP, *TINY_MLP, "--set", "epochs=2",
           "--set", "sizes=784,256,10"]
    began = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = [(time.monotonic() - began, line.rstrip("\n")) for line in proc.stdout]
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    texts = [line for _, line in seen]
    assert START_LINE.match(texts[0]), texts[0]
    beats = [line for line in texts if line.startswith("  epoch ")]
    assert beats and all(re.search(r", \d+\.\d s since the last line$", b) for b in beats), texts
    gaps = [float(re.search(r"(\d+\.\d) s since", b).group(1)) for b in beats]
    assert min(gaps) >= 0.3
    assert [bool(EPOCH_LINE.match(t)) for t in texts if not t.startswith("  ")] == [False, True, True, False]


def test_a_finished_run_leaves_no_lock_file(tmp_path):
    out = tmp_path / "run"
    assert invoke("run", MNIST, *TINY, "--out", out, "--no-plots", "--quiet").exit_code == 0
    assert not (out / ".funcnet.lock").exists()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("."))  == []


def test_funcnet_run_keeps_freed_memory_and_the_library_does_not(monkeypatch):
    """The allocator setting is the command's (an edge's), never pipeline.run's."""
    from funcnet import pipeline as fpipeline
    from funcnet.cli import run_command
    calls = []
    monkeypatch.setattr(run_command, "keep_freed_memory", lambda: calls.append("cli") or True)
    monkeypatch.setattr("funcnet.runtime.keep_freed_memory",
                        lambda: pytest.fail("the library set a process-wide allocator setting"))
    result = invoke("run", MNIST, *TINY, "--quiet")
    assert result.exit_code == 0, result.output
    assert calls == ["cli"]
    pipe = fpipeline.load_pipeline(MNIST)
    fpipeline.run(pipe, fpipeline.apply_overrides(pipe.Config(), ["iterations=2", "rows=3000"]))
