"""Properties of the experiments' pure pieces: task folder names, grid values, rungs, the
parallel-coordinates axes, and sampling (the same key, the same draws, inside the space)."""

import copy

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from funcnet import plots, rng
from funcnet.experiments import Dimension, Task, folder_name, rungs, task_digest
from funcnet.experiments.tasks import distinct

PROPS = settings(deadline=None, max_examples=60)
FEW = settings(deadline=None, max_examples=20)

values = st.one_of(st.text(max_size=400), st.integers(), st.floats(allow_nan=False),
                   st.tuples(st.integers(1, 1000), st.integers(1, 1000)), st.booleans(), st.none())


@PROPS
@given(st.dictionaries(st.sampled_from(["data", "lr", "sizes", "note"]), values, min_size=1),
       st.integers(0, 10**6))
def test_a_folder_name_is_one_valid_name_whatever_the_values(overrides, seed):
    task = Task("p.py", overrides, seed)
    name = folder_name(task, sorted(overrides))
    assert 0 < len(name.encode("utf-8")) < 255 and "/" not in name and "\0" not in name
    assert name not in (".", "..") and name.endswith("_" + task_digest(task))
    assert folder_name(Task("q.py", dict(overrides), seed), sorted(overrides)) == name


@PROPS
@given(values, values, st.integers(0, 3))
def test_distinct_values_get_distinct_folders(a, b, seed):
    ta, tb = Task("p.py", {"data": a}, seed), Task("p.py", {"data": b}, seed)
    same = type(a) is type(b) and repr(a) == repr(b)  # 0.0 and -0.0 are two values
    assert (folder_name(ta, ["data"]) == folder_name(tb, ["data"])) == same


@PROPS
@given(st.one_of(st.lists(st.integers(-5, 5)), st.lists(st.floats(0, 1)),
                 st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)))))
def test_distinct_keeps_the_first_of_equal_values_in_order_and_leaves_its_input(items):
    """The values of one field (one type): each kept once, first come first."""
    before = copy.deepcopy(items)
    out = distinct(items)
    assert items == before
    assert out == [v for i, v in enumerate(items) if v not in items[:i]]


@PROPS
@given(st.integers(1, 50), st.integers(1, 500), st.integers(2, 5))
def test_rungs_grow_by_eta_from_the_minimum_to_the_whole_budget(low, extra, eta):
    high = low + extra - 1
    budgets = rungs(low, high, eta)
    assert budgets[0] == low and budgets[-1] == high
    assert all(b * eta == c for b, c in zip(budgets[:-2], budgets[1:-1]))
    assert all(b < c for b, c in zip(budgets, budgets[1:])) and budgets[-2:-1] != [high]


@PROPS
@given(st.lists(st.floats(1e-6, 1e6), min_size=1, max_size=50), st.booleans())
def test_parallel_axes_lie_in_the_unit_interval_and_keep_the_order(xs, log):
    pos, labels, ticks = plots.axis_positions(xs, log=log)
    assert pos.shape == (len(xs),) and ((0 <= pos) & (pos <= 1)).all() and len(labels) == 2
    order = np.argsort(xs, kind="stable")
    assert (np.diff(pos[order]) >= -1e-12).all()


@FEW
@given(st.integers(0, 2**31 - 1), st.floats(1e-8, 1.0), st.floats(1.5, 1e4), st.integers(1, 30))
def test_draws_are_inside_the_space_and_the_same_for_the_same_key(seed, low, ratio, n):
    pytest.importorskip("optuna")
    from funcnet.experiments.spaces import draw

    space = {"lr": Dimension("log", low, low * ratio), "h": Dimension("int", 1, 9, True),
             "c": Dimension("choice", choices=("a", "b"))}
    a, b = draw(space, n, rng.key(seed)), draw(space, n, rng.key(seed))
    assert a == b and len(a) == n
    assert all(low <= d["lr"] <= low * ratio and 1 <= d["h"] <= 9 and d["c"] in ("a", "b") for d in a)
