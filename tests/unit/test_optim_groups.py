"""Optimizers over parts of the parameters: masks, labels, freezing, accumulation, injection —
known values, the training step's frozen prefix, and torch.optim's parameter groups."""

import numpy as np
import pytest

from funcnet import layers, model, optim, rng, train, tree
from funcnet.data.dataset import Dataset
from funcnet.errors import ConfigError
from funcnet.layers import conv2d, dense, flatten, max_pool, relu

EPS64 = np.finfo(np.float64).eps


def small_cnn(dtype=np.float64, seed=0):
    """conv(4, 3×3)-relu-conv(6, 3×3)-relu-maxpool(2)-flatten-dense(5) on 8×8×1 images:
    layers.0 and layers.2 are convolutions, layers.6 the dense head."""
    return model.init(rng.key(seed), (conv2d(4, 3), relu(), conv2d(6, 3), relu(), max_pool(2),
                                       flatten(), dense(5)), input_shape=(8, 8, 1), dtype=dtype)


def batches(n, size=16, seed=0):
    r = np.random.default_rng(seed)
    return [Dataset(r.standard_normal((size, 8, 8, 1)), r.integers(0, 5, size)) for _ in range(n)]


def trained(opt, net, data, l2=0.0):
    step, state = train.make_step(opt, l2=l2), train.init_state(net, opt, rng.key(1))
    for b in data:
        state = step(state, b)
    return state


# --- masked, multi_transform ---------------------------------------------------------------------

def test_masked_with_no_match_passes_every_gradient_and_keeps_no_state():
    p = {"w": np.ones(3), "b": np.ones(2)}
    g = {"w": np.full(3, 2.0), "b": np.full(2, 3.0)}
    opt = optim.masked(optim.adam(0.1), "gamma")
    state = opt.init(p)
    assert tree.size(state.inner_state) == 2  # two step counts, no moments
    u, _ = opt.update(g, state, p)
    assert tree.equal(u, g)


def test_masked_with_every_match_equals_the_inner_optimizer():
    p = {"w": np.ones(3), "b": np.ones(2)}
    g = {"w": np.array([1.0, -2.0, 3.0]), "b": np.array([0.5, 0.25])}
    inner = optim.adamw(0.1, weight_decay=0.3)
    opt = optim.masked(inner, ["w", "b"])
    u, s = opt.update(g, opt.init(p), p)
    v, t = inner.update(g, inner.init(p), p)
    assert tree.equal(u, v)
    assert sorted(s.inner_state[0].mu) == ["b", "w"]  # the inner state keyed by path


def test_adamw_mask_decays_the_weights_only():
    p = {"layers": ({"w": np.full(2, 10.0), "b": np.full(2, 10.0)},)}
    g = tree.zeros_like(p)
    opt = optim.adamw(0.1, weight_decay=0.5, mask="*.w")
    u, _ = opt.update(g, opt.init(p), p)
    assert np.allclose(u["layers"][0]["w"], -0.1 * 0.5 * 10.0) and not u["layers"][0]["b"].any()


def test_multi_transform_gives_each_group_its_own_optimizer_and_state():
    net = small_cnn()
    labels = optim.by_path({"layers.0-2": "convs"}, default="head")
    opt = optim.multi_transform({"convs": optim.sgd(0.01), "head": optim.adam(0.1)}, labels)
    state = opt.init(net)
    assert sorted(state.inner_states["head"][0].mu) == ["layers.6.b", "layers.6.w"]
    g = tree.map(np.ones_like, net)
    u, _ = opt.update(g, state, net)
    assert np.allclose(u.layers[0].w, -0.01) and np.allclose(u.layers[6].w, -0.1)


def test_multi_transform_refuses_a_label_without_a_transform():
    opt = optim.multi_transform({"a": optim.sgd(0.1)}, {"w": "a", "b": "c"})
    with pytest.raises(ConfigError, match="no transform for the label 'c' \\(of b\\)"):
        opt.init({"w": np.ones(1), "b": np.ones(1)})


# --- set_to_zero, freeze ----------------------------------------------------------------------------

