"""Properties of the planner's pure parts: the choice is the least median among the
candidates giving the default's bits, whatever the costs; no plan file content, however
damaged, makes reading fail; the CPU's name never fails; canonical keys round-trip."""

from __future__ import annotations

import copy
import json
import statistics

from hypothesis import given, settings, strategies as st

from funcnet import planner

# whole seconds: a fake clock's differences are then exact
COSTS = st.lists(st.lists(st.integers(0, 1000), min_size=3, max_size=3), min_size=1, max_size=6)


@settings(deadline=None)
@given(costs=COSTS, bits=st.lists(st.booleans(), min_size=6, max_size=6))
def test_the_choice_is_the_least_median_among_the_same_bits(costs, bits):
    """costs[c][r]: candidate c's time in round r; bits[c]: whether it gives other bits."""
    candidates = [{"c": i} for i in range(len(costs))]
    before = copy.deepcopy(candidates)
    now, timed = [0.0], {i: iter(cs) for i, cs in enumerate(costs)}
    warmed = set()

    def run(cand):
        i = cand["c"]
        if i in warmed:
            now[0] += next(timed[i])
        warmed.add(i)
        return 1.0 if (i and bits[i]) else 0.0

    found = planner.measure(candidates, run, rounds=3, timer=lambda: now[0])
    same = [i for i in range(len(costs)) if not (i and bits[i])]
    medians = {i: statistics.median(costs[i]) for i in same}
    assert found.choice in same and medians[found.choice] == min(medians.values())
    assert found.choice == min(i for i in same if medians[i] == medians[found.choice])
    assert [s is None for s in found.seconds] == [i not in same for i in range(len(costs))]
    assert candidates == before  # the candidates are only read


@settings(deadline=None, max_examples=200)
@given(data=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                                   lambda kids: st.lists(kids, max_size=3)
                                   | st.dictionaries(st.text(max_size=8), kids, max_size=3),
                                   max_leaves=20).map(lambda v: json.dumps(v).encode())))
def test_no_file_content_makes_reading_fail(tmp_path_factory, data):
    host = planner.machine()
    path = tmp_path_factory.mktemp("plans") / "plans.json"
    path.write_bytes(data)
    assert planner.read_plans(path, host) == {}


@settings(deadline=None)
@given(st.text(max_size=300))
def test_the_cpu_name_never_fails(text):
    name = planner.cpu_model(text)
    assert isinstance(name, str) and name


@settings(deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                    lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.text(max_size=6), kids, max_size=3), max_leaves=15))
def test_canonical_text_round_trips(value):
    text = planner.canonical(value)
    assert planner.canonical(json.loads(text)) == text


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                       lambda kids: st.lists(kids, max_size=3)
                       | st.dictionaries(st.text(max_size=6), kids, max_size=3), max_leaves=12)


@settings(deadline=None, max_examples=150)
@given(plans=st.dictionaries(st.text(max_size=6), JSONISH | st.dictionaries(
    st.text(max_size=8), JSONISH | st.fixed_dictionaries(
        {"candidates": JSONISH, "choice": JSONISH, "seconds": JSONISH}), max_size=3), max_size=3))
def test_a_plan_file_of_this_machine_with_any_entries_never_fails(tmp_path_factory, plans):
    """A file whose header is right but whose entries are anything: listing and choosing
    skip what is malformed."""
    host = planner.machine()
    folder = tmp_path_factory.mktemp("plans")
    doc = {"format": planner.FORMAT, "version": 1, "machine": host._asdict(), "plans": plans}
    planner.plan_file(folder, host).write_text(json.dumps(doc), encoding="utf-8")
    listed = planner.plans(folder, host)
    assert all(0 <= p.choice < len(p.candidates) for p in listed)
    for name, entries in plans.items():
        for key_text in entries if isinstance(entries, dict) else ():
            try:
                key = json.loads(key_text)
                planner.canonical(key)
            except ValueError:  # not JSON, or NaN or ±inf in it: not a key a pass can have
                continue
            chosen = planner.choose(name, key, [1, 2], None, mode="cached", folder=folder, host=host)
            assert chosen in (1, 2)
