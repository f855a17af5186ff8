"""backward against central finite differences and an independent autodiff oracle (float64)."""

import attrs
import numpy as np
from hypothesis import assume, given, settings, strategies as st

from autodiff_oracle import Node, add, grad, matmul, mlp_grads, sum_of_squares, tanh
from funcnet import activations, model, rng, tree

TOL = 1e-6
# Two exact methods differ only by float64 rounding, ~1e-16 of the O(1) terms summed: a leaf
# whose gradient cancels down to ~1e-12 (seen with width-1 layers and dropout) is held to an
# absolute error of TOL·TINY = 1e-14 instead of a relative one.
TINY = 1e-8
# Differences of a float64 loss of size ~1 carry a rounding error of ~1e-12 per entry, so
# against finite differences a leaf whose gradient norm is below FD_TINY is held to an
# absolute error of TOL·FD_TINY = 1e-11 instead of a relative one.
FD_TINY = 1e-5
STEP = 1e-4  # the five-point stencil's error is O(h⁴) in truncation, O(ε/h) in rounding
KINKED = ("relu", "leaky_relu")

GRADCHECK = settings(deadline=None, max_examples=300)


@st.composite
def problems(draw, dropout=False):
    """A float64 network of depth 1-4, a batch, labels and an L2 weight."""
    depth = draw(st.integers(1, 4))
    n_in = draw(st.integers(1, 6))
    hidden = draw(st.lists(st.integers(1, 8), min_size=depth - 1, max_size=depth - 1))
    classes = draw(st.integers(2, 5))
    batch = draw(st.integers(1, 7))
    activation = draw(st.sampled_from(activations.NAMES))
    scheme = draw(st.sampled_from(model.SCHEMES))
    l2 = draw(st.sampled_from([0.0, 0.05, 0.7]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    sizes = (n_in, *hidden, classes)
    k_init, k_bias, k_x, k_y, k_drop = rng.split(rng.key(seed), 5)
    params = model.init(k_init, sizes, scheme=scheme, activation=activation, dtype=np.float64)
    # non-zero biases, so that their gradients and dead units are exercised too
    bias_keys = rng.split(k_bias, depth)
    params = attrs.evolve(params, layers=tuple(
        model.Dense(l.w, l.b + 0.5 * rng.normal(k, l.b.shape, np.float64))
        for k, l in zip(bias_keys, params.layers)))
    x = rng.normal(k_x, (batch, n_in), np.float64)
    y = rng.generator(k_y).integers(0, classes, batch)
    p_drop = draw(st.sampled_from([0.0, 0.3, 0.5])) if dropout else 0.0
    return params, x, y, l2, p_drop, k_drop


def pre_activations(params, x):
    """Every hidden layer's Z, by a plain forward pass written here."""
    g = activations.get(params.activation).fn
    zs, a = [], x
    for layer in params.layers[:-1]:
        z = a @ layer.w + layer.b
        zs.append(z)
        a = g(z)
    return zs


def pattern(params, x):
    return tuple((z > 0).tobytes() for z in pre_activations(params, x))


def numerical_grads(f, params, h=STEP, same_piece=lambda p: True):
    """Five-point central differences of ``f`` at every scalar of ``params``.

    df/dθ ≈ [8(f(θ+h) − f(θ−h)) − (f(θ+2h) − f(θ−2h))] / 12h. Returns the
    gradient tree and whether every evaluation stayed on ``params``' piece
    (``same_piece``), i.e. crossed no ReLU kink.
    """
    ls, treedef = tree.flatten(params)
    out, smooth = [], True
    for i, leaf in enumerate(ls):
        g = np.zeros_like(leaf)
        for idx in np.ndindex(leaf.shape):
            def at(d):
                moved = leaf.copy()
                moved[idx] += d
                p = tree.unflatten(treedef, ls[:i] + [moved] + ls[i + 1:])
                return f(p), same_piece(p)
            (fp, s1), (fm, s2), (fp2, s3), (fm2, s4) = at(h), at(-h), at(2 * h), at(-2 * h)
            smooth = smooth and s1 and s2 and s3 and s4
            g[idx] = (8 * (fp - fm) - (fp2 - fm2)) / (12 * h)
        out.append(g)
    return tree.unflatten(treedef, out), smooth


def relative_errors(a, b, tiny=TINY):
    """{path: ‖a − b‖ / max(‖a‖, ‖b‖, tiny)} over the leaves of two trees."""
    return {path: float(np.linalg.norm(x - y) / max(np.linalg.norm(x), np.linalg.norm(y), tiny))
            for (path, x), y in zip(tree.flatten_with_path(a), tree.leaves(b))}


def assert_close(expected, got, tiny=TINY):
    errors = relative_errors(expected, got, tiny)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOL, f"relative error {errors[worst]:.3g} at {worst}: {errors}"


def away_from_kinks(params, x, margin=1e-4):
    if params.activation not in KINKED:
        return True
    zs = pre_activations(params, x)
    return not zs or min(float(np.abs(z).min()) for z in zs) > margin


@GRADCHECK
@given(problems())
def test_backward_equals_central_differences(problem):
    params, x, y, l2, _, _ = problem
    assume(away_from_kinks(params, x))
    grads = model.backward(params, model.forward(params, x), y, l2=l2)
    base = pattern(params, x)
    same_piece = (lambda p: pattern(p, x) == base) if params.activation in KINKED \
        else (lambda p: True)
    numeric, smooth = numerical_grads(lambda p: model.loss(p, x, y, l2), params,
                                      same_piece=same_piece)
    assume(smooth)
    assert tree.structure(grads) == tree.structure(params)
    assert_close(numeric, grads, tiny=FD_TINY)


def oracle_params(params, x, y, l2, masks=()):
    loss, dws, dbs = mlp_grads([l.w for l in params.layers], [l.b for l in params.layers],
                               x, y, params.activation, l2, masks)
    return loss, attrs.evolve(params, layers=tuple(model.Dense(w, b) for w, b in zip(dws, dbs)))


@settings(deadline=None, max_examples=300)
@given(problems(dropout=True))
def test_backward_equals_autodiff_oracle(problem):
    params, x, y, l2, p_drop, k_drop = problem
    loss, grads, acts = model.loss_and_grads(params, x, y, key=k_drop, dropout=p_drop, l2=l2)
    oracle_loss, expected = oracle_params(params, x, y, l2, acts.masks)
    assert abs(loss - oracle_loss) <= 1e-12 * max(1.0, abs(loss))
    assert_close(expected, grads)


@settings(deadline=None, max_examples=50)
@given(problems(), st.integers(1, 50))
def test_backward_with_m_scales_the_data_term(problem, m):
    """backward(m=M) is the gradient of (batch/M)·mean cross-entropy + the L2 term."""
    params, x, y, l2, _, _ = problem
    acts = model.forward(params, x)
    ce_only = model.backward(params, acts, y)
    expected = attrs.evolve(params, layers=tuple(
        model.Dense(g.w * (len(y) / m) + l2 * p.w, g.b * (len(y) / m))
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
    _, expected = oracle_params(params, x, y, 0.1)
    numeric, _ = numerical_grads(lambda p: model.loss(p, x, y, 0.1), params)
    assert_close(numeric, expected, tiny=FD_TINY)