def test_frozen_leaves_keep_no_state_and_are_never_decayed_or_clipped():
    p = {"a": np.full(2, 5.0), "b": np.full(2, 5.0)}
    g = {"a": np.full(2, 1e6), "b": np.array([0.3, 0.4])}  # ‖g_b‖ = 0.5
    opt = optim.chain(optim.freeze("a"), optim.clip_by_global_norm(1.0),
                      optim.adamw(0.1, weight_decay=0.5))
    state = opt.init(p)
    assert [path for path, _ in tree.flatten_with_path(state)] == [
        "2.0.count", "2.0.mu.b", "2.0.nu.b", "2.2.count"]
    u, _ = opt.update(g, state, p)
    assert not u["a"].any()
    by_hand = optim.adamw(0.1, weight_decay=0.5)  # b alone, unclipped (its norm is under 1)
    v, _ = by_hand.update({"b": g["b"]}, by_hand.init({"b": p["b"]}), {"b": p["b"]})
    assert tree.equal(u["b"], v["b"])
    assert tree.equal(optim.frozen(opt, p), {"a": True, "b": False})


def test_freeze_after_an_optimizer_still_pins_the_leaves():
    opt = optim.chain(optim.adam(0.1), optim.freeze("b"))
    p = {"w": np.ones(1), "b": np.ones(1)}
    u, _ = opt.update({"w": np.ones(1), "b": np.ones(1)}, opt.init(p), p)
    assert not u["b"].any() and u["w"].any()
    assert tree.equal(optim.frozen(opt, p), {"b": True, "w": False})


def test_set_to_zero_in_a_multi_transform_freezes_its_group():
    net = small_cnn()
    opt = optim.multi_transform({"train": optim.adam(0.1), "frozen": optim.set_to_zero()},
                                optim.by_path({"layers.0": "frozen"}, "train"))
    assert [p for p, f in tree.flatten_with_path(optim.frozen(opt, net)) if f] == [
        "layers.0.w", "layers.0.b"]


def test_a_frozen_prefix_stays_bit_identical_and_its_backward_is_never_run(monkeypatch):
    net, data = small_cnn(), batches(3)
    calls = []
    kind = layers.base.KINDS["conv2d"]
    monkeypatch.setitem(layers.base._BY_LAYER, kind.layer, kind._replace(
        backward=lambda *a, **k: calls.append(1) or kind.backward(*a, **k)))
    state = trained(optim.chain(optim.freeze("layers.0-2"), optim.adam(0.01)), net, data)
    assert calls == []  # both convolutions are frozen: the backward pass stops at the head
    assert state.params.layers[0].w is net.layers[0].w and state.params.layers[2].b is net.layers[2].b
    assert not tree.equal(state.params.layers[6], net.layers[6])
    assert len(tree.leaves(state.opt_state)) == 1 + 2 + 2 + 1  # Adam's count, mu, nu of the head, lr count


def test_stopping_the_backward_pass_changes_no_gradient_of_the_trainable_layers():
    net, (b,) = small_cnn(), batches(1)
    full = model.value_and_grads(net, b.x, b.y)[1]
    cut = model.value_and_grads(net, b.x, b.y, trainable_from=2)[1]
    assert tree.equal(cut.layers[2:], full.layers[2:])
    assert not any(x.any() for x in tree.leaves(cut.layers[:2]))


def test_a_frozen_middle_layer_gets_gradients_but_no_update():
    net, data = small_cnn(), batches(2)
    state = trained(optim.chain(optim.freeze("layers.2"), optim.sgd(0.1)), net, data)
    assert state.params.layers[2].w is net.layers[2].w
    assert not tree.equal(state.params.layers[0], net.layers[0])


# --- multi_steps ----------------------------------------------------------------------------------

def test_multi_steps_of_sgd_equals_one_step_on_the_batches_together():
    net, parts = small_cnn(), batches(3, size=8, seed=4)
    whole = Dataset(np.concatenate([b.x for b in parts]), np.concatenate([b.y for b in parts]))
    lr = 0.5
    accumulated = trained(optim.multi_steps(optim.sgd(lr), 3), net, parts)
    big = trained(optim.sgd(lr), net, [whole])
    assert int(accumulated.opt_state.mini_step) == 0
    # |Σ of 24 rows' terms, in two orders| ≤ 2·24·ε·Σ|terms|; Σ|terms| ≤ 24·max|per-batch gradient|
    scale = max(np.abs(g).max() for b in parts
                for g in tree.leaves(model.value_and_grads(net, b.x, b.y)[1]))
    tol = lr * 2 * 24 * EPS64 * 24 * scale
    for a, c in zip(tree.leaves(accumulated.params), tree.leaves(big.params)):
        np.testing.assert_allclose(a, c, rtol=0, atol=tol)
    assert not tree.allclose(accumulated.params, net)


