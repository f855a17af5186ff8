"""Donated training steps (``make_step(..., donate=True)``) against pure ones, and the
read-only arrays funcnet hands out.

A donated step writes each new state into the old state's arrays: the same numbers as
the pure step, bit for bit, in the same arrays step after step. A pure step writes
nothing it was given, and what it returns cannot be written either.
"""

import attrs
import numpy as np
import pytest
import toolz
from hypothesis import given, settings, strategies as st

from funcnet import classify, model, optim, pipeline, rng, train, tree
from funcnet.data.dataset import Dataset, stream
from funcnet.layers import batch_norm, conv2d, dense, dropout, flatten, max_pool, relu, residual, serial
from funcnet.optim import transform

MLP = (6, 8, 3)
CNN = (conv2d(4, 3), batch_norm(), relu(), max_pool(2), flatten(), dropout(0.2), dense(3))
RESIDUAL = (dense(8), residual(serial(dense(8), batch_norm(), relu(), dropout(0.3))), dense(3))

OPTIMIZERS = {
    "sgd": lambda: optim.sgd(0.1),
    "momentum": lambda: optim.momentum(0.05, 0.9),
    "nesterov": lambda: optim.sgd(0.05, momentum=0.9, nesterov=True),
    "rmsprop": lambda: optim.rmsprop(0.01),
    "adam": lambda: optim.adam(0.01),
    "adamw": lambda: optim.adamw(optim.cosine_decay(0.01, 20), weight_decay=0.1, mask="*.w"),
    "adamw-all": lambda: optim.adamw(0.01, weight_decay=0.1),
    "clipped": lambda: optim.chain(optim.clip_by_global_norm(0.5), optim.scale_by_adam(),
                                   optim.scale_by_schedule(lambda t: -0.01 / (1 + t))),
}


def network(kind: str, dtype=np.float64):
    if kind == "mlp":
        return model.init(rng.key(0), MLP, dtype=dtype), (6,)
    specs, shape = (CNN, (6, 6, 1)) if kind == "cnn" else (RESIDUAL, (6,))
    return model.init(rng.key(0), specs, input_shape=shape, dtype=dtype), shape


def batches(shape, n, size=8, dtype=np.float64):
    ds = Dataset(rng.normal(rng.key(1), (40, *shape), dtype), np.arange(40) % 3)
    return list(toolz.take(n, stream(rng.key(3), ds, size, dtype=dtype)))


def addresses(t) -> list:
    return [a.__array_interface__["data"][0] for a in tree.leaves(t) if isinstance(a, np.ndarray)
            and a.ndim > 0]


