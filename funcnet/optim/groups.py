"""Optimizers over parts of the parameters: masks, labels, freezing, accumulation, injection.

Shaped like optax's wrappers, each a factory returning an :class:`Optimizer`:

- :func:`masked` applies an optimizer to the leaves a mask picks (the others pass unchanged);
- :func:`multi_transform` applies one optimizer per group of leaves, by label;
- :func:`set_to_zero` and :func:`freeze` pin leaves: u = 0, no state, never decayed or
  clipped by what follows in a :func:`~funcnet.optim.chain`, and a training step
  neither writes them nor computes gradients below the lowest trainable layer;
and (in :mod:`~funcnet.optim.accumulation` and :mod:`~funcnet.optim.injection`)
``multi_steps``, which accumulates k gradients and updates once, and
``inject_hyperparams``, which keeps the current hyperparameters in the state.

A mask is a pattern or several (``"*.w"``, ``["layers.0-3"]``: see :mod:`funcnet.paths`),
a tree of booleans with the params' structure (or a prefix of it), or a function of the
params giving one; labels are a tree of group names or a function giving one
(:func:`by_path` for patterns). Masks and labels are resolved once per tree
structure (as a traced function is under ``jax.jit``), from the params, or the
gradients when the update gets no params. The inner optimizer of a mask or a label
sees its leaves as a dict ``{path: leaf}`` keyed by their dotted paths, so that
patterns inside it name the same leaves.

>>> import numpy as np
>>> from funcnet.optim import adamw, sgd, chain, apply_updates
>>> p = {"w": np.ones(2), "b": np.ones(2)}
>>> opt = chain(freeze("b"), sgd(0.5))
>>> apply_updates(p, opt.update({"w": np.ones(2), "b": np.ones(2)}, opt.init(p), p)[0])
{'b': array([1., 1.]), 'w': array([0.5, 0.5])}
"""

from __future__ import annotations

from typing import Any, Callable

import attrs
import numpy as np

from funcnet import tree
from funcnet.errors import ConfigError

from .base import Optimizer, donated_form, donating

__all__ = ["MaskedState", "MultiTransformState", "SetToZeroState", "masked", "multi_transform",
           "set_to_zero", "freeze", "by_path", "frozen", "chain_frozen"]


# --- resolving masks and labels once per structure -------------------------------------------

class _PerStructure:
    """A cache keyed by a TreeDef: the last one by identity, the others by equality."""

    def __init__(self):
        self.last: tuple = (None, None)
        self.table: dict = {}

    def get(self, treedef, make: Callable) -> Any:
        if self.last[0] is treedef:
            return self.last[1]
        if treedef not in self.table:
            self.table[treedef] = make()
        self.last = (treedef, self.table[treedef])
        return self.last[1]


_PATHS = _PerStructure()


def _paths(treedef) -> tuple:
    """The dotted paths of a structure's leaves, in flatten order."""
    return _PATHS.get(treedef, lambda: tuple(
        p for p, _ in tree.flatten_with_path(tree.unflatten(treedef, [0] * treedef.num_leaves))))


@attrs.frozen(eq=False)
class _Part:
    """Some leaves of a structure as the dict ``{path: leaf}``: ``order`` their flatten
    indices in the dict's (sorted) order, ``treedef`` the dict's structure."""

    order: tuple
    keys: tuple
    treedef: Any

    def tree(self, leaves_: list) -> dict:
        return {k: leaves_[i] for k, i in zip(self.keys, self.order)}

    def take(self, leaves_: list) -> list:
        return [leaves_[i] for i in self.order]


def _part(treedef, indices) -> _Part:
    paths = _paths(treedef)
    order = tuple(sorted(indices, key=paths.__getitem__))
    keys = tuple(paths[i] for i in order)
    return _Part(order, keys, tree.structure({k: 0 for k in keys}))


