"""The planner: the fastest plan under a fake clock among those giving the default's bits,
never another machine's plan, plan files that survive corruption and concurrent stores,
and the modes that turn measuring off."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time

import numpy as np
import pytest

from funcnet import planner, tree, tunables
from funcnet.model import _fused as chunked
from funcnet.errors import ConfigError
from funcnet.planner import identity, planfile

KEY = {"rows": 8, "dtype": "float32"}
CANDIDATES = [{"cost": 3}, {"cost": 1}, {"cost": 2}]


class FakePass:
    """A pass whose candidate ``c`` costs ``c["cost"]`` seconds of a fake clock and returns
    ``c.get("bits", 0)``; it records the order of its calls."""

    def __init__(self):
        self.now, self.calls = 0.0, []

    def timer(self) -> float:
        return self.now

    def __call__(self, c):
        self.calls.append(c)
        self.now += c["cost"]
        return np.array([c.get("bits", 0.0)])


@pytest.fixture(autouse=True)
def _fresh_memo():
    """Each test starts without plans remembered by the process."""
    planfile._MEMO.clear()
    yield
    planfile._MEMO.clear()


@pytest.fixture
def host() -> planner.Machine:
    return planner.machine()


def fake_cpu(host: planner.Machine, name: str = "Intel(R) Xeon(R) Platinum 8488C") -> planner.Machine:
    return host._replace(cpu=name)


def choose(folder, host, run, candidates=CANDIDATES, **kw):
    kw.setdefault("mode", "measure")
    return planner.choose("fake.pass", KEY, candidates, run, folder=folder, host=host,
                          timer=run.timer, **kw)


# --- measuring ------------------------------------------------------------------------------

def test_the_fastest_median_is_chosen_under_a_fake_clock():
    run = FakePass()
    found = planner.measure(CANDIDATES, run, rounds=5, timer=run.timer)
    assert found.choice == 1
    assert found.seconds == ((3.0,) * 5, (1.0,) * 5, (2.0,) * 5)


def test_the_median_not_the_mean_decides():
    # candidate 1 is slow in one round (a disturbed round), faster in the others
    costs = {0: iter([2, 2, 2, 2, 2, 2]), 1: iter([1, 1, 50, 1, 1, 1])}
    now = [0.0]

    def run(c):
        now[0] += next(costs[c])
        return 0

    assert planner.measure([0, 1], run, rounds=5, timer=lambda: now[0]).choice == 1


def test_ties_keep_the_earlier_candidate():
    run = FakePass()
    assert planner.measure([{"cost": 1}, {"cost": 1}], run, timer=run.timer).choice == 0


def test_rounds_alternate_and_each_candidate_runs_once_untimed_first():
    run = FakePass()
    planner.measure([{"cost": 1, "n": 0}, {"cost": 1, "n": 1}, {"cost": 1, "n": 2}], run,
                    rounds=3, timer=run.timer)
    order = [c["n"] for c in run.calls]
    assert order == [0, 1, 2, 0, 1, 2, 1, 2, 0, 2, 0, 1]


def test_a_candidate_with_other_bits_is_never_chosen_however_fast():
    run = FakePass()
    cands = [{"cost": 3}, {"cost": 0.5, "bits": 1e-30}, {"cost": 2}]
    found = planner.measure(cands, run, timer=run.timer)
    assert found.choice == 2 and found.seconds[1] is None


def test_no_candidates_is_an_error():
    with pytest.raises(ValueError, match="no candidates"):
        planner.measure([], FakePass())


def test_the_planner_picks_among_chunked_layouts_giving_the_same_bits():
    """Layouts of the chunked pass: other chunk rows change the order of the sums (other bits)
    and are dropped; the chosen layout, the fastest of the rest, gives the default's bits."""
    key = {"rows": 700, "sizes": [20, 6, 4], "x": "uint8", "dtype": "float64"}
    run = tunables.chunked_run(key)
    base = {"chunk_bytes": 64 * 20 * 8, "forward": 0, "backward": 0}
    cands = [dict(base, threads=2), dict(base, threads=1), dict(base, chunk_bytes=128 * 20 * 8, threads=2)]
    assert not tree.equal(run(cands[0]), run(cands[2]))  # 128-row chunks: other bits
    cost = {0: 3.0, 1: 2.0, 2: 1.0}
    now = [0.0]

    def timed(c):
        now[0] += cost[cands.index(c)]
        return run(c)

    found = planner.measure(cands, timed, timer=lambda: now[0])
    assert found.choice == 1 and found.seconds[2] is None
    assert tree.equal(run(cands[found.choice]), run(cands[0]))


