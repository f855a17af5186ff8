"""Ensembles: the record and its probabilities (funcnet.model.ensembles), the folder format
(funcnet.runs.ensemble_folders) and experiments.ensemble."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from funcnet import checkpoint, experiments, losses, model, rng, runs, tree
from funcnet.errors import CheckpointError, ConfigError, DataError
from funcnet.layers import batch_norm, conv2d, dense, flatten, max_pool, relu
from funcnet.model.ensembles import Ensemble, log_probabilities, same_example
from funcnet.runs import ensemble_folders

CLASSES = 10
# softmax in float32: e^z (≤ 1 ulp), a sum of K terms (≤ K ulp of the sum), one division
# (½ ulp), then the mean: a sum of two (1 ulp) and a division by 2 (exact): each probability
# (≤ 1) is within (K + 3) ulp of the exact value; twice that covers the reference's own
# rounding in float64 (negligible) and the unit in the last place at 1.
PROB_ATOL = 2 * (CLASSES + 3) * float(np.finfo(np.float32).eps)


def mlp(seed, sizes=(784, 16, CLASSES), dtype=np.float32):
    return model.init(rng.key(seed), sizes, dtype=dtype)


def cnn(seed):
    net = model.init(rng.key(seed), (conv2d(4, 3), batch_norm(), relu(), max_pool(2), flatten(),
                                     dense(CLASSES)), input_shape=(28, 28, 1))
    return net


def digits(n=20, seed=9):
    return (rng.uniform(rng.key(seed), (n, 784)) * 255).astype(np.uint8)


def by_hand(z: np.ndarray) -> np.ndarray:
    """softmax(z) in float64, written out: e^(z − max) / Σ e^(z − max)."""
    e = np.exp(z.astype(np.float64) - z.astype(np.float64).max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def moved_state(net, seed=3):
    """Batch norm's running statistics moved off their initial values."""
    state = model.init_model_state(net)
    return tree.map(lambda s: s + rng.uniform(rng.key(seed), s.shape).astype(s.dtype)
                    if isinstance(s, np.ndarray) else s, state)


# --- the record and its probabilities ----------------------------------------------

def test_a_one_member_ensemble_equals_its_member():
    net, x = mlp(0), digits()
    one = Ensemble.of([net])
    assert np.array_equal(model.predict_proba(one, x), model.predict_proba(net, x))
    assert np.array_equal(model.predict(one, x), model.predict(net, x))
    assert model.num_outputs(one) == CLASSES and model.input_shape(one) == (784,)
    assert model.dtype_of(one) == np.float32
    # its logits are log P: softmax gives P back, to float32 rounding
    np.testing.assert_allclose(losses.softmax(model.logits(one, x)), model.predict_proba(net, x),
                               rtol=0, atol=PROB_ATOL)


def test_a_one_member_ensemble_of_a_cnn_uses_its_model_state():
    net, x = cnn(0), digits(6)
    state = moved_state(net)
    one = Ensemble.of([net])
    got = model.predict_proba(one, x, model_state=(state,))
    assert np.array_equal(got, model.predict_proba(net, x, model_state=state))
    other = model.predict_proba(one, x, model_state=(model.init_model_state(net),))
    assert not np.array_equal(got, other)  # the member's own state is used


def test_the_mean_of_two_members_probabilities_by_hand():
    a, b, x = mlp(0), mlp(1), digits()
    ens = Ensemble.of([a, b])
    expected = (by_hand(model.logits(a, x)) + by_hand(model.logits(b, x))) / 2
    got = model.predict_proba(ens, x)
    assert got.dtype == np.float32 and got.shape == (len(x), CLASSES)
    np.testing.assert_allclose(got, expected, rtol=0, atol=PROB_ATOL)
    assert np.array_equal(model.predict(ens, x), got.argmax(axis=1))
    # the two members disagree somewhere, so the mean is neither of them
    assert not np.array_equal(got, model.predict_proba(a, x))
    # loss: −(1/m) Σ log P[i, y_i]
    y = np.arange(len(x)) % CLASSES
    nll = -np.log(expected[np.arange(len(x)), y]).mean()
    assert model.loss(ens, x, y) == pytest.approx(nll, rel=0, abs=4 * PROB_ATOL)


def test_the_mean_in_float64_to_float64_rounding():
    a, b = mlp(0, dtype=np.float64), mlp(1, dtype=np.float64)
    x = digits()
    got = model.predict_proba(Ensemble.of([a, b]), x)
    expected = (by_hand(model.logits(a, x)) + by_hand(model.logits(b, x))) / 2
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0,
                               atol=2 * (CLASSES + 3) * float(np.finfo(np.float64).eps))


