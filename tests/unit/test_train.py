"""funcnet.train: the pure step, fit as reduce, trajectory, snapshots."""

import attrs
import numpy as np
import pytest
import toolz

from funcnet import layers, model, optim, rng, train, tree
from funcnet.layers import dropout
from funcnet.data.dataset import Dataset, stream
from funcnet.errors import TrainingError


def problem(dtype=np.float64):
    ds = Dataset(rng.normal(rng.key(1), (30, 4), dtype), np.arange(30) % 3)
    params = model.init(rng.key(0), (4, 5, 3), dtype=dtype)
    return ds, params


def batch_list(ds, n, size=8):
    return list(toolz.take(n, stream(rng.key(3), ds, size, dtype=ds.x.dtype)))


def test_init_state():
    _, params = problem()
    opt = optim.adam(0.1)
    state = train.init_state(params, opt, rng.key(5))
    assert int(state.step) == 0 and state.params is params
    assert np.array_equal(state.key, rng.key(5))
    assert tree.equal(state.opt_state, opt.init(params))
    assert np.isnan(state.loss) and int(state.count) == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_step_equals_the_tutorials_update_by_hand(dtype):
    ds, params = problem(dtype)
    (batch,) = batch_list(ds, 1)
    opt = optim.sgd(0.3)
    state = train.make_step(opt)(train.init_state(params, opt, rng.key(2)), batch)
    value, grads, acts = model.loss_and_grads(params, batch.x, batch.y)
    by_hand = model.update(params, grads, 0.3)
    assert tree.equal(state.params, by_hand)  # p + (−lr·g) is p − lr·g, bit for bit
    assert int(state.step) == 1
    assert float(state.loss) == pytest.approx(value, rel=1e-12)
    assert int(state.count) == len(batch.y)
    assert int(state.correct) == int((acts.probs.argmax(axis=1) == batch.y).sum())
    assert np.array_equal(state.key, rng.key(2))


def test_step_with_l2_and_m_passes_them_to_the_gradient():
    ds, params = problem()
    (batch,) = batch_list(ds, 1)
    opt = optim.sgd(0.1)
    state = train.make_step(opt, l2=0.2, m=100)(train.init_state(params, opt, rng.key(2)), batch)
    _, grads, _ = model.loss_and_grads(params, batch.x, batch.y, l2=0.2, m=100)
    assert tree.allclose(state.params, model.update(params, grads, 0.1), rtol=1e-14)


def test_adam_step_equals_the_optimizer_by_hand():
    ds, params = problem()
    batches = batch_list(ds, 3)
    opt = optim.adam(0.05)
    step = train.make_step(opt)
    state = train.init_state(params, opt, rng.key(2))
    p, s = params, opt.init(params)
    for b in batches:
        state = step(state, b)
        _, g, _ = model.loss_and_grads(p, b.x, b.y)
        u, s = opt.update(g, s, p)
        p = optim.apply_updates(p, u)
    assert tree.allclose(state.params, p, rtol=1e-14) and tree.allclose(state.opt_state, s)


def with_dropout(params, rate):
    """``params`` with dropout(rate) after each hidden activation (the same arrays)."""
    from funcnet.layers import network
    spec = params.specs
    specs = tuple(s for i, x in enumerate(spec)
                  for s in ((x, dropout(rate)) if layers.kind_of(x) == "activation" else (x,)))
    net = network.init(rng.key(0), specs, params.input_shape, dtype=params.dtype)
    arrays = iter(l for l in params.layers if hasattr(l, "w"))
    return attrs.evolve(net, layers=tuple(next(arrays) if hasattr(l, "w") else l for l in net.layers))


def test_dropout_step_draws_its_mask_from_fold_in_key_step():
    ds, params = problem()
    params = with_dropout(params, 0.5)
    b1, b2 = batch_list(ds, 2)
    opt = optim.sgd(0.1)
    step = train.make_step(opt)
    s1 = step(train.init_state(params, opt, rng.key(7)), b1)
    s2 = step(s1, b2)
    _, g, _ = model.loss_and_grads(s1.params, b2.x, b2.y, key=rng.fold_in(rng.key(7), 1))
    assert tree.allclose(s2.params, model.update(s1.params, g, 0.1), rtol=1e-14)


def test_fit_over_n_batches_equals_n_manual_steps():
    ds, params = problem()
    batches = batch_list(ds, 9)
    params = with_dropout(params, 0.2)
    opt = optim.sgd(0.2, momentum=0.9)
    step = train.make_step(opt)
    start = train.init_state(params, opt, rng.key(4))
    by_hand = start
    for b in batches:
        by_hand = step(by_hand, b)
    fitted = train.fit(step, start, iter(batches))
    assert tree.equal(fitted, by_hand)
    assert int(fitted.step) == 9