@pytest.mark.parametrize("kind", ["mlp", "cnn", "residual"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_donated_steps_equal_pure_steps_bit_for_bit_in_the_same_arrays(kind, name):
    params, shape = network(kind)
    opt = OPTIMIZERS[name]()
    pure, donating = train.make_step(opt, l2=1e-3), train.make_step(opt, l2=1e-3, donate=True)
    assert donating.donates and not pure.donates
    a = b = train.init_state(params, opt, rng.key(2))
    b = tree.map(lambda x: np.array(x, copy=True) if isinstance(x, np.ndarray) else x, b)
    where = addresses((b.params, b.opt_state))
    for batch in batches(shape, 5):
        a, b = pure(a, batch), donating(b, batch)
        assert tree.equal(a, b)
        assert addresses((b.params, b.opt_state)) == where  # written into, never allocated anew


def test_a_donated_float32_cnn_step_equals_the_pure_one():
    params, shape = network("cnn", np.float32)
    opt = optim.adam(1e-3)
    state = train.init_state(params, opt, rng.key(2))
    pure = train.fit(train.make_step(opt), state, batches(shape, 4, dtype=np.float32))
    copy = tree.map(lambda x: np.array(x, copy=True) if isinstance(x, np.ndarray) else x, state)
    donated = train.fit(train.make_step(opt, donate=True), copy, batches(shape, 4, dtype=np.float32))
    assert tree.equal(pure, donated)


def test_a_pure_step_writes_nothing_and_returns_read_only_arrays():
    params, shape = network("cnn")
    opt = optim.adamw(0.01)
    state = train.init_state(params, opt, rng.key(2))
    before = tree.map(lambda x: np.array(x, copy=True) if isinstance(x, np.ndarray) else x, state)
    new = train.make_step(opt)(state, batches(shape, 1)[0])
    assert tree.equal(state, before)
    arrays = [x for x in tree.leaves((new.params, new.opt_state, new.model_state))
              if isinstance(x, np.ndarray)]
    assert arrays and not any(x.flags.writeable for x in arrays)
    with pytest.raises(ValueError, match="read-only"):
        new.params.layers[0].w[0, 0, 0, 0] = 1.0


@pytest.mark.parametrize("make", [
    lambda: model.init(rng.key(0), (4, 3, 2)),
    lambda: model.update(model.init(rng.key(0), (4, 3, 2)),
                         tree.map(np.ones_like, model.init(rng.key(0), (4, 3, 2))), 0.1),
    lambda: model.value_and_grads(model.init(rng.key(0), (4, 3, 2)), np.ones((2, 4)), [0, 1])[1],
    lambda: model.backward(model.init(rng.key(0), (4, 3, 2)),
                           model.forward(model.init(rng.key(0), (4, 3, 2)), np.ones((2, 4))), [0, 1]),
    lambda: train.init_state(model.init(rng.key(0), (4, 3, 2)), optim.adam(0.1), rng.key(1)).opt_state,
    lambda: optim.apply_updates({"w": np.zeros(2)}, {"w": np.ones(2)}),
    lambda: model.init_model_state(model.init(rng.key(0), (dense(3), batch_norm()), input_shape=(2,))),
])
def test_returned_parameter_state_and_gradient_arrays_are_read_only(make):
    arrays = [x for x in tree.leaves(make()) if isinstance(x, np.ndarray) and x.ndim > 0]
    assert arrays
    for x in arrays:
        with pytest.raises(ValueError, match="read-only"):
            x[(0,) * x.ndim] = 1.0


def test_an_optimizer_without_a_donated_form_runs_as_a_pure_step():
    params, shape = network("mlp")
    opt = optim.multi_transform({"a": optim.adam(0.01), "b": optim.sgd(0.1)},
                                lambda p: tree.map(lambda _: "a", p))
    step = train.make_step(opt, donate=True)
    assert not step.donates
    state = train.init_state(params, opt, rng.key(2))
    (batch,) = batches(shape, 1)
    assert tree.equal(step(state, batch), train.make_step(opt)(state, batch))


def test_a_frozen_layer_is_never_written_by_a_donated_step():
    params, shape = network("mlp")
    opt = optim.chain(optim.freeze("layers.0"), optim.adam(0.01))
    state = train.init_state(params, opt, rng.key(2))
    w0 = np.array(state.params.layers[0].w, copy=True)
    step = train.make_step(opt, donate=True)
    for batch in batches(shape, 3):
        state = step(state, batch)
    assert np.array_equal(state.params.layers[0].w, w0)


def test_a_donated_step_writes_nothing_when_the_loss_is_not_finite():
    params, shape = network("mlp")
    opt = optim.adam(0.01)
    state = train.init_state(params, opt, rng.key(2))
    step = train.make_step(opt, donate=True)
    state = step(state, batches(shape, 1)[0])
    saved = tree.map(lambda x: np.array(x, copy=True) if isinstance(x, np.ndarray) else x,
                     (state.params, state.opt_state))
    bad = (np.full((4, 6), np.inf), np.array([0, 1, 2, 0]))
    with np.errstate(all="ignore"):
        after = step(state, bad)
    assert not np.isfinite(after.loss) and int(after.step) == 2
    assert tree.equal((after.params, after.opt_state), saved)


def setup_early_stopping(donate):
    params, shape = network("residual")
    opt = optim.adam(0.05)
    state = train.init_state(params, opt, rng.key(2))
    if donate:
        state = tree.map(lambda x: np.array(x, copy=True) if isinstance(x, np.ndarray) else x, state)
    scores = iter([0.5, 0.9, 0.8, 0.7, 0.95, 0.1])
    snaps = list(train.snapshots(train.make_step(opt, donate=donate), state, batches(shape, 12),
                                 steps=12, per_epoch=2, evaluate=lambda s, w: {"acc": next(scores)},
                                 monitor="acc", patience=2))
    return snaps


def test_early_stopping_over_a_donated_step_keeps_a_copy_of_the_best():
    pure, donated = setup_early_stopping(False), setup_early_stopping(True)
    assert [int(s.state.step) for s in donated] == [int(s.state.step) for s in pure] == list(range(1, 9))
    assert int(donated[-1].best.step) == int(pure[-1].best.step) == 4
    assert tree.equal(train.result_params(donated[-1]), train.result_params(pure[-1]))
    assert tree.equal(donated[-1].state, pure[-1].state)
    assert donated[-1].kept is not None and int(donated[-1].kept.step) == 8
    assert pure[-1].kept is None


def test_a_non_finite_parameter_under_donation_falls_back_to_the_last_history_row():
    params, shape = network("mlp")
    opt = optim.sgd(0.1)
    state = train.init_state(params, opt, rng.key(2))
    step = train.make_step(opt, donate=True)

    def bad_step(s, b):  # step 5 leaves infinite parameters (as an overflowing update would)
        new = step(s, b)
        if int(new.step) == 5:
            new.params.layers[2].b[...] = np.inf
        return new
    bad_step.donates = True
    with np.errstate(all="ignore"), pytest.raises(train.TrainingError,
                                                   match=r"step 6 .*kept the state of step 4") as info:
        list(train.snapshots(bad_step, state, batches(shape, 8), steps=8, per_epoch=2))
    assert tree.first_nonfinite(info.value.state.params) is None


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.sampled_from(["adam", "rms", "trace", "nesterov", "decay"]),
       st.sampled_from([np.float32, np.float64]))
def test_every_donated_form_gives_its_pure_updates_bit_for_bit(seed, which, dtype):
    opt = {"adam": transform.scale_by_adam(0.8, 0.95, 1e-3), "rms": transform.scale_by_rms(0.7, 1e-4),
           "trace": transform.trace(0.9), "nesterov": transform.trace(0.5, nesterov=True),
           "decay": transform.add_decayed_weights(0.3)}[which]
    gen = rng.generator(rng.key(seed))
    params = [gen.normal(size=(3, 4)).astype(dtype), gen.normal(size=5).astype(dtype)]
    state = opt.init(params)
    for _ in range(3):
        grads = [(gen.normal(size=p.shape) * 10.0 ** gen.integers(-3, 3)).astype(dtype) for p in params]
        gs, treedef = tree.flatten(grads)
        us, pure_state = opt.update_leaves(gs, state, params, treedef)
        owned = tree.map(lambda x: np.array(x, copy=True) if isinstance(x, np.ndarray) else x, state)
        vs, donated_state = optim.donated_form(opt.update_leaves)([g.copy() for g in gs], owned,
                                                                  params, treedef)
        assert tree.equal(us, vs) and tree.equal(pure_state, donated_state)
        state = pure_state


def test_pipeline_run_with_donation_equals_the_pure_run():
    config = classify.MLPConfig(sizes=(12, 16, 10), epochs=8, batch_size=16, optimizer="adam",
                                learning_rate=0.01, dropout=0.2, patience=1, seed=1,
                                dev_size=30, shift=0)
    gen = rng.generator(rng.key(4))
    x = gen.normal(size=(200, 12)).astype(np.float32)
    y = (x[:, :10].argmax(axis=1)).astype(np.int64)
    data = {"train": Dataset(x[:150], y[:150]), "test": Dataset(x[150:], y[150:])}

    class Pipe:
        load = staticmethod(lambda c: data)
        split = staticmethod(classify.split)
        init_state = staticmethod(classify.init_state)
        train = staticmethod(classify.train)
        evaluate = staticmethod(classify.evaluate)

    pure = pipeline.run(Pipe, config, data=data)
    donated = pipeline.run(Pipe, config, data=data, donate=True)
    assert pure.metrics.keys() == donated.metrics.keys()
    assert {k: v for k, v in pure.metrics.items() if k != "seconds"} == \
           {k: v for k, v in donated.metrics.items() if k != "seconds"}
    timing = ["seconds", "elapsed"]
    assert pure.history.drop(columns=timing).equals(donated.history.drop(columns=timing))
    assert tree.equal(pure.params, donated.params)


def _interrupting_adam(at_count: int):
    """Adam whose donated form writes the first leaf, then is cut by Ctrl-C at step ``at_count``."""
    inner = optim.adam(0.01)
    real = optim.donated_form(inner.update_leaves)

    def pure(gs, state, params, treedef):
        return inner.update_leaves(gs, state, params, treedef)

    def donated(gs, state, params, treedef):
        us, new = real(gs, state, params, treedef)
        if int(new[0].count) == at_count:
            raise KeyboardInterrupt  # after the moments were written over, before θ
        return us, new
    return optim.Optimizer(inner.init, inner.update, optim.donating(pure, donated))


def test_a_ctrl_c_while_a_donated_step_writes_is_marked_torn_and_the_last_row_is_kept():
    params, shape = network("mlp")
    opt = _interrupting_adam(5)
    state = train.init_state(tree.map(np.copy, params), opt, rng.key(2))  # donated: its own arrays
    step = train.make_step(opt, donate=True)
    seen = []
    with pytest.raises(KeyboardInterrupt) as info:
        for snap in train.snapshots(step, state, batches(shape, 8), steps=8, per_epoch=2):
            seen.append(snap)
    assert info.value.torn and int(seen[-1].state.step) == 4
    assert int(seen[-1].kept.step) == 4  # the copy made at the row of step 4
    pure = train.fit(train.make_step(optim.adam(0.01)), train.init_state(params, optim.adam(0.01),
                                                                        rng.key(2)),
                     batches(shape, 4))
    assert tree.equal(seen[-1].kept.params, pure.params)
    assert not tree.equal(seen[-1].state.opt_state, pure.opt_state)  # half written: not to keep


def test_a_ctrl_c_between_donated_steps_is_not_torn():
    params, shape = network("mlp")
    opt = optim.adam(0.01)
    state = train.init_state(params, opt, rng.key(2))

    def cut_after_three():
        for i, b in enumerate(batches(shape, 8)):
            if i == 3:
                raise KeyboardInterrupt
            yield b
    with pytest.raises(KeyboardInterrupt) as info:
        list(train.snapshots(train.make_step(opt, donate=True), state, cut_after_three(), steps=8,
                             per_epoch=2))
    assert info.value.torn is False


def test_a_loaded_or_transferred_network_is_read_only(tmp_path):
    from funcnet import checkpoint
    net = model.init(rng.key(0), (dense(4), batch_norm(), relu(), dense(3)), input_shape=(5,))
    path = checkpoint.save_network(tmp_path / "m.safetensors", net, model.init_model_state(net))
    params, state, _ = checkpoint.load_network(path)
    moved = model.transfer(params, model.init(rng.key(1), (dense(4), batch_norm(), relu(), dense(3)),
                                              input_shape=(5,)))
    for t in (params, state, moved):
        arrays = [x for x in tree.leaves(t) if isinstance(x, np.ndarray)]
        assert arrays and not any(x.flags.writeable for x in arrays)


@pytest.mark.parametrize("kind", ["mlp", "cnn", "residual"])
@pytest.mark.parametrize("start", [0, 1])
def test_the_gradients_a_donated_step_writes_into_share_memory_with_nothing(kind, start):
    import itertools
    from funcnet.model.training import owned_value_and_grads
    params, shape = network(kind)
    x, y = rng.normal(rng.key(1), (5, *shape)), np.arange(5) % 3
    _, grads, _, _ = owned_value_and_grads(params, x, y, model_state=model.init_model_state(params),
                                           key=rng.key(3), trainable_from=start)
    gs, ps = tree.leaves(grads), tree.leaves(params)
    assert all(g.flags.writeable for g in gs)
    assert not any(np.shares_memory(a, b) for a, b in itertools.combinations(gs, 2))
    assert not any(np.shares_memory(g, p) for g in gs for p in ps)


def test_what_funcnet_is_handed_keeps_its_flags():
    """Read-only is for the arrays funcnet makes: a caller's own key, parameters and model
    state keep their flags."""
    key = np.array(rng.key(1))  # a writeable copy (rng.key hands keys out read-only)
    params = tree.map(np.copy, model.init(rng.key(0), (4, 3, 2)))
    state = train.init_state(params, optim.adam(0.1), key)
    assert key.flags.writeable and all(a.flags.writeable for a in tree.leaves(params))
    net = model.init(rng.key(0), (dense(3), batch_norm(), dense(2)), input_shape=(4,))
    own = tree.map(np.copy, model.init_model_state(net))
    model.value_and_grads(net, np.ones((3, 4)), [0, 1, 0], model_state=own)
    dst = tree.map(np.copy, model.init(rng.key(2), (4, 3, 5)))
    model.transfer(params, dst, lambda path, layer: path == "layers.0")
    assert all(a.flags.writeable for a in tree.leaves((own, dst))) and int(state.step) == 0
