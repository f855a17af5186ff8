"""backward against central finite differences and an independent autodiff oracle (float64):
the layer-by-layer fold (loss_and_grads) and the fused dense kernel (value_and_grads) alike."""

import attrs
import numpy as np
from hypothesis import assume, example, given, settings, strategies as st

from autodiff_oracle import Node, add, grad, matmul, mlp_grads, sum_of_squares, tanh
from finite_differences import EPS, OPS, STEP, assert_exact
from funcnet import activations, layers, model, rng, tree
from funcnet.layers import Dense

KINKED = ("relu", "leaky_relu")

GRADCHECK = settings(deadline=None, max_examples=300)


def dense_layers(params):
    return [l for l in params.layers if type(l) is Dense]


@st.composite
def problems(draw, dropout=False):
    """A float64 network of depth 1-4 (dropout after each hidden activation, or none), a batch,
    labels, an L2 weight, the dropout key and the hidden activation's name."""
    depth = draw(st.integers(1, 4))
    n_in = draw(st.integers(1, 6))
    hidden = draw(st.lists(st.integers(1, 8), min_size=depth - 1, max_size=depth - 1))
    classes = draw(st.integers(2, 5))
    batch = draw(st.integers(1, 7))
    act = draw(st.sampled_from(activations.NAMES))
    scheme = draw(st.sampled_from(model.SCHEMES))
    l2 = draw(st.sampled_from([0.0, 0.05, 0.7]))
    p_drop = draw(st.sampled_from([0.0, 0.3, 0.5])) if dropout else 0.0
    seed = draw(st.integers(0, 2 ** 32 - 1))
    sizes = (n_in, *hidden, classes)
    k_init, k_bias, k_x, k_y, k_drop = rng.split(rng.key(seed), 5)
    drop = (layers.dropout(p_drop),) if p_drop else ()
    specs = tuple(s for h in hidden for s in (layers.dense(h), layers.activation(act), *drop))
    params = model.init(k_init, specs + (layers.dense(classes),), input_shape=(n_in,),
                        scheme=scheme, dtype=np.float64)
    # non-zero biases, so that their gradients and dead units are exercised too
    bias_keys = iter(rng.split(k_bias, depth))
    params = attrs.evolve(params, layers=tuple(
        Dense(l.w, l.b + 0.5 * rng.normal(next(bias_keys), l.b.shape, np.float64))
        if type(l) is Dense else l for l in params.layers))
    x = rng.normal(k_x, (batch, n_in), np.float64)
    y = rng.generator(k_y).integers(0, classes, batch)
    return params, x, y, l2, k_drop, act


def pre_activations(params, x, act):
    """Every hidden layer's Z, by a plain forward pass written here."""
    g = activations.get(act).fn
    zs, a = [], x
    for layer in dense_layers(params)[:-1]:
        z = a @ layer.w + layer.b
        zs.append(z)
        a = g(z)
    return zs


def pattern(params, x, act):
    return tuple((z > 0).tobytes() for z in pre_activations(params, x, act))


def loss_scale(params, x, y, l2) -> float:
    """The size of the numbers the mean cross-entropy is computed from: per row, the operands
    of its last subtraction L_i = logsumexp(z_i) − z_iy (their rounding is EPS times *their*
    size: with z = (22.5, −10.6) the loss is 4e-15 but carries errors of 5e-15), averaged,
    plus the L2 term. The rounding of the loss's values is bounded by EPS times this, not
    times the loss.
    """
    z = model.logits(params, x)
    top = z.max(axis=1)
    lse = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    rows = np.abs(lse) + np.abs(z[np.arange(len(y)), y])
    penalty = 0.5 * l2 * sum(float((l.w ** 2).sum()) for l in dense_layers(params))
    return float(rows.mean()) + penalty


