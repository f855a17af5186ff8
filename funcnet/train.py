"""Training as a fold: ``fit = reduce(step, batches, state)``.

A :class:`TrainState` is one pytree (parameters, optimizer state, step count,
key, the last batch's loss, and the model state: batch norm's running
statistics, which the step moves but no optimizer touches). :func:`make_step` closes over an optimizer
and the regularisation settings and returns the pure ``step(state, batch) ->
state``. :func:`fit` folds it over a stream of batches with ``toolz.reduce``;
:func:`trajectory` is the same stream of states with ``toolz.accumulate``,
and :func:`snapshots` adds epoch bookkeeping, history rows, early stopping
and the non-finite guard to that stream — lazily, so the caller (the CLI)
can watch it go by and stop whenever it likes, keeping the last good state.

>>> import numpy as np
>>> from funcnet import data, model, optim, rng
>>> ds = data.Dataset(rng.normal(rng.key(1), (64, 4)), np.arange(64) % 2)
>>> state = init_state(model.init(rng.key(0), (4, 8, 2)), optim.sgd(0.1), rng.key(2))
>>> step = make_step(optim.sgd(0.1))
>>> final = fit(step, state, toolz.take(20, data.stream(rng.key(3), ds, 16)))
>>> int(final.step)
20
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, Callable, Iterable, Iterator

import attrs
import numpy as np
import toolz

from . import rng, tree
from .errors import TrainingError
from .runtime import keep_freed_memory  # kept importable from here; opt-in, see funcnet.runtime
from .model import init_model_state, leaves, stochastic, with_leaves
from .model.training import owned_value_and_grads
from .tree import pytree

__all__ = ["TrainState", "init_state", "make_step", "keep_freed_memory", "fit", "trajectory", "Snapshot",
           "snapshots", "last", "result_params", "result_model_state"]


@pytree
@attrs.frozen(eq=False)
class TrainState:
    """Everything training carries from one step to the next.

    ``step`` counts updates made; step ``t`` draws its dropout masks from
    ``rng.fold_in(key, t)``, so the key never needs to change. ``loss``,
    ``correct`` and ``count`` describe the last batch, measured before its
    update (what the step saw). ``model_state`` is the network's state
    outside the trainable parameters (one entry per layer: batch norm's
    running statistics, None for layers without state).
    """

    params: Any
    opt_state: Any
    step: Any
    key: np.ndarray
    loss: Any = np.float64(np.nan)
    correct: Any = np.int64(0)
    count: Any = np.int64(0)
    model_state: Any = None


def init_state(params, optimizer, key) -> TrainState:
    """The state before the first step: ``opt_state = optimizer.init(params)``, a fresh model state."""
    # the states made here are handed out read-only; params and key stay as the caller has them
    return TrainState(params, tree.freeze(optimizer.init(params)), np.int64(0), key,
                      model_state=init_model_state(params))


def _update_leafwise(update_leaves, grads, opt_state, params, treedef, frozen=None):
    """``optimizer.update`` then ``apply_updates``, on the lists of leaves.

    The same arrays as the tree-walking pair (θ' = θ + u, each in θ's dtype),
    without rebuilding the gradient and update trees. A leaf flagged in
    ``frozen`` (its update is always zero) is kept as it is, never written.
    """
    us, opt_state = update_leaves(leaves(grads), opt_state, params, treedef)
    if frozen is None:
        new = [np.add(p, u, out=np.empty_like(p)) for p, u in zip(leaves(params), us)]
    else:
        new = [p if f else np.add(p, u, out=np.empty_like(p))
               for p, u, f in zip(leaves(params), us, frozen)]
    # handed out read-only; the optimizers' own states are made so as they are built
    return with_leaves(params, tree.freeze(new), treedef), opt_state


def _writable(a: np.ndarray) -> np.ndarray:
    """``a`` itself made writeable again (a donated array funcnet handed out read-only),
    or a copy of it when it cannot be (a view of memory it does not own)."""
    if not a.flags.writeable:
        try:
            a.flags.writeable = True
        except ValueError:
            return a.copy()
    return a


def _owned_gradients(gs: list) -> list:
    """The gradient leaves as arrays a donated update may write into: each writeable and
    none the same array as another (the backward pass makes them fresh; a leaf that is
    not is copied)."""
    seen: set = set()
    out = []
    for g in gs:
        if not isinstance(g, np.ndarray) or not g.flags.writeable or id(g) in seen:
            g = np.array(g, copy=True)
        seen.add(id(g))
        out.append(g)
    return out


def _writable_tree(t):
    """``t`` with every array leaf writeable: the same arrays where they can be made so."""
    ls = tree.leaves(t)
    if all(_writable(a) is a for a in ls if isinstance(a, np.ndarray)):
        return t
    return tree.map(lambda a: _writable(a) if isinstance(a, np.ndarray) else a, t)


def _update_donated(donated, grads, opt_state, params, treedef, frozen=None, owned=False):
    """:func:`_update_leafwise` with the old state donated: the optimizer state's arrays
    and the parameters are written in place (θ ← θ + u), the same numbers bit for bit.
    ``owned``: ``opt_state`` is the one this step returned last (its arrays writeable)."""
    us, opt_state = donated(_owned_gradients(leaves(grads)),
                            opt_state if owned else _writable_tree(opt_state), params, treedef)
    ps = leaves(params)
    new = [p if frozen is not None and frozen[i] else _writable(p) for i, p in enumerate(ps)]
    for i, (p, u) in enumerate(zip(new, us)):
        if frozen is None or not frozen[i]:
            np.add(p, u, out=p)
    same = all(a is b for a, b in zip(new, ps))
    return (params if same else with_leaves(params, new, treedef)), opt_state


def _first_trainable(params, frozen: tuple) -> int:
    """The index of the lowest top-level layer holding a leaf that is not frozen
    (the number of layers when every leaf is frozen): the backward pass stops there."""
    layer_of = [int(path.split(".")[1]) for path, _ in tree.flatten_with_path(params)]
    return min((l for l, f in zip(layer_of, frozen) if not f), default=len(params.layers))


@functools.cache
def _static_names(cls: type) -> tuple:
    return tuple(f.name for f in attrs.fields(cls) if f.metadata.get("static"))


def _shape_key(params):
    """A hashable stand-in for the static structure of ``params`` (type and static fields)."""
    return type(params), len(params.layers), tuple(getattr(params, n) for n in _static_names(type(params)))


def make_step(optimizer, *, l2: float = 0.0, m: int | None = None, label_smoothing: float = 0.0,
              donate: bool = False) -> Callable[[TrainState, Any], TrainState]:
    """The pure training step for ``optimizer``: one batch in, a new state out.

    g = ∇L(θ; batch) by backprop (with L2 ``λ``: L + (λ/2)ΣW²; with ``label_smoothing`` ε the
    cross-entropy against (1 − ε)·onehot(y) + ε/K);
    (u, s') = optimizer.update(g, s, θ); θ' = θ + u. For ``optim.sgd(α)``
    that is the tutorial's W = W − α·dW. The gradients come from
    :func:`funcnet.model.value_and_grads` (without keeping the activations;
    a dense stack's big batches in row chunks), which also moves the model
    state (batch norm's running statistics). The network's dropout layers
    draw from ``rng.fold_in(state.key, step)``. An optimizer with an
    ``update_leaves`` fast path (every recipe has one) is applied to the
    lists of leaves directly. An optimizer that freezes leaves
    (``optim.freeze``) leaves their arrays as they are, and the backward
    pass stops at the lowest layer with a trainable leaf (the frozen layers
    below get zero gradients, computed for nothing).

    ``donate=True`` is JAX's ``donate_argnums`` for the state: the caller
    promises never to read a state again once it has passed it to the step,
    so the step writes the new parameters and optimizer state into the old
    state's arrays (θ ← θ + u in place; Adam's m and v, momentum's velocity
    in place) instead of allocating new ones — the same numbers, bit for
    bit, and the same arrays step after step. An optimizer without a donated
    form (:func:`funcnet.optim.donating`; every recipe has one) is run as
    without donation. A batch whose loss is not finite writes nothing: the
    returned state carries the loss and the old parameters. The step is then
    marked ``step.donates = True`` (:func:`snapshots` keeps copies of what it
    must keep), and ``step.torn`` is True while it writes: a KeyboardInterrupt
    that leaves it so has left the donated state half written. Without
    ``donate`` the step is pure: no argument is written.

    >>> from funcnet import model, optim
    >>> x, y = rng.normal(rng.key(1), (8, 3)), np.arange(8) % 2
    >>> s0 = init_state(model.init(rng.key(0), (3, 2)), optim.adam(0.1), rng.key(2))
    >>> pure = make_step(optim.adam(0.1))(s0, (x, y))
    >>> w = s0.params.layers[0].w
    >>> donated = make_step(optim.adam(0.1), donate=True)(s0, (x, y))
    >>> donated.params.layers[0].w is w, tree.equal(donated, pure)
    (True, True)
    """
    from .optim import apply_updates, donated_form
    update_leaves, pins = optimizer.update_leaves, optimizer.frozen
    donated = donated_form(update_leaves) if donate else None
    structures: dict = {}  # static structure of the params -> its TreeDef
    last: list = [None]    # the optimizer state a donated step returned last
    plans: dict = {}       # static structure -> (frozen flags per leaf, first trainable layer)

    def plan(params):
        if pins is None:
            return None, 0
        shape = _shape_key(params)
        if shape not in plans:
            flags = tuple(bool(f) for f in pins(params))
            plans[shape] = (flags, _first_trainable(params, flags))
        return plans[shape]

    def apply(grads, opt_state, params, frozen):
        if update_leaves is None:
            updates, opt_state = optimizer.update(grads, opt_state, params)
            new, opt_state = apply_updates(params, updates), tree.freeze(opt_state)
            if frozen is not None:
                new = with_leaves(params, [p if f else q for p, q, f in
                                           zip(leaves(params), leaves(new), frozen)])
            return new, opt_state
        shape = _shape_key(params)
        treedef = structures.get(shape) or structures.setdefault(shape, tree.structure(params))
        if donated is not None:
            new, state = _update_donated(donated, grads, opt_state, params, treedef, frozen,
                                         owned=opt_state is last[0])
            last[0] = state
            return new, state
        return _update_leafwise(update_leaves, grads, opt_state, params, treedef, frozen)

    def step(state: TrainState, batch) -> TrainState:
        x, y = _xy(batch)
        key = rng.fold_in(state.key, int(state.step)) if stochastic(state.params) else None
        frozen, start = plan(state.params)
        loss, grads, correct, model_state = owned_value_and_grads(
            state.params, x, y, model_state=state.model_state, key=key, l2=l2, m=m,
            label_smoothing=label_smoothing, trainable_from=start)
        if donated is not None and not np.isfinite(loss):  # write nothing over the last good state
            return TrainState(state.params, state.opt_state, np.int64(state.step + 1), state.key,
                              np.float64(loss), np.int64(correct), np.int64(len(y)), state.model_state)
        step.torn = donated is not None  # a KeyboardInterrupt from here on may leave it half written
        params, opt_state = apply(grads, state.opt_state, state.params, frozen)
        step.torn = False
        if donated is None and model_state is not state.model_state:  # a new state: read-only
            model_state = tree.freeze(model_state)
        return TrainState(params, opt_state, np.int64(state.step + 1), state.key,
                          np.float64(loss), np.int64(correct), np.int64(len(y)), model_state)

    step.donates, step.torn = donated is not None, False
    return step


def _xy(batch) -> tuple:
    """A batch's ``(x, y)``: a :class:`funcnet.data.Dataset` or an ``(x, y)`` pair."""
    if isinstance(batch, tuple) and len(batch) == 2:
        return batch
    try:
        return batch.x, batch.y
    except AttributeError:
        raise TypeError(f"a batch is a Dataset or an (x, y) pair of arrays, got "
                        f"{type(batch).__name__}") from None


def fit(step: Callable, state: TrainState, batches: Iterable) -> TrainState:
    """The final state: ``toolz.reduce(step, batches, state)``; batches are Datasets or
    ``(x, y)`` pairs.

    >>> from funcnet import model, optim
    >>> x, y = rng.normal(rng.key(1), (8, 3)), np.arange(8) % 2
    >>> s = fit(make_step(optim.sgd(0.1)), init_state(model.init(rng.key(0), (3, 2)), optim.sgd(0.1),
    ...         rng.key(2)), [(x, y), (x, y)])
    >>> int(s.step), int(s.count)
    (2, 8)
    """
    return toolz.reduce(step, batches, state)


def trajectory(step: Callable, state: TrainState, batches: Iterable) -> Iterator[TrainState]:
    """Every state, lazily, the initial one first: ``toolz.accumulate(step, batches, state)``."""
    return toolz.accumulate(step, batches, state)


@attrs.frozen(eq=False)
class Snapshot:
    """The training stream as an observer sees it after each step.

    ``epoch`` (1-based) and ``batch`` (1-based within the epoch) locate the
    step; ``record`` is a history row at log points, else None; ``best``
    is the state with the best monitored score so far (early stopping);
    ``stop`` is True on the last snapshot of an early-stopped run; ``total``
    is the number of steps the run aims for. When the step donates its state
    (``make_step(..., donate=True)``), the states of earlier snapshots share
    their arrays with the newest: ``kept`` is then a copy of the state at the
    last history row, and ``best`` a copy too.
    """

    state: TrainState
    epoch: int
    batch: int
    per_epoch: int
    total: int = 0
    record: dict | None = None
    window: tuple = (0.0, 0, 0, 0)  # loss·count sum, correct, count, batches since last record
    best: TrainState | None = None
    best_score: float = -math.inf
    bad: int = 0
    stop: bool = False
    previous: TrainState | None = None
    kept: TrainState | None = None


def _copy(state: TrainState) -> TrainState:
    """A state holding copies of ``state``'s arrays (read-only, as funcnet hands them out)."""
    return tree.map(lambda a: tree.frozen_copy(a) if isinstance(a, np.ndarray) else a, state)


def _nonfinite(state: TrainState, prev: Snapshot, donates: bool = False) -> TrainingError:
    """The error for a non-finite loss at ``state.step``, carrying the last good state.

    Any NaN or ±inf parameter makes the forward pass, and so the loss,
    non-finite (NaN·0 is NaN); so only the loss is checked each step, and the
    parameters only here. If the step before left non-finite parameters, the
    last good state is the one before that — or, when the step donates its
    state (so the one before was written over), the copy kept at the last
    history row.
    """
    leaf = tree.first_nonfinite(prev.state.params)
    earlier = prev.kept if donates else prev.previous
    good = earlier if leaf is not None and earlier is not None else prev.state
    what = (f"first non-finite parameter: {leaf}" if leaf is not None else
            "the parameters are finite: the forward pass overflowed")
    err = TrainingError(f"non-finite loss at step {int(state.step)} ({what}); "
                        f"kept the state of step {int(good.step)}")
    err.state = good
    return err


def _observe(per_epoch, total, log_every, evaluate, monitor, patience, donates=False):
    def observe(prev: Snapshot, state: TrainState) -> Snapshot:
        if not np.isfinite(state.loss):
            raise _nonfinite(state, prev, donates)
        s = int(state.step)
        lsum, corr, cnt, nb = prev.window
        window = (lsum + float(state.loss) * int(state.count), corr + int(state.correct),
                  cnt + int(state.count), nb + 1)
        epoch, batch = (s - 1) // per_epoch + 1, (s - 1) % per_epoch + 1
        if s % log_every:
            return attrs.evolve(prev, state=state, epoch=epoch, batch=batch, record=None,
                                window=window, stop=False, previous=prev.state)
        record = {"step": s, "epoch": epoch, **evaluate(state, window)}
        score = record.get(monitor, -math.inf) if monitor else -math.inf
        better = monitor is not None and score > prev.best_score
        bad = 0 if better else prev.bad + 1
        kept = _copy(state) if donates else None
        best = (kept if donates else state) if better else prev.best
        return Snapshot(state, epoch, batch, per_epoch, total, record, (0.0, 0, 0, 0),
                        best, score if better else prev.best_score,
                        bad, patience is not None and bad >= patience, prev.state, kept)

    return observe


def snapshots(step: Callable, state: TrainState, batches: Iterable, *, steps: int,
              per_epoch: int, log_every: int | None = None,
              evaluate: Callable[[TrainState, tuple], dict] = lambda s, w: {},
              monitor: str | None = None, patience: int | None = None,
              best: tuple = (None, -math.inf, 0),
              window: tuple = (0.0, 0, 0, 0)) -> Iterator[Snapshot]:
    """The lazy stream of :class:`Snapshot` from ``state`` up to ``steps`` updates.

    Args:
      step: the pure step; ``batches`` a stream starting at ``state.step``.
      steps: the total number of updates of the run (not of this call).
      per_epoch: batches per epoch; ``log_every`` steps between history rows
        (default: once per epoch).
      evaluate: ``evaluate(state, window) -> dict`` makes a history row;
        ``window = (Σ loss·count, Σ correct, Σ count, batches)`` since the last row.
      monitor, patience: early stopping: stop after ``patience`` rows without
        a better ``record[monitor]``; :func:`result_params` then gives the best.
      best: ``(state, score, bad)`` to resume early-stopping bookkeeping.
      window: the figures summed since the last row, to resume a run saved
        between rows (its next row then covers the whole epoch).

    A non-finite loss or parameter raises :class:`TrainingError` naming the
    step and the first non-finite parameter; the previous snapshot is the last
    good one. A step that donates its state (``step.donates``) gets copies
    kept at every history row (:attr:`Snapshot.kept`, and the best): the
    states it is handed are written over.
    """
    log_every = log_every or per_epoch
    start = int(state.step)
    donates = bool(getattr(step, "donates", False))
    observe = _observe(per_epoch, steps, log_every, evaluate, monitor, patience, donates)
    first = Snapshot(state, start // per_epoch, start % per_epoch, per_epoch, steps,
                     window=tuple(window), best=best[0], best_score=best[1], bad=best[2],
                     kept=_copy(state) if donates else None)
    states = trajectory(step, state, itertools.islice(batches, max(steps - start, 0)))
    snaps = toolz.drop(1, toolz.accumulate(observe, toolz.drop(1, states), first))
    snaps = _take_through(lambda s: s.stop, snaps)
    return _marking_torn(step, snaps) if donates else snaps


def _marking_torn(step: Callable, snaps: Iterator) -> Iterator:
    """``snaps``, a KeyboardInterrupt that cut the donating ``step`` while it wrote its
    state re-raised with ``torn = True``: the last snapshot's state is then half written,
    and :attr:`Snapshot.kept` is the state to keep."""
    try:
        yield from snaps
    except KeyboardInterrupt as exc:
        exc.torn = bool(getattr(step, "torn", False))
        raise


def _take_through(pred: Callable, items: Iterable) -> Iterator:
    """Items up to and including the first for which ``pred`` holds.

    >>> list(_take_through(lambda x: x > 2, [1, 2, 3, 4]))
    [1, 2, 3]
    """
    items = iter(items)
    for item in items:
        yield item
        if pred(item):
            return


def last(items: Iterable, default: Any = None) -> Any:
    """The last item of an iterable (consuming it).

    >>> last(iter([1, 2, 3]))
    3
    """
    return toolz.last(items) if default is None else toolz.last(itertools.chain([default], items))


def result_params(snap: Snapshot):
    """The parameters a run delivers: the best seen under early stopping, else the last."""
    return snap.best.params if snap.best is not None else snap.state.params


def result_model_state(snap: Snapshot):
    """The model state delivered with :func:`result_params` (the best state's under early stopping)."""
    return snap.best.model_state if snap.best is not None else snap.state.model_state
