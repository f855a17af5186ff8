"""Hyperparameters kept in the optimizer state: :func:`inject_hyperparams` and :func:`hyperparams`.

>>> import numpy as np
>>> from funcnet.optim import adam, cosine_decay
>>> opt = inject_hyperparams(adam)(lr=cosine_decay(0.1, 10))
>>> u, s = opt.update([np.ones(1)], opt.init([np.zeros(1)]))
>>> hyperparams(s)
{'lr': 0.1}
"""

from __future__ import annotations

from typing import Any, Callable

import attrs
import numpy as np

from funcnet import tree

from .base import Optimizer
from .groups import _leaves_step, _wrap

__all__ = ["InjectHyperparamsState", "inject_hyperparams", "hyperparams"]


@tree.pytree
@attrs.frozen(eq=False)
class InjectHyperparamsState:
    """The state of :func:`inject_hyperparams`: steps ``count`` (0-d int64), the
    ``hyperparams`` of the last update ``{name: 0-d float64}`` (of step 0 before any) and
    the inner optimizer's state."""

    count: np.ndarray
    hyperparams: dict
    inner_state: Any


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def inject_hyperparams(factory: Callable[..., Optimizer], static_args: tuple = ()) -> Callable:
    """``factory`` made to keep its numeric hyperparameters in the state (optax's ``inject_hyperparams``).

    ``inject_hyperparams(adam)(learning_rate=schedule)`` is an optimizer that, at step t,
    computes h = schedule(t) for each hyperparameter given as a schedule (a number
    stays a number), applies ``factory(**h)``, and stores h in its state, where
    :func:`hyperparams` reads the values the last update used.

    Args:
      factory: an optimizer factory taking the hyperparameters as keywords.
      static_args: names of keyword arguments passed through unchanged and not stored
        (booleans, strings, masks and None are passed through anyway).
    Returns:
      ``make(**hyperparameters) -> Optimizer`` with state :class:`InjectHyperparamsState`.

    >>> from funcnet.optim import sgd
    >>> opt = inject_hyperparams(sgd)(lr=lambda t: 0.1 * (t + 1))
    >>> u, s = opt.update([np.ones(1)], opt.init([np.zeros(1)]))
    >>> u, s = opt.update([np.ones(1)], s)
    >>> u, hyperparams(s)
    ([array([-0.2])], {'lr': 0.2})
    """
    def make(**kwargs) -> Optimizer:
        tuned = {k: v for k, v in kwargs.items()
                 if k not in static_args and (_is_number(v) or callable(v))}
        fixed = {k: v for k, v in kwargs.items() if k not in tuned}

        def values(t: int) -> dict:
            return {k: float(v(t)) if callable(v) else float(v) for k, v in tuned.items()}

        first = factory(**fixed, **values(0))

        def stored(vals: dict) -> dict:
            return {k: np.array(v, np.float64) for k, v in vals.items()}

        def init(params):
            return InjectHyperparamsState(np.zeros((), np.int64), stored(values(0)), first.init(params))

        def update_leaves(gs, state, params, treedef):
            vals = values(int(state.count))
            us, inner = _leaves_step(factory(**fixed, **vals))(gs, state.inner_state, params, treedef)
            return us, InjectHyperparamsState(np.array(int(state.count) + 1, np.int64),
                                              stored(vals), inner)

        return _wrap(init, update_leaves, first.frozen)
    return make


def _injected(state: Any, path: str, out: dict) -> None:
    if isinstance(state, InjectHyperparamsState):
        out[path] = {k: float(v) for k, v in state.hyperparams.items()}
    fns = tree._node_fns(state)
    if fns is None:
        return
    children, _, keys = fns[0](state)
    for key, child in zip(keys, children):
        _injected(child, f"{path}.{key}" if path else str(key), out)


def hyperparams(state: Any, everywhere: bool = False) -> dict:
    """The hyperparameters of the last update, read from an optimizer state.

    ``{name: value}`` of the first :class:`InjectHyperparamsState` found (depth first),
    or with ``everywhere`` ``{path in the state: {name: value}}`` for each one
    (one per group of a :func:`multi_transform`); ``{}`` when there is none.

    >>> from funcnet.optim import adam, multi_transform
    >>> opt = multi_transform({"a": inject_hyperparams(adam)(lr=0.1),
    ...                        "b": inject_hyperparams(adam)(lr=0.01)}, {"w": "a", "b": "b"})
    >>> hyperparams(opt.init({"w": np.ones(1), "b": np.ones(1)}), everywhere=True)
    {'inner_states.a': {'lr': 0.1}, 'inner_states.b': {'lr': 0.01}}
    """
    out: dict = {}
    _injected(state, "", out)
    if everywhere:
        return out
    return next(iter(out.values()), {})
