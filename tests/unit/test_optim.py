"""Optimizers: known values, recipes against imperative references and torch, schedules."""

import math

import attrs
import numpy as np
import pytest

from funcnet import optim, tree
from funcnet.errors import ConfigError

SHAPES = {"a": (3, 4), "b": (5,), "c": (), "d": (2, 3, 2)}


def random_params(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def grad_sequence(n=100, seed=1, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [{k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
            for _ in range(n)]


def run(opt, params, grads_seq):
    """Params after one update per gradient in ``grads_seq``."""
    state = opt.init(params)
    for grads in grads_seq:
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
    return params


def assert_close(a, b, rtol=1e-6, atol=1e-12):
    assert tree.structure(a) == tree.structure(b)
    for x, y in zip(tree.leaves(a), tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


# --- imperative float64 references, from the papers' / PyTorch docs' pseudo-code ---

def ref_sgd(params, grads_seq, lr, momentum=0.0, nesterov=False):
    p = {k: np.array(v, np.float64) for k, v in params.items()}
    buf = {}
    for grads in grads_seq:
        for k in p:
            g = grads[k]
            if momentum:
                buf[k] = momentum * buf[k] + g if k in buf else g.copy()
                g = g + momentum * buf[k] if nesterov else buf[k]
            p[k] = p[k] - lr * g
    return p


def ref_rmsprop(params, grads_seq, lr, alpha, eps):
    p = {k: np.array(v, np.float64) for k, v in params.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for grads in grads_seq:
        for k in p:
            g = grads[k]
            v[k] = alpha * v[k] + (1 - alpha) * g * g
            p[k] = p[k] - lr * g / (np.sqrt(v[k]) + eps)
    return p


def ref_adam(params, grads_seq, lr, b1, b2, eps, weight_decay=0.0):
    """Adam; with weight_decay, AdamW (decoupled: θ ← θ − lr·λ·θ first)."""
    p = {k: np.array(v, np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(x) for k, x in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for t, grads in enumerate(grads_seq, start=1):
        rate = lr(t - 1) if callable(lr) else lr
        for k in p:
            g = grads[k]
            p[k] = p[k] - rate * weight_decay * p[k]
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            m_hat = m[k] / (1 - b1 ** t)
            v_hat = v[k] / (1 - b2 ** t)
            p[k] = p[k] - rate * m_hat / (np.sqrt(v_hat) + eps)
    return p


REFERENCE_CASES = [
    ("sgd", optim.sgd(0.05), lambda p, gs: ref_sgd(p, gs, 0.05)),
    ("sgd-momentum", optim.sgd(0.05, momentum=0.9),
     lambda p, gs: ref_sgd(p, gs, 0.05, 0.9)),
    ("sgd-nesterov", optim.sgd(0.05, momentum=0.9, nesterov=True),
     lambda p, gs: ref_sgd(p, gs, 0.05, 0.9, nesterov=True)),
    ("momentum", optim.momentum(0.02, mu=0.8), lambda p, gs: ref_sgd(p, gs, 0.02, 0.8)),
    ("rmsprop", optim.rmsprop(0.01, decay=0.95, eps=1e-6),
     lambda p, gs: ref_rmsprop(p, gs, 0.01, 0.95, 1e-6)),
    ("adam", optim.adam(0.01, b1=0.8, b2=0.99, eps=1e-7),
     lambda p, gs: ref_adam(p, gs, 0.01, 0.8, 0.99, 1e-7)),
    ("adamw", optim.adamw(0.01, weight_decay=0.1),
     lambda p, gs: ref_adam(p, gs, 0.01, 0.9, 0.999, 1e-8, weight_decay=0.1)),
    ("adamw-schedule", optim.adamw(optim.warmup_cosine(0.02, 10, 100), weight_decay=0.1),
     lambda p, gs: ref_adam(p, gs, optim.warmup_cosine(0.02, 10, 100), 0.9, 0.999, 1e-8,
                            weight_decay=0.1)),
]


@pytest.mark.parametrize("name, opt, ref", REFERENCE_CASES, ids=[c[0] for c in REFERENCE_CASES])
def test_recipes_equal_imperative_reference(name, opt, ref):
    params, grads_seq = random_params(), grad_sequence(100)
    assert_close(run(opt, params, grads_seq), ref(params, grads_seq))


# --- torch.optim -------------------------------------------------------------

TORCH_CASES = [
    ("sgd-momentum", optim.sgd(0.05, momentum=0.9),
     lambda torch, ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    ("sgd-nesterov", optim.sgd(0.05, momentum=0.9, nesterov=True),
     lambda torch, ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True)),
    ("rmsprop", optim.rmsprop(0.01, decay=0.9, eps=1e-8),
     lambda torch, ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-8)),
    ("adam", optim.adam(0.01, b1=0.9, b2=0.999, eps=1e-8),
     lambda torch, ps: torch.optim.Adam(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8)),
    ("adamw", optim.adamw(0.01, weight_decay=0.05),
     lambda torch, ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.05)),
]


@pytest.mark.parametrize("name, opt, make", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_recipes_equal_torch(name, opt, make):
    torch = pytest.importorskip("torch")
    params, grads_seq = random_params(), grad_sequence(100)
    ts = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    torch_opt = make(torch, list(ts.values()))
    for grads in grads_seq:
        for k, t in ts.items():
            t.grad = torch.tensor(grads[k], dtype=torch.float64)
        torch_opt.step()
    expected = {k: t.detach().numpy() for k, t in ts.items()}
    assert_close(run(opt, params, grads_seq), expected)


# --- every recipe lowers a quadratic and a small MLP loss ----------------------

RECIPE_LRS = {"sgd": 0.1, "momentum": 0.02, "rmsprop": 0.01, "adam": 0.05, "adamw": 0.05}


@pytest.mark.parametrize("name", sorted(RECIPE_LRS))
def test_recipe_lowers_quadratic(name):
    """L(p) = ½‖p − c‖², ∇L = p − c."""
    c = random_params(seed=7)
    params = random_params(seed=8, dtype=np.float32)

    def loss(p):
        return 0.5 * sum(float(np.sum((p[k] - c[k]) ** 2)) for k in p)

    opt = optim.by_name(name, RECIPE_LRS[name])
    state = opt.init(params)
    p = params
    for _ in range(200):
        updates, state = opt.update({k: p[k] - c[k] for k in p}, state, p)
        p = optim.apply_updates(p, updates)
    assert loss(p) < 0.05 * loss(params)


def mlp_loss_and_grads(p, x, y):
    """Mean softmax cross-entropy of a 2-layer tanh network, and its gradients."""
    h = np.tanh(x @ p["w1"] + p["b1"])
    z = h @ p["w2"] + p["b2"]
    z = z - z.max(axis=1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -float(np.mean(np.log(prob[np.arange(n), y])))
    dz = prob.copy()
    dz[np.arange(n), y] -= 1
    dz /= n
    dh = (dz @ p["w2"].T) * (1 - h * h)
    grads = {"w2": h.T @ dz, "b2": dz.sum(axis=0), "w1": x.T @ dh, "b1": dh.sum(axis=0)}
    return loss, {k: g.astype(p[k].dtype) for k, g in grads.items()}


def test_mlp_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 3)), rng.integers(0, 2, 5)
    p = {"w1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4),
         "w2": rng.standard_normal((4, 2)), "b2": rng.standard_normal(2)}
    _, grads = mlp_loss_and_grads(p, x, y)
    for k in p:
        for i in np.ndindex(p[k].shape):
            dp = np.zeros_like(p[k])
            dp[i] = 1e-6
            up = mlp_loss_and_grads({**p, k: p[k] + dp}, x, y)[0]
            down = mlp_loss_and_grads({**p, k: p[k] - dp}, x, y)[0]
            assert abs((up - down) / 2e-6 - grads[k][i]) < 1e-6


@pytest.mark.parametrize("name", sorted(RECIPE_LRS))
def test_recipe_lowers_mlp_loss(name):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    p = {"w1": 0.5 * rng.standard_normal((4, 16)), "b1": np.zeros(16),
         "w2": 0.5 * rng.standard_normal((16, 2)), "b2": np.zeros(2)}
    p = tree.astype(p, np.float32)
    opt = optim.by_name(name, RECIPE_LRS[name] / 5 if name != "sgd" else 0.5)
    state = opt.init(p)
    first, _ = mlp_loss_and_grads(p, x, y)
    for _ in range(200):
        loss, grads = mlp_loss_and_grads(p, x, y)
        updates, state = opt.update(grads, state, p)
        p = optim.apply_updates(p, updates)
    assert mlp_loss_and_grads(p, x, y)[0] < 0.5 * first
    assert all(leaf.dtype == np.float32 for leaf in tree.leaves(p))


# --- exact small facts -----------------------------------------------------------

def test_sgd_without_momentum_is_p_minus_lr_g():
    params = random_params(dtype=np.float32)
    grads = grad_sequence(1, dtype=np.float32)[0]
    opt = optim.sgd(0.1)
    updates, _ = opt.update(grads, opt.init(params), params)
    new = optim.apply_updates(params, updates)
    expected = {k: params[k] - np.float32(0.1) * grads[k] for k in params}
    assert tree.equal(tree.map(np.asarray, new), tree.map(np.asarray, expected))


def test_sgd_nesterov_needs_momentum():
    with pytest.raises(ConfigError, match="momentum"):
        optim.sgd(0.1, nesterov=True)


def test_adam_first_update_has_magnitude_lr():
    rng = np.random.default_rng(5)
    g = {"w": rng.choice([-1, 1], (4, 3)) * rng.uniform(0.01, 10, (4, 3))}
    opt = optim.adam(0.003)
    updates, state = opt.update(g, opt.init(g))
    np.testing.assert_allclose(np.abs(updates["w"]), 0.003, rtol=1e-6)
    np.testing.assert_array_equal(np.sign(updates["w"]), -np.sign(g["w"]))
    assert int(state[0].count) == 1


def test_chain_equals_members_applied_by_hand():
    params = random_params()
    members = [optim.clip_by_global_norm(2.0), optim.trace(0.9), optim.scale_by_adam(),
               optim.add_decayed_weights(0.1), optim.scale_by_learning_rate(0.01)]
    opt = optim.chain(*members)
    state, states = opt.init(params), [m.init(params) for m in members]
    for grads in grad_sequence(3):
        updates, state = opt.update(grads, state, params)
        by_hand = grads
        for i, m in enumerate(members):
            by_hand, states[i] = m.update(by_hand, states[i], params)
        assert tree.equal(updates, by_hand)
        assert tree.equal(state, tuple(states))
        params = optim.apply_updates(params, updates)


def test_chain_accepts_plain_optimizers():
    """A user's Optimizer (no leaf-level update) composes with the primitives."""
    add_one = optim.Optimizer(lambda p: (), lambda g, s, p=None: (tree.map(lambda x: x + 1, g), s))
    opt = optim.chain(optim.scale(2.0), add_one, optim.scale(-1.0))
    updates, state = opt.update([np.array([1.0, 2.0])], opt.init([np.zeros(2)]))
    np.testing.assert_array_equal(updates[0], [-3.0, -5.0])
    assert isinstance(state[0], optim.ScaleState) and state[1] == ()


def test_chain_rejects_a_state_of_the_wrong_length():
    opt = optim.chain(optim.identity(), optim.scale(2.0))
    with pytest.raises(ValueError, match="chain of 2 optimizers got a state of 1"):
        opt.update([np.ones(1)], (optim.IdentityState(),))


def test_empty_chain_and_empty_tree():
    assert optim.chain().update([np.ones(1)], ())[0][0][0] == 1.0
    opt = optim.adamw(0.1)
    updates, state = opt.update({}, opt.init({}), {})
    assert updates == {} and int(state[0].count) == 1


def test_trace_known_values():
    opt = optim.trace(0.5, nesterov=True)
    state = opt.init([np.zeros(1)])
    u1, state = opt.update([np.array([2.0])], state)   # v = 2, u = 2 + 0.5·2
    u2, state = opt.update([np.array([2.0])], state)   # v = 3, u = 2 + 0.5·3
    assert (u1[0][0], u2[0][0], state.trace[0][0]) == (3.0, 3.5, 3.0)


def test_scale_by_rms_known_values():
    opt = optim.scale_by_rms(decay=0.5, eps=0.0)
    u, state = opt.update([np.array([2.0])], opt.init([np.zeros(1)]))
    assert (u[0][0], state.nu[0][0]) == (2.0 / math.sqrt(2.0), 2.0)


def test_add_decayed_weights_needs_params():
    opt = optim.adamw(0.1)
    with pytest.raises(ValueError, match="needs params"):
        opt.update([np.ones(1)], opt.init([np.ones(1)]))


def test_clip_by_global_norm():
    opt = optim.clip_by_global_norm(5.0)
    small = [np.array([3.0]), np.array([[4.0]])]
    assert tree.equal(opt.update(small, opt.init(small))[0], small)
    big = [np.array([30.0]), np.array([[40.0]])]
    clipped, _ = opt.update(big, opt.init(big))
    assert tree.allclose(clipped, [np.array([3.0]), np.array([[4.0]])])
    assert math.isclose(tree.global_norm(clipped), 5.0)


def test_learning_rate_schedule_is_called_with_the_step():
    steps = []
    opt = optim.sgd(lambda t: steps.append(t) or 0.1 * (t + 1))
    state = opt.init([np.zeros(1)])
    us = []
    for _ in range(3):
        u, state = opt.update([np.ones(1)], state)
        us.append(float(u[0][0]))
    assert steps == [0, 1, 2]
    np.testing.assert_allclose(us, [-0.1, -0.2, -0.3])


def test_apply_updates_keeps_param_dtype_and_leaves_params_alone():
    params = {"w": np.ones((2, 2), np.float32), "s": np.array(1.0, np.float32)}
    updates = {"w": np.full((2, 2), 0.5), "s": np.array(-1.0)}
    new = optim.apply_updates(params, updates)
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in new.values())
    np.testing.assert_array_equal(new["w"], 1.5)
    assert new["s"].shape == () and new["s"] == 0
    np.testing.assert_array_equal(params["w"], 1.0)


STATE_RECORDS = [
    (optim.identity(), optim.IdentityState), (optim.scale(2.0), optim.ScaleState),
    (optim.scale_by_learning_rate(0.1), optim.ScaleByLearningRateState),
    (optim.scale_by_schedule(optim.constant(1.0)), optim.ScaleByScheduleState),
    (optim.trace(0.9), optim.TraceState), (optim.scale_by_rms(), optim.ScaleByRmsState),
    (optim.scale_by_adam(), optim.ScaleByAdamState),
    (optim.add_decayed_weights(0.1), optim.AddDecayedWeightsState),
    (optim.clip_by_global_norm(1.0), optim.ClipByGlobalNormState),
]


@pytest.mark.parametrize("opt, record", STATE_RECORDS, ids=[r.__name__ for _, r in STATE_RECORDS])
def test_states_are_frozen_records_of_arrays(opt, record):
    params = random_params(dtype=np.float32)
    state = opt.init(params)
    assert type(state) is record
    for s in (state, opt.update(params, state, params)[1]):
        assert all(isinstance(leaf, np.ndarray) for leaf in tree.leaves(s))
        assert tree.structure(s) == tree.structure(state)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        state.x = 1
    counts = [leaf for path, leaf in tree.flatten_with_path(state) if path == "count"]
    assert all(c.shape == () and c.dtype == np.int64 for c in counts)


def test_recipe_states():
    params = random_params()
    state = optim.adamw(0.1).init(params)
    assert [type(s) for s in state] == [optim.ScaleByAdamState, optim.AddDecayedWeightsState,
                                        optim.ScaleByLearningRateState]
    assert tree.structure(state[0].mu) == tree.structure(params)
    assert type(optim.sgd(0.1).init(params)[0]) is optim.IdentityState
    assert type(optim.sgd(0.1, momentum=0.9).init(params)[0]) is optim.TraceState


# --- by_name and hyperparameter errors ------------------------------------------

def test_by_name():
    assert type(optim.by_name("rmsprop", 0.1).init([np.ones(1)])[0]) is optim.ScaleByRmsState
    with pytest.raises(ValueError, match="valid names: adam, adamw, momentum, rmsprop, sgd"):
        optim.by_name("adagrad", 0.1)
    with pytest.raises(ConfigError, match="'adam'.*beta"):
        optim.by_name("adam", 0.1, beta=0.9)


@pytest.mark.parametrize("make, message", [
    (lambda: optim.adam(0.1, b1=1.0), "b1 must be in"),
    (lambda: optim.adam(0.1, b2=-0.1), "b2 must be in"),
    (lambda: optim.rmsprop(0.1, eps=-1.0), "eps must be ≥ 0"),
    (lambda: optim.momentum(0.1, mu=1.5), "momentum must be in"),
    (lambda: optim.adamw(0.1, weight_decay=-1.0), "weight_decay must be ≥ 0"),
    (lambda: optim.clip_by_global_norm(0.0), "max_norm must be > 0"),
    (lambda: optim.step_decay(1.0, 0.5, 0), "every must be a positive integer"),
    (lambda: optim.cosine_decay(1.0, 0), "steps must be a positive integer"),
    (lambda: optim.warmup(1.0, -1, 1.0), "warmup_steps must be an integer ≥ 0"),
    (lambda: optim.warmup_cosine(1.0, 10, 10), "total_steps − warmup_steps must be"),
])
def test_bad_hyperparameters(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


# --- schedules --------------------------------------------------------------------

def test_schedules_known_values():
    assert optim.constant(0.3)(12345) == 0.3
    s = optim.step_decay(0.1, 0.1, 30)
    assert [s(t) for t in (0, 29, 30, 60)] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    s = optim.exponential_decay(1.0, 0.5)
    assert [s(t) for t in (0, 1, 3)] == [1.0, 0.5, 0.125]
    s = optim.exponential_decay(1.0, 0.5, every=4)
    assert s(2) == pytest.approx(math.sqrt(0.5))
    s = optim.cosine_decay(2.0, 100)
    assert [s(0), s(50), s(100), s(1000)] == pytest.approx([2.0, 1.0, 0.0, 0.0])
    assert optim.cosine_decay(2.0, 100)(25) == pytest.approx(1.0 + math.cos(math.pi / 4))
    s = optim.warmup(1.0, 10, optim.exponential_decay(1.0, 0.5))
    assert [s(t) for t in (0, 1, 5, 10, 11, 12)] == pytest.approx([0, 0.1, 0.5, 1, 0.5, 0.25])
    s = optim.warmup(0.5, 0, optim.constant(0.2))
    assert s(0) == 0.2
    s = optim.warmup_cosine(1.0, 100, 1100, end=0.1)
    assert [s(50), s(100), s(600), s(1100), s(5000)] == pytest.approx([0.5, 1, 0.55, 0.1, 0.1])


def test_schedules_return_floats_for_numpy_steps():
    for s in (optim.constant(1), optim.step_decay(1, 0.5, 2), optim.exponential_decay(1, 0.5),
              optim.cosine_decay(1, 10), optim.warmup_cosine(1, 2, 10)):
        assert type(s(np.array(3, np.int64))) is float
