"""funcnet run --seeds (mean ± sd over seeds) and --ablation (what each tutorial fix is worth)."""

from __future__ import annotations

import re

import pandas as pd

from funcnet.experiments import ablation_variants
from funcnet.pipeline import load_pipeline

from .cli_helpers import MLP, MNIST, TINY, TINY_MLP, invoke

MEAN_SD = r"\d\.\d{4} ± \d\.\d{4}"


def test_seeds_prints_a_row_per_seed_and_mean_sd(tmp_path):
    result = invoke("run", MNIST, *TINY, "--seeds", "0,1,2", "--out", tmp_path, "--no-plots")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    done = [re.match(r"seed (\d) \((\d)/3\)$", line) for line in lines]
    done = [m.groups() for m in done if m]  # in the order the seeds' workers finish
    assert sorted(seed for seed, _ in done) == ["0", "1", "2"]
    assert [count for _, count in done] == ["1", "2", "3"]
    header = next(i for i, line in enumerate(lines) if line.startswith("seed  "))
    assert lines[header].split() == ["seed", "train_accuracy", "dev_accuracy", "test_accuracy",
                                     "loss", "seconds"]
    assert [line.split()[0] for line in lines[header + 1:header + 4]] == ["0", "1", "2"]
    assert re.match(rf"mean ± sd +{MEAN_SD} +{MEAN_SD} +{MEAN_SD}", lines[header + 4])
    frame = pd.read_csv(tmp_path / "seeds.csv")
    assert frame["seed"].tolist() == [0, 1, 2]  # one row per seed, nothing else
    assert {"train_accuracy", "dev_accuracy", "test_accuracy", "loss", "seconds"} <= set(frame)
    for seed in (0, 1, 2):
        assert (tmp_path / f"seed-{seed}" / "model.safetensors").is_file()
        assert (tmp_path / f"seed-{seed}" / "metrics.json").is_file()


def test_seeds_equal_separate_runs_and_quiet_prints_the_table_only():
    result = invoke("run", MNIST, *TINY, "--seeds", "3,4", "--quiet")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and lines[0].startswith("seed") and lines[-1].startswith("mean ± sd")
    single = invoke("run", MNIST, *TINY, "--seed", "4", "--quiet").stdout
    dev = re.search(r"dev accuracy (\S+),", single).group(1)
    assert lines[2].split()[2] == dev


def test_ablation_runs_all_quirks_each_fix_alone_and_all_fixes(quirks_pipeline, tmp_path):
    result = invoke("run", quirks_pipeline, "--ablation", "--seeds", "0,1", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    names = ["tutorial (all quirks)", "fix softmax", "fix bias", "fix m", "fix float64", "all fixes"]
    header = next(i for i, line in enumerate(lines) if line.startswith("variant"))
    assert lines[header].split() == ["variant", "train_accuracy", "dev_accuracy",
                                     "test_accuracy", "Δ", "test"]
    rows = lines[header + 1:header + 1 + len(names)]
    assert [row[:len(n)] for row, n in zip(rows, names)] == names
    assert all(re.search(rf"{MEAN_SD} +{MEAN_SD} +{MEAN_SD} +([+-]\d\.\d{{4}}|-)$", r) for r in rows)
    assert rows[0].endswith(" -")
    assert "fix softmax: softmax with the max shift" in lines  # the legend
    frame = pd.read_csv(tmp_path / "ablation.csv")
    assert frame["variant"].tolist() == [n for n in names for _ in (0, 1)]
    assert frame["seed"].tolist() == [0, 1] * len(names)
    # all fixes on every seed is exactly the pipeline without quirks
    plain = invoke("run", quirks_pipeline, "--seed", "1", "-q").stdout
    last = frame[(frame["variant"] == "all fixes") & (frame["seed"] == 1)].iloc[0]
    assert f"test accuracy {last['test_accuracy']:.4f}" in plain


def test_ablation_uses_seeds_0_1_2_by_default(quirks_pipeline):
    result = invoke("run", quirks_pipeline, "--ablation", "--set", "iterations=5")
    assert result.exit_code == 0
    runs = [line for line in result.stdout.splitlines() if re.search(r" seed \d: train ", line)]
    assert len(runs) == 6 * 3 and {line.split("seed ")[1][0] for line in runs} == {"0", "1", "2"}


def test_ablation_of_the_tutorial_pipeline_runs_each_fix_alone():
    result = invoke("run", MNIST, *TINY, "--ablation", "--seeds", "0", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    names = [line.split("  ")[0] for line in lines[1:8]]
    assert names == ["tutorial (all quirks)", "fix softmax", "fix bias", "fix m", "fix accuracy",
                     "fix float64", "all fixes"]


def test_ablation_variants_reads_quirks_and_fixes(quirks_pipeline):
    variants, note = ablation_variants(load_pipeline(quirks_pipeline), "quirky.py")
    assert note is None
    assert variants[0] == ("tutorial (all quirks)", {"tutorial_quirks": True, "fixes": ()})
    assert variants[1] == ("fix softmax", {"tutorial_quirks": True, "fixes": ("softmax",)})
    assert variants[-1] == ("all fixes", {"tutorial_quirks": False, "fixes": ()})


def test_ctrl_c_during_seeds_keeps_the_finished_seeds_and_exits_130(toy_pipeline, tmp_path):
    # one worker: the seeds run in turn, so which of them had started is known
    result = invoke("run", toy_pipeline, "--seeds", "0,1,2", "--set", "interrupt_seed=1",
                    "--out", tmp_path, "--workers", "1")
    assert result.exit_code == 130
    assert result.stderr.splitlines() == [f"funcnet: interrupted after 1 of 3 seeds; runs kept in {tmp_path}"]
    assert pd.read_csv(tmp_path / "seeds.csv")["seed"].tolist() == [0]
    assert (tmp_path / "seed-1" / "state.safetensors").is_file()  # the last good state
    assert not (tmp_path / "seed-2").exists()


def test_ctrl_c_during_an_ablation_prints_the_runs_done_and_exits_130(toy_pipeline):
    result = invoke("run", toy_pipeline, "--ablation", "--seeds", "0,1", "--set", "interrupt_seed=1",
                    "--workers", "1")
    assert result.exit_code == 130
    assert result.stderr.splitlines() == ["funcnet: interrupted after 1 of 6 runs"]
    assert re.search(r"^tutorial \(all quirks\) +\d\.\d{4} +\d\.\d{4} +-$", result.stdout, re.M)


def test_seeds_with_a_nonfinite_loss_finish_the_others_and_exit_6(tmp_path):
    result = invoke("run", MLP, *TINY_MLP, "--set", "learning_rate=1e6", "--set", "warmup_epochs=0",
                    "--seeds", "0,1", "--out", tmp_path, "--no-plots", "--quiet")
    assert result.exit_code == 6
    [line] = result.stderr.splitlines()
    assert line.startswith("funcnet: error: seed 0: non-finite loss at step") and "(and 1 more)" in line
    frame = pd.read_csv(tmp_path / "seeds.csv")
    assert frame["seed"].tolist() == [0, 1] and frame["stopped"].str.startswith("non-finite").all()


def test_ablation_counts_runs_stopped_on_a_nonfinite_loss(toy_pipeline):
    result = invoke("run", toy_pipeline, "--ablation", "--seeds", "0,1", "--set", "learning_rate=inf",
                    "--quiet")
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()[:4]
    assert header.split()[-1] == "stopped" and all(row.endswith(" 2/2") for row in rows)
