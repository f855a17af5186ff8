"""Searches: spaces and sampling, the rungs, decisions made in one order whatever the order
rows come in, and whole searches on toy pipelines (a failing trial, a promoted trial equal to
an uninterrupted run, a rerun reading its rows back, the TPE sampler on workers)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcnet import experiments, pipeline, rng, runs, tree
from funcnet import plots as fplots
from funcnet.errors import ConfigError
from funcnet.experiments import Dimension, Ladder, Task

from experiments_helpers import SMALL_MLP, small_mnist_csv, write_search_toy

pytest.importorskip("optuna")

REPO = Path(__file__).resolve().parents[2]
MLP = REPO / "pipelines" / "mnist_mlp.py"


@pytest.fixture
def toy(tmp_path) -> Path:
    return write_search_toy(tmp_path)


def no_timing(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["seconds"]).reset_index(drop=True)


# ---------------------------------------------------------------- spaces and sampling


def test_a_space_is_parsed_typed_by_its_fields(toy):
    C = pipeline.load_pipeline(toy).Config
    space = experiments.parse_space(C, ["learning_rate=log:1e-4..1e-1", "momentum=0..0.5",
                                        "hidden=8..64", "epochs=int:1..3", "seed=choice:1,2"])
    assert space["learning_rate"] == Dimension("log", 1e-4, 0.1)
    assert space["momentum"] == Dimension("uniform", 0.0, 0.5)
    assert space["hidden"] == Dimension("int", 8, 64, True)
    assert space["epochs"] == Dimension("int", 1, 3, True)
    assert experiments.space_text(space)["learning_rate"] == "log:0.0001..0.1"


@pytest.mark.parametrize("item, words", [
    ("learnin_rate=0..1", "--space learnin_rate: unknown config key (did you mean learning_rate?)"),
    ("learning_rate=1..0", "--space learning_rate=1..0: expected finite LOW < HIGH"),
    ("learning_rate=log:0..1", "a log-uniform range needs LOW > 0"),
    ("hidden=choice:8,x", "--space hidden=x: expected int"),
    ("hidden=8", "expected a range of integers LOW..HIGH"),
    ("learning_rate", "expected KEY=SPEC"),
])
def test_a_bad_space_is_one_line(toy, item, words):
    C = pipeline.load_pipeline(toy).Config
    with pytest.raises(ConfigError, match=re_escape(words)):
        experiments.parse_space(C, [item])


def re_escape(text: str) -> str:
    import re
    return re.escape(text)


def test_the_same_seed_draws_the_same_configurations_another_seed_others(toy):
    space = {"learning_rate": "log:1e-4..1e-1", "hidden": "choice:4,8,16", "momentum": "0..0.9"}
    a = experiments.sample(space, 6, rng.key(3), toy, seeds=[0, 1])
    b = experiments.sample(space, 6, rng.key(3), toy, seeds=[0, 1])
    c = experiments.sample(space, 6, rng.key(4), toy, seeds=[0, 1])
    assert [t.overrides for t in a] == [t.overrides for t in b] != [t.overrides for t in c]
    assert [t.seed for t in a] == [0, 1] * 6 and a[0].overrides == a[1].overrides
    ladder = Ladder(experiments.parse_space(pipeline.load_pipeline(toy).Config, space), 6, [0],
                    [9], sampler="random", key=rng.key(3))
    assert ladder.configs == [t.overrides for t in a[::2]]  # what a search of seed 3 tries


def _ks(u: np.ndarray) -> float:
    """The Kolmogorov–Smirnov statistic of ``u`` against U(0, 1)."""
    u = np.sort(u)
    n = len(u)
    return float(max((np.arange(1, n + 1) / n - u).max(), (u - np.arange(n) / n).max()))


def test_log_uniform_draws_lie_in_range_and_are_uniform_in_the_log():
    """Kolmogorov–Smirnov at α = 0.001: the critical D is 1.949/√n (Kolmogorov's limit law),
    with a fixed key; the same test refuses the linear draws of a uniform range."""
    n, low, high = 4000, 1e-4, 1e-1
    log = [d["lr"] for d in experiments.spaces.draw({"lr": Dimension("log", low, high)}, n, rng.key(0))]
    lin = [d["lr"] for d in experiments.spaces.draw({"lr": Dimension("uniform", low, high)}, n, rng.key(0))]
    x = np.array(log)
    assert x.min() >= low and x.max() <= high
    critical = 1.949 / math.sqrt(n)
    in_log = lambda v: (np.log(v) - math.log(low)) / (math.log(high) - math.log(low))
    assert _ks(in_log(x)) < critical
    assert _ks(in_log(np.array(lin))) > critical


def test_integer_and_choice_draws_take_every_value_and_no_other():
    space = {"h": Dimension("int", 2, 5, True), "s": Dimension("choice", choices=((784, 10), (784, 32, 10)))}
    draws = experiments.spaces.draw(space, 400, rng.key(1))
    assert {d["h"] for d in draws} == {2, 3, 4, 5} and all(type(d["h"]) is int for d in draws)
    assert {d["s"] for d in draws} == {(784, 10), (784, 32, 10)}


# ---------------------------------------------------------------- rungs and decisions


def _row(value, status="ok", stopped="paused") -> dict:
    return {"dev_accuracy": value, "status": status, "stopped": stopped}


def _ladder(trials: int, budgets, eta: int, seeds=(0,)) -> Ladder:
    return Ladder({"x": Dimension("uniform", 0.0, 1.0)}, trials, seeds, budgets, eta, "random",
                  rng.key(0))


def test_promotion_decisions_by_hand():
    """η = 2, budgets 1, 2, 4. Rung 0: 0.5, 0.7, 0.6, 0.9 — trial 0 alone goes on; trial 1 is
    the best of two; trial 2 is not the best of three; trial 3 is among the best ⌊4/2⌋ = 2 of
    four. Rung 1: 0.8, 0.6, 0.95 — trial 0 alone goes on, trial 1 is not the best of two,
    trial 3 is the best of three. Rows arriving out of order wait for the trials before them."""
    ladder = _ladder(4, [1, 2, 4], 2)
    assert ladder.ready() == [(0, 0, 0), (1, 0, 0), (2, 0, 0), (3, 0, 0)]
    ladder.record(3, 0, 0, _row(0.9))
    ladder.record(1, 0, 0, _row(0.7))
    ladder.advance()
    assert ladder.decision(3, 0) == ladder.decision(1, 0) == ""  # trial 0 is not in yet
    for t, v in ((0, 0.5), (2, 0.6)):
        ladder.record(t, 0, 0, _row(v))
    ladder.advance()
    assert [ladder.decision(t, 0) for t in range(4)] == ["promoted", "promoted", "pruned", "promoted"]
    assert ladder.ready() == [(0, 1, 0), (1, 1, 0), (3, 1, 0)]
    for t, v in ((3, 0.95), (1, 0.6), (0, 0.8)):
        ladder.record(t, 1, 0, _row(v))
    ladder.advance()
    assert [ladder.decision(t, 1) for t in (0, 1, 3)] == ["promoted", "pruned", "promoted"]
    assert ladder.ready() == [(0, 2, 0), (3, 2, 0)] and not ladder.settled()
    ladder.record(0, 2, 0, _row(0.85, stopped=""))
    ladder.record(3, 2, 0, _row(0.97, stopped=""))
    ladder.advance()
    assert ladder.settled() and [ladder.decision(t, 2) for t in (0, 3)] == ["done", "done"]
    assert ladder.study.best_trial.number == 3 and ladder.study.best_value == 0.97


def test_a_failed_or_ended_trial_is_decided_and_the_others_go_on():
    ladder = _ladder(3, [1, 3, 9], 3, seeds=(0, 1))
    ladder.record(0, 0, 0, _row(0.5))
    ladder.record(0, 0, 1, _row(None, status="error", stopped=""))
    ladder.record(1, 0, 0, _row(0.6, stopped=""))  # ended before its budget (early stopping)
    ladder.record(1, 0, 1, _row(0.8, stopped=""))
    ladder.record(2, 0, 0, _row(0.4))
    ladder.record(2, 0, 1, _row(0.4))
    ladder.advance()
    assert [ladder.decision(t, 0) for t in range(3)] == ["failed", "done", "pruned"]
    assert ladder.settled() and ladder.ready() == []


@settings(deadline=None, max_examples=25)
@given(st.integers(2, 9), st.integers(2, 3), st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.5, 0.9]),
                                                       min_size=27, max_size=27),
       st.randoms(use_true_random=False))
def test_decisions_do_not_depend_on_the_order_rows_come_in(n, eta, values, arrival):
    """Rows fed as they would finish on any number of workers, in any order, give the
    decisions of rows fed one by one in trial order."""
    budgets = experiments.rungs(1, eta ** 2, eta)

    def run(pick) -> dict:
        ladder = _ladder(n, budgets, eta)
        while not ladder.settled():
            t, r, s = pick(ladder.ready())
            last = r == len(budgets) - 1
            ladder.record(t, r, s, _row(values[(t * 3 + r) % 27], stopped="" if last else "paused"))
            ladder.advance()
        return {(t, r): ladder.decision(t, r) for t in range(n) for r in range(len(budgets))}

    assert run(lambda todo: arrival.choice(todo)) == run(lambda todo: min(todo))


def test_rungs_are_powers_of_eta_up_to_the_whole_budget():
    assert experiments.rungs(1, 27, 3) == [1, 3, 9, 27]
    assert experiments.rungs(3, 20, 2) == [3, 6, 12, 20]
    with pytest.raises(ConfigError, match="η ≥ 2"):
        experiments.rungs(1, 9, 1)


# ---------------------------------------------------------------- searches


def test_a_search_prunes_by_dev_accuracy_and_spends_less_than_the_whole_grid(toy, tmp_path):
    space = {"learning_rate": "log:1e-3..3", "hidden": "choice:4,16"}
    frame = experiments.search(toy, space, 9, halving=3, min_budget=1, workers=1,
                               out=tmp_path / "s")
    assert frame.attrs["budgets"] == [1, 3, 9] and frame.attrs["unit"] == "epochs"
    assert list(frame.columns[:6]) == ["trial", "learning_rate", "hidden", "seed", "rung", "budget"]
    assert (frame["status"] == "ok").all() and set(frame["decision"]) <= {"promoted", "pruned", "done"}
    assert (frame[frame["rung"] == 0]["budget"] == 1).all()
    assert (frame[frame["decision"] == "done"]["budget"] == 9).all()
    spent, whole = experiments.budget_spent(frame)
    assert whole == 81 and spent < whole
    saved = experiments.read_results(tmp_path / "s" / "results.csv")
    assert saved["decision"].tolist() == frame["decision"].tolist()
    best = experiments.best_trials(frame)
    assert best["budget"].iloc[0] == 9 and best["dev_accuracy"].iloc[0] == frame[
        frame["budget"] == 9]["dev_accuracy"].max()
    assert len(list((tmp_path / "s").glob("trial-*"))) == 9
    if fplots.available():
        pictures = experiments.searching.sweep_pictures(tmp_path / "s", frame, experiments.parse_space(
            pipeline.load_pipeline(toy).Config, space))
        assert [p.name for p in pictures] == ["parallel.png", "curves.png"]
        assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pictures)


def test_a_failing_trial_is_a_row_never_an_abort(toy):
    frame = experiments.search(toy, {"learning_rate": "choice:0.1,1e30", "hidden": "choice:4,8"},
                               6, halving=3, min_budget=1, workers=1)
    failed = frame[frame["status"] == "error"]
    assert len(failed) and (failed["decision"] == "failed").all()
    assert failed["error"].str.startswith("non-finite loss").all()
    assert (frame[frame["learning_rate"] == 0.1]["status"] == "ok").all()
    assert frame["trial"].nunique() == 6


def test_a_promoted_trial_equals_an_uninterrupted_run_bit_for_bit(tmp_path):
    """Warm-up and cosine decay over 4 epochs: trial 0 (promoted at each rung, always: it is
    judged alone) is paused after 1 and 3 epochs and continued; the run of its config in one go
    has the same figures, parameters and history."""
    csv = small_mnist_csv(tmp_path / "train.csv")
    fixed = {**SMALL_MLP, "data": str(csv)}
    frame = experiments.search(MLP, {"learning_rate": "log:1e-3..1e-2"}, 3, halving=3, min_budget=1,
                               overrides=fixed, workers=1, out=tmp_path / "s")
    first = frame[frame["trial"] == 0]
    assert first["budget"].tolist() == [1, 3, 4] and first["decision"].tolist() == [
        "promoted", "promoted", "done"]
    task = Task(str(MLP), {**experiments.parse_sets(pipeline.load_pipeline(MLP).Config, fixed),
                           "learning_rate": first["learning_rate"].iloc[0]}, 0)
    whole = experiments.run_task(task, tmp_path / "whole")
    last = first.iloc[-1]
    for column in ("train_accuracy", "dev_accuracy", "loss", "steps"):
        assert last[column] == whole[column], column
    [folder] = (tmp_path / "s").glob("trial-0_*")
    assert tree.allclose(runs.load_model(folder)[0], runs.load_model(tmp_path / "whole")[0],
                         rtol=0, atol=0)
    h1, h2 = (pd.read_csv(f / "history.csv").drop(columns=["seconds", "elapsed"])
              for f in (folder, tmp_path / "whole"))
    pd.testing.assert_frame_equal(h1, h2, check_exact=True)


def test_a_rerun_reads_the_rows_back_and_goes_on_with_the_same_decisions(toy, tmp_path):
    space = {"learning_rate": "log:1e-3..3"}
    out = tmp_path / "s"
    first = experiments.search(toy, space, 8, halving=3, min_budget=1, workers=1, out=out)
    results = out / "results.csv"
    table = pd.read_csv(results)
    table.iloc[: len(table) // 2].to_csv(results, index=False)  # as if stopped half way
    again = experiments.search(toy, space, 8, halving=3, min_budget=1, workers=1, out=out)
    pd.testing.assert_frame_equal(no_timing(again), no_timing(first))
    with pytest.raises(ConfigError, match="holds another sweep"):
        experiments.search(toy, space, 9, halving=3, min_budget=1, workers=1, out=out)
    moved = pd.read_csv(results).assign(learning_rate=0.5)
    moved.to_csv(results, index=False)
    with pytest.raises(ConfigError, match="trial 0 holds .* but the sampler now draws"):
        experiments.search(toy, space, 8, halving=3, min_budget=1, workers=1, out=out)


def test_tpe_on_workers_gives_the_rows_of_tpe_here(toy):
    """14 trials: TPE draws trials 12 and 13 from the 5 and 6 trials told before them (its
    first ones at random, as the random sampler of the same seed), the same ones however the
    two workers' rows interleave."""
    space = {"learning_rate": "log:1e-3..3", "hidden": "int:2..16"}
    here = experiments.search(toy, space, 14, halving=3, min_budget=1, sampler="tpe", seed=5,
                              workers=1)
    there = experiments.search(toy, space, 14, halving=3, min_budget=1, sampler="tpe", seed=5,
                               workers=2)
    pd.testing.assert_frame_equal(no_timing(here), no_timing(there))
    draws = experiments.spaces.draw(experiments.parse_space(pipeline.load_pipeline(toy).Config, space),
                                    14, rng.key(5))
    drawn = here.groupby("trial")["learning_rate"].first().tolist()
    assert drawn[:12] == [d["learning_rate"] for d in draws[:12]]
    assert drawn[12:] != [d["learning_rate"] for d in draws[12:]]


def test_without_halving_every_trial_runs_its_whole_budget(toy):
    frame = experiments.search(toy, {"learning_rate": "log:1e-3..1"}, 3, halving=None, workers=1)
    assert frame["budget"].tolist() == [9, 9, 9] and (frame["decision"] == "done").all()
    assert frame["stopped"].tolist() == ["", "", ""]


@pytest.mark.parametrize("kwargs, words", [
    ({"space": {"epochs": "1..3"}}, "--space epochs: halving spends epochs as its budget"),
    ({"space": {"hidden": "2..8"}, "overrides": {"hidden": 4}}, "--set hidden=4 contradicts --space hidden=int:2..8"),
    ({"space": {"seed": "choice:1,2"}}, "--space seed: the seeds are given by --seeds"),
    ({"space": {"hidden": "2..8"}, "min_budget": 20}, "expected 1 ≤ minimum budget ≤ 9"),
])
def test_a_search_that_cannot_be_is_refused_before_any_run(toy, tmp_path, kwargs, words):
    with pytest.raises(ConfigError, match=re_escape(words)):
        experiments.search(toy, trials=2, halving=3, workers=1, out=tmp_path / "s",
                           **{"min_budget": 1, **kwargs})
    assert not (tmp_path / "s" / "results.csv").exists()


def test_a_stopped_search_run_again_ends_with_the_rows_of_one_go(toy, tmp_path):
    """Stopped in the middle of a run (the run's row interrupted, its folder saved), then run
    again: the rows and decisions of the search run in one go."""
    space = {"learning_rate": "log:1e-3..3"}
    calls = iter(range(10**6))
    cut = experiments.search(toy, space, 6, halving=3, min_budget=1, workers=1, out=tmp_path / "s",
                             stop=lambda: next(calls) > 12)
    assert (cut["status"] == "interrupted").sum() == 1 and len(cut) < 8
    again = experiments.search(toy, space, 6, halving=3, min_budget=1, workers=1, out=tmp_path / "s")
    whole = experiments.search(toy, space, 6, halving=3, min_budget=1, workers=1, out=tmp_path / "w")
    pd.testing.assert_frame_equal(no_timing(again), no_timing(whole))
