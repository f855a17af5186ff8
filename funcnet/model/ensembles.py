"""Ensembles: several trained networks judged as one, by the mean of their probabilities.

An :class:`Ensemble` is a record of member networks. Its class probabilities
are the mean of the members' softmax probabilities (as scikit-learn's
``VotingClassifier(voting="soft")`` averages ``predict_proba``)::

    P = (1/K) Σ_k softmax(Z_k)          Z_k = the logits of member k, k = 1 … K

and its "logits", for everything that expects logits (the argmax, the loss),
are the log of that mean, log P (floored at the dtype's smallest normal
number, so that a class no member believes in stays finite): softmax(log P) =
P / Σ P = P, and argmax log P = argmax P. An ensemble goes wherever a
network goes in inference — :func:`funcnet.model.logits`, ``predict_proba``,
``predict``, ``loss``, ``num_outputs``, ``input_shape``, ``describe`` — with
its model state the tuple of its members' model states (one entry each,
None for a member without one), as a network's rides beside it.

Its members take the same examples (the same input shape, or the flat and
image forms of the same H·W·C values: an MLP on rows of 784 pixels and a CNN on
28 × 28 × 1 images) and have as many classes; :func:`check_members` refuses
others in one line.

>>> import numpy as np
>>> from funcnet import model, rng
>>> a, b = model.init(rng.key(0), (4, 3)), model.init(rng.key(1), (4, 3))
>>> ens = Ensemble.of([a, b])
>>> x = rng.normal(rng.key(2), (5, 4))
>>> p = model.predict_proba(ens, x)
>>> bool(np.allclose(p, (model.predict_proba(a, x) + model.predict_proba(b, x)) / 2))
True
>>> model.predict(ens, x).tolist() == p.argmax(axis=1).tolist(), model.num_outputs(ens)
(True, 3)
"""

from __future__ import annotations

import functools
import math

import attrs
import numpy as np

from ..errors import ConfigError, DataError
from ..tree import pytree

__all__ = ["Ensemble", "same_example", "input_shape_of", "check_members", "member_states",
           "probabilities", "log_probabilities", "num_outputs", "describe"]


def same_example(a: tuple, b: tuple) -> bool:
    """Whether input shapes ``a`` and ``b`` take the same examples: equal, or one flat
    ``(n,)`` and the other an image ``(H, W, C)`` of n = H·W·C values (rows of pixels are
    reshaped to the image, so both read the same row the same way).

    >>> same_example((784,), (28, 28, 1)), same_example((28, 28, 1), (28, 28, 1))
    (True, True)
    >>> same_example((784,), (100,)), same_example((28, 28, 1), (14, 56, 1))
    (False, False)
    """
    a, b = tuple(a), tuple(b)
    if a == b:
        return True
    flat, image = sorted((a, b), key=len)
    return len(flat) == 1 and len(image) == 3 and flat[0] == math.prod(image)


def input_shape_of(shapes) -> tuple:
    """The input shape an ensemble of members with ``shapes`` takes: the first image shape
    if a member takes images, else the first shape (so that a picture becomes an image).

    >>> input_shape_of([(784,), (28, 28, 1)]), input_shape_of([(784,), (784,)])
    ((28, 28, 1), (784,))
    """
    shapes = [tuple(s) for s in shapes]
    return next((s for s in shapes if len(s) > 1), shapes[0])


def _named(names, k: int) -> str:
    return f"member {k + 1}" + (f" ({names[k]})" if names is not None else "")


def check_members(members, names=None) -> None:
    """A one-line ConfigError unless ``members`` (one or more networks) take the same examples
    (:func:`same_example`) and have as many classes; ``names`` name them in the message.

    >>> from funcnet import model, rng
    >>> check_members([model.init(rng.key(0), (4, 3)), model.init(rng.key(0), (4, 2))], ["a", "b"])
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: member 2 (b) has 2 classes, but member 1 (a) has 3: an ensemble's members have the same classes
    """
    from .inference import num_outputs as outputs

    if not members:
        raise ConfigError("an ensemble needs at least one member")
    first, shape, k = members[0], tuple(members[0].input_shape), outputs(members[0])
    for i, net in enumerate(members[1:], 1):
        if not same_example(shape, net.input_shape):
            raise ConfigError(
                f"{_named(names, i)} takes inputs of shape {tuple(net.input_shape)}, but "
                f"{_named(names, 0)} takes {shape}: an ensemble's members take the same examples")
        if outputs(net) != k:
            raise ConfigError(f"{_named(names, i)} has {outputs(net)} classes, but "
                              f"{_named(names, 0)} has {k}: an ensemble's members have the "
                              "same classes")