def test_an_mlp_and_a_cnn_take_the_same_digits():
    a, b = mlp(0), cnn(1)
    ens = Ensemble.of([a, b])
    assert ens.input_shape == (28, 28, 1)
    x = digits(8)
    states = (None, moved_state(b))
    flat = model.predict_proba(ens, x, model_state=states)
    images = model.predict_proba(ens, x.reshape(-1, 28, 28, 1), model_state=states)
    assert np.array_equal(flat, images)
    expected = (model.predict_proba(a, x) + model.predict_proba(b, x, model_state=states[1])) / 2
    np.testing.assert_allclose(flat, expected, rtol=0, atol=PROB_ATOL)
    assert model.describe(ens) == f"ensemble of 2: 784-16-10 relu; {model.describe(b)}"


def test_inputs_of_another_shape_are_refused_in_one_line():
    with pytest.raises(DataError, match=r"expected one example per row, \(n, 28, 28, 1\) or "
                                        r"\(n, 784\); got \(3, 100\)"):
        model.predict_proba(Ensemble.of([mlp(0), cnn(1)]), np.zeros((3, 100)))


def test_members_that_do_not_go_together_are_refused_in_one_line():
    with pytest.raises(ConfigError) as info:
        Ensemble.of([mlp(0), mlp(1, sizes=(100, 10))], names=["runs/a", "runs/b"])
    assert str(info.value) == ("member 2 (runs/b) takes inputs of shape (100,), but member 1 "
                               "(runs/a) takes (784,): an ensemble's members take the same examples")
    with pytest.raises(ConfigError, match=r"^member 2 has 5 classes, but member 1 has 10"):
        Ensemble.of([mlp(0), mlp(1, sizes=(784, 5))])
    with pytest.raises(ConfigError, match="at least one member"):
        Ensemble.of([])


def test_same_example_is_equal_shapes_or_flat_and_image_forms():
    assert same_example((784,), (28, 28, 1)) and same_example((28, 28, 1), (784,))
    assert same_example((2352,), (28, 28, 3))
    assert not same_example((784,), (28, 28, 3))
    assert not same_example((28, 28, 1), (14, 56, 1))
    assert not same_example((784,), (392, 2))


def test_model_states_are_one_per_member():
    ens = Ensemble.of([mlp(0), mlp(1)])
    with pytest.raises(ValueError, match="tuple of 2 model states"):
        model.predict_proba(ens, digits(2), model_state=(None,))


def test_log_probabilities_stay_finite_and_give_the_probabilities_back():
    p = np.array([[0.0, 0.25, 0.75], [1.0, 0.0, 0.0]], np.float32)
    z = log_probabilities(p)
    assert np.isfinite(z).all() and z.dtype == np.float32
    assert z[0, 0] == np.float32(np.log(np.finfo(np.float32).tiny))
    np.testing.assert_allclose(losses.softmax(z), p, rtol=0, atol=4 * np.finfo(np.float32).eps)


def test_an_ensemble_is_a_pytree_of_its_members():
    a, b = mlp(0), mlp(1)
    ens = Ensemble.of([a, b])
    assert len(tree.leaves(ens)) == len(tree.leaves(a)) + len(tree.leaves(b))
    doubled = tree.map(lambda v: v * 2, ens)
    assert isinstance(doubled, Ensemble) and tree.equal(doubled.members[0], tree.map(lambda v: v * 2, a))
    assert repr(ens) == "Ensemble(784-16-10 relu ×2)"


# --- the folder ----------------------------------------------------------------------

