"""Dotted paths into pytrees: patterns, labels, masks, and surgery by path.

Every leaf of a pytree has a dotted path (:func:`funcnet.tree.flatten_with_path`):
a network's first weight is ``layers.0.w``, a weight inside block 3 is
``layers.3.layers.0.w``. A *pattern* names leaves by their paths, as a
shell glob with one addition:

- ``*`` matches any run of characters (dots included), ``?`` one character;
- a segment ``N-M`` (``layers.0-3``) matches the indices N to M;
- a pattern names a leaf when it matches the leaf's whole path or a dotted
  prefix of it: ``layers.0`` names every leaf of layer 0, as ``layers.0.*`` does.

:func:`labels` gives a tree of group names with the params' structure (what
``optim.multi_transform`` takes), :func:`mask` a tree of booleans (what
``optim.masked`` and ``optim.freeze`` take), :func:`at` a tree with some
nodes replaced (equinox's ``tree_at``). They are re-exported by
:mod:`funcnet.tree` as ``tree.labels``, ``tree.mask`` and ``tree.at``.

>>> import numpy as np
>>> params = {"layers": ({"w": np.ones(2), "b": np.zeros(2)}, {"w": np.ones(1), "b": np.zeros(1)})}
>>> labels(params, {"*.b": "no_decay"}, default="decay")
{'layers': ({'b': 'no_decay', 'w': 'decay'}, {'b': 'no_decay', 'w': 'decay'})}
>>> mask(params, "layers.0")
{'layers': ({'b': True, 'w': True}, {'b': False, 'w': False})}
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, Iterable

from . import tree as _tree

__all__ = ["matches", "labels", "mask", "unmatched", "at"]

Rule = Callable[[str, Any], Any] | dict


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern:
    """The regex of a pattern: globs, ``N-M`` index segments, whole path or a dotted prefix."""
    parts = []
    for segment in pattern.split("."):
        span = re.fullmatch(r"(\d+)-(\d+)", segment)
        if span:
            lo, hi = int(span.group(1)), int(span.group(2))
            parts.append("(?:" + "|".join(str(i) for i in range(lo, hi + 1)) + ")")
            continue
        out = ""
        for ch in segment:
            out += ".*" if ch == "*" else "." if ch == "?" else re.escape(ch)
        parts.append(out)
    return re.compile(r"\.".join(parts) + r"(?:\..*)?", re.DOTALL)


def matches(path: str, pattern: str) -> bool:
    """Whether ``pattern`` names the leaf at ``path`` (the whole path or a dotted prefix).

    >>> matches("layers.2.w", "layers.0-3"), matches("layers.12.w", "layers.1")
    (True, False)
    >>> matches("layers.3.layers.0.b", "*.b"), matches("layers.3.beta", "*.b")
    (True, False)
    """
    return _compiled(str(pattern)).fullmatch(path) is not None


def _patterns(spec: str | Iterable[str]) -> tuple[str, ...]:
    """A pattern or several as a tuple of strings (a TypeError for anything else)."""
    items = (spec,) if isinstance(spec, str) else tuple(spec)
    if not all(isinstance(p, str) for p in items):
        raise TypeError(f"patterns must be strings, got {items!r}")
    return items


def _label_of(rule: Rule, default: Any) -> Callable[[str, Any], Any]:
    if callable(rule):
        return rule
    if not isinstance(rule, dict):
        raise TypeError(f"a labelling rule is a function (path, leaf) -> label or a dict "
                        f"{{pattern: label}}, got {type(rule).__name__}")
    table = tuple(rule.items())

    def label(path: str, leaf: Any) -> Any:
        for pattern, name in table:
            if matches(path, pattern):
                return name
        if default is None:
            raise ValueError(f"no pattern names {path} (patterns: {', '.join(rule)}); "
                             "give a default label")
        return default
    return label


def labels(params: Any, rule: Rule, default: Any = None) -> Any:
    """A tree with ``params``' structure whose leaves are group names: ``label_i = rule(path_i, leaf_i)``.

    Args:
      params: any pytree (a Network, a dict of arrays, ...).
      rule: a function ``(path, leaf) -> label``, or a dict ``{pattern: label}``
        whose first pattern naming a leaf gives its label.
      default: the label of leaves no pattern names (None: such a leaf is a ValueError).
    Returns:
      The tree of labels (strings, or whatever the rule gives; not None).

    >>> import numpy as np
    >>> p = {"w": np.ones((2, 3)), "b": np.zeros(3)}
    >>> labels(p, lambda path, x: "matrix" if x.ndim == 2 else "vector")
    {'b': 'vector', 'w': 'matrix'}
    >>> labels(p, {"w": "decay"})
    Traceback (most recent call last):
    ...
    ValueError: no pattern names b (patterns: w); give a default label
    """
    label = _label_of(rule, default)
    leaves_, treedef = _tree.flatten(params)
    paths = [path for path, _ in _tree.flatten_with_path(params)]
    out = [label(path, leaf) for path, leaf in zip(paths, leaves_)]
    if any(x is None for x in out):
        raise ValueError(f"the rule gave no label (None) for {paths[out.index(None)]}")
    return _tree.unflatten(treedef, out)


def mask(params: Any, patterns: str | Iterable[str]) -> Any:
    """A tree of booleans with ``params``' structure: True where one of ``patterns`` names the leaf.

    No pattern naming any leaf gives a tree of False (see :func:`unmatched`).

    >>> import numpy as np
    >>> mask({"w": np.ones(2), "b": np.ones(2)}, ["*.w", "w"])
    {'b': False, 'w': True}
    >>> mask({"w": np.ones(2)}, "nothing")
    {'w': False}
    """
    pats = _patterns(patterns)
    return labels(params, lambda path, _: any(matches(path, p) for p in pats))


def unmatched(params: Any, patterns: str | Iterable[str]) -> list[str]:
    """The patterns that name no leaf of ``params`` (a misspelt layer, most often).

    >>> import numpy as np
    >>> unmatched({"layers": (np.ones(1), np.ones(1))}, ["layers.1", "layers.2", "*.gamma"])
    ['layers.2', '*.gamma']
    """
    paths = [path for path, _ in _tree.flatten_with_path(params)]
    return [p for p in _patterns(patterns) if not any(matches(path, p) for path in paths)]


# --- surgery: tree.at -------------------------------------------------------------------


class _Slot:
    """A stand-in for one leaf while :func:`at` finds the nodes ``where`` picks."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index

    def __repr__(self) -> str:
        return f"<leaf {self.index}>"


