"""Optimizer properties: purity, determinism, structure, dtype, chain, descent."""

import copy

import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import array_shapes

from funcnet import optim, tree

OPTIMIZERS = {
    "sgd": lambda: optim.sgd(0.1),
    "sgd-momentum": lambda: optim.sgd(0.05, momentum=0.9),
    "sgd-nesterov": lambda: optim.sgd(0.05, momentum=0.9, nesterov=True),
    "momentum": lambda: optim.momentum(0.05),
    "rmsprop": lambda: optim.rmsprop(0.01),
    "adam": lambda: optim.adam(0.05),
    "adamw": lambda: optim.adamw(0.05, weight_decay=0.01),
    "adam-warmup-cosine": lambda: optim.adam(optim.warmup_cosine(0.1, 20, 200)),
    "clip-adam": lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.adam(0.05)),
    "schedule": lambda: optim.chain(optim.scale_by_schedule(optim.exponential_decay(0.1, 0.99)),
                                    optim.scale(-1.0)),
    "adamw-masked-decay": lambda: optim.adamw(0.05, weight_decay=0.01, mask="layers"),
    "freeze-clip-adam": lambda: optim.chain(optim.freeze("layers.0"), optim.clip_by_global_norm(1.0),
                                            optim.adam(0.05)),
    "multi-transform": lambda: optim.multi_transform(
        {"a": optim.adam(0.05), "b": optim.sgd(0.1, momentum=0.5)}, optim.by_path({"first": "a"}, "b")),
    "multi-steps": lambda: optim.multi_steps(optim.sgd(0.1, momentum=0.9), 2),
    "inject-schedule": lambda: optim.inject_hyperparams(optim.adam)(
        lr=optim.warmup_cosine(0.1, 20, 200)),
}
# the hyperparameters it keeps are the Python floats it computed: float64 in any network
FLOAT64_STATE = {"inject-schedule"}
# a frozen leaf never moves: the quadratic falls only for the others
FREEZING = {"freeze-clip-adam"}

PRIMITIVES = [
    lambda: optim.identity(), lambda: optim.scale(-0.5), lambda: optim.scale_by_learning_rate(0.1),
    lambda: optim.scale_by_schedule(optim.cosine_decay(1.0, 5)), lambda: optim.trace(0.9),
    lambda: optim.trace(0.5, nesterov=True), lambda: optim.scale_by_rms(),
    lambda: optim.scale_by_adam(), lambda: optim.add_decayed_weights(0.1),
    lambda: optim.clip_by_global_norm(1.0),
]

PROPS = settings(deadline=None, max_examples=25)


@st.composite
def problems(draw, dtypes=(np.float32, np.float64)):
    """(params, [grads, grads]) of one random structure, shapes and dtype."""
    shapes = draw(st.lists(array_shapes(min_dims=0, max_dims=3, max_side=4),
                           min_size=1, max_size=5))
    dtype = draw(st.sampled_from(dtypes))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))

    def make():
        arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
        return {"layers": tuple(arrays[1:]), "first": arrays[0]}
    return make(), [make(), make()]


def read_only(t):
    def freeze(x):
        x = np.array(x)
        x.flags.writeable = False
        return x
    return tree.map(freeze, t)


def steps(opt, params, grads_seq, state=None):
    """The (updates, state) after each gradient, params moving by the updates."""
    state = opt.init(params) if state is None else state
    out = []
    for grads in grads_seq:
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
        out.append((updates, state, params))
    return out


@PROPS
@given(st.sampled_from(sorted(OPTIMIZERS)), problems())
def test_updates_do_not_write_into_their_inputs(name, problem):
    params, grads_seq = read_only(problem[0]), read_only(problem[1])
    opt = OPTIMIZERS[name]()
    state = read_only(opt.init(params))
    before = copy.deepcopy((params, grads_seq, state))
    updates, new_state = opt.update(grads_seq[0], state, params)
    opt.update(grads_seq[1], read_only(new_state), params)
    optim.apply_updates(params, read_only(updates))
    assert tree.equal((params, grads_seq, state), before)