def _bool_leaves(t: Any, m: Any, what: str = "mask") -> tuple:
    """The booleans of mask tree ``m`` for each leaf of ``t`` (``m`` may be a prefix of ``t``)."""
    ms, mdef = tree.flatten(m)
    try:
        subtrees = tree.flatten_up_to(mdef, t)
    except ValueError as err:
        raise ConfigError(f"{what}: {err} (expected a tree of booleans shaped as the params)") \
            from None
    bad = [x for x in ms if not isinstance(x, (bool, np.bool_))]
    if bad:
        raise ConfigError(f"{what}: expected booleans, got {bad[0]!r}")
    return tuple(bool(b) for b, sub in zip(ms, subtrees) for _ in tree.leaves(sub))


class by_path:  # noqa: N801 - used as a function
    """Labels from patterns over the leaves' dotted paths: ``tree.labels(params, rule, default)``.

    A labelling that depends on the paths alone, for :func:`multi_transform`.

    >>> import numpy as np
    >>> by_path({"b": "bias"}, default="rest")({"w": np.ones(1), "b": np.ones(1)})
    {'b': 'bias', 'w': 'rest'}
    """

    def __init__(self, rule: dict, default: Any = None):
        self.rule, self.default = dict(rule), default

    def __call__(self, params: Any) -> Any:
        return tree.labels(params, self.rule, self.default)

    def __repr__(self) -> str:
        return f"by_path({self.rule!r}, default={self.default!r})"


def _mask_fn(mask: Any) -> Callable[[Any], tuple]:
    """``fn(tree) -> booleans per leaf`` for a mask given as patterns, a tree or a function."""
    if isinstance(mask, str) or (isinstance(mask, (list, tuple)) and mask
                                 and all(isinstance(m, str) for m in mask)):
        patterns = (mask,) if isinstance(mask, str) else tuple(mask)
        return lambda t: tuple(tree.leaves(tree.mask(t, patterns)))
    if callable(mask):
        return lambda t: _bool_leaves(t, mask(t))
    return lambda t: _bool_leaves(t, mask)


def _resolver(fn: Callable[[Any], Any]) -> Callable:
    """``resolve(treedef, make_tree)``: ``fn(make_tree())`` computed once per structure."""
    cache = _PerStructure()
    return lambda treedef, make_tree: cache.get(treedef, lambda: fn(make_tree()))


def _stand_in(treedef, gs, params):
    """The tree a mask or labels are computed from: the params, else the gradients."""
    return (lambda: params) if params is not None else (lambda: tree.unflatten(treedef, gs))


def _leaves_step(opt: Optimizer) -> Callable:
    """``opt.update_leaves``, or the same through ``opt.update`` on rebuilt trees."""
    if opt.update_leaves is not None:
        return opt.update_leaves

    def step(gs, state, params, treedef):
        us, state = opt.update(tree.unflatten(treedef, gs), state, params)
        return tree.flatten_up_to(treedef, us), state
    return step


def _on_part(step: Callable, part: _Part, gs: list, state, ps: list | None, out: list):
    """Run ``step`` on the part's leaves; write its updates into ``out`` (a list of our own)."""
    sub = part.tree(ps) if ps is not None else None
    us, state = step(part.take(gs), state, sub, part.treedef)
    for i, u in zip(part.order, us):
        out[i] = u
    return state


def _wrap(init: Callable, update_leaves: Callable, frozen_fn: Callable | None) -> Optimizer:
    """The Optimizer of a wrapper's ``init`` and ``update_leaves``, the states it hands out
    read-only (its donated form, if any, kept)."""
    def read_only_leaves(gs, state, params, treedef):
        us, state = update_leaves(gs, state, params, treedef)
        return us, tree.freeze(state)

    donated = donated_form(update_leaves)
    if donated is not None:
        donating(read_only_leaves, donated)

    def update(grads, state, params=None):
        gs, treedef = tree.flatten(grads)
        us, state = read_only_leaves(gs, state, params, treedef)
        return tree.unflatten(treedef, us), state
    return Optimizer(lambda params: tree.freeze(init(params)), update, read_only_leaves, frozen_fn)