def numerical_grads(f, params, h=STEP, same_piece=lambda p: True, scale=0.0):
    """Five-point central differences of ``f`` at every scalar of ``params``, with their error
    bound (the truncation |D(h) − D(2h)| and the rounding of the values, as in
    ``finite_differences``, of size at least ``scale``: see :func:`loss_scale`), and whether
    every evaluation stayed on ``params``' piece (``same_piece``), i.e. crossed no ReLU kink.
    """
    ls, treedef = tree.flatten(params)
    out, bounds, smooth = [], [], True
    for i, leaf in enumerate(ls):
        g, bound = np.zeros_like(leaf), np.zeros_like(leaf)
        for idx in np.ndindex(leaf.shape):
            def at(d):
                moved = leaf.copy()
                moved[idx] += d
                p = tree.unflatten(treedef, ls[:i] + [moved] + ls[i + 1:])
                return f(p), same_piece(p)
            v = {k: at(k * h) for k in (-4, -2, -1, 1, 2, 4)}
            smooth = smooth and all(ok for _, ok in v.values())
            f_ = {k: val for k, (val, _) in v.items()}
            d1 = (8 * (f_[1] - f_[-1]) - (f_[2] - f_[-2])) / (12 * h)
            d2 = (8 * (f_[2] - f_[-2]) - (f_[4] - f_[-4])) / (24 * h)
            g[idx] = d1
            size = max(scale, max(abs(x) for x in f_.values()))
            bound[idx] = abs(d1 - d2) + 18 * OPS * EPS * size / (12 * h)
        out.append(g)
        bounds.append(bound)
    return tree.unflatten(treedef, out), tree.unflatten(treedef, bounds), smooth


def assert_within(numeric, bounds, got):
    for (path, n), b, g in zip(tree.flatten_with_path(numeric), tree.leaves(bounds), tree.leaves(got)):
        err = np.abs(g - n)
        assert (err <= b + 1e-6 * np.abs(n)).all(), f"{path}: error {err.max():.3g}, bound {b.max():.3g}"


def assert_close(expected, got):
    for (path, e), g in zip(tree.flatten_with_path(expected), tree.leaves(got)):
        assert_exact(e, g, path)


def away_from_kinks(params, x, act, margin=1e-3):
    if act not in KINKED:
        return True
    zs = pre_activations(params, x, act)
    return not zs or min(float(np.abs(z).min()) for z in zs) > margin


def saturated_problem():
    """A case found by the search: a softmax saturated to 1 − 4e-15, so the loss (4e-15) is
    smaller than the rounding of the logits it comes from (22.5)."""
    net = model.init(rng.key(0), (layers.dense(1), layers.activation("relu"), layers.dense(1),
                                  layers.activation("relu"), layers.dense(2)),
                     input_shape=(1,), dtype=np.float64)
    weights = iter([([[-2.95554504]], [0.66184427]), ([[1.62826416]], [-0.050844]),
                    ([[2.2811624, -1.05900893]], [-0.27747365, -0.0088452])])
    net = attrs.evolve(net, layers=tuple(Dense(*map(np.array, next(weights))) if type(l) is Dense
                                         else l for l in net.layers))
    return net, np.array([[-1.87557927]]), np.array([0]), 0.0, rng.key(0), "relu"


@GRADCHECK
@given(problems())
@example(saturated_problem())
def test_backward_equals_central_differences(problem):
    params, x, y, l2, _, act = problem
    assume(away_from_kinks(params, x, act))
    grads = model.backward(params, model.forward(params, x), y, l2=l2)
    base = pattern(params, x, act)
    same_piece = (lambda p: pattern(p, x, act) == base) if act in KINKED else (lambda p: True)
    numeric, bounds, smooth = numerical_grads(lambda p: model.loss(p, x, y, l2), params,
                                              same_piece=same_piece,
                                              scale=loss_scale(params, x, y, l2))
    assume(smooth)
    assert tree.structure(grads) == tree.structure(params)
    assert_within(numeric, bounds, grads)


