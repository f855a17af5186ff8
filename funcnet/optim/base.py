"""Optimizer types, ``chain`` and ``apply_updates``.

An :class:`Optimizer` is a pair of pure functions that close over their
hyperparameters: ``init(params) -> state`` and
``update(grads, state, params=None) -> (updates, state)``. Updates are added
to the parameters with :func:`apply_updates`; nothing is written in place.

>>> import numpy as np
>>> opt = chain()
>>> updates, state = opt.update({"w": np.ones(2)}, opt.init({"w": np.zeros(2)}))
>>> apply_updates({"w": np.zeros(2)}, updates)
{'w': array([1., 1.])}
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from funcnet import tree

__all__ = ["Optimizer", "apply_updates", "chain", "donating", "donated_form"]

Params = Any   # a pytree of arrays
Updates = Any  # a pytree of arrays with the structure of Params
State = Any    # a pytree of arrays (attrs records, tuples)


class Optimizer(NamedTuple):
    """A gradient transformation: ``(init, update)``, both pure, and an optional fast path.

    ``init(params) -> state``; ``update(grads, state, params=None) ->
    (updates, new_state)``. Neither writes into its arguments.
    ``update_leaves(gs, state, params, treedef) -> (us, new_state)``, when
    not None, is the same update on the list of gradient leaves (see
    :func:`leafwise`); a training step uses it to skip rebuilding trees.
    A wrapper that changes ``update`` must drop it (``opt._replace(update=f,
    update_leaves=None)``) or supply its own. ``frozen(params) -> tuple of
    bools``, when not None, says which leaves (in flatten order) always get
    a zero update (``optim.freeze``, ``optim.set_to_zero``): :func:`chain`
    hands the members after it only the other leaves, and a training step
    neither computes gradients below the lowest trainable layer nor writes
    the frozen arrays (see ``funcnet.optim.groups``).
    """

    init: Callable[[Params], State]
    update: Callable[..., tuple[Updates, State]]
    update_leaves: Callable | None = None
    frozen: Callable | None = None


def donating(update_leaves: Callable, donated: Callable) -> Callable:
    """``update_leaves`` with its donated form attached (see :func:`donated_form`).

    ``donated(gs, state, params, treedef) -> (us, new_state)`` gives the same
    numbers as ``update_leaves``, bit for bit, but may write into the gradient
    leaves ``gs`` and into the arrays of ``state`` (its caller owns both and
    promises not to read them again): the updates ``us`` are the arrays of
    ``gs`` and ``new_state`` holds the arrays of ``state``, so a training step
    that donates allocates no new optimizer state. It never writes into ``params``.

    >>> def double(gs, s, p, td): return [2 * g for g in gs], s
    >>> def double_in_place(gs, s, p, td):
    ...     for g in gs:
    ...         g *= 2
    ...     return gs, s
    >>> f = donating(double, double_in_place)
    >>> donated_form(f) is double_in_place
    True
    """
    update_leaves.donated = donated
    return update_leaves


def donated_form(update_leaves: Callable | None) -> Callable | None:
    """The donated form attached to ``update_leaves`` by :func:`donating`, else None.

    A wrapper that makes its own ``update_leaves`` gets none unless it attaches
    one, so a donated form always belongs to the update it stands for.

    >>> donated_form(lambda gs, s, p, td: (gs, s)) is None
    True
    """
    return getattr(update_leaves, "donated", None)


def leafwise(init: Callable, update_leaves: Callable) -> Optimizer:
    """An :class:`Optimizer` whose update works on the list of gradient leaves.

    ``update_leaves(gs, state, params, treedef) -> (us, new_state)`` gets the
    leaves ``gs`` of the gradients (flattened once), the state, the params
    tree (or None) and the gradients' treedef; ``us`` are the update leaves.
    :func:`chain` joins such updates so the gradients are flattened and
    unflattened once for the whole chain.

    >>> opt = leafwise(lambda p: (), lambda gs, s, p, td: ([2 * g for g in gs], s))
    >>> opt.update((1.0, [3.0]), ())
    ((2.0, [6.0]), ())
    """
    def update(grads: Updates, state: State, params: Params = None):
        gs, treedef = tree.flatten(grads)
        us, new_state = update_leaves(gs, state, params, treedef)
        return tree.unflatten(treedef, us), new_state
    return Optimizer(init, update, update_leaves)


def chain(*optimizers: Optimizer) -> Optimizer:
    """Apply ``optimizers`` one after another: u = fₙ(…f₂(f₁(g))).

    The state is the tuple of the members' states, in order.

    A member that freezes leaves (``optim.freeze(mask)``) hides them from
    the members after it: they keep no state for them, never decay or clip
    them, and the frozen leaves' update stays zero.

    Args:
      *optimizers: the transformations, first applied first.
    Returns:
      An :class:`Optimizer` whose state is ``(state₁, …, stateₙ)``.

    >>> from funcnet.optim import scale
    >>> opt = chain(scale(2.0), scale(-0.5))
    >>> opt.update([np.array([4.0])], opt.init([np.zeros(1)]))[0]
    [array([-4.])]
    """
    if any(o.frozen is not None for o in optimizers):
        from .groups import chain_frozen  # groups builds on this module
        return chain_frozen(optimizers)
    steps = tuple(o.update_leaves for o in optimizers)

    def init(params: Params) -> tuple:
        return tuple(o.init(params) for o in optimizers)

    def check(state: tuple) -> None:
        if len(state) != len(optimizers):
            raise ValueError(f"chain of {len(optimizers)} optimizers got a state "
                             f"of {len(state)} entries")

    def one_after_another(members: tuple) -> Callable:
        def run(gs, state, params, treedef):
            check(state)
            states = []
            for step, s in zip(members, state):
                gs, s = step(gs, s, params, treedef)
                states.append(s)
            return gs, tuple(states)
        return run

    update_leaves = one_after_another(steps)
    donated = tuple(donated_form(s) for s in steps)
    if all(steps) and all(donated):
        donating(update_leaves, one_after_another(donated))

    def update(grads: Updates, state: State, params: Params = None):
        check(state)
        states = []
        for o, s in zip(optimizers, state):
            grads, s = o.update(grads, s, params)
            states.append(s)
        return grads, tuple(states)

    return leafwise(init, update_leaves) if all(steps) else Optimizer(init, update)


def _add(p: Any, u: Any) -> np.ndarray:
    """p + u in the dtype of p, as a new array."""
    return np.add(p, u, out=np.empty_like(p))


def apply_updates(params: Params, updates: Updates) -> Params:
    """The new parameters p + u, leafwise, each keeping its param's dtype.

    Args:
      params: a pytree of arrays.
      updates: a pytree of the same structure (from ``Optimizer.update``).
    Returns:
      A new pytree; ``params`` is left untouched.

    >>> p = {"w": np.ones(2, np.float32)}
    >>> apply_updates(p, {"w": np.array([0.5, -1.0])})
    {'w': array([1.5, 0. ], dtype=float32)}
    """
    ps, treedef = tree.flatten(params)
    us = tree.flatten_up_to(treedef, updates)
    return tree.freeze(tree.unflatten(treedef, [_add(p, u) for p, u in zip(ps, us)]))