def _sub_frozen(opt: Optimizer, t: Any, part: _Part | None) -> tuple | None:
    """``opt.frozen`` on the whole tree (``part`` None) or on a part of it."""
    if opt.frozen is None:
        return None
    ls, treedef = tree.flatten(t)
    return tuple(opt.frozen(t if part is None else part.tree(ls)))


class _KeyedCache:
    """A cache keyed by ``(treedef, value)``: the last key by identity of its treedef."""

    def __init__(self):
        self.last: tuple = (None, None, None)
        self.table: dict = {}

    def get(self, key: tuple, make: Callable) -> Any:
        treedef, value = key
        if self.last[0] is treedef and self.last[1] == value:
            return self.last[2]
        if key not in self.table:
            self.table[key] = make()
        self.last = (treedef, value, self.table[key])
        return self.last[2]


# --- masked, multi_transform -------------------------------------------------------------------

@tree.pytree
@attrs.frozen(eq=False)
class MaskedState:
    """The state of :func:`masked`: the inner optimizer's, over the masked leaves only."""

    inner_state: Any


def masked(inner: Optimizer, mask: Any) -> Optimizer:
    """u_i = inner(g)_i where the mask is True, u_i = g_i elsewhere (optax's ``masked``).

    The inner optimizer sees (and keeps state for) the masked leaves only, as a dict
    ``{path: leaf}``.

    Args:
      inner: the optimizer for the masked leaves.
      mask: patterns (``"*.w"``), a tree of booleans, or a function params -> such a tree.
    Returns:
      An Optimizer with state :class:`MaskedState`.

    >>> from funcnet.optim import add_decayed_weights
    >>> p = {"w": np.array([10.0]), "b": np.array([10.0])}
    >>> opt = masked(add_decayed_weights(0.1), "w")
    >>> opt.update({"w": np.zeros(1), "b": np.zeros(1)}, opt.init(p), p)[0]
    {'b': array([0.]), 'w': array([1.])}
    """
    resolve, step = _resolver(_mask_fn(mask)), _leaves_step(inner)
    parts = _KeyedCache()

    def part_of(treedef, make_tree) -> _Part:
        m = resolve(treedef, make_tree)
        return parts.get((treedef, m), lambda: _part(treedef, [i for i, b in enumerate(m) if b]))

    def init(params):
        ls, treedef = tree.flatten(params)
        return MaskedState(inner.init(part_of(treedef, lambda: params).tree(ls)))

    def update_leaves(gs, state, params, treedef):
        part = part_of(treedef, _stand_in(treedef, gs, params))
        ps = tree.flatten_up_to(treedef, params) if params is not None else None
        out = list(gs)
        return out, MaskedState(_on_part(step, part, gs, state.inner_state, ps, out))

    inner_donated = donated_form(step)
    if inner_donated is not None:
        def donated(gs, state, params, treedef):
            part = part_of(treedef, _stand_in(treedef, gs, params))
            ps = tree.flatten_up_to(treedef, params) if params is not None else None
            out = list(gs)
            return out, MaskedState(_on_part(inner_donated, part, gs, state.inner_state, ps, out))
        donating(update_leaves, donated)

    def frozen_fn(params):
        ls, treedef = tree.flatten(params)
        part = part_of(treedef, lambda: params)
        sub = _sub_frozen(inner, params, part) or ()
        flags = [False] * len(ls)
        for i, f in zip(part.order, sub):
            flags[i] = f
        return tuple(flags)

    return _wrap(init, update_leaves, frozen_fn if inner.frozen is not None else None)


@tree.pytree
@attrs.frozen(eq=False)
class MultiTransformState:
    """The state of :func:`multi_transform`: ``{label: that group's optimizer state}``."""

    inner_states: dict


def _labels_fn(labels: Any) -> Callable[[Any], tuple]:
    if callable(labels):
        return lambda t: _label_leaves(t, labels(t))
    return lambda t: _label_leaves(t, labels)