def test_multi_steps_holds_the_parameters_between_updates():
    net, data = small_cnn(), batches(2)
    state = trained(optim.multi_steps(optim.adam(0.1), 3), net, data)
    assert tree.equal(state.params, net) and int(state.opt_state.mini_step) == 2
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        optim.multi_steps(optim.sgd(0.1), 0)


# --- inject_hyperparams ------------------------------------------------------------------------------

def test_inject_hyperparams_reads_the_schedule_back_from_the_state():
    schedule = optim.warmup_cosine(0.02, 3, 10)
    opt = optim.inject_hyperparams(optim.adam)(lr=schedule, b1=0.8)
    plain = optim.adam(schedule, b1=0.8)
    net, data = small_cnn(), batches(6)
    a, b = trained(opt, net, data), trained(plain, net, data)
    assert tree.equal(a.params, b.params)  # the same numbers as the schedule inside
    assert optim.hyperparams(a.opt_state) == {"lr": schedule(5), "b1": 0.8}
    assert optim.hyperparams(opt.init(net)) == {"lr": schedule(0), "b1": 0.8}
    assert optim.hyperparams(plain.init(net)) == {}


# --- torch.optim's parameter groups, 100 steps of a small CNN in float64 ------------------------------

def _torch_model(torch, net):
    """The small CNN in torch (NCHW inside, flattened as NHWC), holding ``net``'s arrays."""
    nn = torch.nn
    mods = nn.ModuleDict({"0": nn.Conv2d(1, 4, 3), "2": nn.Conv2d(4, 6, 3), "6": nn.Linear(24, 5)})
    mods = mods.double()
    with torch.no_grad():
        for i in ("0", "2"):
            mods[i].weight.copy_(torch.from_numpy(net.layers[int(i)].w.transpose(3, 2, 0, 1).copy()))
            mods[i].bias.copy_(torch.from_numpy(net.layers[int(i)].b.copy()))
        mods["6"].weight.copy_(torch.from_numpy(net.layers[6].w.T.copy()))
        mods["6"].bias.copy_(torch.from_numpy(net.layers[6].b.copy()))

    def forward(x):
        F = torch.nn.functional
        h = torch.from_numpy(x).permute(0, 3, 1, 2)
        h = F.max_pool2d(F.relu(mods["2"](F.relu(mods["0"](h)))), 2)
        return mods["6"](h.permute(0, 2, 3, 1).flatten(1))
    return mods, forward


def _from_torch(mods, net):
    get = lambda t: t.detach().numpy()  # noqa: E731
    new = [get(mods["0"].weight).transpose(2, 3, 1, 0), get(mods["0"].bias),
           get(mods["2"].weight).transpose(2, 3, 1, 0), get(mods["2"].bias),
           get(mods["6"].weight).T, get(mods["6"].bias)]
    return model.with_leaves(net, new)