@PROPS
@given(st.sampled_from(sorted(OPTIMIZERS)), problems())
def test_updates_are_deterministic(name, problem):
    params, grads_seq = problem
    first = steps(OPTIMIZERS[name](), params, grads_seq)
    again = steps(OPTIMIZERS[name](), params, grads_seq)
    assert tree.equal(first, again)


@PROPS
@given(st.sampled_from(sorted(OPTIMIZERS)), problems())
def test_state_structure_shapes_and_dtypes_are_preserved(name, problem):
    params, grads_seq = problem
    opt = OPTIMIZERS[name]()
    state = opt.init(params)
    spec = [(np.shape(x), np.asarray(x).dtype) for x in tree.leaves(state)]
    for updates, new_state, new_params in steps(opt, params, grads_seq, state):
        assert tree.structure(new_state) == tree.structure(state)
        assert [(np.shape(x), np.asarray(x).dtype) for x in tree.leaves(new_state)] == spec
        assert tree.structure(updates) == tree.structure(params)
        assert all(isinstance(x, np.ndarray) for x in tree.leaves(new_state))


@PROPS
@given(st.sampled_from(sorted(OPTIMIZERS)), problems(dtypes=(np.float32,)))
def test_float32_in_float32_out(name, problem):
    params, grads_seq = problem
    for updates, state, new_params in steps(OPTIMIZERS[name](), params, grads_seq):
        kept = () if name in FLOAT64_STATE else state
        floats = [x for x in tree.leaves((updates, kept, new_params))
                  if not np.issubdtype(np.asarray(x).dtype, np.integer)]
        assert {np.asarray(x).dtype for x in floats} == {np.dtype(np.float32)}
        assert all(isinstance(x, np.ndarray) for x in tree.leaves(new_params))


@PROPS
@given(st.lists(st.sampled_from(range(len(PRIMITIVES))), min_size=1, max_size=4), problems())
def test_chain_equals_members_applied_by_hand(picks, problem):
    params, grads_seq = problem
    members = [PRIMITIVES[i]() for i in picks]
    opt = optim.chain(*members)
    state, states = opt.init(params), [m.init(params) for m in members]
    for grads in grads_seq:
        updates, state = opt.update(grads, state, params)
        for i, m in enumerate(members):
            grads, states[i] = m.update(grads, states[i], params)
        assert tree.equal(updates, grads) and tree.equal(state, tuple(states))


@settings(deadline=None, max_examples=15)
@given(st.sampled_from(sorted(OPTIMIZERS)), problems())
def test_every_optimizer_lowers_a_quadratic(name, problem):
    """L(p) = ½‖p − c‖² falls over 200 steps from any start."""
    start, (c, _) = problem
    if name in FREEZING:  # the frozen leaf starts at its target
        c = tree.at(c, "layers.0", start["layers"][0]) if start["layers"] else c
    opt = OPTIMIZERS[name]()
    state, p = opt.init(start), start
    for _ in range(200):
        updates, state = opt.update(tree.sub(p, c), state, p)
        p = optim.apply_updates(p, updates)
    assert tree.global_norm(tree.sub(p, c)) < 0.5 * tree.global_norm(tree.sub(start, c))


@PROPS
@given(problems())
def test_frozen_leaves_never_move_and_the_others_as_without_them(problem):
    params, grads_seq = problem
    frozen = optim.chain(optim.freeze("first"), optim.adam(0.05))
    others = lambda t: {"layers": t["layers"]}  # noqa: E731
    a = steps(frozen, params, grads_seq)
    b = steps(optim.adam(0.05), others(params), [others(g) for g in grads_seq])
    for (ua, _, pa), (ub, _, pb) in zip(a, b):
        assert not np.asarray(ua["first"]).any() and tree.equal(pa["first"], params["first"])
        assert tree.equal(ua["layers"], ub["layers"])