def _label_leaves(t: Any, labels: Any) -> tuple:
    ls, ldef = tree.flatten(labels)
    try:
        subtrees = tree.flatten_up_to(ldef, t)
    except ValueError as err:
        raise ConfigError(f"labels: {err} (expected a tree of labels shaped as the params)") \
            from None
    return tuple(lab for lab, sub in zip(ls, subtrees) for _ in tree.leaves(sub))


def multi_transform(transforms: dict, labels: Any) -> Optimizer:
    """One optimizer per group: u_i = transforms[label_i](g restricted to label_i's leaves)_i.

    As optax's ``multi_transform`` (torch.optim's parameter groups): each group's
    optimizer sees and keeps state for its own leaves only, as a dict ``{path: leaf}``.

    Args:
      transforms: ``{label: Optimizer}``.
      labels: a tree of labels shaped as the params, or a function params -> such a
        tree (:func:`by_path` for patterns). Every label must have a transform.
    Returns:
      An Optimizer with state :class:`MultiTransformState`.

    >>> from funcnet.optim import sgd
    >>> opt = multi_transform({"fast": sgd(1.0), "slow": sgd(0.1)}, {"w": "fast", "b": "slow"})
    >>> g = {"w": np.ones(1), "b": np.ones(1)}
    >>> opt.update(g, opt.init(g))[0]
    {'b': array([-0.1]), 'w': array([-1.])}
    """
    transforms = dict(transforms)
    names = tuple(sorted(transforms, key=str))
    steps = {k: _leaves_step(transforms[k]) for k in names}
    resolve = _resolver(_labels_fn(labels))
    parts = _KeyedCache()

    def parts_of(treedef, make_tree) -> dict:
        labs = resolve(treedef, make_tree)

        def make():
            missing = sorted({str(x) for x in labs} - {str(k) for k in names})
            if missing:
                where = _paths(treedef)[[str(x) for x in labs].index(missing[0])]
                raise ConfigError(f"multi_transform: no transform for the label {missing[0]!r} "
                                  f"(of {where}); transforms: {', '.join(map(str, names))}")
            return {k: _part(treedef, [i for i, x in enumerate(labs) if x == k]) for k in names}
        return parts.get((treedef, labs), make)

    def init(params):
        ls, treedef = tree.flatten(params)
        ps = parts_of(treedef, lambda: params)
        return MultiTransformState({k: transforms[k].init(ps[k].tree(ls)) for k in names})

    def update_leaves(gs, state, params, treedef):
        ps_of = parts_of(treedef, _stand_in(treedef, gs, params))
        ps = tree.flatten_up_to(treedef, params) if params is not None else None
        out = list(gs)
        new = {k: _on_part(steps[k], ps_of[k], gs, state.inner_states[k], ps, out) for k in names}
        return out, MultiTransformState(new)

    def frozen_fn(params):
        ls, treedef = tree.flatten(params)
        flags = [False] * len(ls)
        for k, part in parts_of(treedef, lambda: params).items():
            for i, f in zip(part.order, _sub_frozen(transforms[k], params, part) or ()):
                flags[i] = f
        return tuple(flags)

    any_frozen = any(t.frozen is not None for t in transforms.values())
    return _wrap(init, update_leaves, frozen_fn if any_frozen else None)


# --- set_to_zero, freeze, and chains that freeze -------------------------------------------------

@tree.pytree
@attrs.frozen(eq=False)
class SetToZeroState:
    """The (empty) state of :func:`set_to_zero`."""


def set_to_zero() -> Optimizer:
    """u = 0 for every leaf: the leaves it gets are frozen (optax's ``set_to_zero``).

    Returns:
      An Optimizer with state :class:`SetToZeroState`; its ``frozen`` marks every leaf.

    >>> set_to_zero().update([np.array([3.0])], SetToZeroState())[0]
    [array([0.])]
    """
    def update_leaves(gs, state, params, treedef):
        return [np.zeros_like(g) for g in gs], state
    return _wrap(lambda params: SetToZeroState(), update_leaves,
                 lambda params: (True,) * len(tree.leaves(params)))


