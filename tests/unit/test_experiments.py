"""experiments: tasks as data, the builders, one task's row, and the engine here and in processes."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from funcnet import experiments, pipeline, runs, tree
from funcnet.errors import ConfigError
from funcnet.experiments import Task

from experiments_helpers import SMALL_MLP, metric_columns, small_mnist_csv, write_toy

REPO = Path(__file__).resolve().parents[2]
MNIST = REPO / "pipelines" / "mnist.py"
TINY = {"iterations": 10, "rows": 3000}


@pytest.fixture
def toy(tmp_path) -> Path:
    return write_toy(tmp_path)


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame([row for _, row in sorted(rows, key=lambda p: p[0])])


# ---------------------------------------------------------------- pickling


def test_a_config_and_a_task_unpickle_in_a_fresh_process(toy):
    pipe = pipeline.load_pipeline(toy)
    config = pipe.Config(seed=3, sizes=(784, 16, 10))
    task = experiments.seeds(toy, [3], {"hidden": "16"})[0]
    code = ("import pickle, sys; c, t = pickle.loads(sys.stdin.buffer.read()); "
            "print(type(c).__module__, c.seed, c.sizes, t.overrides, t.pipeline, sep='|')")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps((config, task)),
                         capture_output=True, check=True, cwd="/")
    module, seed, sizes, overrides, path = out.stdout.decode().strip().split("|")
    assert module == type(config).__module__ == pipeline.module_name(toy)
    assert (seed, sizes, overrides) == ("3", "(784, 16, 10)", "{'hidden': 16}")
    assert path == str(toy)


def test_a_pipeline_is_imported_once_until_its_file_changes(toy):
    first = pipeline.load_pipeline(toy)
    assert pipeline.load_pipeline(str(toy)) is first
    config = first.Config(seed=1)
    assert pickle.loads(pickle.dumps(config)).__class__ is first.Config
    toy.write_text(toy.read_text() + "\nEXTRA = 1\n")
    second = pipeline.load_pipeline(toy)
    assert second is not first and second.EXTRA == 1


def test_module_names_spell_the_path():
    for path in ("/a/b/mnist.py", "/x y/ünï-code.v2.py", "/t/1st.py"):
        assert pipeline.path_of(pipeline.module_name(path)) == Path(path)
        assert pipeline.module_name(path).count(".") == 2


# ---------------------------------------------------------------- building tasks


def test_grid_is_every_point_times_every_seed_first_key_slowest(toy):
    tasks = experiments.grid(toy, {"learning_rate": ["0.1", "0.2"], "hidden": [4, 8]}, [0, 1],
                             {"steps": "3"})
    assert len(tasks) == 8
    assert [(t.overrides["learning_rate"], t.overrides["hidden"], t.seed) for t in tasks[:3]] == \
        [(0.1, 4, 0), (0.1, 4, 1), (0.1, 8, 0)]
    assert all(t.overrides["steps"] == 3 and t.pipeline == str(toy) for t in tasks)


def test_seeds_and_ablation(toy, tmp_path):
    assert [t.seed for t in experiments.seeds(toy, [2, 0])] == [2, 0]
    tasks = experiments.ablation(MNIST, [0, 1], {"iterations": 5})
    assert [t.variant for t in tasks[:4]] == ["tutorial (all quirks)"] * 2 + ["fix softmax"] * 2
    assert tasks[2].overrides == {"iterations": 5, "tutorial_quirks": True, "fixes": ("softmax",)}
    with pytest.raises(ConfigError, match="tutorial_quirks"):
        experiments.ablation(toy)


def test_parse_grid_types_values_and_names_bad_keys(toy):
    pipe = pipeline.load_pipeline(toy)
    assert experiments.parse_grid(pipe.Config, ["learning_rate=0.1,0.5", "sizes=784,4,10;784,8,10",
                                                "learning_rate=1"]) == \
        {"learning_rate": [0.1, 0.5, 1.0], "sizes": [(784, 4, 10), (784, 8, 10)]}
    with pytest.raises(ConfigError, match=r"^--grid learnin_rate: unknown config key "
                                          r"\(did you mean learning_rate\?\)"):
        experiments.parse_grid(pipe.Config, ["learnin_rate=0.1"])
    with pytest.raises(ConfigError, match=r"^--grid hidden=x: expected int"):
        experiments.parse_grid(pipe.Config, ["hidden=4,x"])
    with pytest.raises(ConfigError, match="expected key=value"):
        experiments.parse_grid(pipe.Config, ["hidden"])


# ---------------------------------------------------------------- one task


def test_run_task_row_holds_overrides_seed_metrics_status(toy, tmp_path):
    task = experiments.seeds(toy, [1], {"steps": 4, "sizes": "784,8,10"})[0]
    row = experiments.run_task(task, tmp_path / "run")
    assert row["status"] == "ok" and row["error"] == "" and row["steps"] == 4
    assert row["sizes"] == "784,8,10" and row["seed"] == 1
    assert {"train_accuracy", "dev_accuracy", "loss", "seconds", "stopped"} <= set(row)
    assert (tmp_path / "run" / "metrics.json").is_file()
    again = experiments.run_task(task)
    assert {k: again[k] for k in row if k != "seconds"} == {k: row[k] for k in row if k != "seconds"}


def test_a_bad_value_and_a_nonfinite_loss_are_error_rows(toy):
    bad = experiments.run_task(Task(str(toy), {"learning_rate": -1.0}, 0))
    assert bad["status"] == "error" and bad["error"] == \
        "bad config value: 'learning_rate' must be > 0: -1.0"
    nan = experiments.run_task(Task(str(toy), {"learning_rate": float("inf")}, 0))
    assert nan["status"] == "error" and nan["error"].startswith("non-finite")
    assert nan["stopped"] == nan["error"]
    missing = experiments.run_task(Task(str(toy.parent / "nope.py"), {}, 0))
    assert missing["status"] == "error" and "no such pipeline file" in missing["error"]


# ---------------------------------------------------------------- the engine


def test_serial_and_processes_give_the_same_rows_bit_for_bit():
    tasks = experiments.seeds(MNIST, [0, 1, 2], TINY)
    serial = frame(experiments.execute(tasks, workers=1))
    local = frame(experiments.execute(tasks, workers=2))
    assert (serial["status"] == "ok").all()
    pd.testing.assert_frame_equal(serial[metric_columns(serial)], local[metric_columns(local)])


def test_ordered_rows_come_in_task_order(toy):
    tasks = [Task(str(toy), {"sleep": 0.05 if s == 0 else 0.0}, s) for s in range(4)]
    assert [i for i, _ in experiments.execute(tasks, workers=2, ordered=True)] == [0, 1, 2, 3]


def test_a_worker_that_dies_once_is_retried_and_no_row_is_lost(toy, tmp_path):
    marker = tmp_path / "died"
    tasks = [Task(str(toy), {"die_seed": 1, "marker": str(marker)}, s) for s in range(4)]
    rows = frame(experiments.execute(tasks, workers=2))
    assert marker.exists()  # it did die
    assert rows["seed"].tolist() == [0, 1, 2, 3] and (rows["status"] == "ok").all()


def test_a_task_that_kills_its_worker_every_time_is_an_error_row(toy):
    tasks = [Task(str(toy), {"die_seed": 2}, s) for s in range(4)]
    rows = frame(experiments.execute(tasks, workers=2))
    assert rows["seed"].tolist() == [0, 1, 2, 3]
    assert rows["status"].tolist() == ["ok", "ok", "error", "ok"]
    assert rows.loc[2, "error"] == "the worker process running it died (twice)"


def test_a_stop_cancels_the_tasks_not_started_and_keeps_every_row(toy, tmp_path):
    tasks = [Task(str(toy), {"sleep": 0.02, "steps": 10}, s) for s in range(8)]
    seen = []
    rows = []
    for i, row in experiments.execute(tasks, workers=2, stop=lambda: len(seen) >= 1,
                                      folders=[tmp_path / str(s) for s in range(8)]):
        seen.append(i)
        rows.append(row)
    assert sorted(seen) == list(range(8))  # one row per task, none lost
    statuses = [r["status"] for r in rows]
    assert statuses.count("ok") >= 1 and set(statuses) <= {"ok", "interrupted"}
    never = [r for r in rows if r["error"] == "not started"]
    assert never and all(not (tmp_path / str(r["seed"])).exists() for r in never)


def test_serial_stop_is_checked_between_steps(toy):
    tasks = [Task(str(toy), {"steps": 50}, s) for s in range(3)]
    rows = frame(experiments.execute(tasks, workers=1, stop=lambda: True))
    assert rows["status"].tolist() == ["interrupted"] * 3
    assert rows["error"].tolist() == ["not started"] * 3


# ---------------------------------------------------------------- sweeps and summaries


def test_sweep_writes_results_and_skips_finished_tasks_when_run_again(toy, tmp_path):
    out = tmp_path / "sweep"
    first = experiments.sweep(toy, {"learning_rate": [0.1, 0.3]}, [0, 1], {"steps": 4}, out=out,
                              workers=1)
    assert first.attrs["by"] == ["learning_rate"] and len(first) == 4
    saved = experiments.read_results(out / "results.csv")
    pd.testing.assert_frame_equal(saved[metric_columns(saved)], first[metric_columns(first)],
                                  check_dtype=False)
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}
    assert len(stamps) == 4 and len(list(out.glob("learning_rate=0.3_seed-1_*/model.safetensors"))) == 1
    again = experiments.sweep(toy, {"learning_rate": [0.1, 0.3]}, [0, 1], {"steps": 4}, out=out,
                              workers=1)
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")} == stamps  # not run again
    pd.testing.assert_frame_equal(again[metric_columns(again)], first[metric_columns(first)])


def test_sweep_refuses_a_folder_holding_another_sweep(toy, tmp_path):
    out = tmp_path / "sweep"
    experiments.sweep(toy, {"hidden": [4]}, [0], {"steps": 2}, out=out, workers=1)
    with pytest.raises(ConfigError, match=r"holds another sweep \(its grid differs"):
        experiments.sweep(toy, {"hidden": [4, 8]}, [0], {"steps": 2}, out=out, workers=1)
    with pytest.raises(ConfigError, match="its overrides differs|its overrides differ"):
        experiments.sweep(toy, {"hidden": [4]}, [0], {"steps": 3}, out=out, workers=1)
    redone = experiments.sweep(toy, {"hidden": [4, 8]}, [0], {"steps": 2}, out=out, workers=1,
                               overwrite=True)
    assert len(experiments.read_results(out / "results.csv")) == len(redone) == 2


def test_summarize_mean_sd_per_point_best_dev_first():
    f = pd.DataFrame({"lr": [0.1, 0.1, 0.2, 0.2, 0.2], "seed": [0, 1, 0, 1, 2],
                      "dev_accuracy": [0.8, 0.9, 0.95, 0.97, None],
                      "status": ["ok", "ok", "ok", "ok", "error"]})
    f.attrs["by"] = ["lr"]
    s = experiments.summarize(f)
    assert s["lr"].tolist() == [0.2, 0.1] and s["runs"].tolist() == [2, 2]
    assert s["failed"].tolist() == [1, 0]
    assert s["dev_accuracy"].tolist() == pytest.approx([0.96, 0.85])


# ---------------------------------------------------------------- seeds and the ablation


def test_run_seeds_keeps_a_run_folder_per_seed_and_the_table_of_the_runs_that_trained(toy, tmp_path):
    out = tmp_path / "seeds"
    order = []
    frame = experiments.run_seeds(toy, [2, 0], {"steps": 4}, out=out, workers=1,
                                  on_row=lambda i, task, row: order.append((i, task.seed)))
    assert order == [(0, 2), (1, 0)] and frame["seed"].tolist() == [2, 0]
    assert (frame["status"] == "ok").all() and frame["steps"].tolist() == [4, 4]
    assert runs.is_complete(out / "seed-2") and runs.is_complete(out / "seed-0")
    table = experiments.trained_runs(frame, "seed")
    assert list(table.columns) == ["seed", *experiments.METRICS, "steps", "stopped"]
    assert (out / "seeds.csv").read_text() == table.to_csv(index=False)
    assert experiments.seeds_lines(table)[-1].startswith("mean ± sd")
    with pytest.raises(ConfigError, match="holds the runs of several seeds"):
        experiments.run_seeds(toy, [1], {"steps": 4}, out=out, workers=1)
    again = experiments.run_seeds(toy, [1], {"steps": 4}, out=out, workers=1, overwrite=True)
    assert again["seed"].tolist() == [1] and not (out / "seed-2").exists()


def test_run_seeds_refuses_bad_data_before_any_seed_runs(tmp_path):
    with pytest.raises(ConfigError, match="dev_size=100000"):
        experiments.run_seeds(MNIST, [0, 1], {**TINY, "dev_size": 100000}, out=tmp_path / "s")
    assert not (tmp_path / "s" / "seed-0").exists()


def test_run_ablation_runs_each_variant_over_each_seed_and_writes_its_table(tmp_path):
    frame = experiments.run_ablation(MNIST, [0], {"iterations": 5, "rows": 3000},
                                     out=tmp_path / "a", workers=1)
    assert frame["variant"].tolist()[0] == experiments.BASELINE
    assert frame["variant"].tolist()[-1] == "all fixes" and (frame["status"] == "ok").all()
    table = experiments.trained_runs(frame, "variant")
    assert (tmp_path / "a" / "ablation.csv").read_text() == table.to_csv(index=False)
    assert not [p for p in (tmp_path / "a").iterdir() if p.is_dir()]  # no run folders
    lines = experiments.ablation_lines(table, {"m": "divide by the rows trained on"})
    assert lines[0].split()[:2] == ["variant", "train_accuracy"] and lines[-1].startswith("fix m: ")


# ---------------------------------------------------------------- a task's folder as it goes


def _counting():
    calls = []
    return calls, lambda: calls.append(1) and False


def test_a_task_saves_its_folder_at_every_record_and_a_second_try_continues_it(toy, tmp_path):
    task = Task(str(toy), {"steps": 6}, 0)
    whole = experiments.run_task(task, tmp_path / "whole")
    calls = []
    stop_after_first_record = lambda: calls.append(1) or len(calls) >= 3  # noqa: E731
    cut = experiments.run_task(task, tmp_path / "cut", stop=stop_after_first_record)
    assert cut["status"] == "interrupted" and cut["metric_steps"] == 3  # "steps" is the override
    seen, counter = _counting()
    again = experiments.run_task(task, tmp_path / "cut", stop=counter)
    assert len(seen) == 3  # steps 4, 5 and 6 only: it continued from step 3
    assert again["status"] == "ok"
    assert {k: again[k] for k in whole if k != "seconds"} == {k: whole[k] for k in whole if k != "seconds"}
    a, b = (runs.load(tmp_path / name) for name in ("whole", "cut"))
    assert tree.equal(a.params, b.params)
    assert a.history["step"].tolist() == b.history["step"].tolist() == [2, 4, 6]
    assert a.history["train_loss"].tolist() == b.history["train_loss"].tolist()


def test_a_killed_task_keeps_its_last_record_and_is_continued(toy, tmp_path):
    marker, folder = tmp_path / "died", tmp_path / "run"
    task = Task(str(toy), {"steps": 6, "die_seed": 0, "marker": str(marker)}, 0)
    code = ("import sys; from funcnet import experiments; from funcnet.experiments import Task; "
            f"experiments.run_task(Task({str(toy)!r}, {task.overrides!r}, 0), {str(folder)!r})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -9 and marker.exists()  # SIGKILL at step 3
    assert runs.is_complete(folder) and runs.read_metrics(folder) is None
    assert runs.history(folder)["step"].tolist() == [2]
    seen, counter = _counting()
    row = experiments.run_task(task, folder, stop=counter)
    assert row["status"] == "ok" and row["metric_steps"] == 6 and len(seen) == 4
    whole = experiments.run_task(task, tmp_path / "whole")
    assert tree.equal(runs.load(folder).params, runs.load(tmp_path / "whole").params)
    assert runs.history(folder)["step"].tolist() == [2, 4, 6]


def test_a_task_run_again_over_an_ended_or_other_run_starts_afresh(toy, tmp_path):
    folder = tmp_path / "run"
    first = experiments.run_task(Task(str(toy), {"steps": 4}, 0), folder)
    (folder / "curves.png").write_bytes(b"old picture")
    seen, counter = _counting()
    other = experiments.run_task(Task(str(toy), {"steps": 6}, 1), folder, stop=counter)
    assert len(seen) == 6 and other["metric_steps"] == 6 and other["seed"] == 1
    assert not (folder / "curves.png").exists()  # the old run's files went first
    assert runs.load(folder).config["seed"] == 1 and first["seed"] == 0


# ---------------------------------------------------------------- sweeps own their tasks


def test_folder_names_are_distinct_for_distinct_tasks_and_valid_for_any_value():
    names = [experiments.folder_name(Task("p.py", {"note": v}, 0), ["note"])
             for v in ("/x/a-b.csv", "/x/a/b.csv", "x" * 300, "a b", "ü" * 200, "..", "")]
    assert len(set(names)) == len(names)
    assert all(len(n.encode()) < 255 and "/" not in n and n not in (".", "..") for n in names)
    same = [experiments.folder_name(Task("q.py", {"note": "a", "steps": s}, 0), ["note"])
            for s in (2, 3)]
    assert same[0] != same[1] and same[0].startswith("note=a_seed-0_")


def test_a_sweep_gives_each_task_its_own_folder_whatever_its_value(toy, tmp_path):
    out = tmp_path / "sweep"
    values = ["/x/a-b.csv", "/x/a/b.csv", "v" * 300]
    frame = experiments.sweep(toy, {"note": values}, [0], {"steps": 2}, out=out, workers=1)
    assert (frame["status"] == "ok").all() and frame["note"].tolist() == values
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(folders) == 3 and all((f / "metrics.json").is_file() for f in folders)
    saved = {json.loads((f / "config.json").read_text())["note"] for f in folders}
    assert saved == set(values)


def test_duplicate_grid_values_run_once(toy):
    tasks = experiments.grid(toy, {"learning_rate": [0.1, 0.10, "0.1", 0.2]}, [0, 1])
    assert [(t.overrides["learning_rate"], t.seed) for t in tasks] == [
        (0.1, 0), (0.1, 1), (0.2, 0), (0.2, 1)]
    pipe = pipeline.load_pipeline(toy)
    assert experiments.parse_grid(pipe.Config, ["steps=2,2,3", "steps=3"]) == {"steps": [2, 3]}


@pytest.mark.parametrize("grid, overrides, words", [
    ({"seed": [1, 2]}, {}, "--grid seed: the seeds are given by --seeds"),
    ({"steps": [2]}, {"seed": 1}, "--set seed: the seeds are given by --seeds"),
    ({"steps": [2, 3]}, {"steps": 4}, "--set steps=4 contradicts --grid steps=2,3"),
])
def test_a_seed_in_the_grid_or_a_set_contradicting_the_grid_is_refused(toy, grid, overrides, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        experiments.grid(toy, grid, [0], overrides)


def test_the_same_grid_in_another_order_is_the_same_sweep(toy, tmp_path):
    out = tmp_path / "sweep"
    experiments.sweep(toy, {"steps": [2, 4], "hidden": [4, 8]}, [0], out=out, workers=1)
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}
    again = experiments.sweep(toy, {"hidden": [8, 4], "steps": [4, 2]}, [0], out=out, workers=1)
    assert len(stamps) == 4 and (again["status"] == "ok").all()
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")} == stamps
    with pytest.raises(ConfigError, match=r"its grid differs: grid steps=\S+ hidden=\S+ there, "
                                          r"hidden=8,16 steps=4,2 here"):
        experiments.sweep(toy, {"hidden": [8, 16], "steps": [4, 2]}, [0], out=out, workers=1)


def test_a_sweep_folder_of_the_old_names_is_adopted_and_resumed(toy, tmp_path):
    """A sweep written before folder names had a digest: its folders are renamed, not rerun;
    of two tasks whose old names collided, the folder goes to the one whose config it holds."""
    out = tmp_path / "sweep"
    grid = {"note": ["/x/a-b.csv", "/x/a/b.csv"]}
    experiments.sweep(toy, grid, [0], {"steps": 2}, out=out, workers=1)
    tasks = experiments.grid(toy, grid, [0], {"steps": 2})
    new = [out / experiments.folder_name(t, ["note"]) for t in tasks]
    old = out / experiments.legacy_folder_name(tasks[1], ["note"])
    assert old == out / experiments.legacy_folder_name(tasks[0], ["note"])  # they collided
    new[1].rename(old)  # the old sweep kept the second task's run under the shared name
    shutil.rmtree(new[0])
    stamp = (old / "metrics.json").stat().st_mtime_ns
    again = experiments.sweep(toy, grid, [0], {"steps": 2}, out=out, workers=1)
    assert (again["status"] == "ok").all() and again.attrs["notes"] == []
    assert not old.exists() and (new[1] / "metrics.json").stat().st_mtime_ns == stamp
    assert json.loads((new[0] / "config.json").read_text())["note"] == "/x/a-b.csv"


# ---------------------------------------------------------------- a run paused at a budget


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    return small_mnist_csv(tmp_path_factory.mktemp("data") / "train.csv")


def _same_run(a: Path, b: Path) -> None:
    """Two run folders hold the same parameters and training state, bit for bit."""
    from safetensors.numpy import load_file

    pa, pb = runs.load_model(a)[0], runs.load_model(b)[0]
    assert tree.allclose(pa, pb, rtol=0, atol=0)
    sa, sb = (load_file(str(f / "state.safetensors")) for f in (a, b))
    assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)
    ha, hb = (pd.read_csv(f / "history.csv").drop(columns=["seconds", "elapsed"]) for f in (a, b))
    pd.testing.assert_frame_equal(ha, hb, check_exact=True)


def test_a_run_paused_at_budgets_and_continued_equals_the_uninterrupted_run(small_csv, tmp_path):
    """Warm-up and cosine decay over 4 epochs: paused after 1 and 3 epochs, continued to the end."""
    task = Task(str(REPO / "pipelines" / "mnist_mlp.py"), {**SMALL_MLP, "data": str(small_csv)}, 0)
    paused = [experiments.run_task(task, tmp_path / "paused", stop_at=b) for b in (1, 3, 4)]
    whole = experiments.run_task(task, tmp_path / "whole")
    assert [r["status"] for r in paused] == ["ok"] * 3 and whole["status"] == "ok"
    assert [r["stopped"] for r in paused] == ["paused", "paused", ""]
    assert [r["budget"] for r in paused] == [1, 3, 4] and [r["steps"] for r in paused] == [10, 30, 40]
    keep = [c for c in experiments.METRICS if c != "seconds"] + ["steps"]
    assert {c: paused[-1][c] for c in keep} == {c: whole[c] for c in keep}
    _same_run(tmp_path / "paused", tmp_path / "whole")
    saved = runs.read_metrics(tmp_path / "paused")
    assert saved["stopped"] is None and saved["budget"] == 4


def test_a_run_cut_off_after_its_last_record_is_judged_without_a_step_more(small_csv, tmp_path):
    task = Task(str(REPO / "pipelines" / "mnist_mlp.py"), {**SMALL_MLP, "data": str(small_csv)}, 1)
    first = experiments.run_task(task, tmp_path / "run", stop_at=2)
    (tmp_path / "run" / "metrics.json").unlink()  # killed between the state and the metrics
    again = experiments.run_task(task, tmp_path / "run", stop_at=2)
    keep = ["train_accuracy", "dev_accuracy", "loss", "steps", "budget", "stopped", "status"]
    assert {c: again[c] for c in keep} == {c: first[c] for c in keep}
    assert first["steps"] == 20 and runs.read_metrics(tmp_path / "run")["stopped"] == "paused"


def test_a_budget_needs_a_length_field(toy):
    row = experiments.run_task(Task(str(toy), {}, 0), stop_at=2)
    assert row["status"] == "error" and "needs a Config field epochs or iterations" in row["error"]
