"""Outputs never clobber inputs: --out naming the model, the data or a picture is refused
(exit 2) before anything is written, and a run is not written into a sweep's folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from funcnet.data.idx import find_idx_files

from .cli_helpers import MNIST, TINY, invoke, write_csv

ONE_LINE = "funcnet: error: "


def snapshot(folder: Path) -> dict:
    """Every file below ``folder`` (links not followed) and its bytes or link target."""
    return {p.relative_to(folder).as_posix(): (os.readlink(p) if p.is_symlink() else p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_symlink() or p.is_file()}


def refused(result, *fragments) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stderr.startswith(ONE_LINE) and result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    return result.stderr


@pytest.fixture
def run_copy(small_mlp, tmp_path) -> Path:
    """A copy of the small MLP's run folder that a test may lose."""
    return Path(shutil.copytree(small_mlp, tmp_path / "run"))


@pytest.fixture
def labelled(tmp_path, mnist_test) -> Path:
    return write_csv(tmp_path / "digits.csv", mnist_test.x[:50], mnist_test.y[:50])


@pytest.fixture
def idx_folder(tmp_path, shared_data) -> Path:
    """A folder of links to MNIST's four IDX files (the real files are never written)."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for path in find_idx_files(shared_data / "mnist").values():
        (folder / path.name).symlink_to(path)
    return folder


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "state.safetensors"])
def test_predict_out_naming_the_models_run_files_is_refused(run_copy, labelled, name):
    before = snapshot(run_copy)
    result = invoke("predict", run_copy, "--data", labelled, "--out", run_copy / name)
    refused(result, f"--out {run_copy / name} is ", "choose another --out")
    assert snapshot(run_copy) == before


def test_predict_out_naming_the_data_is_refused_by_any_name(run_copy, labelled, tmp_path):
    link = tmp_path / "also-digits.csv"
    link.symlink_to(labelled)
    before = labelled.read_bytes()
    for out in (labelled, link, tmp_path / "." / labelled.name):
        refused(invoke("predict", run_copy, "--data", labelled, "--out", out),
                f"is the data ({labelled})")
    assert labelled.read_bytes() == before and link.is_symlink()


def test_predict_out_naming_an_idx_file_of_the_data_is_refused(run_copy, idx_folder):
    labels = find_idx_files(idx_folder)[("test", "labels")]
    refused(invoke("predict", run_copy, "--data", idx_folder, "--out", labels), "is the data")
    assert labels.is_symlink()


def test_predict_out_beside_the_model_is_still_written(run_copy, labelled):
    result = invoke("predict", run_copy, "--data", labelled, "--out", run_copy / "preds.csv")
    assert result.exit_code == 0, result.stderr
    assert (run_copy / "preds.csv").read_text().startswith("ImageId,Label\n")


def test_predict_images_out_naming_a_picture_is_refused(run_copy, tmp_path):
    from PIL import Image

    folder = tmp_path / "pictures"
    (folder / "more").mkdir(parents=True)
    for name in ("a.png", "more/b.png"):
        Image.fromarray(np.eye(40, dtype=np.uint8) * 255).save(folder / name)
    before = snapshot(folder)
    refused(invoke("predict", run_copy, "--images", folder / "a.png", "--out", folder / "a.png"),
            f"is a picture read ({folder / 'a.png'})")
    refused(invoke("predict", run_copy, "--images", folder, "--out", folder / "more" / "b.png"),
            "is a picture read")
    refused(invoke("predict", run_copy, "--images", folder, "--out", run_copy / "model.safetensors"),
            "is the model")
    assert snapshot(folder) == before


def test_run_out_in_the_data_folder_is_refused_before_anything_is_written(idx_folder):
    before = snapshot(idx_folder)
    for out in (idx_folder, idx_folder / "run"):
        refused(invoke("run", MNIST, *TINY, "--data", idx_folder, "--out", out),
                f"--out {out} is in the data folder {idx_folder}")
    assert snapshot(idx_folder) == before  # no lock, no probe, no run folder


def test_run_out_in_the_default_data_folder_is_refused(idx_folder, monkeypatch):
    monkeypatch.setenv("FUNCNET_DATA", str(idx_folder.parent))
    before = snapshot(idx_folder)
    refused(invoke("run", MNIST, *TINY, "--out", idx_folder), "is in the mnist folder")
    assert snapshot(idx_folder) == before


def test_run_out_beside_a_csv_file_of_data_is_refused(labelled):
    before = snapshot(labelled.parent)
    refused(invoke("run", MNIST, *TINY, "--data", labelled, "--out", labelled.parent),
            f"holds the data ({labelled})")
    assert snapshot(labelled.parent) == before


def test_sweep_out_in_the_data_folder_is_refused(idx_folder):
    before = snapshot(idx_folder)
    refused(invoke("sweep", MNIST, *TINY, "--set", f"data={idx_folder}", "--out", idx_folder),
            "is in the data folder")
    assert snapshot(idx_folder) == before and not (idx_folder / "sweep.json").exists()


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_run_into_a_sweeps_folder_is_refused_as_a_sweep_into_a_run_is(tmp_path, overwrite):
    sweep = tmp_path / "lr"
    sweep.mkdir()
    (sweep / "sweep.json").write_text('{"pipeline": "p.py", "grid": {}, "overrides": {}}\n')
    (sweep / "results.csv").write_text("seed,status\n0,ok\n")
    before = snapshot(sweep)
    refused(invoke("run", MNIST, *TINY, "--out", sweep, *overwrite),
            f"{sweep}: holds a sweep (results.csv, sweep.json), not a run")
    assert snapshot(sweep) == before