def test_every_registered_chunked_plan_keeps_the_default_chunk_rows():
    for key in tunables.TUTORIAL:
        cands = tunables.chunked_candidates(key)
        default = chunked.layout(np.dtype(key["dtype"]))
        assert cands[0] == dict(default._asdict(), threads=planner.usable_cores())
        assert {c["chunk_bytes"] for c in cands} == {default.chunk_bytes}
        assert len({planner.canonical(c) for c in cands}) == len(cands)


# --- choosing, storing, and another machine ----------------------------------------------------

def test_first_use_measures_and_stores_later_uses_read_the_file(tmp_path, host):
    run = FakePass()
    assert choose(tmp_path, host, run) == {"cost": 1}
    assert run.calls
    planfile._MEMO.clear()  # as a new process: only the file is left
    again = FakePass()
    assert choose(tmp_path, host, again) == {"cost": 1}
    assert again.calls == []
    [plan] = planner.plans(tmp_path, host)
    assert (plan.name, plan.key, plan.choice, plan.rounds) == ("fake.pass", KEY, 1, 5)


def test_a_plan_is_remembered_in_the_process(tmp_path, host):
    choose(tmp_path, host, FakePass())
    planner.plan_file(tmp_path, host).unlink()
    run = FakePass()
    assert choose(tmp_path, host, run) == {"cost": 1} and run.calls == []


def test_a_faked_cpu_model_never_uses_another_machines_plan(tmp_path, host):
    choose(tmp_path, host, FakePass())
    other = fake_cpu(host)
    assert planner.plan_file(tmp_path, other) != planner.plan_file(tmp_path, host)
    assert planner.plans(tmp_path, other) == []
    assert choose(tmp_path, other, FakePass(), mode="cached") == {"cost": 3}  # the default
    run = FakePass()
    choose(tmp_path, other, run)
    assert run.calls  # measured anew on the other CPU
    # the other machine's file copied under this machine's name is foreign: ignored
    planner.plan_file(tmp_path, other).write_bytes(planner.plan_file(tmp_path, host).read_bytes())
    planfile._MEMO.clear()
    assert planner.read_plans(planner.plan_file(tmp_path, other), other) == {}


def test_a_faked_cpu_model_read_from_cpuinfo_changes_the_machine(monkeypatch, tmp_path):
    real = planner.machine()
    choose(tmp_path, real, FakePass())
    monkeypatch.setattr(identity, "_cpu", lambda: "Intel(R) Xeon(R) CPU @ 2.20GHz")
    faked = planner.machine()
    assert faked.cpu != real.cpu and faked != real
    run = FakePass()
    assert planner.choose("fake.pass", KEY, CANDIDATES, run, mode="cached", folder=tmp_path) \
        == CANDIDATES[0]
    assert run.calls == []


@pytest.mark.parametrize("field, value", [("kernel", "Haswell-other"), ("blas", "mkl 2024"),
                                          ("numpy", "0.0"), ("cores", 96), ("arch", "aarch64")])
def test_any_other_identity_field_is_another_machine(tmp_path, host, field, value):
    choose(tmp_path, host, FakePass())
    other = host._replace(**{field: value})
    assert planner.read_plans(planner.plan_file(tmp_path, host), other) == {}
    assert choose(tmp_path, other, FakePass(), mode="cached") == CANDIDATES[0]


