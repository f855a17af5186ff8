"""Named optimizers, each a chain of primitives, and :func:`by_name`.

>>> import numpy as np
>>> from funcnet.optim import apply_updates
>>> opt = sgd(0.1, momentum=0.9)
>>> p = [np.array([1.0])]
>>> u, s = opt.update([np.array([2.0])], opt.init(p), p)
>>> apply_updates(p, u)
[array([0.8])]
"""

from __future__ import annotations

from typing import Callable

from funcnet.errors import ConfigError

from .base import Optimizer, chain
from .transform import (add_decayed_weights, identity, scale_by_adam, scale_by_learning_rate,
                        scale_by_rms, trace)

__all__ = ["sgd", "momentum", "rmsprop", "adam", "adamw", "by_name", "RECIPES"]

LearningRate = float | Callable[[int], float]


def sgd(lr: LearningRate, momentum: float = 0.0, nesterov: bool = False) -> Optimizer:
    """Stochastic gradient descent, as torch.optim.SGD with dampening 0.

        v ← μ·v + g;  p ← p − lr·v   (Nesterov: p ← p − lr·(g + μ·v))

    With μ = 0: p ← p − lr·g, and no velocity is kept.

    Args:
      lr: the learning rate, or a schedule step -> rate.
      momentum: μ ≥ 0.
      nesterov: Nesterov momentum (needs μ > 0).
    Returns:
      ``chain(trace(μ, nesterov), scale_by_learning_rate(lr))``, or
      ``chain(identity(), scale_by_learning_rate(lr))`` when μ = 0.

    >>> import numpy as np
    >>> opt = sgd(0.5)
    >>> opt.update([np.array([1.0, -2.0])], opt.init(None))[0]
    [array([-0.5,  1. ])]
    """
    if nesterov and not momentum:
        raise ConfigError("nesterov momentum needs momentum > 0")
    head = trace(momentum, nesterov) if momentum else identity()
    return chain(head, scale_by_learning_rate(lr))


def momentum(lr: LearningRate, mu: float = 0.9, nesterov: bool = False) -> Optimizer:
    """SGD with heavy-ball momentum: v ← μ·v + g; p ← p − lr·v (Nesterov: g + μ·v).

    Args:
      lr: the learning rate, or a schedule.
      mu: the momentum μ.
      nesterov: Nesterov momentum.
    Returns:
      ``chain(trace(mu, nesterov), scale_by_learning_rate(lr))``.

    >>> import numpy as np
    >>> opt = momentum(1.0, mu=0.5)
    >>> u, s = opt.update([np.ones(1)], opt.init([np.zeros(1)]))
    >>> opt.update([np.ones(1)], s)[0]
    [array([-1.5])]
    """
    return chain(trace(mu, nesterov), scale_by_learning_rate(lr))


def rmsprop(lr: LearningRate, decay: float = 0.9, eps: float = 1e-8) -> Optimizer:
    """RMSprop as torch.optim.RMSprop: ν ← ρ·ν + (1−ρ)·g²; p ← p − lr·g/(√ν + ε).

    Args:
      lr: the learning rate, or a schedule.
      decay: ρ (torch calls it ``alpha``).
      eps: ε, outside the square root.
    Returns:
      ``chain(scale_by_rms(decay, eps), scale_by_learning_rate(lr))``.

    >>> import numpy as np
    >>> opt = rmsprop(0.01, decay=0.99, eps=0.0)
    >>> opt.update([np.array([3.0])], opt.init([np.zeros(1)]))[0]
    [array([-0.1])]
    """
    return chain(scale_by_rms(decay, eps), scale_by_learning_rate(lr))


def adam(lr: LearningRate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Adam (Kingma & Ba 2015), as torch.optim.Adam and optax.adam.

        m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
        p ← p − lr·m̂/(√v̂ + ε),  m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ)

    Args:
      lr: the learning rate, or a schedule.
      b1, b2: β1, β2.
      eps: ε, outside the square root.
    Returns:
      ``chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(lr))``.

    >>> import numpy as np
    >>> opt = adam(0.01)
    >>> opt.update([np.array([5.0, -0.2])], opt.init([np.zeros(2)]))[0]
    [array([-0.01,  0.01])]
    """
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(lr))


def adamw(lr: LearningRate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 1e-2, mask=None) -> Optimizer:
    """AdamW (Loshchilov & Hutter 2019), as torch.optim.AdamW and optax.adamw.

        p ← p − lr·λ·p − lr·m̂/(√v̂ + ε)   (m̂, v̂ as in :func:`adam`)

    The decay is decoupled from the moments and scaled by the (scheduled) lr.
    With a ``mask`` only the leaves it picks decay (optax's ``mask``;
    torch.optim's parameter groups with ``weight_decay=0`` for the others).

    Args:
      lr: the learning rate, or a schedule.
      b1, b2, eps: as in :func:`adam`.
      weight_decay: λ.
      mask: the leaves that decay: patterns (``"*.w"``: weights, not biases or
        batch norm's γ, β), a tree of booleans or a function params -> one; None: all.
    Returns:
      ``chain(scale_by_adam(b1, b2, eps), add_decayed_weights(λ),
      scale_by_learning_rate(lr))`` (the decay under ``masked(…, mask)``); ``update``
      needs ``params``.

    >>> import numpy as np
    >>> opt = adamw(0.1, weight_decay=0.5)
    >>> p = [np.array([2.0])]
    >>> opt.update([np.array([3.0])], opt.init(p), p)[0]
    [array([-0.2])]
    """
    decay = add_decayed_weights(weight_decay)
    if mask is not None:
        from .groups import masked
        decay = masked(decay, mask)
    return chain(scale_by_adam(b1, b2, eps), decay, scale_by_learning_rate(lr))


RECIPES = {"sgd": sgd, "momentum": momentum, "rmsprop": rmsprop, "adam": adam, "adamw": adamw}


def by_name(name: str, lr: LearningRate, **kw) -> Optimizer:
    """The recipe called ``name`` ("sgd", "momentum", "rmsprop", "adam", "adamw").

    Args:
      name: the recipe's name.
      lr: the learning rate, or a schedule.
      **kw: the recipe's other hyperparameters.
    Returns:
      ``RECIPES[name](lr, **kw)``.
    Raises:
      ConfigError (a ValueError): for an unknown name or hyperparameter.

    >>> import numpy as np
    >>> opt = by_name("adam", 0.1, b2=0.99)    # Adam's first step: −α·sign(g)
    >>> opt.update([np.array([2.0, -0.5])], opt.init([np.zeros(2)]))[0]
    [array([-0.1,  0.1])]
    >>> by_name("adagrad", 0.1)
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: unknown optimizer 'adagrad'; valid names: adam, adamw, momentum, rmsprop, sgd
    """
    if name not in RECIPES:
        raise ConfigError(f"unknown optimizer {name!r}; valid names: {', '.join(sorted(RECIPES))}")
    try:
        return RECIPES[name](lr, **kw)
    except TypeError as e:
        raise ConfigError(f"optimizer {name!r}: {e}") from None