def oracle_params(params, x, y, l2, act, masks=()):
    dense = dense_layers(params)
    loss, dws, dbs = mlp_grads([l.w for l in dense], [l.b for l in dense], x, y, act, l2, masks)
    new = iter(Dense(w, b) for w, b in zip(dws, dbs))
    return loss, attrs.evolve(params, layers=tuple(next(new) if type(l) is Dense else l
                                                   for l in params.layers))


@settings(deadline=None, max_examples=300)
@given(problems(dropout=True))
def test_backward_and_the_fused_kernel_equal_the_autodiff_oracle(problem):
    params, x, y, l2, key, act = problem
    loss, grads, acts = model.loss_and_grads(params, x, y, key=key, l2=l2)
    masks = [c for l, c in zip(params.layers, acts.caches) if layers.kind_of(l) == "dropout"]
    oracle_loss, expected = oracle_params(params, x, y, l2, act, masks)
    assert abs(loss - oracle_loss) <= 1e-12 * max(1.0, abs(loss))
    assert_close(expected, grads)
    fused_loss, fused, _, _ = model.value_and_grads(params, x, y, key=key, l2=l2)
    assert abs(fused_loss - oracle_loss) <= 1e-12 * max(1.0, abs(loss))
    assert_close(expected, fused)


@settings(deadline=None, max_examples=50)
@given(problems(), st.integers(1, 50))
def test_backward_with_m_scales_the_data_term(problem, m):
    """backward(m=M) is the gradient of (batch/M)·mean cross-entropy + the L2 term."""
    params, x, y, l2, _, _ = problem
    acts = model.forward(params, x)
    ce_only = model.backward(params, acts, y)
    expected = attrs.evolve(params, layers=tuple(
        Dense(g.w * (len(y) / m) + l2 * p.w, g.b * (len(y) / m)) if type(g) is Dense else g
        for g, p in zip(ce_only.layers, params.layers)))
    assert_close(expected, model.backward(params, acts, y, m=m, l2=l2))


def test_oracle_differentiates_a_known_function():
    """d/dW Σ (x·W)² = 2·xᵀ·(x·W)."""
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    w = np.array([[0.2, -0.1, 0.4], [1.0, 0.3, -0.7]])
    node = Node(w)
    (g,) = grad(sum_of_squares(matmul(Node(x), node)), [node])
    np.testing.assert_allclose(g, 2 * x.T @ (x @ w), rtol=1e-14)


def test_oracle_broadcast_add_sums_the_bias_gradient():
    a = np.arange(6.0).reshape(3, 2)
    b = Node(np.array([1.0, -1.0]))
    (g,) = grad(sum_of_squares(add(Node(a), b)), [b])
    np.testing.assert_allclose(g, (2 * (a + b.value)).sum(axis=0))


def test_oracle_accumulates_over_a_node_used_twice():
    """d/da Σ (tanh(a) + a)² = 2·(tanh(a) + a)·(1 − tanh²(a) + 1)."""
    a = np.array([[0.3, -1.2]])
    node = Node(a)
    (g,) = grad(sum_of_squares(add(tanh(node), node)), [node])
    np.testing.assert_allclose(g, 2 * (np.tanh(a) + a) * (2 - np.tanh(a) ** 2), rtol=1e-14)


def test_oracle_itself_equals_central_differences():
    """The oracle checked on its own against differences of funcnet's loss (smooth net)."""
    params = model.init(rng.key(11), (3, 4, 3), activation="tanh", scheme="tutorial",
                        dtype=np.float64)
    x = rng.normal(rng.key(12), (5, 3), np.float64)
    y = np.array([0, 2, 1, 1, 0])
    _, expected = oracle_params(params, x, y, 0.1, "tanh")
    numeric, bounds, _ = numerical_grads(lambda p: model.loss(p, x, y, 0.1), params,
                                         scale=loss_scale(params, x, y, 0.1))
    assert_within(numeric, bounds, expected)