def test_trajectory_is_every_state_from_the_first():
    ds, params = problem()
    batches = batch_list(ds, 4)
    opt = optim.sgd(0.1)
    step = train.make_step(opt)
    start = train.init_state(params, opt, rng.key(4))
    states = list(train.trajectory(step, start, batches))
    assert len(states) == 5 and states[0] is start
    assert [int(s.step) for s in states] == [0, 1, 2, 3, 4]
    assert tree.equal(states[-1], train.fit(step, start, batches))


def test_fit_over_no_batches_is_the_initial_state():
    _, params = problem()
    opt = optim.sgd(0.1)
    start = train.init_state(params, opt, rng.key(0))
    assert train.fit(train.make_step(opt), start, []) is start


def test_training_lowers_the_loss():
    ds, params = problem()
    opt = optim.adam(0.05)
    final = train.fit(train.make_step(opt), train.init_state(params, opt, rng.key(0)),
                      batch_list(ds, 60))
    assert model.loss(final.params, ds.x, ds.y) < model.loss(params, ds.x, ds.y)


# --- snapshots ---------------------------------------------------------------------------

def setup_snapshots():
    ds, params = problem()
    opt = optim.sgd(0.1)
    return (train.make_step(opt), train.init_state(params, opt, rng.key(0)),
            stream(rng.key(3), ds, 10, dtype=np.float64))


def test_snapshots_number_epochs_and_batches_and_log_each_epoch():
    step, state, batches = setup_snapshots()
    windows = []

    def evaluate(s, window):
        windows.append(window)
        return {"loss": window[0] / window[2]}
    snaps = list(train.snapshots(step, state, batches, steps=6, per_epoch=3, evaluate=evaluate))
    assert [(s.epoch, s.batch) for s in snaps] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert [int(s.state.step) for s in snaps] == [1, 2, 3, 4, 5, 6]
    assert [s.record["step"] if s.record else None for s in snaps] == [None, None, 3, None, None, 6]
    assert snaps[2].record["epoch"] == 1 and snaps[5].record["epoch"] == 2
    assert [w[2:] for w in windows] == [(30, 3), (30, 3)]
    losses = [float(s.state.loss) for s in snaps]
    assert windows[0][0] == pytest.approx(sum(l * 10 for l in losses[:3]))
    assert not any(s.stop for s in snaps)
    assert train.result_params(snaps[-1]) is snaps[-1].state.params


def test_snapshots_resume_where_they_stopped():
    step, state, batches = setup_snapshots()
    whole = list(train.snapshots(step, state, batches, steps=5, per_epoch=3))
    _, _, fresh = setup_snapshots()
    first = list(train.snapshots(step, state, fresh, steps=2, per_epoch=3))
    _, _, again = setup_snapshots()
    rest = list(train.snapshots(step, first[-1].state, toolz.drop(2, again), steps=5,
                                per_epoch=3))
    assert [(s.epoch, s.batch) for s in rest] == [(1, 3), (2, 1), (2, 2)]
    assert tree.equal(rest[-1].state, whole[-1].state)


def test_early_stopping_keeps_the_best_state():
    step, state, batches = setup_snapshots()
    scores = {1: 0.5, 2: 0.9, 3: 0.8, 4: 0.7, 5: 0.95}
    snaps = list(train.snapshots(step, state, batches, steps=10, per_epoch=3, log_every=1,
                                 evaluate=lambda s, w: {"acc": scores[int(s.step)]},
                                 monitor="acc", patience=2))
    assert [int(s.state.step) for s in snaps] == [1, 2, 3, 4]
    assert snaps[-1].stop and not any(s.stop for s in snaps[:-1])
    assert snaps[-1].best is snaps[1].state and snaps[-1].best_score == 0.9
    assert train.result_params(snaps[-1]) is snaps[1].state.params


def test_a_non_finite_loss_stops_training_naming_the_step():
    step, state, batches = setup_snapshots()

    def bad_step(s, b):
        new = step(s, b)
        return attrs.evolve(new, loss=np.float64(np.nan)) if int(new.step) == 3 else new
    seen = []
    with pytest.raises(TrainingError, match=r"non-finite loss at step 3 \(the parameters are "
                                            r"finite.*kept the state of step 2") as info:
        for snap in train.snapshots(bad_step, state, batches, steps=6, per_epoch=3):
            seen.append(snap)
    assert [int(s.state.step) for s in seen] == [1, 2]
    assert info.value.state is seen[-1].state


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf logits, on purpose
def test_a_non_finite_parameter_is_named():
    step, state, batches = setup_snapshots()

    def bad_step(s, b):
        new = step(s, b)
        *rest, last = new.params.layers
        layers = (*rest, model.Dense(last.w, last.b * np.inf))
        return attrs.evolve(new, params=attrs.evolve(new.params, layers=layers))
    with pytest.raises(TrainingError, match=r"step 2 \(first non-finite parameter: layers\.2\.b\); "
                                            r"kept the state of step 0") as info:
        list(train.snapshots(bad_step, state, batches, steps=3, per_epoch=3))
    assert info.value.state is state  # the parameters of step 1 were already bad


def test_last():
    assert train.last(iter([1, 2, 3])) == 3
    assert train.last(iter([]), default=7) == 7