@pytree
@attrs.frozen(eq=False)
class Ensemble:
    """Member networks whose softmax probabilities are averaged, P = (1/K) Σ_k softmax(Z_k).

    ``members`` is a tuple of :class:`funcnet.layers.Network` (their arrays
    are the leaves); build one with :meth:`of`, which checks that they go
    together. ``input_shape`` and ``dtype`` are read off the members, as a
    network's are.
    """

    members: tuple

    @classmethod
    def of(cls, members, names=None) -> "Ensemble":
        """The ensemble of ``members`` (:func:`check_members`; ``names`` for its message).

        >>> from funcnet import model, rng
        >>> Ensemble.of([model.init(rng.key(0), (4, 3))])
        Ensemble(4-3)
        """
        members = tuple(members)
        check_members(members, names)
        return cls(members)

    @property
    def input_shape(self) -> tuple:
        """One example's shape (:func:`input_shape_of` the members')."""
        return input_shape_of(m.input_shape for m in self.members)

    @property
    def dtype(self) -> np.dtype:
        """The dtype the members' probabilities combine in (NumPy's result type of theirs)."""
        return np.result_type(*(m.dtype for m in self.members))

    def __repr__(self) -> str:
        return f"Ensemble({_members_text(self)})"


def member_states(ens: Ensemble, model_state) -> tuple:
    """One model state per member: ``model_state`` (a tuple of K entries), or K Nones.

    >>> from funcnet import model, rng
    >>> member_states(Ensemble.of([model.init(rng.key(0), (4, 3))] * 2), None)
    (None, None)
    """
    k = len(ens.members)
    if model_state is None:
        return (None,) * k
    if not isinstance(model_state, (tuple, list)) or len(model_state) != k:
        raise ValueError(f"an ensemble of {k} members takes a tuple of {k} model states "
                         "(one per member, None for a member without one)")
    return tuple(model_state)


def probabilities(ens: Ensemble, x: np.ndarray, chunk: int | None = None, *,
                  model_state=None) -> np.ndarray:
    """P = (1/K) Σ_k softmax(Z_k), shape ``(n, classes)``: the members' probabilities averaged.

    Each member runs the one inference path (:func:`funcnet.model.logits`,
    ``chunk`` rows at a time) on ``x`` as rows of pixels (every network
    takes flat rows); the sum is taken in member order, so the same members
    give the same bits. ``x`` is ``(n, *ens.input_shape)`` or flat rows.

    >>> from funcnet import model, rng
    >>> net = model.init(rng.key(0), (4, 3))
    >>> x = rng.normal(rng.key(1), (2, 4))
    >>> bool(np.array_equal(probabilities(Ensemble.of([net]), x), model.predict_proba(net, x)))
    True
    """
    from ..layers.network import _shape_error
    from ..losses import softmax
    from .inference import logits

    x = np.asarray(x)
    flat = math.prod(ens.input_shape)
    if x.shape[1:] != ens.input_shape and (x.ndim != 2 or x.shape[1] != flat):
        raise DataError(_shape_error(ens, x))
    rows = x.reshape(len(x), flat)
    probs = (softmax(logits(net, rows, chunk, model_state=state))
             for net, state in zip(ens.members, member_states(ens, model_state)))
    total = functools.reduce(np.add, probs)
    return (total / total.dtype.type(len(ens.members))).astype(ens.dtype, copy=False)


def log_probabilities(p: np.ndarray) -> np.ndarray:
    """log P, floored at the dtype's smallest normal number: an ensemble's "logits".

    softmax(log P) = P / Σ_k P_k = P for rows that sum to 1, and argmax is
    unchanged; the floor keeps a class no member believes in finite
    (log 1.2e-38 ≈ −87.3 in float32) instead of −∞.

    >>> log_probabilities(np.array([[0.25, 0.75, 0.0]])).round(3).tolist()
    [[-1.386, -0.288, -708.396]]
    """
    p = np.asarray(p)
    return np.log(np.maximum(p, np.finfo(p.dtype).tiny))


def num_outputs(ens: Ensemble) -> int:
    """The number of classes (the members', which agree).

    >>> from funcnet import model, rng
    >>> num_outputs(Ensemble.of([model.init(rng.key(0), (4, 3))]))
    3
    """
    from .inference import num_outputs as outputs

    return outputs(ens.members[0])


def describe(ens: Ensemble) -> str:
    """A one-line name: how many members, then each kind of member once, with its count.

    >>> from funcnet import model, rng
    >>> describe(Ensemble.of([model.init(rng.key(k), (4, 3)) for k in range(2)]))
    'ensemble of 2: 4-3 ×2'
    """
    return f"ensemble of {len(ens.members)}: {_members_text(ens)}"


def _members_text(ens: Ensemble) -> str:
    """Each kind of member once, in order, with its count: ``784-64-10 relu ×2; ...``."""
    from .describing import describe as one

    names = [one(m) for m in ens.members]
    return "; ".join(n + (f" ×{names.count(n)}" if names.count(n) > 1 else "")
                     for n in dict.fromkeys(names))
