"""Gradient accumulation: :func:`multi_steps`, k gradients summed and one update made.

>>> import numpy as np
>>> from funcnet.optim import sgd
>>> opt = multi_steps(sgd(0.5), 2)
>>> u, s = opt.update([np.ones(1)], opt.init([np.zeros(1)]))
>>> opt.update([np.full(1, 3.0)], s)[0]
[array([-1.])]
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from funcnet import tree
from funcnet.errors import ConfigError

from .base import Optimizer
from .groups import _leaves_step, _wrap

__all__ = ["MultiStepsState", "multi_steps"]



@tree.pytree
@attrs.frozen(eq=False)
class MultiStepsState:
    """The state of :func:`multi_steps`: ``mini_step`` gradients summed so far (0-d int64),
    their sum ``acc`` (shaped as the params) and the inner optimizer's state."""

    mini_step: np.ndarray
    acc: Any
    inner_state: Any


def multi_steps(inner: Optimizer, k: int) -> Optimizer:
    """Accumulate k gradients, then update once with their mean (optax's ``MultiSteps``).

        calls 1 … k−1:  u = 0,  acc ← acc + g
        call k:         u = inner((acc + g)/k),  acc ← 0

    With batches of equal size, the mean of k batch gradients is the gradient of the
    k batches together: ``multi_steps(sgd(α), k)`` on k batches is one SGD step on
    their union.

    Args:
      inner: the optimizer applied every k-th call.
      k: a positive number of gradients per update.
    Returns:
      An Optimizer with state :class:`MultiStepsState`.

    >>> from funcnet.optim import sgd
    >>> opt = multi_steps(sgd(1.0), 2)
    >>> u1, s = opt.update([np.array([1.0])], opt.init([np.zeros(1)]))
    >>> u2, s = opt.update([np.array([3.0])], s)
    >>> u1, u2, int(s.mini_step)
    ([array([0.])], [array([-2.])], 0)
    """
    if int(k) != k or k < 1:
        raise ConfigError(f"multi_steps: k must be a positive integer, got {k!r}")
    k, step = int(k), _leaves_step(inner)

    def init(params):
        ls, treedef = tree.flatten(params)
        zeros = tree.unflatten(treedef, [np.zeros_like(x) for x in ls])
        return MultiStepsState(np.zeros((), np.int64), zeros, inner.init(params))

    def update_leaves(gs, state, params, treedef):
        acc = [np.add(a, g, out=np.empty_like(a)) for a, g in
               zip(tree.flatten_up_to(treedef, state.acc), gs)]
        if int(state.mini_step) + 1 < k:
            return ([np.zeros_like(g) for g in gs],
                    MultiStepsState(np.array(int(state.mini_step) + 1, np.int64),
                                    tree.unflatten(treedef, acc), state.inner_state))
        mean = [np.multiply(a, a.dtype.type(1.0 / k), out=a) for a in acc]  # acc is ours
        us, inner_state = step(mean, state.inner_state, params, treedef)
        zeros = tree.unflatten(treedef, [np.zeros_like(g) for g in gs])
        return us, MultiStepsState(np.zeros((), np.int64), zeros, inner_state)

    return _wrap(init, update_leaves, inner.frozen)