def _torch_run(torch, net, data, groups, *, frozen=(), clip=None, accumulate=1, schedule=None):
    """Train in torch: ``groups(mods) -> (optimizer class, param groups, kwargs)``."""
    mods, forward = _torch_model(torch, net)
    for name in frozen:
        for p in mods[name].parameters():
            p.requires_grad_(False)
    cls, param_groups, kw = groups(mods)
    opt = cls(param_groups, **kw)
    trainable = [p for p in mods.parameters() if p.requires_grad]
    for t, b in enumerate(data):
        loss = torch.nn.functional.cross_entropy(forward(b.x), torch.from_numpy(b.y)) / accumulate
        loss.backward()
        if (t + 1) % accumulate:
            continue
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(trainable, clip)
        if schedule is not None:
            for g in opt.param_groups:
                g["lr"] = schedule(t // accumulate)
        opt.step()
        opt.zero_grad()
    return _from_torch(mods, net)


def _w_b(mods, *names):
    return ([mods[n].weight for n in names], [mods[n].bias for n in names])


TORCH_CASES = {
    "multi_transform (per-group lr)": (
        lambda: optim.multi_transform({"convs": optim.adam(1e-2), "head": optim.adam(1e-3)},
                                      optim.by_path({"layers.0-2": "convs"}, "head")),
        lambda torch: lambda m: (torch.optim.Adam, [
            {"params": [*m["0"].parameters(), *m["2"].parameters()], "lr": 1e-2},
            {"params": list(m["6"].parameters()), "lr": 1e-3}], {}),
        {}),
    "adamw mask (weight_decay=0 for biases)": (
        lambda: optim.adamw(1e-2, weight_decay=0.1, mask="*.w"),
        lambda torch: lambda m: (torch.optim.AdamW, [
            {"params": _w_b(m, "0", "2", "6")[0], "weight_decay": 0.1},
            {"params": _w_b(m, "0", "2", "6")[1], "weight_decay": 0.0}], {"lr": 1e-2}),
        {}),
    "freeze (requires_grad=False)": (
        lambda: optim.chain(optim.freeze("layers.0"), optim.adamw(1e-2, weight_decay=0.1)),
        lambda torch: lambda m: (torch.optim.AdamW, [
            {"params": [*m["2"].parameters(), *m["6"].parameters()]}],
            {"lr": 1e-2, "weight_decay": 0.1}),
        {"frozen": ("0",)}),
    "set_to_zero group (requires_grad=False)": (
        lambda: optim.multi_transform({"train": optim.sgd(0.05, momentum=0.9),
                                       "frozen": optim.set_to_zero()},
                                      optim.by_path({"layers.0-2": "frozen"}, "train")),
        lambda torch: lambda m: (torch.optim.SGD, [{"params": list(m["6"].parameters())}],
                                 {"lr": 0.05, "momentum": 0.9}),
        {"frozen": ("0", "2")}),
    "multi_steps (gradients accumulated over 4 batches)": (
        lambda: optim.multi_steps(optim.sgd(0.05, momentum=0.9), 4),
        lambda torch: lambda m: (torch.optim.SGD, [{"params": list(m.parameters())}],
                                 {"lr": 0.05, "momentum": 0.9}),
        {"accumulate": 4}),
    "inject_hyperparams (scheduled lr set per step)": (
        lambda: optim.inject_hyperparams(optim.adam)(lr=optim.warmup_cosine(0.02, 10, 100)),
        lambda torch: lambda m: (torch.optim.Adam, [{"params": list(m.parameters())}], {"lr": 0.0}),
        {"schedule": optim.warmup_cosine(0.02, 10, 100)}),
    "freeze, clip, groups with masked decay": (
        lambda: optim.chain(
            optim.freeze("layers.0"), optim.clip_by_global_norm(1.0),
            optim.multi_transform(
                {"conv": optim.adamw(1e-3, weight_decay=0.1, mask="*.w"),
                 "head": optim.adamw(1e-2, weight_decay=0.1, mask="*.w")},
                optim.by_path({"layers.2": "conv"}, "head"))),
        lambda torch: lambda m: (torch.optim.AdamW, [
            {"params": [m["2"].weight], "lr": 1e-3, "weight_decay": 0.1},
            {"params": [m["2"].bias], "lr": 1e-3, "weight_decay": 0.0},
            {"params": [m["6"].weight], "lr": 1e-2, "weight_decay": 0.1},
            {"params": [m["6"].bias], "lr": 1e-2, "weight_decay": 0.0}], {}),
        {"frozen": ("0",), "clip": 1.0}),
}


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_group_wrappers_equal_torch_parameter_groups_over_100_steps(name):
    torch = pytest.importorskip("torch")
    make, groups, kw = TORCH_CASES[name]
    net, data = small_cnn(), batches(100)
    ours = trained(make(), net, data).params
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: several threads only wait on each other
    try:
        theirs = _torch_run(torch, net, data, groups(torch), **kw)
    finally:
        torch.set_num_threads(threads)
    for (path, a), b in zip(tree.flatten_with_path(ours), tree.leaves(theirs)):
        assert np.linalg.norm(a - b) <= 1e-6 * np.linalg.norm(b), path
    assert not tree.allclose(ours, net)
    for layer in kw.get("frozen", ()):
        assert tree.equal(ours.layers[int(layer)], net.layers[int(layer)])
