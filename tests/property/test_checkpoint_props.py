"""Checkpoints round-trip any pytree of arrays and scalars, bit for bit."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from funcnet import checkpoint, tree

DTYPES = [np.float32, np.float64, np.int64, np.uint32, np.uint8, np.bool_]

arrays = st.sampled_from(DTYPES).flatmap(lambda dtype: hnp.arrays(
    dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
scalars = st.one_of(
    st.integers(-2 ** 63, 2 ** 63 - 1), st.floats(allow_nan=True), st.booleans(),
    arrays.filter(lambda a: a.ndim == 0).map(lambda a: a[()]))
keys = st.text("abcxyz_0123456789", min_size=1, max_size=6)


def extend(children):
    return st.one_of(
        st.dictionaries(keys, children, max_size=4),
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple))


pytrees = st.recursive(st.one_of(arrays, scalars, st.none()), extend, max_leaves=12)


def template(t):
    """A tree like ``t`` with different values: what a caller would build to load."""
    def blank(x):
        if isinstance(x, np.ndarray):
            return np.zeros_like(x)
        return type(x)(0) if isinstance(x, (bool, int, float, np.generic)) else x
    return tree.map(blank, t)


@settings(deadline=None, max_examples=60)
@given(pytrees)
def test_load_returns_what_save_wrote(t):
    before = copy.deepcopy(t)
    with tempfile.TemporaryDirectory() as folder:
        path = checkpoint.save(Path(folder) / "c.safetensors", t, config={"n": 1})
        got = checkpoint.load(path, template(t))
    assert tree.equal(got, t)
    assert tree.equal(t, before)
    assert [type(x) for x in tree.leaves(got)] == [type(x) for x in tree.leaves(t)]


@settings(deadline=None, max_examples=40)
@given(pytrees, st.dictionaries(keys, st.integers() | st.text(max_size=5) | st.none(), max_size=3))
def test_read_info_lists_every_leaf(t, config):
    with tempfile.TemporaryDirectory() as folder:
        info = checkpoint.read_info(checkpoint.save(Path(folder) / "c.safetensors", t,
                                                    config=config, metadata={"k": [1, 2]}))
    assert info["config"] == config and info["metadata"] == {"k": [1, 2]}
    assert info["tensors"] == {
        p: (np.asarray(x).dtype.name, np.shape(x)) for p, x in tree.flatten_with_path(t)}


@settings(deadline=None, max_examples=30)
@given(arrays.filter(lambda a: a.ndim >= 2), st.data())
def test_read_only_and_strided_inputs_round_trip_unchanged(a, data):
    a.flags.writeable = False
    view = a.T[::data.draw(st.integers(1, 2))]
    with tempfile.TemporaryDirectory() as folder:
        path = checkpoint.save(Path(folder) / "c.safetensors", {"a": a, "v": view})
        got = checkpoint.load(path, {"a": a, "v": view})
    assert tree.equal(got, {"a": a, "v": view})
    assert got["a"].flags.writeable and not a.flags.writeable
