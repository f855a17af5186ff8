"""funcnet evaluate, funcnet show, --help of every command, --version."""

from __future__ import annotations

import re

import numpy as np
import pytest

from funcnet import evaluate as fevaluate
from funcnet.cli import load_model, probabilities

from .cli_helpers import MLP, MNIST, invoke


def test_evaluate_prints_accuracy_report_and_confusion_matrix(run_dir, mnist_test):
    result = invoke("evaluate", run_dir)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    params, _ = load_model(run_dir)
    pred = probabilities(params, mnist_test.x).argmax(axis=1)
    acc = fevaluate.accuracy(mnist_test.y, pred)
    assert f"accuracy {acc:.4f} ({int(round(acc * 10000))} of 10000 right)" in lines
    report_at = lines.index("per-class report")
    assert lines[report_at + 1].split() == ["class", "precision", "recall", "f1", "support"]
    rows = lines[report_at + 2:report_at + 12]
    assert [r.split()[0] for r in rows] == [str(k) for k in range(10)]
    assert all(re.match(r"^\d +\d\.\d{4} +\d\.\d{4} +\d\.\d{4} +\d+$", r) for r in rows)
    assert lines[report_at + 12].startswith("macro avg")
    matrix_at = next(i for i, line in enumerate(lines) if line.startswith("confusion matrix"))
    header = lines[matrix_at + 1]
    assert header.split()[:3] == ["true", "\\", "predicted"]
    counts = np.array([[int(v) for v in line.split()[1:]] for line in lines[matrix_at + 2:]])
    assert counts.shape == (10, 10)
    assert (counts == fevaluate.confusion_matrix(mnist_test.y, pred).to_numpy()).all()
    widths = {len(line) for line in lines[matrix_at + 1:]}
    assert len(widths) == 1  # aligned: every row as wide as the header


def test_evaluate_on_a_labelled_csv(run_dir, labelled_csv):
    result = invoke("evaluate", run_dir / "model.safetensors", "--data", labelled_csv)
    assert result.exit_code == 0
    assert "(labelled, 120 images)" in result.stdout and re.search(r"of 120 right", result.stdout)


def test_evaluate_on_the_train_split_of_an_idx_folder(run_dir, shared_data):
    result = invoke("evaluate", run_dir, "--data", shared_data / "mnist", "--split", "train")
    assert result.exit_code == 0 and "(train split, 60000 images)" in result.stdout
    assert re.search(r"of 60000 right", result.stdout)


def test_evaluate_without_labels_is_exit_3(run_dir, kaggle_test_csv):
    result = invoke("evaluate", run_dir, "--data", kaggle_test_csv)
    assert result.exit_code == 3
    assert result.stderr.startswith("funcnet: error: ") and "no labels" in result.stderr


def test_show_lists_every_config_field_with_type_default_and_help():
    result = invoke("show", MNIST)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{MNIST}: The tutorial's experiment")
    header = lines.index(next(line for line in lines if line.startswith("field")))
    assert lines[header].split() == ["field", "type", "default", "help"]
    table = {line.split()[0]: line for line in lines[header + 1:] if line.strip()}
    assert re.match(r"learning_rate +float +0\.1 +α in W = W − α·dW", table["learning_rate"])
    assert re.match(r"sizes +tuple\[int, \.\.\.\] +784,10,10 +layer sizes", table["sizes"])
    assert re.match(r"seed +int \| None +none +random seed", table["seed"])
    assert re.match(r"tutorial_quirks +bool +false +reproduce", table["tutorial_quirks"])
    # the help column starts at one place in every row
    starts = {line.index(line.split("  ")[-1].strip()) for line in lines[header + 1:header + 12]}
    assert len(starts) == 1


def test_show_of_a_minibatch_pipeline():
    result = invoke("show", MLP)
    assert result.exit_code == 0
    assert re.search(r"^patience +int \| None +none +early stopping", result.stdout, re.M)


def test_show_lists_the_quirks_a_pipeline_can_fix(quirks_pipeline):
    result = invoke("show", quirks_pipeline)
    assert "  softmax: softmax with the max shift" in result.stdout.splitlines()


def test_show_of_a_missing_pipeline_is_exit_2(tmp_path):
    result = invoke("show", tmp_path / "nope.py")
    assert result.exit_code == 2 and "no such pipeline file" in result.stderr


@pytest.mark.parametrize("command, words", [
    ([], ["run", "predict", "evaluate", "show", "Exit codes", "--debug"]),
    (["run"], ["--seed", "--seeds", "--ablation", "--set", "--data", "--out", "--resume",
               "--quiet", "--verbose", "--no-plots", "exit 130"]),
    (["predict"], ["MODEL", "--data", "--out", "--show", "--show-mistakes", "--split", "ImageId,Label"]),
    (["evaluate"], ["MODEL", "--data", "--split", "confusion matrix"]),
    (["show"], ["PIPELINE", "--set NAME=VALUE"]),
])
def test_help_of_every_command(command, words):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and result.stderr == ""
    text = " ".join(result.stdout.split())
    for word in words:
        assert word in text, word


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and re.search(r"\d+\.\d+\.\d+", result.stdout)
