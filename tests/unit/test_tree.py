"""funcnet.tree: flatten/unflatten, map, paths, comparisons and tree maths."""

from typing import NamedTuple

import attrs
import numpy as np
import pytest

from funcnet import tree


class Pair(NamedTuple):
    left: object
    right: object


@tree.pytree
@attrs.frozen(eq=False)
class Layer:
    w: object
    b: object
    kind: str = tree.static_field(default="dense")


def test_tuples_lists_and_none_flatten_depth_first():
    t = (1, [2, None, (3,)], None, 4)
    leaves, treedef = tree.flatten(t)
    assert leaves == [1, 2, 3, 4]
    assert treedef.num_leaves == 4
    assert tree.unflatten(treedef, [10, 20, 30, 40]) == (10, [20, None, (30,)], None, 40)


def test_none_is_a_node_without_leaves():
    assert tree.leaves(None) == []
    assert tree.unflatten(tree.structure(None), []) is None
    assert tree.map(lambda x: x + 1, [None, 1]) == [None, 2]


def test_dicts_flatten_in_sorted_key_order_and_rebuild():
    d = {"zeta": 1, "alpha": 2, "mid": {"b": 3, "a": 4}}
    assert tree.leaves(d) == [2, 4, 3, 1]
    ls, td = tree.flatten(d)
    assert tree.unflatten(td, ls) == d
    assert [p for p, _ in tree.flatten_with_path(d)] == ["alpha", "mid.a", "mid.b", "zeta"]


def test_namedtuples_keep_their_type_and_field_names():
    t = Pair(1, Pair(2, 3))
    back = tree.map(lambda x: -x, t)
    assert isinstance(back, Pair) and isinstance(back.right, Pair)
    assert back == Pair(-1, Pair(-2, -3))
    assert tree.flatten_with_path(t) == [("left", 1), ("right.left", 2), ("right.right", 3)]
    assert tree.structure(Pair(1, 2)) != tree.structure((1, 2))


def test_attrs_records_flatten_their_dynamic_fields_and_keep_static_ones():
    layer = Layer(np.ones(2), np.zeros(1), kind="conv")
    ls, td = tree.flatten(layer)
    assert len(ls) == 2 and ls[0] is layer.w and ls[1] is layer.b
    back = tree.unflatten(td, [np.full(2, 5.0), np.full(1, 6.0)])
    assert isinstance(back, Layer) and back.kind == "conv"
    assert back.w.tolist() == [5.0, 5.0] and back.b.tolist() == [6.0]
    assert tree.flatten_with_path({"layers": (layer,)}) == [
        ("layers.0.w", layer.w), ("layers.0.b", layer.b)]


def test_static_fields_are_part_of_the_structure():
    assert tree.structure(Layer(1, 2, "a")) == tree.structure(Layer(3, 4, "a"))
    assert tree.structure(Layer(1, 2, "a")) != tree.structure(Layer(1, 2, "b"))
    assert not tree.allclose(Layer(1.0, 2.0, "a"), Layer(1.0, 2.0, "b"))


def test_map_over_several_trees_and_static_fields_untouched():
    a = Layer(np.array([1.0, 2.0]), np.array([3.0]), "k")
    b = Layer(np.array([10.0, 20.0]), np.array([30.0]), "k")
    out = tree.map(lambda x, y: x + y, a, b)
    assert out.kind == "k"
    assert out.w.tolist() == [11.0, 22.0] and out.b.tolist() == [33.0]


def test_map_reports_where_structures_differ():
    with pytest.raises(ValueError, match=r"mismatch at '1': expected list, got tuple"):
        tree.map(lambda x, y: x, (1, [2]), (1, (2,)))
    with pytest.raises(ValueError, match=r"mismatch at '<root>'"):
        tree.map(lambda x, y: x, {"a": 1}, {"b": 1})
    with pytest.raises(ValueError, match=r"mismatch at '0'"):
        tree.map(lambda x, y: x, ([1, 2],), ([1],))
    with pytest.raises(ValueError, match=r"mismatch at '<root>'.*static"):
        tree.map(lambda x, y: x, Layer(1, 2, "a"), Layer(1, 2, "b"))


