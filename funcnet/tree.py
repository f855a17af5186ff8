"""Pytrees: nested containers whose leaves are arrays, and maths over them.

A *pytree* is a tuple, list, dict, ``None``, NamedTuple, or an attrs record
registered with :func:`pytree`; anything else is a *leaf*. The API follows
``jax.tree``: :func:`flatten` a tree into its leaves and a :class:`TreeDef`,
:func:`unflatten` them back, :func:`map` a function over the leaves of one or
more trees of the same structure. Dicts flatten in sorted key order; ``None``
is a node with no children. Every leaf has a dotted path (:func:`flatten_with_path`);
:func:`labels`, :func:`mask` and :func:`at` (from :mod:`funcnet.paths`) work
over those paths and the patterns that name them.

>>> import numpy as np
>>> t = {"b": (1, 2), "a": [3, None]}
>>> leaves(t)
[3, 1, 2]
>>> map(lambda x: x * 10, t)
{'a': [30, None], 'b': (10, 20)}
>>> leaves_, treedef = flatten(t)
>>> unflatten(treedef, leaves_) == t
True
"""

from __future__ import annotations

import builtins
import functools
import operator
from typing import Any, Callable, Iterable

import attrs
import numpy as np

__all__ = [
    "pytree", "static_field", "register", "TreeDef", "flatten", "unflatten",
    "flatten_up_to", "flatten_with_path", "leaves", "structure", "map",
    "reduce", "add", "sub", "scale", "zeros_like", "allclose", "equal",
    "vdot", "global_norm", "size", "first_nonfinite", "astype", "short", "freeze", "frozen_copy",
    "matches", "labels", "mask", "unmatched", "at",
]

# type -> (flatten(node) -> (children, aux, keys), unflatten(aux, children) -> node)
_REGISTRY: dict[type, tuple[Callable, Callable]] = {}


@attrs.frozen(repr=False)
class TreeDef:
    """The structure of a pytree: node type, static data and children.

    Two trees have the same structure when their ``TreeDef``\\s are equal.

    >>> structure((1, [2, 3])) == structure((4, [5, 6]))
    True
    >>> structure((1, [2, 3])) == structure((1, (2, 3)))
    False
    """

    node: Any  # None for a leaf
    aux: Any
    children: tuple
    num_leaves: int
    # unflatten's builder for this structure, made on first use (not part of equality)
    _build: Any = attrs.field(default=None, eq=False, repr=False, init=False)

    def __repr__(self):
        if self.node is None:
            return "*"
        inner = ", ".join(repr(c) for c in self.children)
        return f"{getattr(self.node, '__name__', self.node)}({inner})"


_LEAF = TreeDef(None, None, (), 1)


def register(cls: type, flatten_fn: Callable, unflatten_fn: Callable) -> type:
    """Register ``cls`` as a pytree node.

    ``flatten_fn(node) -> (children, aux, keys)`` and
    ``unflatten_fn(aux, children) -> node``; ``keys`` name the children in
    paths (see :func:`flatten_with_path`).
    """
    _REGISTRY[cls] = (flatten_fn, unflatten_fn)
    return cls


def static_field(**kwargs) -> Any:
    """An attrs field that is part of the tree's structure, not a leaf.

    Static fields hold hyperparameters (an activation's name, a layer count):
    they are compared when structures are compared and never mapped over.
    """
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["static"] = True
    return attrs.field(metadata=metadata, **kwargs)


