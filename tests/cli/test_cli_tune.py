"""``funcnet tune``: the plans of this machine as a table, --refresh, --clear, bad input."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from funcnet import planner, tree, tunables
from funcnet.planner import planfile, registry

from .cli_helpers import invoke
from .test_cli_errors import assert_one_line_error

TUNE = planner.tune  # timed by the real clock


class Clock:
    """A fake pass on a fake clock: plan ``c`` costs ``c`` seconds (the plan 1 is the fastest)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def run(self, c):
        self.now += c
        return np.zeros(2)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A temporary plan folder, nothing remembered from before, and a fake pass registered."""
    monkeypatch.setenv("FUNCNET_CACHE", str(tmp_path))
    monkeypatch.setattr(planfile, "_MEMO", {})
    clock = Clock()
    monkeypatch.setattr(planner, "tune", functools.partial(planner.tune, timer=clock))
    monkeypatch.setitem(registry._REGISTRY, "fake.pass", planner.Tunable(
        lambda key: [3, 1, 2], lambda key: clock.run, ({"rows": 5},),
        lambda c, key: f"costs {c} s", lambda key: f"{key['rows']} rows"))
    return tmp_path / "plans"


def test_no_plans_yet_lists_what_refresh_would_measure(cache):
    result = invoke("tune")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0].startswith(f"machine: {planner.machine().cpu}")
    assert f"plan file: {planner.plan_file()}" in out
    assert "no plans stored for this machine" in out
    assert "  fake.pass at 5 rows" in out
    assert "  chunked.grads at 41000×784 uint8, 784-10-10 float32" in out
    assert not cache.exists()


def test_refresh_measures_stores_and_shows_the_chosen_plan(cache):
    result = invoke("tune", "--refresh", "--pass", "fake.pass", "--rounds", "3")
    assert result.exit_code == 0, result.stderr
    assert "measuring fake.pass at 5 rows: 3 plans, 3 rounds" in result.stderr
    row = next(l for l in result.stdout.splitlines() if l.startswith("fake.pass"))
    assert row.split()[:8] == ["fake.pass", "5", "rows", "costs", "1", "s", "1000.00",
                               "1000.00–1000.00"]
    assert row.split()[8] == "0.33"  # × the default plan (3 s)
    [plan] = planner.plans()
    assert (plan.name, plan.key, plan.candidates, plan.choice) == ("fake.pass", {"rows": 5}, [3, 1, 2], 1)
    assert planner.choose("fake.pass", {"rows": 5}, [3, 1, 2], None, mode="cached") == 1
    every = invoke("tune", "--all", "--pass", "fake.pass").stdout
    rows = [l for l in every.splitlines() if l.startswith("fake.pass")]
    assert [r.split()[3:5] for r in rows] == [["costs", "3"], ["*costs", "1"], ["costs", "2"]]


def test_clear_removes_the_file_then_refresh_measures_again(cache):
    assert invoke("tune", "--refresh", "--pass", "fake.pass").exit_code == 0
    path = planner.plan_file()
    assert path.exists()
    result = invoke("tune", "--clear")
    assert result.exit_code == 0 and f"removed {path}" in result.stdout
    assert not path.exists() and "no plans stored" in result.stdout
    assert "no plan file to remove" in invoke("tune", "--clear").stdout
    both = invoke("tune", "--clear", "--refresh", "--pass", "fake.pass")
    assert both.exit_code == 0 and path.exists() and "removed" not in both.stdout


def test_another_machines_plans_are_not_shown(cache, monkeypatch):
    assert invoke("tune", "--refresh", "--pass", "fake.pass").exit_code == 0
    monkeypatch.setattr(planner.identity, "_cpu", lambda: "Intel(R) Xeon(R) Platinum 8375C")
    monkeypatch.setattr(planfile, "_MEMO", {})
    result = invoke("tune")
    assert "machine: Intel(R) Xeon(R) Platinum 8375C" in result.stdout
    assert "no plans stored for this machine" in result.stdout


def test_a_corrupt_plan_file_shows_as_none_and_is_replaced(cache):
    path = planner.plan_file()
    path.parent.mkdir(parents=True)
    path.write_text('{"format": "funcnet plans", "version": 1, "machine": {"cpu"', encoding="utf-8")
    assert "no plans stored" in invoke("tune").stdout
    assert invoke("tune", "--refresh", "--pass", "fake.pass").exit_code == 0
    assert json.loads(path.read_text(encoding="utf-8"))["plans"]["fake.pass"]


def test_the_chunked_pass_is_measured_with_plans_of_the_same_bits(cache, monkeypatch):
    key = {"rows": 3000, "sizes": [784, 10, 10], "x": "uint8", "dtype": "float32"}
    t = planner.registered()[tunables.CHUNKED]
    monkeypatch.setitem(registry._REGISTRY, tunables.CHUNKED, t._replace(keys=(key,)))
    monkeypatch.setattr(planner, "tune", TUNE)
    result = invoke("tune", "--refresh", "--pass", tunables.CHUNKED, "--rounds", "1", "--all")
    assert result.exit_code == 0, result.stderr
    [plan] = planner.plans()
    assert plan.candidates == tunables.chunked_candidates(key)
    run = tunables.chunked_run(key)
    reference = run(plan.candidates[0])
    for cand, secs in zip(plan.candidates, plan.seconds):
        if secs is not None:  # every plan measured gives the default's bits
            assert tree.equal(run(cand), reference)
    assert sum(l.startswith(tunables.CHUNKED) for l in result.stdout.splitlines()) == len(plan.candidates)


def test_an_unknown_pass_is_a_one_line_error():
    assert_one_line_error(invoke("tune", "--pass", "nope"), 2, "--pass nope", "fake.pass")


def test_an_unwritable_cache_folder_is_a_one_line_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("FUNCNET_CACHE", str(blocker))
    assert_one_line_error(invoke("tune", "--refresh", "--pass", "fake.pass"), 1, str(blocker))


def test_rounds_below_one_is_a_usage_error():
    assert_one_line_error(invoke("tune", "--rounds", "0"), 2, "--rounds")


def test_entries_a_pass_cannot_describe_are_shown_as_json(cache):
    path = planner.plan_file()
    entry = {"candidates": [{"odd": 1}, {"odd": 2}], "choice": 1, "seconds": [[0.002], [0.001]],
             "rounds": 1, "measured": "then"}
    planner.store(path, planner.machine(), tunables.CHUNKED, planner.canonical([1, 2]), entry)
    planner.store(path, planner.machine(), "gone.pass", planner.canonical({"n": 1}), entry)
    result = invoke("tune", "--all")
    assert result.exit_code == 0, result.stderr
    rows = [l.split() for l in result.stdout.splitlines() if l.startswith(("chunked", "gone"))]
    assert [r[:3] for r in rows] == [["chunked.grads", "[1,2]", '{"odd":1}'],
                                    ["chunked.grads", "[1,2]", '*{"odd":2}'],
                                    ["gone.pass", '{"n":1}', '{"odd":1}'],
                                    ["gone.pass", '{"n":1}', '*{"odd":2}']]
