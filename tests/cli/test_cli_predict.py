"""funcnet predict: Kaggle submissions, labelled CSVs, IDX folders, digits in the terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from funcnet import data as fdata
from funcnet import terminal
from funcnet.cli import load_model, probabilities
from funcnet.cli.model_data import check_inputs
from funcnet.errors import DataError

from .cli_helpers import invoke, no_temp_files

CAPTION = re.compile(r"#(\d+)  pred (\d)  (\d+)%")


def expected_predictions(run_dir, x):
    params, _ = load_model(run_dir)
    return probabilities(params, x).argmax(axis=1)


def test_kaggle_test_csv_gives_a_submission_with_image_ids_from_1(run_dir, kaggle_test_csv,
                                                                   tmp_path, mnist_test):
    out = tmp_path / "predictions.csv"
    result = invoke("predict", run_dir, "--data", kaggle_test_csv, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert out.read_text().splitlines()[0] == "ImageId,Label"
    sub = pd.read_csv(out)
    assert list(sub.columns) == ["ImageId", "Label"]
    assert sub["ImageId"].tolist() == list(range(1, 121))
    assert sub["Label"].between(0, 9).all()
    assert (sub["Label"].to_numpy() == expected_predictions(run_dir, mnist_test.x[:120])).all()
    assert "predicted 120 images" in result.stdout and "accuracy" not in result.stdout
    assert no_temp_files(tmp_path)


def test_model_file_and_run_folder_give_the_same_predictions(run_dir, kaggle_test_csv, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert invoke("predict", run_dir, "--data", kaggle_test_csv, "--out", a).exit_code == 0
    assert invoke("predict", run_dir / "model.safetensors", "--data", kaggle_test_csv,
                  "--out", b).exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_predictions_replace_the_old_file_atomically(run_dir, kaggle_test_csv, tmp_path, monkeypatch):
    out = tmp_path / "predictions.csv"
    out.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", broken_replace)
    result = invoke("predict", run_dir, "--data", kaggle_test_csv, "--out", out)
    assert result.exit_code == 1 and result.stderr.startswith("funcnet: error: ")
    assert out.read_text() == "old\n" and no_temp_files(tmp_path)  # never half-written
    monkeypatch.undo()
    assert invoke("predict", run_dir, "--data", kaggle_test_csv, "--out", out).exit_code == 0
    assert out.read_text().startswith("ImageId,Label\n")


def test_out_dash_writes_the_csv_to_stdout(run_dir, kaggle_test_csv):
    result = invoke("predict", run_dir, "--data", kaggle_test_csv, "--out", "-")
    lines = result.stdout.splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 121 and lines[1].startswith("1,")
    assert "predicted 120 images" in result.stderr


def test_labelled_csv_reports_accuracy(run_dir, labelled_csv, mnist_test):
    result = invoke("predict", run_dir, "--data", labelled_csv)
    assert result.exit_code == 0
    pred = expected_predictions(run_dir, mnist_test.x[:120])
    right = int((pred == mnist_test.y[:120]).sum())
    assert f"accuracy {right / 120:.4f} ({right} of 120 right)" in result.stdout


def test_idx_folder_predicts_its_test_split_or_the_train_split(run_dir, shared_data, tmp_path):
    out = tmp_path / "p.csv"
    result = invoke("predict", run_dir, "--data", shared_data / "mnist", "--out", out)
    assert result.exit_code == 0 and "test split, 10000 images" in result.stdout
    assert len(pd.read_csv(out)) == 10000
    result = invoke("predict", run_dir, "--data", shared_data / "mnist", "--split", "train")
    assert "train split, 60000 images" in result.stdout


def test_without_data_the_model_is_judged_on_its_own_test_set(run_dir):
    result = invoke("predict", run_dir)
    assert result.exit_code == 0 and "test split, 10000 images" in result.stdout


def test_show_draws_digits_with_prediction_and_confidence(run_dir, kaggle_test_csv, mnist_test):
    result = invoke("predict", run_dir, "--data", kaggle_test_csv, "--show", "3")
    assert result.exit_code == 0
    captions = CAPTION.findall(result.stdout)
    assert [int(c[0]) for c in captions] == [1, 2, 3]
    pred = expected_predictions(run_dir, mnist_test.x[:3])
    assert [int(c[1]) for c in captions] == pred.tolist()
    assert "true" not in result.stdout  # no labels to show
    shaded = [line for line in result.stdout.splitlines() if set(line) & set("░▒▓█▀▄")]
    assert max(len(line) for line in shaded) <= 80  # two digits side by side in 80 columns
    narrow = invoke("predict", run_dir, "--data", kaggle_test_csv, "--show", "3",
                    env={"COLUMNS": "40"}).stdout.splitlines()
    tops = [i for i, line in enumerate(narrow) if CAPTION.match(line)]
    assert len(tops) == 3 and np.diff(tops).tolist() == [16, 16]  # one per row: 14 lines, caption, blank
    assert all(len(line) <= 28 for line in narrow if set(line) & set("░▒▓█▀▄"))


def test_show_on_labelled_data_adds_the_label(run_dir, labelled_csv, mnist_test):
    result = invoke("predict", run_dir, "--data", labelled_csv, "--show", "2")
    labels = re.findall(r"true (\d)", result.stdout)
    assert labels == [str(y) for y in mnist_test.y[:2]]


def test_show_mistakes_draws_the_most_confident_wrong_ones(run_dir, labelled_csv, mnist_test):
    result = invoke("predict", run_dir, "--data", labelled_csv, "--show-mistakes", "4")
    assert result.exit_code == 0
    params, _ = load_model(run_dir)
    probs = probabilities(params, mnist_test.x[:120])
    pred, y = probs.argmax(axis=1), mnist_test.y[:120]
    wrong = np.flatnonzero(pred != y)
    best = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:4]
    captions = CAPTION.findall(result.stdout)
    assert [int(c[0]) - 1 for c in captions] == best.tolist()
    assert result.stdout.count("WRONG") == 4
    assert f"the 4 most confident mistakes (of {len(wrong)}):" in result.stdout


def test_show_mistakes_without_labels_is_a_clear_error(run_dir, kaggle_test_csv, tmp_path):
    out = tmp_path / "p.csv"
    result = invoke("predict", run_dir, "--data", kaggle_test_csv, "--show-mistakes", "3",
                    "--out", out)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("funcnet: error: --show-mistakes needs labelled data")
    assert not out.exists()  # nothing written on failure


def test_images_of_the_wrong_size_are_a_data_error(run_dir):
    params, _ = load_model(run_dir)
    small = fdata.Dataset(np.zeros((2, 16), np.uint8), np.array([1, 2]))
    with pytest.raises(DataError, match="16 pixels per image, but the model expects 784"):
        check_inputs(params, small, "small")


def test_digits_fall_back_to_ascii_when_stdout_cannot_show_blocks(run_dir, kaggle_test_csv):
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "funcnet.cli", "predict", str(run_dir),
                           "--data", str(kaggle_test_csv), "--show", "1"],
                          capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode("ascii")
    assert "the first 1 image:" in text and "#" in text and CAPTION.search(text)


def test_a_real_digit_is_14_lines_of_28_shaded_columns(mnist_test):
    lines = terminal.render_digit(mnist_test.x[0])  # a 7
    assert len(lines) == 14 and {len(line) for line in lines} == {28}
    assert set("".join(lines)) <= set(terminal.SHADES + terminal.UPPER + terminal.LOWER)
    assert lines[0].strip() == "" and "█" in "".join(lines)


# --- the data set a model was trained on -------------------------------------------


def test_the_model_file_records_the_data_set_it_was_trained_on(run_dir):
    from funcnet import checkpoint
    info = checkpoint.read_info(run_dir / "model.safetensors")
    assert checkpoint.trained_on(info) == "mnist" and info["format_version"] == 1


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_judging_a_model_on_another_data_set_warns_naming_both(run_dir, shared_data, command):
    result = invoke(command, run_dir, "--data", shared_data / "fashion-mnist")
    assert result.exit_code == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("funcnet: warning: the model was trained on mnist, but ")
    assert str(shared_data / "fashion-mnist") in line and line.endswith(
        "is fashion-mnist: its figures here say little about the model")


@pytest.mark.parametrize("extra", [[], ["--split", "train"]])
def test_the_same_data_set_gives_no_warning(run_dir, shared_data, extra):
    result = invoke("evaluate", run_dir, "--data", shared_data / "mnist", *extra)
    assert result.exit_code == 0 and result.stderr == "", result.stderr


def test_a_model_file_without_the_record_gives_no_warning(run_dir, shared_data, tmp_path):
    from funcnet import checkpoint
    params, info = load_model(run_dir)
    dense = tuple(layer for layer in params.layers if hasattr(layer, "w"))  # the old record's names
    old = checkpoint.save(tmp_path / "old.safetensors", {"layers": dense}, config=info["config"],
                          metadata={"sizes": [784, 10, 10], "activation": "relu"})
    result = invoke("evaluate", old, "--data", shared_data / "fashion-mnist")
    assert result.exit_code == 0 and result.stderr == "", result.stderr