def short(value: Any) -> str:
    """A value as records print it: arrays by dtype and shape, never their contents.

    >>> short(np.zeros((784, 10), np.float32)), short(np.int64(3)), short((np.ones(2), "relu"))
    ('float32[784, 10]', '3', "(float64[2], 'relu')")
    """
    if isinstance(value, np.ndarray) and value.ndim:
        return f"{value.dtype}[{', '.join(builtins.map(str, value.shape))}]"
    if isinstance(value, (np.ndarray, np.generic)):
        return repr(value.item())
    if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):
        inner = ", ".join(short(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {short(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _short_repr(self) -> str:
    fields = ", ".join(f"{f.name}={short(getattr(self, f.name))}" for f in attrs.fields(type(self)))
    return f"{type(self).__name__}({fields})"


def _getter(names: tuple) -> Callable[[Any], tuple]:
    """``node -> tuple(getattr(node, n) for n in names)``, made once (operator.attrgetter).

    >>> _getter(("real", "imag"))(3 + 4j), _getter(("real",))(5j), _getter(())(1)
    ((3.0, 4.0), (0.0,), ())
    """
    if not names:
        return lambda node: ()
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        return lambda node: (one(node),)
    return operator.attrgetter(*names)


def pytree(cls: type) -> type:
    """Class decorator: register an attrs class as a pytree node.

    Fields made with :func:`static_field` go into the structure; every other
    field is a child. Apply it above ``@attrs.frozen``. Unless the class
    writes its own ``__repr__``, a record prints its arrays by dtype and shape
    (:func:`short`), not their values.

    >>> @pytree
    ... @attrs.frozen(eq=False)
    ... class Pair:
    ...     left: object
    ...     right: object
    ...     name: str = static_field(default="pair")
    >>> map(lambda x: x + 1, Pair(1, 2))
    Pair(left=2, right=3, name='pair')
    >>> Pair(np.zeros((2, 3)), np.float32(0.5))
    Pair(left=float64[2, 3], right=0.5, name='pair')
    """
    own = cls.__dict__.get("__repr__")
    if own is None or "attrs generated" in getattr(getattr(own, "__code__", None), "co_filename", ""):
        cls.__repr__ = _short_repr
    fields = attrs.fields(cls)
    dynamic = tuple(f.name for f in fields if not f.metadata.get("static"))
    static = tuple(f.name for f in fields if f.metadata.get("static"))

    dynamic_of, static_of = _getter(dynamic), _getter(static)

    def flatten_fn(node):
        return dynamic_of(node), static_of(node), dynamic

    def unflatten_fn(aux, children):
        node = object.__new__(cls)  # skip validators: leaves may be any object
        for name, value in zip(dynamic, children):
            object.__setattr__(node, name, value)
        for name, value in zip(static, aux):
            object.__setattr__(node, name, value)
        return node

    return register(cls, flatten_fn, unflatten_fn)


register(tuple, lambda t: (tuple(t), None, tuple(builtins.range(len(t)))),
         lambda aux, ch: tuple(ch))
register(list, lambda t: (tuple(t), None, tuple(builtins.range(len(t)))),
         lambda aux, ch: list(ch))
register(dict, lambda d: (tuple(d[k] for k in sorted(d)), tuple(sorted(d)), tuple(sorted(d))),
         lambda aux, ch: dict(zip(aux, ch)))
register(type(None), lambda n: ((), None, ()), lambda aux, ch: None)


def _node_fns(x: Any):
    fns = _REGISTRY.get(type(x))
    if fns is None and isinstance(x, tuple) and hasattr(type(x), "_fields"):
        cls = type(x)  # NamedTuple: children are its fields
        fns = (lambda t: (tuple(t), None, cls._fields), lambda aux, ch: cls(*ch))
    return fns


def _flatten(x: Any, out: list) -> TreeDef:
    if type(x) is np.ndarray:  # the common leaf, first
        out.append(x)
        return _LEAF
    fns = _REGISTRY.get(type(x))
    if fns is None:
        fns = _node_fns(x)
        if fns is None:
            out.append(x)
            return _LEAF
    children, aux, _ = fns[0](x)
    defs = tuple([_flatten(c, out) for c in children])
    return TreeDef(type(x), aux, defs, sum([d.num_leaves for d in defs]))


def flatten(tree: Any) -> tuple[list, TreeDef]:
    """Flatten ``tree`` into its list of leaves and its :class:`TreeDef`.

    >>> flatten({"w": 1, "b": (2, 3)})[0]
    [2, 3, 1]
    """
    out: list = []
    return out, _flatten(tree, out)


def _builder(treedef: TreeDef) -> Callable:
    """``build(leaves, i) -> (node, next i)`` for ``treedef``, made once and kept on it."""
    if treedef._build is not None:
        return treedef._build
    if treedef.node is None:
        def build(ls, i):
            return ls[i], i + 1
    else:
        subs = [_builder(c) for c in treedef.children]
        make = (_REGISTRY[treedef.node][1] if treedef.node in _REGISTRY
                else (lambda aux, ch, cls=treedef.node: cls(*ch)))  # NamedTuple
        aux = treedef.aux

        def build(ls, i):
            children = []
            for sub in subs:
                child, i = sub(ls, i)
                children.append(child)
            return make(aux, tuple(children)), i
    object.__setattr__(treedef, "_build", build)
    return build


def unflatten(treedef: TreeDef, leaves_: Iterable) -> Any:
    """Rebuild a tree of structure ``treedef`` from ``leaves_`` (inverse of flatten).

    >>> ls, td = flatten([1, (2, None)])
    >>> unflatten(td, [7, 8])
    [7, (8, None)]
    """
    leaves_ = leaves_ if isinstance(leaves_, list) else list(leaves_)
    if len(leaves_) != treedef.num_leaves:
        raise ValueError(f"expected {treedef.num_leaves} leaves, got {len(leaves_)}")
    return _builder(treedef)(leaves_, 0)[0]


class _Mismatch(Exception):
    """Raised by :func:`_up_to_fast`; :func:`flatten_up_to` then finds the path."""


def _up_to_fast(treedef: TreeDef, x: Any, out: list) -> None:
    if treedef.node is None:
        out.append(x)
        return
    fns = _REGISTRY.get(type(x)) or _node_fns(x)
    if fns is None or type(x) is not treedef.node:
        raise _Mismatch
    children, aux, _ = fns[0](x)
    if len(children) != len(treedef.children) or aux != treedef.aux:
        raise _Mismatch
    for d, c in zip(treedef.children, children):
        _up_to_fast(d, c, out)


def _up_to(treedef: TreeDef, x: Any, out: list, path: str) -> None:
    if treedef.node is None:
        out.append(x)
        return
    fns = _node_fns(x)
    if fns is None or type(x) is not treedef.node:
        raise ValueError(f"tree structure mismatch at '{path or '<root>'}': "
                         f"expected {treedef.node.__name__}, got {type(x).__name__}")
    children, aux, _ = fns[0](x)
    if aux != treedef.aux or len(children) != len(treedef.children):
        raise ValueError(f"tree structure mismatch at '{path or '<root>'}': "
                         f"different fields or static values")
    for i, (d, c) in enumerate(zip(treedef.children, children)):
        _up_to(d, c, out, f"{path}.{i}" if path else str(i))


def flatten_up_to(treedef: TreeDef, tree: Any) -> list:
    """Leaves of ``tree`` cut at the leaves of ``treedef`` (subtrees stay whole).

    >>> flatten_up_to(structure((1, 2)), ([1, 2], {"a": 3}))
    [[1, 2], {'a': 3}]
    """
    out: list = []
    try:
        _up_to_fast(treedef, tree, out)
    except _Mismatch:
        out = []
        _up_to(treedef, tree, out, "")  # again, naming the path of the mismatch
    return out


def _with_path(x: Any, prefix: str, out: list) -> None:
    fns = _node_fns(x)
    if fns is None:
        out.append((prefix, x))
        return
    children, _, keys = fns[0](x)
    for k, c in zip(keys, children):
        _with_path(c, f"{prefix}.{k}" if prefix else str(k), out)


def flatten_with_path(tree: Any) -> list[tuple[str, Any]]:
    """``(path, leaf)`` pairs, the path joining field names, indices and keys by dots.

    >>> flatten_with_path({"layers": ({"w": 1, "b": 2},)})
    [('layers.0.b', 2), ('layers.0.w', 1)]
    """
    out: list = []
    _with_path(tree, "", out)
    return out


def _collect(x: Any, out: list) -> None:
    if type(x) is np.ndarray:  # the common leaf, first
        out.append(x)
        return
    fns = _REGISTRY.get(type(x))
    if fns is None:
        fns = _node_fns(x)
        if fns is None:
            out.append(x)
            return
    for c in fns[0](x)[0]:
        _collect(c, out)


def leaves(tree: Any) -> list:
    """The leaves of ``tree`` in flatten order (``flatten(tree)[0]``, without building the
    structure).

    >>> leaves([1, {"x": 2, "a": 3}, None])
    [1, 3, 2]
    """
    out: list = []
    _collect(tree, out)
    return out


def structure(tree: Any) -> TreeDef:
    """The :class:`TreeDef` of ``tree``.

    >>> structure((1, [2]))
    tuple(*, list(*))
    """
    return flatten(tree)[1]


def map(f: Callable, tree: Any, *rest: Any) -> Any:
    """Apply ``f`` leafwise: ``map(f, t, *ts)[i] = f(t[i], *(s[i] for s in ts))``.

    The other trees must have ``tree``'s structure (or extend below its leaves).

    >>> map(lambda a, b: a - b, {"x": 5, "y": 1}, {"x": 2, "y": 1})
    {'x': 3, 'y': 0}
    """
    ls, treedef = flatten(tree)
    others = [flatten_up_to(treedef, r) for r in rest]
    return unflatten(treedef, [f(*xs) for xs in zip(ls, *others)])


def reduce(f: Callable, tree: Any, initial: Any) -> Any:
    """Fold ``f(acc, leaf)`` over the leaves, starting from ``initial``.

    >>> reduce(lambda acc, x: acc + x, (1, [2, 3]), 0)
    6
    """
    return functools.reduce(f, leaves(tree), initial)


def add(a: Any, b: Any) -> Any:
    """Leafwise sum ``a + b``.

    >>> add((1, 2), (10, 20))
    (11, 22)
    """
    return map(lambda x, y: x + y, a, b)


def sub(a: Any, b: Any) -> Any:
    """Leafwise difference ``a − b``.

    >>> sub((1, 2), (10, 20))
    (-9, -18)
    """
    return map(lambda x, y: x - y, a, b)


def scale(c: float, a: Any) -> Any:
    """Leafwise product ``c · a`` with a scalar ``c``.

    >>> scale(2, [1, 3])
    [2, 6]
    """
    return map(lambda x: c * x, a)


def zeros_like(a: Any) -> Any:
    """A tree of zero arrays shaped and typed as ``a``'s leaves.

    >>> zeros_like((np.ones(2), np.ones((1, 1), np.float32)))
    (array([0., 0.]), array([[0.]], dtype=float32))
    """
    return map(np.zeros_like, a)


def astype(a: Any, dtype: Any) -> Any:
    """Every floating leaf cast to ``dtype`` (other leaves kept).

    >>> astype((np.ones(1, np.float32), np.arange(2)), np.float64)
    (array([1.]), array([0, 1]))
    """
    def cast(x):
        x = np.asarray(x)
        return x.astype(dtype) if np.issubdtype(x.dtype, np.floating) else x
    return map(cast, a)


def allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """True when both trees share a structure and every leaf pair is close.

    >>> allclose((np.ones(2), 1.0), (np.ones(2) + 1e-9, 1.0))
    True
    >>> allclose((1.0,), [1.0])
    False
    """
    la, ta = flatten(a)
    lb, tb = flatten(b)
    return ta == tb and all(
        np.shape(x) == np.shape(y) and np.allclose(x, y, rtol=rtol, atol=atol)
        for x, y in zip(la, lb))


def equal(a: Any, b: Any) -> bool:
    """True when both trees share a structure and every leaf is bit-identical.

    >>> equal((np.float32(0.1),), (np.float32(0.1),))
    True
    >>> equal((np.zeros(2),), (np.zeros(3),))
    False
    """
    la, ta = flatten(a)
    lb, tb = flatten(b)
    def same(x, y):
        x, y = np.asarray(x), np.asarray(y)
        return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    return ta == tb and all(same(x, y) for x, y in zip(la, lb))


def vdot(a: Any, b: Any) -> float:
    """Inner product ⟨a, b⟩ = Σ over leaves of Σ a·b.

    >>> vdot((np.array([1., 2.]),), (np.array([3., 4.]),))
    11.0
    """
    return float(sum(np.vdot(x, y) for x, y in zip(leaves(a), flatten_up_to(structure(a), b))))


def global_norm(a: Any) -> float:
    """The Euclidean norm of all leaves together: ‖a‖ = √(Σ a²).

    >>> global_norm((np.array([3.]), np.array([4.])))
    5.0
    """
    return float(np.sqrt(sum(np.vdot(x, x) for x in leaves(a))))


def size(a: Any) -> int:
    """Total number of scalars over all leaves.

    >>> size((np.zeros((2, 3)), np.zeros(4)))
    10
    """
    return int(sum(np.size(x) for x in leaves(a)))


def first_nonfinite(a: Any) -> str | None:
    """The path of the first leaf holding a NaN or ±inf, or None.

    >>> first_nonfinite({"w": np.array([1., np.nan]), "a": np.ones(1)})
    'w'
    >>> first_nonfinite((np.ones(2),)) is None
    True
    """
    for path, leaf in flatten_with_path(a):
        arr = np.asarray(leaf)
        if np.issubdtype(arr.dtype, np.inexact) and not np.isfinite(arr).all():
            return path
    return None


def freeze(tree: Any) -> Any:
    """``tree`` itself, its array leaves made read-only (``writeable=False``), so that
    ``p.layers[0].w[0, 0] = 1`` raises NumPy's error instead of changing a record that
    looks frozen. Only the flag changes: no array is copied and no value moves.

    >>> t = freeze({"w": np.zeros(2)})
    >>> t["w"][0] = 1.0
    Traceback (most recent call last):
    ...
    ValueError: assignment destination is read-only
    """
    for leaf in leaves(tree):
        if isinstance(leaf, np.ndarray) and leaf.flags.writeable:
            leaf.flags.writeable = False
    return tree


def frozen_copy(a: np.ndarray) -> np.ndarray:
    """A read-only copy of ``a``.

    >>> c = frozen_copy(np.ones(2))
    >>> c.flags.writeable, c.tolist()
    (False, [1.0, 1.0])
    """
    c = np.array(a, copy=True)
    c.flags.writeable = False
    return c


# Paths, patterns, labels, masks and surgery live in funcnet.paths (they build on the above).
from .paths import at, labels, mask, matches, unmatched  # noqa: E402
