"""Bad input: one line ``funcnet: error: ...`` on stderr and the documented exit code."""

from __future__ import annotations

import pytest

from funcnet.errors import DataError

from .cli_helpers import MLP, MNIST, REPO, TINY, invoke

ONE_LINE = "funcnet: error: "


def assert_one_line_error(result, code: int, *fragments: str) -> str:
    """The result failed with ``code`` and one error line holding every fragment."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(ONE_LINE), lines
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_mistyped_set_key_suggests_the_right_one():
    result = invoke("run", MNIST, "--set", "lerning_rate=0.1")
    assert_one_line_error(result, 2, "lerning_rate", "did you mean learning_rate")


def test_set_value_of_the_wrong_type():
    assert_one_line_error(invoke("run", MNIST, "--set", "iterations=many"), 2, "iterations")


def test_set_without_equals_sign():
    assert_one_line_error(invoke("run", MNIST, "--set", "iterations"), 2, "key=value")


def test_missing_data_folder_is_exit_3(tmp_path):
    missing = tmp_path / "no-such-folder"
    assert_one_line_error(invoke("run", MNIST, *TINY, "--data", missing), 3, str(missing))


def test_data_folder_without_idx_files_is_exit_3(tmp_path):
    assert_one_line_error(invoke("run", MNIST, *TINY, "--data", tmp_path), 3, "missing")


def test_pipeline_file_that_does_not_exist_is_exit_2(tmp_path):
    assert_one_line_error(invoke("run", tmp_path / "nope.py"), 2, "no such pipeline file")


def test_pipeline_file_that_is_not_a_pipeline_is_exit_2(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    assert_one_line_error(invoke("run", path), 2, "missing Config")


@pytest.mark.parametrize("args, fragment", [
    (["run"], "Missing argument 'PIPELINE'"),
    (["run", MNIST, "--seed", "x"], "'--seed'"),
    (["run", MNIST, "--seeds", "1,a"], "'--seeds'"),
    (["run", MNIST, "--seeds", "1,1"], "distinct"),
    (["run", MNIST, "--seed", "1", "--seeds", "1,2"], "--seed or --seeds"),
    (["run", MNIST, "--seeds", "1,2", "--resume", "."], "--resume"),
    (["run", MNIST, "--bogus"], "--bogus"),
    (["predict", "model", "--show", "-1"], "'--show'"),
    (["frobnicate"], "No such command"),
])
def test_usage_errors_are_one_line_with_exit_2(args, fragment):
    assert_one_line_error(invoke(*args), 2, fragment, "--help")


def test_unexpected_errors_are_one_line_with_exit_1(broken_pipeline):
    line = assert_one_line_error(invoke("run", broken_pipeline), 1, "RuntimeError", "boom in load")
    assert "--debug" in line


def test_debug_shows_the_traceback(broken_pipeline):
    result = invoke("--debug", "run", broken_pipeline, catch=True)
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)


def test_ablation_needs_tutorial_quirks():
    assert_one_line_error(invoke("run", MLP, "--ablation"), 2, "tutorial_quirks")


def test_model_that_does_not_exist_is_exit_4(tmp_path, kaggle_test_csv):
    result = invoke("predict", tmp_path / "none.safetensors", "--data", kaggle_test_csv)
    assert_one_line_error(result, 4, "no such checkpoint")


def test_folder_without_a_model_is_exit_4(tmp_path, kaggle_test_csv):
    result = invoke("evaluate", tmp_path, "--data", kaggle_test_csv)
    assert_one_line_error(result, 4, "no model.safetensors")


def test_a_state_file_is_not_a_model(run_dir, kaggle_test_csv):
    result = invoke("predict", run_dir / "state.safetensors", "--data", kaggle_test_csv)
    assert_one_line_error(result, 4, "training state", "model.safetensors")


def test_a_damaged_model_is_exit_4(tmp_path, run_dir, kaggle_test_csv):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes((run_dir / "model.safetensors").read_bytes()[:-100])
    assert_one_line_error(invoke("predict", bad, "--data", kaggle_test_csv), 4, str(bad))


def test_a_malformed_csv_is_exit_3(tmp_path, run_dir):
    bad = tmp_path / "test.csv"
    bad.write_text("pixel0,pixel1\n1,2\n")
    assert_one_line_error(invoke("predict", run_dir, "--data", bad), 3, str(bad))


@pytest.mark.parametrize("pipeline", [MNIST, MLP])
@pytest.mark.parametrize("args, fragments", [
    (["--set", "activation=foo"], ["activation", "'foo'", "relu, leaky_relu, tanh, sigmoid"]),
    (["--set", "init=bar"], ["init", "'bar'", "tutorial, he, xavier"]),
    (["--seed", "-1"], ["seed", ">= 0"]),
    (["--set", "seed=-1"], ["seed", ">= 0"]),
    (["--set", "sizes=784,,10"], ["sizes=784,,10", "empty item"]),
    (["--set", "sizes=784,10,"], ["sizes=784,10,", "empty item"]),
])
def test_bad_config_values_are_exit_2_naming_the_field(pipeline, args, fragments):
    assert_one_line_error(invoke("run", pipeline, *args), 2, *fragments)


@pytest.mark.parametrize("args, fragments", [
    (["--set", "padding=foo"], ["padding", "'foo'", "valid, same"]),
    (["--set", "init=bar"], ["init", "'bar'", "tutorial, he, xavier"]),
])
def test_bad_cnn_config_values_are_exit_2_naming_the_field(args, fragments):
    CNN = str(REPO / "pipelines" / "mnist_cnn.py")
    assert_one_line_error(invoke("run", CNN, *args), 2, *fragments)


@pytest.mark.parametrize("command", ["show", "run"])
def test_pipeline_file_not_ending_in_py_is_exit_2(tmp_path, command):
    path = tmp_path / "notes.txt"
    path.write_text("some notes\n")
    assert_one_line_error(invoke(command, path), 2, str(path), "ending in .py")


@pytest.mark.parametrize("pipeline", [MNIST, MLP])
@pytest.mark.parametrize("extra", [[], ["--set", "dev_size=10"], ["--seeds", "1,2"]])
def test_training_on_an_unlabelled_csv_is_exit_3(kaggle_test_csv, pipeline, extra):
    result = invoke("run", pipeline, "--data", kaggle_test_csv, *extra, "--quiet")
    assert_one_line_error(result, 3, str(kaggle_test_csv), "this file has no label column")


def test_debug_after_the_command_shows_the_traceback_too(broken_pipeline):
    result = invoke("run", broken_pipeline, "--debug", catch=True)
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
    assert "No such option" not in result.stderr


def test_debug_after_predict_raises_the_data_error_itself(small_mlp, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("label,pixel0\n1,x\n")
    with pytest.raises(DataError):
        invoke("predict", small_mlp, "--data", bad, "--debug")


@pytest.mark.parametrize("command", ["run", "sweep", "predict", "evaluate", "show", "serve"])
def test_every_command_lists_debug_in_its_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "--debug" in result.stdout


def test_debug_after_a_command_that_succeeds_changes_nothing():
    result = invoke("show", MNIST, "--debug")
    assert result.exit_code == 0 and result.stderr == "" and result.stdout == invoke("show", MNIST).stdout


def _saved(tmp_path, sizes):
    from funcnet import checkpoint, model, rng
    return checkpoint.save_network(tmp_path / f"m{len(sizes)}-{sizes[-1]}.safetensors",
                                   model.init(rng.key(0), sizes))


def test_a_one_output_model_is_refused_in_one_line(tmp_path, shared_data):
    one = _saved(tmp_path, (784, 1))
    picture = tmp_path / "seven.png"
    picture.write_bytes((REPO / "docs" / "gallery" / "page.png").read_bytes())
    for args in (["evaluate", one, "--data", shared_data / "mnist"],
                 ["predict", one, "--data", shared_data / "mnist", "--split", "test"],
                 ["predict", one, "--images", picture]):
        assert_one_line_error(invoke(*args), 4, "the model has 1 output", "one per class")


def test_labels_beyond_the_models_classes_are_one_line(tmp_path, shared_data):
    three = _saved(tmp_path, (784, 3))
    assert_one_line_error(invoke("evaluate", three, "--data", shared_data / "mnist"), 3,
                          "labels go up to 9", "the model has 3 outputs")