def _nodes(x: Any, path: str, out: dict) -> None:
    """``out[id(node)] = (path, node)`` for every node and leaf of ``x``, depth first."""
    out.setdefault(id(x), []).append(path)
    fns = _tree._node_fns(x)
    if fns is None:
        return
    children, _, keys = fns[0](x)
    for k, c in zip(keys, children):
        _nodes(c, f"{path}.{k}" if path else str(k), out)


def _picked(params: Any, where: Any) -> tuple[list[str], bool]:
    """The paths of the nodes ``where`` picks, and whether it picked one node (not a tuple)."""
    if isinstance(where, str):
        return [where], True
    if isinstance(where, (list, tuple)) and all(isinstance(w, str) for w in where):
        return list(where), False
    leaves_, treedef = _tree.flatten(params)
    shadow = _tree.unflatten(treedef, [_Slot(i) for i in range(len(leaves_))])
    found = where(shadow)
    table: dict = {}
    _nodes(shadow, "", table)
    single = id(found) in table or type(found) not in (tuple, list)  # a tuple of the tree is one node
    paths = []
    for node in ((found,) if single else tuple(found)):
        seen = table.get(id(node))
        if seen is None:
            raise ValueError(f"where picked {node!r}, which is not a node of the tree")
        if len(seen) > 1:
            raise ValueError(f"where picked a node found at {', '.join(seen)}: ambiguous")
        paths.append(seen[0])
    return paths, single


def _replace_at(x: Any, path: tuple, new: Any, full: str) -> Any:
    if not path:
        return new
    fns = _tree._node_fns(x)
    if fns is None:
        raise ValueError(f"no node at {full}: the tree ends before {'.'.join(path)}")
    children, aux, keys = fns[0](x)
    names = [str(k) for k in keys]
    if path[0] not in names:
        raise ValueError(f"no node at {full}: expected one of {', '.join(names) or 'nothing'} "
                         f"after the part before {path[0]}")
    i = names.index(path[0])
    children = list(children)
    children[i] = _replace_at(children[i], path[1:], new, full)
    make = _tree._REGISTRY[type(x)][1] if type(x) in _tree._REGISTRY else (
        lambda aux, ch, cls=type(x): cls(*ch))
    return make(aux, tuple(children))


def _get(x: Any, path: tuple) -> Any:
    for i, part in enumerate(path):
        fns = _tree._node_fns(x)
        children, _, keys = fns[0](x) if fns is not None else ((), None, ())
        names = [str(k) for k in keys]
        if part not in names:
            raise ValueError(f"no node at {'.'.join(path)}: nothing called {part} "
                             f"after {'.'.join(path[:i]) or 'the root'}")
        x = children[names.index(part)]
    return x


def at(params: Any, where: Any, replace: Any = None, *, replace_fn: Callable | None = None) -> Any:
    """A new tree with the nodes ``where`` picks replaced (equinox's ``tree_at``); ``params`` kept.

    Args:
      params: any pytree.
      where: a function ``params -> node`` (or a tuple of nodes), e.g.
        ``lambda p: p.layers[0]``; or a dotted path ``"layers.0.w"``, or a list of paths.
      replace: the new node (a tuple of them when ``where`` picks a tuple or a list).
      replace_fn: instead of ``replace``, a function old node -> new node.
    Returns:
      The new tree; nothing of ``params`` is written, untouched nodes are shared.

    >>> import numpy as np
    >>> p = {"layers": ({"w": np.ones(2), "b": np.zeros(2)},)}
    >>> at(p, lambda t: t["layers"][0]["w"], np.full(2, 7.0))["layers"][0]["w"]
    array([7., 7.])
    >>> at(p, "layers.0.b", replace_fn=lambda b: b + 1)["layers"][0]["b"], p["layers"][0]["b"]
    (array([1., 1.]), array([0., 0.]))
    """
    if (replace is None) == (replace_fn is None):
        raise TypeError("give exactly one of replace and replace_fn")
    paths, single = _picked(params, where)
    news = ([replace] if single else list(replace)) if replace_fn is None else None
    if news is not None and len(news) != len(paths):
        raise ValueError(f"where picked {len(paths)} nodes but replace holds {len(news)}")
    out = params
    for i, path in enumerate(paths):
        parts = tuple(path.split(".")) if path else ()
        new = news[i] if news is not None else replace_fn(_get(params, parts))
        out = _replace_at(out, parts, new, path)
    return out
