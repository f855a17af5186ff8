"""funcnet ensemble, and the ensemble folder in evaluate, predict (CSV and --images) and a
fresh process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from funcnet import checkpoint, digitize, model, rng, runs
from funcnet.cli import load_model

from .cli_helpers import MNIST, TINY, invoke

Image = pytest.importorskip("PIL.Image", reason="needs the images extra (Pillow)")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two finished tiny runs of the tutorial's pipeline, seeds 0 and 1."""
    folder = tmp_path_factory.mktemp("members")
    for seed in (0, 1):
        result = invoke("run", MNIST, *TINY, "--seed", seed, "--quiet", "--no-plots",
                        "--out", folder / f"seed-{seed}")
        assert result.exit_code == 0, result.stderr
    return [folder / "seed-0", folder / "seed-1"]


@pytest.fixture(scope="module")
def ens(two_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("ensembles") / "ens"
    result = invoke("ensemble", *two_runs, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (f"wrote {out}: an ensemble of 2 members, the mean "
                                              f"of their probabilities; judge it with funcnet "
                                              f"evaluate {out}")
    return out


def mean_of_members(runs_, x):
    """(1/K) Σ_k softmax(Z_k), each member loaded from its own run folder."""
    probs = [model.predict_proba(p, x, model_state=i["model_state"])
             for p, i in map(load_model, runs_)]
    return sum(probs[1:], probs[0]) / np.float32(len(probs))


def accuracy_line(stdout: str) -> str:
    return next(l for l in stdout.splitlines() if l.startswith("accuracy "))


def test_the_command_names_each_member_and_its_score(two_runs, ens):
    result = invoke("ensemble", *two_runs, "--out", ens, "--overwrite")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    for k, run in enumerate(two_runs, 1):
        score = runs.read_metrics(run)["test_accuracy"]
        assert lines[k - 1] == f"member {k}: {run} (784-10-10 relu; test accuracy {score:.4f})"
    assert "ensemble" in invoke("--help").stdout


def test_evaluate_and_predict_take_the_ensemble_folder(two_runs, ens, mnist_test, labelled_csv,
                                                       tmp_path):
    pred = mean_of_members(two_runs, mnist_test.x).argmax(axis=1)
    right = int((pred == mnist_test.y).sum())
    result = invoke("evaluate", ens)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == (f"model: {ens / 'ensemble.json'} "
                                             "(ensemble of 2: 784-10-10 relu ×2)")
    assert accuracy_line(result.stdout) == f"accuracy {right / 1e4:.4f} ({right} of 10000 right)"
    assert result.stderr == ""  # trained on MNIST, judged on MNIST: no warning
    out = tmp_path / "sub.csv"
    result = invoke("predict", ens, "--data", labelled_csv, "--out", out)
    assert result.exit_code == 0, result.stderr
    written = pd.read_csv(out)
    assert written["Label"].tolist() == pred[:120].tolist()


def test_a_one_member_ensemble_judges_as_its_member(two_runs, tmp_path):
    out = tmp_path / "one"
    assert invoke("ensemble", two_runs[0], "--out", out).exit_code == 0
    alone, member = invoke("evaluate", out), invoke("evaluate", two_runs[0])
    assert alone.exit_code == member.exit_code == 0
    assert alone.stdout.splitlines()[1:] == member.stdout.splitlines()[1:]


def test_predict_images_takes_the_ensemble_folder(two_runs, ens, mnist_test, tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(3):
        big = 255 - np.kron(mnist_test.x[i].reshape(28, 28), np.ones((3, 3), np.uint8))
        Image.fromarray(big).save(folder / f"{i}.png")
    out = tmp_path / "preds.csv"
    result = invoke("predict", ens, "--images", folder, "--out", out)
    assert result.exit_code == 0, result.stderr
    fields = np.stack([digitize.preprocess(np.asarray(Image.open(folder / f"{i}.png")))
                       for i in range(3)])
    expected = mean_of_members(two_runs, fields.reshape(3, -1))
    written = pd.read_csv(out)
    assert written["label"].tolist() == expected.argmax(axis=1).tolist()
    probs = written[[f"p{k}" for k in range(10)]].to_numpy()
    # printed to 6 decimals (± 5e-7), from float32 probabilities ≤ 1 that may round apart by
    # a few units in the last place (2⁻²³ each) along the way
    np.testing.assert_allclose(probs, expected, rtol=0, atol=5e-7 + 4 * 2.0 ** -23)
    assert result.stdout.splitlines()[0].startswith(f"model: {ens / 'ensemble.json'} (ensemble of 2")


def test_an_ensemble_folder_round_trips_in_a_fresh_process(ens, mnist_test, tmp_path):
    x = mnist_test.x[:500]
    params, info = load_model(ens)
    here = model.predict_proba(params, x, model_state=info["model_state"])
    np.save(tmp_path / "x.npy", x)
    script = f"""
import numpy as np
from funcnet import model, runs
params, info = runs.load_model({str(ens)!r})
x = np.load({str(tmp_path / "x.npy")!r})
np.save({str(tmp_path / "fresh.npy")!r}, model.predict_proba(params, x, model_state=info["model_state"]))
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "fresh.npy"), here)


def hand_made_run(folder, sizes):
    """A folder funcnet reads as a finished run of an untrained MLP of ``sizes``."""
    folder.mkdir(parents=True)
    checkpoint.save_network(folder / runs.MODEL, model.init(rng.key(0), sizes), config={})
    (folder / runs.CONFIG).write_text("{}")
    (folder / runs.STATE).write_text("")
    (folder / runs.METRICS).write_text(json.dumps({"test_accuracy": 0.1}))
    return folder


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == "" and result.stderr.startswith("funcnet: error: ")
    assert result.stderr.count("\n") == 1
    return result.stderr


def test_members_that_do_not_go_together_are_refused_in_one_line(two_runs, tmp_path):
    five = hand_made_run(tmp_path / "five", (784, 5))
    small = hand_made_run(tmp_path / "small", (100, 10))
    text = one_line_error(invoke("ensemble", two_runs[0], five, "--out", tmp_path / "e"), 2)
    assert f"member 2 ({five}) has 5 classes, but member 1 ({two_runs[0]}) has 10" in text
    text = one_line_error(invoke("ensemble", two_runs[0], small, "--out", tmp_path / "e"), 2)
    assert f"member 2 ({small}) takes inputs of shape (100,), but member 1" in text
    half = tmp_path / "half"
    half.mkdir()
    (half / runs.CONFIG).write_text("{}")
    text = one_line_error(invoke("ensemble", two_runs[0], half, "--out", tmp_path / "e"), 2)
    assert text.startswith(f"funcnet: error: {half}: not a finished run: it holds an incomplete run")
    assert not (tmp_path / "e").exists()
    one_line_error(invoke("ensemble", "--out", tmp_path / "e"), 2)  # no RUN_DIR
    one_line_error(invoke("ensemble", two_runs[0]), 2)  # no --out


def test_a_damaged_ensemble_is_exit_4_in_one_line(two_runs, tmp_path):
    out = tmp_path / "ens"
    assert invoke("ensemble", *two_runs, "--out", out).exit_code == 0
    rec = json.loads((out / "ensemble.json").read_text())
    (out / "ensemble.json").write_text(json.dumps({**rec, "format_version": 7}))
    for command in ("evaluate", "predict", "serve"):
        text = one_line_error(invoke(command, out), 4)
        assert f"{out / 'ensemble.json'}: ensemble format_version 7" in text
