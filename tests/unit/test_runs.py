"""funcnet.runs: run folders as a library (save, resume, lock, clear, describe)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from funcnet import ConfigError, model, pipeline, runs, tree

REPO = Path(__file__).resolve().parents[2]
MNIST = REPO / "pipelines" / "mnist.py"
TINY = ["iterations=20", "rows=3000", "seed=0"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny tutorial run saved with the library alone, and its result."""
    pipe = pipeline.load_pipeline(MNIST)
    config = pipeline.apply_overrides(pipe.Config(), TINY)
    result = pipeline.run(pipe, config)
    folder = tmp_path_factory.mktemp("runs") / "mnist"
    with runs.lock(folder):
        runs.save(folder, result, pictures=False)
    return pipe, folder, result


def test_a_saved_run_is_complete_and_its_model_and_state_load_back(saved):
    pipe, folder, result = saved
    assert runs.is_complete(folder) and runs.describe(folder).startswith("a run (")
    params, info = runs.load_model(folder)
    assert tree.equal(params, result.params) and model.describe(params) == "784-10-10 relu"
    state, window = runs.load_state(folder, pipe.init_state(result.config))
    assert tree.equal(state, result.state) and window == runs.NO_WINDOW
    assert runs.history(folder)["step"].tolist() == [10, 20]


def test_resume_continues_the_run_as_one_long_run(saved, tmp_path):
    pipe, folder, _ = saved
    resumed = runs.resume(folder, pipe, ["iterations=30"])
    assert int(resumed.state.step) == 20 and resumed.config.iterations == 30
    later = pipeline.run(pipe, resumed.config, state=resumed.state)
    straight = pipeline.run(pipe, pipeline.apply_overrides(pipe.Config(), [*TINY, "iterations=30"]))
    assert tree.equal(later.state, straight.state)
    joined = runs.join_history(resumed.history, later.history)
    assert joined["step"].tolist() == [10, 20, 30]


def test_resume_refuses_a_field_that_defines_the_run(saved):
    pipe, folder, _ = saved
    with pytest.raises(ConfigError, match=r"dev_size cannot change \(the run has 1000, asked for 10"):
        runs.resume(folder, pipe, ["dev_size=10"])


def test_a_folder_holds_one_writer_at_a_time(tmp_path):
    with runs.lock(tmp_path):
        with pytest.raises(ConfigError, match="another run holds this folder"):
            with runs.lock(tmp_path):
                pass
    with runs.lock(tmp_path):  # released
        pass


def test_clear_removes_the_old_run_and_nothing_else(saved, tmp_path):
    _, folder, _ = saved
    out = tmp_path / "run"
    for p in folder.iterdir():
        (out / p.name).parent.mkdir(exist_ok=True)
        (out / p.name).write_bytes(p.read_bytes())
    (out / "curves.png").write_bytes(b"old picture")
    (out / "notes.txt").write_text("mine")
    (out / ".model.safetensors.abcdef.tmp").write_bytes(b"cut short")
    (out / "seed-3").mkdir()
    (out / "seed-3" / "config.json").write_text("{}")
    removed = runs.clear(out)
    assert "curves.png" in removed and "seed-3/config.json" in removed
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_describe_says_what_an_incomplete_folder_holds(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert not runs.is_complete(tmp_path)
    assert runs.describe(tmp_path) == ("an incomplete run, the remains of a save cut short "
                                       "(model.safetensors; no config.json, state.safetensors)")
    with pytest.raises(ConfigError, match="no saved run to resume: it holds an incomplete run"):
        runs.read_config(tmp_path, object)
    other = tmp_path / "seeds"
    other.mkdir()
    (other / "seeds.csv").write_text("seed\n0\n")
    assert runs.describe(other).startswith("the runs of several seeds or an ablation")


def test_check_writable_names_the_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"file/out: cannot write a run here \(Not a directory\)"):
        runs.check_writable(tmp_path / "file" / "out")
    runs.check_writable(tmp_path / "new")
    assert list((tmp_path / "new").iterdir()) == []


def test_join_history_keeps_the_earlier_rows_when_nothing_new_came():
    earlier = pd.DataFrame({"step": [10, 20], "elapsed": [1.0, 2.0]})
    assert runs.join_history(earlier, pd.DataFrame()).equals(earlier)
    assert runs.join_history(None, earlier) is earlier


def test_load_reads_a_run_back_and_is_finished_tells_an_ended_run(saved, tmp_path):
    _, folder, result = saved
    run = runs.load(folder)
    assert run.config["iterations"] == 20 and run.metrics["stopped"] is None
    assert tree.equal(run.params, result.params) and run.history["step"].tolist() == [10, 20]
    assert runs.is_finished(folder) and not runs.is_finished(tmp_path)
    with pytest.raises(ConfigError, match="no saved run: it holds nothing of a run"):
        runs.load(tmp_path)


def test_claim_refuses_a_folder_holding_a_run_unless_overwrite(saved, tmp_path):
    _, folder, _ = saved
    out = tmp_path / "run"
    out.mkdir()
    for p in folder.glob("*.*"):
        (out / p.name).write_bytes(p.read_bytes())
    with pytest.raises(ConfigError, match="already holds a run"):
        with runs.claim(out):
            pass
    with runs.claim(out, resuming=True):
        assert runs.is_complete(out)
    with runs.claim(out, overwrite=True):
        assert runs.contents(out) == []


def _states(pipe, config, steps):
    """The tutorial pipeline's states after each of ``steps`` (a list of ints), in order."""
    config = pipeline.apply_overrides(config, [f"iterations={max(steps)}"])
    splits = pipe.split(config, pipe.load(config))
    states = {int(snap.state.step): snap.state
              for snap in pipe.train(config, splits, pipe.init_state(config))}
    return [states[s] for s in steps]


def test_early_stopping_bookkeeping_comes_back_only_when_it_is_consistent(saved, tmp_path):
    pipe, folder, result = saved
    config = result.config
    template = pipe.init_state(config)
    s10, s20, s30 = _states(pipe, config, [10, 20, 30])
    # the best is the state itself: no best file is needed
    runs.save_progress(tmp_path / "a", s20, config, best=(s20, 0.8, 0))
    assert not (tmp_path / "a" / runs.BEST).exists()
    best, score, bad = runs.load_best(tmp_path / "a", template, s20)
    assert tree.equal(best, s20) and (score, bad) == (0.8, 0)
    # the best is an earlier state: written after the state, and read back
    runs.save_progress(tmp_path / "a", s30, config, best=(s10, 0.9, 2))
    best, score, bad = runs.load_best(tmp_path / "a", template, s30)
    assert tree.equal(best, s10) and (score, bad) == (0.9, 2)
    # a save cut between the state and the best file: the old best file holds another step
    runs.save_progress(tmp_path / "b", s20, config, best=(s10, 0.9, 1))
    runs.save_progress(tmp_path / "c", s30, config, best=(s20, 0.95, 1))
    (tmp_path / "c" / runs.BEST).write_bytes((tmp_path / "b" / runs.BEST).read_bytes())
    assert runs.load_best(tmp_path / "c", template, s30) is None  # never s10 paired with s20's score
    # no early stopping: nothing
    runs.save_progress(tmp_path / "d", s30, config)
    assert runs.load_best(tmp_path / "d", template, s30) is None
