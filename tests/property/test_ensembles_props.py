"""Ensembles' properties: distributions of the right shape, the mean's algebra, purity and
determinism, for random members, widths and batches."""

import copy

import numpy as np
from hypothesis import given, settings, strategies as st

from funcnet import model, rng, tree
from funcnet.model.ensembles import Ensemble

PROPS = settings(deadline=None, max_examples=40)
EPS64 = float(np.finfo(np.float64).eps)


def read_only(t):
    """``t`` with every array leaf replaced by a read-only view of it."""
    def freeze(x):
        if isinstance(x, np.ndarray):
            x = x.view()
            x.flags.writeable = False
        return x
    return tree.map(freeze, t)


@st.composite
def ensembles(draw, max_members=3):
    """(ensemble, x): 1..3 float64 MLPs of random depths and widths on the same inputs and
    classes, and a batch of inputs."""
    n_in, classes = draw(st.integers(1, 6)), draw(st.integers(2, 5))
    k = draw(st.integers(1, max_members))
    seeds = draw(st.lists(st.integers(0, 2**31 - 1), min_size=k + 1, max_size=k + 1))
    members = []
    for s in seeds[:k]:
        hidden = draw(st.lists(st.integers(1, 6), max_size=2))
        members.append(model.init(rng.key(s), (n_in, *hidden, classes), dtype=np.float64))
    batch = draw(st.integers(0, 7))
    x = rng.normal(rng.key(seeds[-1]), (batch, n_in), np.float64) * 3
    return Ensemble.of(members), x


@PROPS
@given(ensembles())
def test_rows_are_distributions_of_the_classes(case):
    ens, x = case
    p = model.predict_proba(ens, x)
    k = model.num_outputs(ens)
    assert p.shape == (len(x), k) and p.dtype == np.float64
    assert np.all((p >= 0) & (p <= 1))
    # each member's row sums to 1 within (k + 2) ulp; the mean of K such rows within that
    # plus the mean's own rounding (K + 1 ulp per entry, k entries)
    n = len(ens.members)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=(k + 2 + (n + 1) * k) * EPS64)
    assert np.array_equal(model.predict(ens, x), p.argmax(axis=1) if len(x) else np.zeros(0, int))


@PROPS
@given(ensembles())
def test_is_pure_and_deterministic(case):
    ens, x = case
    ens_before, x_before = copy.deepcopy(ens), x.copy()
    frozen, x_ro = read_only(ens), read_only(x)
    first = model.predict_proba(frozen, x_ro)
    second = model.predict_proba(frozen, x_ro)
    assert np.array_equal(first, second)
    assert np.array_equal(model.logits(frozen, x_ro), model.logits(ens, x))
    assert tree.equal(ens, ens_before) and np.array_equal(x, x_before)


@PROPS
@given(ensembles(max_members=1))
def test_one_member_is_its_member_bit_for_bit(case):
    ens, x = case
    (net,) = ens.members
    assert np.array_equal(model.predict_proba(ens, x), model.predict_proba(net, x))


@PROPS
@given(ensembles(), st.data())
def test_the_mean_is_symmetric_and_the_mean_of_copies_is_the_member(case, data):
    ens, x = case
    a = ens.members[0]
    b = ens.members[-1]
    ab = model.predict_proba(Ensemble.of([a, b]), x)
    assert np.array_equal(ab, model.predict_proba(Ensemble.of([b, a]), x))  # a + b = b + a
    copies = data.draw(st.integers(2, 4))
    same = model.predict_proba(Ensemble.of([a] * copies), x)
    # (p + … + p) / c: c − 1 roundings of the sum and one of the division, relative
    np.testing.assert_allclose(same, model.predict_proba(a, x), rtol=(copies + 1) * EPS64, atol=0)