def test_map_accepts_trees_that_extend_below_the_first_trees_leaves():
    assert tree.map(lambda a, b: (a, b), (1, 2), ([1, 2], {"k": 3})) == ((1, [1, 2]), (2, {"k": 3}))


def test_unflatten_checks_the_number_of_leaves():
    _, td = tree.flatten((1, [2, 3]))
    with pytest.raises(ValueError, match="expected 3 leaves, got 2"):
        tree.unflatten(td, [1, 2])


def test_flatten_up_to_keeps_subtrees_whole():
    assert tree.flatten_up_to(tree.structure((1, 2)), ([1, 2], {"a": 3})) == [[1, 2], {"a": 3}]


def test_equal_is_bitwise_and_checks_dtype_shape_and_structure():
    a = {"w": np.array([0.1, 0.2]), "n": np.int64(3)}
    assert tree.equal(a, {"w": np.array([0.1, 0.2]), "n": np.int64(3)})
    assert not tree.equal(a, {"w": np.array([0.1, 0.2 + 1e-16 * 2]), "n": np.int64(3)})
    assert not tree.equal(a, {"w": np.array([0.1, 0.2], np.float32), "n": np.int64(3)})
    assert not tree.equal(a, {"w": np.array([[0.1, 0.2]]), "n": np.int64(3)})
    assert not tree.equal(a, {"w": np.array([0.1, 0.2]), "m": np.int64(3)})
    assert tree.equal((np.array([np.nan]),), (np.array([np.nan]),))


def test_allclose_uses_tolerances_and_structure():
    a = (np.array([1.0, 2.0]), [np.array(3.0)])
    assert tree.allclose(a, (np.array([1.0, 2.0 + 1e-9]), [np.array(3.0)]))
    assert not tree.allclose(a, (np.array([1.0, 2.1]), [np.array(3.0)]))
    assert tree.allclose(a, (np.array([1.0, 2.1]), [np.array(3.0)]), rtol=0.1)
    assert not tree.allclose(a, (np.array([1.0, 2.0]), (np.array(3.0),)))
    assert not tree.allclose((np.ones(2),), (np.ones(3),))


def test_reduce_and_tree_maths():
    a = {"x": np.array([1.0, 2.0]), "y": (np.array([[3.0]]),)}
    b = {"x": np.array([10.0, 20.0]), "y": (np.array([[30.0]]),)}
    assert tree.reduce(lambda acc, l: acc + l.sum(), a, 0.0) == 6.0
    assert tree.add(a, b)["x"].tolist() == [11.0, 22.0]
    assert tree.sub(b, a)["y"][0].tolist() == [[27.0]]
    assert tree.scale(2.0, a)["x"].tolist() == [2.0, 4.0]
    z = tree.zeros_like(a)
    assert tree.structure(z) == tree.structure(a) and tree.global_norm(z) == 0.0
    assert tree.vdot(a, b) == 10 + 40 + 90
    assert tree.global_norm({"a": np.array([3.0]), "b": np.array([4.0])}) == 5.0
    assert tree.size(a) == 3


def test_astype_casts_only_floating_leaves():
    out = tree.astype({"f": np.ones(2, np.float32), "i": np.arange(2)}, np.float64)
    assert out["f"].dtype == np.float64 and out["i"].dtype == np.arange(2).dtype


def test_first_nonfinite_names_the_path():
    t = {"layers": (Layer(np.ones(2), np.array([1.0, np.inf])),)}
    assert tree.first_nonfinite(t) == "layers.0.b"
    assert tree.first_nonfinite({"a": np.ones(3), "n": np.arange(3)}) is None


def test_treedef_repr_reads_like_the_tree():
    assert repr(tree.structure((1, [2]))) == "tuple(*, list(*))"