def freeze(mask: Any) -> Optimizer:
    """u_i = 0 where the mask is True: those leaves are frozen (optax's ``freeze``).

    ``masked(set_to_zero(), mask)``. In a :func:`~funcnet.optim.chain`, the members
    after it never see the frozen leaves: they keep no state for them and never
    decay or clip them; so put it first. ``train.make_step`` neither writes a frozen
    array nor computes gradients for the layers below the lowest trainable one.

    Args:
      mask: patterns (``"layers.0-3"``), a tree of booleans, or a function params -> one.
    Returns:
      An Optimizer with state ``MaskedState(SetToZeroState())``.

    >>> from funcnet.optim import adamw, chain
    >>> p = {"w": np.ones(2), "b": np.ones(2)}
    >>> opt = chain(freeze("b"), adamw(0.1, weight_decay=0.5))
    >>> state = opt.init(p)
    >>> sorted(state[1][0].mu)     # Adam keeps moments for w only
    ['w']
    >>> opt.update({"w": np.ones(2), "b": np.ones(2)}, state, p)[0]["b"]
    array([0., 0.])
    """
    return masked(set_to_zero(), mask)


def chain_frozen(optimizers: tuple) -> Optimizer:
    """``chain(*optimizers)`` where some member freezes leaves: each member after one sees
    the leaves not frozen so far, as a dict ``{path: leaf}`` (the members before see the
    whole tree, as in a plain chain). Called by :func:`funcnet.optim.chain`.

    >>> from funcnet.optim import chain, scale
    >>> opt = chain(freeze("a"), scale(2.0))
    >>> opt.update({"a": np.ones(1), "b": np.ones(1)}, opt.init({"a": 0, "b": 0}))[0]
    {'a': array([0.]), 'b': array([2.])}
    """
    steps = tuple(_leaves_step(o) for o in optimizers)
    plans = _PerStructure()

    def plan(treedef, make_tree) -> tuple:
        def make():
            t, n = make_tree(), treedef.num_leaves
            flags, parts = [False] * n, []
            for o in optimizers:
                part = None if not any(flags) else _part(treedef, [i for i in range(n) if not flags[i]])
                parts.append(part)
                for i, f in zip(range(n) if part is None else part.order,
                                _sub_frozen(o, t, part) or ()):
                    flags[i] = flags[i] or f
            return tuple(parts), tuple(flags)
        return plans.get(treedef, make)

    def init(params):
        ls, treedef = tree.flatten(params)
        parts, _ = plan(treedef, lambda: params)
        return tuple(o.init(params if p is None else p.tree(ls)) for o, p in zip(optimizers, parts))

    def update_leaves(gs, state, params, treedef):
        if len(state) != len(optimizers):
            raise ValueError(f"chain of {len(optimizers)} optimizers got a state "
                             f"of {len(state)} entries")
        parts, _ = plan(treedef, _stand_in(treedef, gs, params))
        ps = tree.flatten_up_to(treedef, params) if params is not None else None
        states = []
        for step, s, part in zip(steps, state, parts):
            if part is None:
                gs, s = step(gs, s, params, treedef)
            else:
                gs = list(gs)
                s = _on_part(step, part, gs, s, ps, gs)
            states.append(s)
        return gs, tuple(states)

    return _wrap(init, update_leaves,
                 lambda params: plan(tree.structure(params), lambda: params)[1])


def frozen(optimizer: Optimizer, params: Any) -> Any:
    """A tree of booleans shaped as ``params``: True where ``optimizer`` always gives u = 0.

    >>> from funcnet.optim import adam, chain
    >>> frozen(chain(freeze("layers.0"), adam(0.1)), {"layers": (np.ones(1), np.ones(1))})
    {'layers': (True, False)}
    """
    ls, treedef = tree.flatten(params)
    flags = optimizer.frozen(params) if optimizer.frozen is not None else (False,) * len(ls)
    return tree.unflatten(treedef, list(flags))