def fake_run(folder: Path, net, *, state=None, config=None, metrics=None, dataset=None) -> Path:
    """A run folder as funcnet run writes it, as far as an ensemble reads it: the model file,
    config, a state file and (unless ``metrics`` is False) metrics.json."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"seed": 0, **(config or {})}
    checkpoint.save_network(folder / runs.MODEL, net, state, config=cfg,
                            metadata={"dataset": dataset} if dataset else {})
    (folder / runs.CONFIG).write_text(json.dumps(cfg))
    (folder / runs.STATE).write_bytes(b"not read here")
    if metrics is not False:
        (folder / runs.METRICS).write_text(json.dumps(metrics or {"test_accuracy": 0.5}))
    return folder


@pytest.fixture
def two_runs(tmp_path):
    return [fake_run(tmp_path / "a", mlp(0), dataset="mnist", config={"dataset": "mnist"}),
            fake_run(tmp_path / "b", cnn(1), state=moved_state(cnn(1)), dataset="mnist",
                     config={"dataset": "mnist"})]


def test_an_ensemble_folder_round_trips(tmp_path, two_runs):
    out = experiments.ensemble(two_runs, tmp_path / "ens")
    assert out == tmp_path / "ens"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "ensemble.json", "members", "members/a.safetensors", "members/b.safetensors"]
    for run in two_runs:  # byte-for-byte copies
        assert (out / "members" / f"{run.name}.safetensors").read_bytes() == (run / runs.MODEL).read_bytes()
    rec = json.loads((out / "ensemble.json").read_text())
    assert rec["format"] == "funcnet-ensemble" and rec["format_version"] == 1
    assert rec["combine"] == "mean-probability"
    assert rec["members"] == [{"file": "members/a.safetensors", "run": str(two_runs[0].resolve())},
                              {"file": "members/b.safetensors", "run": str(two_runs[1].resolve())}]
    assert rec["input_shape"] == [28, 28, 1] and rec["classes"] == 10
    assert rec["dataset"] == "mnist" and rec["trained_on"] == "mnist" and "data" not in rec
    ens, info = runs.load_model(out)
    assert runs.model_file(out) == out / "ensemble.json"
    assert runs.load_model(out / "ensemble.json")[0].input_shape == (28, 28, 1)
    assert info["config"] == {"dataset": "mnist"} and checkpoint.trained_on(info) == "mnist"
    nets = [runs.load_model(r) for r in two_runs]
    for got, (net, net_info) in zip(ens.members, nets):
        assert tree.equal(got, net)
    assert info["model_state"][0] is None and tree.equal(info["model_state"][1], nets[1][1]["model_state"])
    x = digits(5)
    expected = model.predict_proba(Ensemble.of([n for n, _ in nets]), x,
                                   model_state=tuple(i["model_state"] for _, i in nets))
    assert np.array_equal(model.predict_proba(ens, x, model_state=info["model_state"]), expected)


def test_members_of_other_classes_or_shapes_are_refused_and_nothing_is_written(tmp_path):
    a = fake_run(tmp_path / "a", mlp(0), dataset="mnist", config={"dataset": "mnist"})
    cases = {
        "five": (fake_run(tmp_path / "five", mlp(1, sizes=(784, 5))),
                 f"member 2 ({tmp_path / 'five'}) has 5 classes, but member 1 ({a}) has 10"),
        "small": (fake_run(tmp_path / "small", mlp(1, sizes=(100, 10))),
                  f"member 2 ({tmp_path / 'small'}) takes inputs of shape (100,)"),
        "fashion": (fake_run(tmp_path / "fashion", mlp(1), config={"dataset": "fashion-mnist"}),
                    f"{tmp_path / 'fashion'}: its classes are fashion-mnist's (T-shirt/top, "
                    f"Trouser, ...), but {a}'s are digits"),
        "trained": (fake_run(tmp_path / "trained", mlp(1), dataset="fashion-mnist",
                             config={"dataset": "mnist"}),
                    f"{tmp_path / 'trained'}: trained on fashion-mnist, but {a} on mnist"),
    }
    for name, (other, message) in cases.items():
        with pytest.raises(ConfigError) as info:
            experiments.ensemble([a, other], tmp_path / f"ens-{name}")
        text = str(info.value)
        assert "\n" not in text and text.startswith(message), text
        assert not (tmp_path / f"ens-{name}").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_member_that_is_not_a_finished_run_is_refused_naming_it(tmp_path):
    a = fake_run(tmp_path / "a", mlp(0))
    unended = fake_run(tmp_path / "unended", mlp(1), metrics=False)
    stopped = fake_run(tmp_path / "stopped", mlp(1), metrics={"stopped": "interrupted"})
    half = tmp_path / "half"
    half.mkdir()
    (half / runs.CONFIG).write_text("{}")
    expected = {unended: "it has not ended (no metrics.json): continue it with funcnet run --resume",
                stopped: "it stopped before its end (interrupted)",
                half: "it holds an incomplete run",
                tmp_path / "missing": "it holds nothing of a run"}
    for folder, why in expected.items():
        with pytest.raises(ConfigError, match="^" + re.escape(f"{folder}: not a finished run: {why}")):
            experiments.ensemble([a, folder], tmp_path / "ens")
    with pytest.raises(ConfigError, match="given twice"):
        experiments.ensemble([a, tmp_path / "." / "a"], tmp_path / "ens")
    ens = experiments.ensemble([a], tmp_path / "ens")
    with pytest.raises(ConfigError, match="it holds an ensemble"):
        experiments.ensemble([a, ens], tmp_path / "ens2")


def test_the_out_folder_is_never_clobbered(tmp_path, two_runs):
    out = experiments.ensemble(two_runs, tmp_path / "ens")
    before = (out / "ensemble.json").read_bytes()
    with pytest.raises(ConfigError, match="already holds an ensemble; replace it with --overwrite"):
        experiments.ensemble(two_runs[:1], out)
    assert (out / "ensemble.json").read_bytes() == before
    experiments.ensemble(two_runs[:1], out, overwrite=True)
    assert len(runs.load_model(out)[0].members) == 1
    assert sorted(p.name for p in (out / "members").iterdir()) == ["a.safetensors"]
    for target in (two_runs[0], tmp_path / "a" / runs.MODEL):  # a run, a file: never replaced
        with pytest.raises(ConfigError, match=f"^{target}: "):
            experiments.ensemble(two_runs, target, overwrite=True)
    assert runs.is_finished(two_runs[0])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runs.load_model(experiments.ensemble(two_runs, empty))[0].input_shape == (28, 28, 1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_write_cut_short_leaves_no_folder(tmp_path, two_runs, monkeypatch):
    written = []

    def failing(path, data):
        if len(written) == 1:
            raise OSError(28, "No space left on device", str(path))
        written.append(path)
        return real(path, data)

    real = ensemble_folders.write_atomic
    monkeypatch.setattr(ensemble_folders, "write_atomic", failing)
    with pytest.raises(OSError, match="No space left"):
        experiments.ensemble(two_runs, tmp_path / "ens")
    assert not (tmp_path / "ens").exists() and written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_damaged_ensemble_folder_is_one_checkpoint_error_line(tmp_path, two_runs):
    out = experiments.ensemble(two_runs, tmp_path / "ens")
    rec_path = out / "ensemble.json"
    rec = json.loads(rec_path.read_text())

    def refused(new_rec, pattern):
        rec_path.write_text(new_rec if isinstance(new_rec, str) else json.dumps(new_rec))
        with pytest.raises(CheckpointError, match=pattern) as info:
            runs.load_model(out)
        assert "\n" not in str(info.value)

    refused("{", f"^{rec_path}: not valid JSON")
    refused({**rec, "format": "other"}, "not a funcnet ensemble: expected format 'funcnet-ensemble'")
    refused({**rec, "format_version": 2}, "format_version 2: this funcnet reads versions up to 1")
    refused({**rec, "combine": "vote"}, "combine 'vote': this funcnet combines members by "
                                        "'mean-probability' only")
    refused({**rec, "members": []}, "expected a non-empty list of members")
    refused({**rec, "members": [{"file": "../a/model.safetensors"}]}, r"members\[0\]: expected")
    refused({**rec, "members": [{"file": "/etc/passwd"}]}, r"members\[0\]: expected")
    refused({**rec, "members": [{"file": "members/none.safetensors"}]}, "no such checkpoint file")
    refused({**rec, "classes": 9}, "classes 9 differs from the members' 10")
    refused({**rec, "input_shape": [784]}, r"input_shape \[784\] differs")
    rec_path.write_text(json.dumps(rec))
    member = out / "members" / "a.safetensors"
    member.write_bytes(member.read_bytes()[:-8])
    with pytest.raises(CheckpointError, match="a.safetensors"):
        runs.load_model(out)


def test_a_folder_with_a_run_and_an_ensemble_is_ambiguous(tmp_path, two_runs):
    out = experiments.ensemble(two_runs, tmp_path / "ens")
    (out / runs.MODEL).write_bytes((two_runs[0] / runs.MODEL).read_bytes())
    with pytest.raises(CheckpointError, match="holds both a run's model.safetensors and an "
                                              "ensemble.json: pass the file you mean"):
        runs.load_model(out)
    assert runs.load_model(out / "ensemble.json")[0].input_shape == (28, 28, 1)


def test_member_names_are_the_run_folders_made_unique():
    assert experiments.ensembling.member_names(["x/seed-0", "y/seed-0", "w/y/seed-0", "v/seed-1"]) == [
        "seed-0", "y-seed-0", "y-seed-0-2", "seed-1"]
    assert experiments.ensembling.member_names([Path(os.getcwd()) / "."])[0] == Path(os.getcwd()).name
