"""Taking the layers of a trained network into a new one (fine-tuning's first step).

A layer of the new network ``dst`` is *taken* from the trained network ``src``
when ``src`` has a layer at the same path (``layers.3``, ``layers.2.layers.0``
inside a block), of the same kind, whose arrays have the same names and
shapes; the arrays are copied (cast to the new network's dtype). A layer
``src`` lacks is *new* (it keeps its fresh initialisation); a layer at the same
path whose kind or shapes differ is *mismatched*: refused in one line, unless
``partial`` (then it stays fresh too). A ``rule`` limits which layers are
considered: patterns over the dotted paths of their arrays (``"layers.0-5"``),
or a function ``(layer_path, layer) -> bool``; the others are new.

>>> from funcnet import rng
>>> from funcnet.model import init
>>> old, new = init(rng.key(0), (4, 8, 3)), init(rng.key(1), (4, 8, 2))
>>> match(old, new)
Match(taken=('layers.0',), new=(), mismatched=('layers.2',))
>>> net = transfer(old, new, partial=True)
>>> bool((net.layers[0].w == old.layers[0].w).all()), bool((net.layers[2].w == new.layers[2].w).all())
(True, True)
"""

from __future__ import annotations

from typing import Any, Callable

import attrs
import numpy as np

from .. import tree
from ..errors import ConfigError
from ..layers import base
from ..layers.network import Network

__all__ = ["Match", "match", "transfer", "transfer_state", "layer_paths"]


@attrs.frozen
class Match:
    """Which layers (dotted paths, in order) a transfer takes, keeps new, and finds
    mismatched; only layers holding arrays are listed."""

    taken: tuple
    new: tuple
    mismatched: tuple


def layer_paths(net: Network) -> list[tuple[str, tuple, Any]]:
    """``(path, index path, layer)`` of every layer holding arrays, nested ones included.

    >>> from funcnet import rng
    >>> from funcnet.model import init
    >>> [p for p, _, _ in layer_paths(init(rng.key(0), (4, 3, 2)))]
    ['layers.0', 'layers.2']
    """
    out = []
    for index, layer in base.walk(net.layers):
        if base.children(layer) or not tree.leaves(layer):
            continue
        out.append(("layers." + ".layers.".join(map(str, index)), index, layer))
    return out


def _arrays(layer) -> dict:
    return {p: np.shape(x) for p, x in tree.flatten_with_path(layer)}


def _considered(rule) -> Callable[[str, Any], bool]:
    if rule is None:
        return lambda path, layer: True
    if callable(rule):
        return rule
    patterns = (rule,) if isinstance(rule, str) else tuple(rule)
    return lambda path, layer: any(tree.matches(f"{path}.{leaf}", p)
                                   for leaf in _arrays(layer) for p in patterns)


def _why(src_layer, dst_layer) -> str:
    a, b = base.kind_of(src_layer), base.kind_of(dst_layer)
    if a != b:
        return f"{a} in the trained network, {b} here"
    sa, sb = _arrays(src_layer), _arrays(dst_layer)
    diff = [k for k in sb if sa.get(k) != sb[k]] or sorted(set(sa) ^ set(sb))
    k = diff[0]
    return f"{b} with {k} {sa.get(k, 'absent')} in the trained network, {sb.get(k, 'absent')} here"


def _plan(src: Network, dst: Network, rule) -> tuple[Match, dict]:
    considered, old = _considered(rule), {p: layer for p, _, layer in layer_paths(src)}
    taken, new, bad, why = [], [], [], {}
    for path, _, layer in layer_paths(dst):
        if not considered(path, layer) or path not in old:
            new.append(path)
        elif base.kind_of(old[path]) == base.kind_of(layer) and _arrays(old[path]) == _arrays(layer):
            taken.append(path)
        else:
            bad.append(path)
            why[path] = _why(old[path], layer)
    return Match(tuple(taken), tuple(new), tuple(bad)), why


def match(src: Network, dst: Network, rule=None) -> Match:
    """The layers of ``dst`` that ``src`` can give (same path, kind and array shapes),
    those that stay fresh (``src`` lacks them, or the rule leaves them out), and those
    that differ (see the module's docstring).

    >>> from funcnet import rng
    >>> from funcnet.model import init
    >>> match(init(rng.key(0), (4, 3, 2)), init(rng.key(0), (4, 3, 2)), rule="layers.2")
    Match(taken=('layers.2',), new=('layers.0',), mismatched=())
    """
    return _plan(src, dst, rule)[0]


