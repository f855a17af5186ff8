"""funcnet run --init-from, --freeze, --partial and --set lr_groups: fine-tuning from the command line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from funcnet import checkpoint, pipeline, tree
from funcnet.cli import load_model

from .cli_helpers import MLP, REPO, TINY_MLP, invoke

CNN = str(REPO / "pipelines" / "mnist_cnn.py")
QUICK = [*TINY_MLP, "--no-plots", "-q"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A trained 784-32-10 MLP run folder (one epoch on 10,000 digits)."""
    out = tmp_path_factory.mktemp("source") / "mlp"
    result = invoke("run", MLP, *QUICK, "--seed", "1", "--out", out)
    assert result.exit_code == 0, result.stderr
    return out


def test_a_matching_model_gives_every_layer_and_frozen_layers_stay_bit_identical(source, tmp_path):
    result = invoke("run", MLP, *TINY_MLP, "--no-plots", "--init-from", source,
                    "--freeze", "layers.0", "--out", tmp_path / "ft")
    assert result.exit_code == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first == (f"init from {source}: taken layers.0, layers.3 (25,450 numbers) | new none "
                     "| frozen layers.0")
    src, new = load_model(source)[0], load_model(tmp_path / "ft")[0]
    assert tree.equal(new.layers[0], src.layers[0])
    assert not tree.allclose(new.layers[3], src.layers[3])
    saved = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert saved["init_from"] == str(source) and saved["freeze"] == ["layers.0"]


def test_a_partially_matching_model_is_refused_in_one_line_unless_partial(source, tmp_path):
    other = [*QUICK, "--set", "sizes=784,32,16,10", "--init-from", source]
    refused = invoke("run", MLP, *other)
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr.strip() == (
        f"funcnet: error: init_from {source}: layers.3 does not match: dense with w (32, 10) in "
        "the trained network, (32, 16) here (partial keeps such layers freshly initialised)")
    kept = invoke("run", MLP, *TINY_MLP, "--no-plots", "--set", "sizes=784,32,16,10",
                  "--init-from", source, "--partial", "--out", tmp_path / "p")
    assert kept.exit_code == 0, kept.stderr
    assert kept.stdout.splitlines()[0] == (
        f"init from {source}: taken layers.0 (25,120 numbers) | new layers.6 "
        "| kept fresh (partial) layers.3 | frozen none")
    assert json.loads((tmp_path / "p" / "config.json").read_text())["partial"] is True


def test_a_foreign_model_is_refused_even_with_partial(source):
    cnn = ["--set", "filters=4", "--set", "hidden=8", "--set", "epochs=1", "--set", "dev_size=59000",
           "--no-plots", "-q", "--init-from", source]
    refused = invoke("run", CNN, *cnn)
    assert refused.exit_code == 2
    assert "layers.0 does not match: dense in the trained network, conv2d here" in refused.stderr
    assert invoke("run", CNN, *cnn, "--partial").stderr.strip().endswith(
        "no layer of the trained network matches this one (same path, kind and shapes): "
        "nothing to take")


def test_a_freeze_pattern_naming_nothing_and_a_missing_run_are_one_line_errors(source, tmp_path):
    bad = invoke("run", MLP, *QUICK, "--freeze", "layers.9")
    assert bad.exit_code == 2
    assert bad.stderr.strip() == ("funcnet: error: freeze: 'layers.9' names no parameter of the "
                                  "network; its layers with parameters are layers.0, layers.3")
    missing = invoke("run", MLP, *QUICK, "--init-from", tmp_path)
    assert missing.exit_code == 4 and "no model.safetensors in this folder" in missing.stderr
    groups = invoke("run", MLP, *QUICK, "--set", "lr_groups=layers.0")
    assert groups.exit_code == 2 and "expected PATTERN=RATE items" in groups.stderr


def test_lr_groups_record_each_groups_rate_in_the_history(source, tmp_path):
    result = invoke("run", MLP, *QUICK, "--init-from", source, "--set", "lr_groups=layers.0=1e-4",
                    "--set", "schedule=constant", "--set", "warmup_epochs=0", "--out", tmp_path / "g")
    assert result.exit_code == 0, result.stderr
    history = pd.read_csv(tmp_path / "g" / "history.csv")
    assert history["learning_rate"].tolist() == [1e-3]
    assert history["learning_rate[layers.0]"].tolist() == [1e-4]


def test_resume_of_a_fine_tuning_run_equals_one_long_run(source, tmp_path):
    common = [*QUICK, "--init-from", source, "--freeze", "layers.0", "--set", "schedule=constant",
              "--set", "warmup_epochs=0"]
    assert invoke("run", MLP, *common, "--set", "epochs=2", "--out", tmp_path / "a").exit_code == 0
    assert invoke("run", MLP, *common, "--out", tmp_path / "b").exit_code == 0
    resumed = invoke("run", MLP, "--set", "epochs=2", "--resume", tmp_path / "b", "-q", "--no-plots")
    assert resumed.exit_code == 0, resumed.stderr
    pipe = pipeline.load_pipeline(MLP)
    config = pipeline.apply_overrides(pipe.Config(), [
        "seed=0", "sizes=784,32,10", "dev_size=50000", "epochs=2", "schedule=constant",
        "warmup_epochs=0", f"init_from={source}", "freeze=layers.0"])
    like = pipe.init_state(config)
    a, b = (checkpoint.load(tmp_path / d / "state.safetensors", like) for d in "ab")
    assert int(a.step) == int(b.step) > 0 and tree.equal(a, b)
    assert tree.equal(a.params.layers[0], load_model(source)[0].layers[0])