def test_changed_candidates_are_measured_again(tmp_path, host):
    choose(tmp_path, host, FakePass())
    run = FakePass()
    new = CANDIDATES + [{"cost": 0.5}]
    assert choose(tmp_path, host, run, candidates=new) == {"cost": 0.5} and run.calls


def test_stores_keep_the_other_entries(tmp_path, host):
    choose(tmp_path, host, FakePass())
    planner.choose("fake.pass", {"rows": 9}, CANDIDATES, FakePass(), mode="measure",
                   folder=tmp_path, host=host, timer=FakePass().timer)
    planner.choose("other.pass", KEY, [1, 2], lambda c: 0, mode="measure", folder=tmp_path,
                   host=host)
    names = {(p.name, json.dumps(p.key, sort_keys=True)) for p in planner.plans(tmp_path, host)}
    assert len(names) == 3


# --- corrupt, truncated, foreign files -----------------------------------------------------------

def valid_file(folder, host) -> bytes:
    choose(folder, host, FakePass())
    planfile._MEMO.clear()
    return planner.plan_file(folder, host).read_bytes()


BAD = {
    "empty": b"",
    "not json": b"{plans: nope",
    "binary": bytes(range(256)) * 4,
    "a list": b"[1, 2, 3]",
    "deep": b"[" * 100_000,
    "no machine": json.dumps({"format": planner.FORMAT, "version": 1, "plans": {}}).encode(),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_corrupt_file_is_ignored_and_rewritten(tmp_path, host, name):
    path = planner.plan_file(tmp_path, host)
    path.write_bytes(BAD[name])
    assert planner.read_plans(path, host) == {} and planner.plans(tmp_path, host) == []
    run = FakePass()
    assert choose(tmp_path, host, run) == {"cost": 1} and run.calls
    assert len(planner.plans(tmp_path, host)) == 1


def test_every_truncation_is_ignored(tmp_path, host):
    whole = valid_file(tmp_path, host)
    path = planner.plan_file(tmp_path, host)
    full = planner.read_plans(path, host)
    for cut in range(0, len(whole), max(1, len(whole) // 97)):
        path.write_bytes(whole[:cut])
        assert planner.read_plans(path, host) in ({}, full)
        assert choose(tmp_path, host, FakePass(), mode="cached") in (CANDIDATES[0], CANDIDATES[1])
        planfile._MEMO.clear()


@pytest.mark.parametrize("change", [
    lambda d: d.update(version=2),
    lambda d: d.update(format="other"),
    lambda d: d["plans"]["fake.pass"].update({planner.canonical(KEY): {"choice": 1}}),
    lambda d: d["plans"]["fake.pass"][planner.canonical(KEY)].update(choice=7),
    lambda d: d["plans"]["fake.pass"][planner.canonical(KEY)].update(choice="1"),
    lambda d: d["plans"]["fake.pass"][planner.canonical(KEY)].update(seconds=[[1.0], None, None]),
    lambda d: d["plans"]["fake.pass"][planner.canonical(KEY)].update(seconds="fast"),
    lambda d: d["plans"]["fake.pass"][planner.canonical(KEY)]["seconds"][1].append("x"),
    lambda d: d["plans"].update({"fake.pass": [1, 2]}),
])
def test_a_malformed_entry_is_measured_again(tmp_path, host, change):
    doc = json.loads(valid_file(tmp_path, host))
    change(doc)
    planner.plan_file(tmp_path, host).write_text(json.dumps(doc))
    assert choose(tmp_path, host, FakePass(), mode="cached") == CANDIDATES[0]
    run = FakePass()
    assert choose(tmp_path, host, run) == CANDIDATES[1] and run.calls


def test_an_unwritable_cache_still_gives_the_plan(tmp_path, host):
    planner.plan_file(tmp_path, host).mkdir(parents=True)  # a folder where the file should be
    run = FakePass()
    assert choose(tmp_path, host, run) == {"cost": 1}
    assert run.calls
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert choose(blocked, host, FakePass()) == {"cost": 1}


def test_no_temp_or_partial_file_is_left(tmp_path, host):
    for rows in range(5):
        planner.choose("fake.pass", {"rows": rows}, CANDIDATES, FakePass(), mode="measure",
                       folder=tmp_path, host=host)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([planner.plan_file(tmp_path, host).name,
                            f".{planner.plan_file(tmp_path, host).name}.lock"])


def _store_many(args):
    """Store ``n`` entries of pass ``worker``, starting at the wall-clock time ``start``."""
    folder, host, worker, n, start = args
    time.sleep(max(0.0, start - time.time()))
    for i in range(n):
        entry = {"candidates": [0, 1], "choice": i % 2, "seconds": [[0.2], [0.1]], "rounds": 1}
        planner.store(planner.plan_file(folder, host), host, f"pass{worker}", str(i), entry)
    return worker


def test_concurrent_stores_lose_nothing_and_never_corrupt(tmp_path, host):
    """Processes and threads storing at once: every entry is in the file, which is whole
    whenever a reader looks."""
    path = planner.plan_file(tmp_path, host)
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        pool.map(time.sleep, [0.0] * 3)  # the workers are up: they start storing together
        start = time.time() + 0.5
        jobs = [(str(tmp_path), host, w, 20, start) for w in range(5)]
        pending = pool.map_async(_store_many, jobs[:3])
        threads = [threading.Thread(target=_store_many, args=(job,)) for job in jobs[3:]]
        for t in threads:
            t.start()
        reads = 0
        while not pending.ready() or any(t.is_alive() for t in threads):
            if path.exists():
                json.loads(path.read_bytes())  # never a half-written file
                reads += 1
            time.sleep(0.002)
        assert pending.get(timeout=120) == [0, 1, 2]
        for t in threads:
            t.join()
    stored = planner.read_plans(path, host)
    assert {name: len(v) for name, v in stored.items()} == {f"pass{w}": 20 for w in range(5)}
    assert reads > 0


# --- modes ----------------------------------------------------------------------------------------

def test_mode_default_reads_and_writes_nothing(tmp_path, host):
    run = FakePass()
    assert choose(tmp_path, host, run, mode="default") == CANDIDATES[0]
    assert run.calls == [] and list(tmp_path.iterdir()) == []


def test_mode_cached_never_measures(tmp_path, host):
    run = FakePass()
    assert choose(tmp_path, host, run, mode="cached") == CANDIDATES[0]
    assert run.calls == [] and list(tmp_path.iterdir()) == []
    choose(tmp_path, host, FakePass())
    planfile._MEMO.clear()
    assert choose(tmp_path, host, run, mode="cached") == CANDIDATES[1] and run.calls == []


def test_the_environment_sets_the_mode_and_the_folder(monkeypatch, tmp_path, host):
    monkeypatch.setenv("FUNCNET_CACHE", str(tmp_path))
    monkeypatch.setenv("FUNCNET_PLAN", "default")
    assert planner.cache_folder() == tmp_path / "plans"
    run = FakePass()
    assert planner.choose("fake.pass", KEY, CANDIDATES, run) == CANDIDATES[0] and not run.calls
    monkeypatch.setenv("FUNCNET_PLAN", "measure")
    assert planner.choose("fake.pass", KEY, CANDIDATES, run, timer=run.timer) == CANDIDATES[1]
    assert planner.plan_file().parent == tmp_path / "plans" and planner.plan_file().exists()
    monkeypatch.setenv("FUNCNET_PLAN", "always")
    with pytest.raises(ConfigError, match="FUNCNET_PLAN: expected one of measure, cached, default"):
        planner.choose("fake.pass", KEY, CANDIDATES, run)


def test_clear_removes_this_machines_file_only(tmp_path, host):
    choose(tmp_path, host, FakePass())
    other = fake_cpu(host)
    choose(tmp_path, other, FakePass())
    assert planner.clear(tmp_path, host) is True
    assert planner.plans(tmp_path, host) == [] and len(planner.plans(tmp_path, other)) == 1
    run = FakePass()
    choose(tmp_path, host, run)
    assert run.calls  # not remembered after clear
    assert planner.clear(tmp_path, fake_cpu(host, "none")) is False


# --- the machine ------------------------------------------------------------------------------

def test_cpu_model_tells_apart_cpus_that_share_a_name():
    zen3 = "model name\t: AMD EPYC\ncpu family\t: 25\nmodel\t\t: 1\nflags\t: a b\n\nprocessor : 1\n"
    zen4 = zen3.replace("model\t\t: 1", "model\t\t: 17")
    assert planner.cpu_model(zen3) == "AMD EPYC; cpu family 25; model 1"
    assert planner.cpu_model(zen3) != planner.cpu_model(zen4)
    arm = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n"
    assert planner.cpu_model(arm) == "CPU implementer 0x41; CPU part 0xd0c"
    assert planner.cpu_model("") and planner.cpu_model("garbage without fields")


def test_the_machine_names_blas_kernel_and_cores():
    from funcnet._kernels import blas_kernel

    m = planner.machine()
    assert m.kernel == (blas_kernel() or "") and m.cores == planner.usable_cores()
    assert m.cpu == planner.cpu_model() and m.numpy == np.__version__


def test_mode_cached_reads_the_file_once_then_measure_mode_reads_it_again(tmp_path, host):
    path = planner.plan_file(tmp_path, host)
    assert choose(tmp_path, host, FakePass(), mode="cached") == CANDIDATES[0]
    entry = {"candidates": CANDIDATES, "choice": 2, "seconds": [[3.0], [1.0], [2.0]], "rounds": 1}
    planner.store(path, host, "fake.pass", planner.canonical(KEY), entry)  # another process
    assert choose(tmp_path, host, FakePass(), mode="cached") == CANDIDATES[0]  # not read again
    run = FakePass()
    assert choose(tmp_path, host, run) == CANDIDATES[2] and run.calls == []  # read, not measured
    assert choose(tmp_path, host, FakePass(), mode="cached") == CANDIDATES[2]


def test_the_tutorial_pipeline_asks_the_planner_and_keeps_the_default_bits(monkeypatch, tmp_path):
    """The tutorial's training stage takes the plan stored for this machine (measured on
    first use, read from the file later) and its steps give the default layout's bits."""
    from funcnet import data, model, rng, train
    from funcnet.pipeline import load_pipeline
    from pathlib import Path
    mnist = load_pipeline(Path(__file__).resolve().parents[2] / "pipelines" / "mnist.py")
    monkeypatch.setenv("FUNCNET_CACHE", str(tmp_path))
    monkeypatch.setenv("FUNCNET_PLAN", "measure")
    planfile._MEMO.clear()
    gen = rng.generator(rng.key(5))
    x = gen.integers(0, 256, (600, 784), dtype=np.uint8)
    ds = data.Dataset(x, gen.integers(0, 10, 600))
    config = mnist.Config(iterations=3, log_every=1, dev_size=100, rows=600)
    splits = {"train": ds.take(slice(100, 600)), "dev": ds.take(slice(0, 100))}
    planned = train.last(mnist.train(config, splits))
    [plan] = planner.plans()
    assert plan.name == tunables.CHUNKED and plan.key["rows"] == 500 and plan.key["x"] == "uint8"
    monkeypatch.setattr(tunables, "chunked_run", lambda key: pytest.fail("measured again"))
    planfile._MEMO.clear()
    again = train.last(mnist.train(config, splits))
    monkeypatch.setenv("FUNCNET_PLAN", "default")
    default = train.last(mnist.train(config, splits))
    assert tree.equal(planned.state.params, default.state.params)
    assert tree.equal(again.state.params, default.state.params)