def _at(layers: tuple, index: tuple):
    layer = layers[index[0]]
    return layer if len(index) == 1 else _at(base.children(layer), index[1:])


def transfer(src: Network, dst: Network, rule=None, *, partial: bool = False) -> Network:
    """``dst`` holding copies of the arrays of every layer :func:`match` takes from ``src``.

    θ'_l = θ^src_l (cast to dst's dtype) for each taken layer l, θ'_l = θ^dst_l otherwise.

    Args:
      src: the trained network.
      dst: the freshly initialised network.
      rule: which layers to consider: patterns, or a function (layer_path, layer) -> bool.
      partial: keep mismatched layers fresh instead of refusing them.
    Returns:
      A new network like ``dst``; neither input is written.
    Raises:
      ConfigError: a mismatched layer (without ``partial``), naming it and both shapes;
        or no layer taken at all.

    >>> from funcnet import rng
    >>> from funcnet.model import init
    >>> transfer(init(rng.key(0), (4, 8, 3)), init(rng.key(1), (4, 8, 2)))
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: layers.2 does not match: dense with w (8, 3) in the trained network, (8, 2) here (partial keeps such layers freshly initialised)
    """
    m, why = _plan(src, dst, rule)
    if m.mismatched and not partial:
        first = m.mismatched[0]
        more = f" (and {len(m.mismatched) - 1} more)" if len(m.mismatched) > 1 else ""
        raise ConfigError(f"{first} does not match: {why[first]}{more} "
                          "(partial keeps such layers freshly initialised)")
    if not m.taken:
        raise ConfigError("no layer of the trained network matches this one (same path, kind "
                          "and shapes): nothing to take")
    old = {p: index for p, index, _ in layer_paths(src)}
    new_leaves = []
    for path, leaf in tree.flatten_with_path(dst):
        owner = next((p for p in m.taken if path.startswith(p + ".")), None)
        if owner is None:
            new_leaves.append(leaf)
            continue
        inner = path[len(owner) + 1:]
        got = dict(tree.flatten_with_path(_at(src.layers, old[owner])))[inner]
        new_leaves.append(tree.frozen_copy(np.asarray(got, dtype=np.asarray(leaf).dtype)))
    return tree.unflatten(tree.structure(dst), new_leaves)  # dst's own leaves as they were


def _state_at(state, index: tuple):
    for i in index:
        if not isinstance(state, tuple) or i >= len(state):
            return None
        state = state[i]
    return state


def _with_state(state, index: tuple, value):
    if not index:
        return value
    items = list(state)
    items[index[0]] = _with_state(items[index[0]], index[1:], value)
    return tuple(items)


def transfer_state(src: Network, src_state, dst: Network, dst_state, rule=None, *,
                   partial: bool = False):
    """The model state (batch norm's running statistics) that goes with :func:`transfer`:
    each taken layer's from ``src_state``, the others' from ``dst_state`` (None stays None).

    >>> from funcnet import rng
    >>> from funcnet.layers import dense, batch_norm
    >>> from funcnet.model import init, init_model_state
    >>> a = init(rng.key(0), (dense(3), batch_norm()), input_shape=(2,))
    >>> s = init_model_state(a)
    >>> moved = (None, type(s[1])(s[1].mean + 1, s[1].var))
    >>> transfer_state(a, moved, a, s)[1].mean
    array([1., 1., 1.], dtype=float32)
    """
    if dst_state is None:
        return None
    m, _ = _plan(src, dst, rule)
    if m.mismatched and not partial:
        transfer(src, dst, rule)  # raises the one-line error
    where = {p: index for p, index, _ in layer_paths(dst)}
    out = dst_state
    for path in m.taken:
        old = _state_at(src_state, where[path])
        if old is not None and _state_at(dst_state, where[path]) is not None:
            kept = tree.map(lambda a, b: np.array(a, dtype=np.asarray(b).dtype, copy=True),
                            old, _state_at(dst_state, where[path]))
            out = _with_state(out, where[path], kept)
    return out
