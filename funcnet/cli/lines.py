"""What the commands print: figures as text, metrics lines, warnings on stderr."""

from __future__ import annotations

import math

import click
import numpy as np


def figure_text(value) -> str:
    """A figure as the commands print it: floats to four places, None as ``n/a``.

    >>> figure_text(0.91234), figure_text(None), figure_text(float("nan")), figure_text(20)
    ('0.9123', 'n/a', 'nan', '20')
    """
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def progress_line(snap, covered: int | None = None) -> str:
    """One metrics line: the iteration (full batch) or epoch, then the record's figures.

    A minibatch run's training figures are running means over the epoch's
    batches, under dropout and augmentation, as the network changed: marked
    ``~`` (``loss~``, ``train_acc~``), they differ from the final line's clean
    pass over the training set. The dev figures are a clean pass. The learning
    rate prints in scientific notation; the time is that of the line's interval
    (``covered`` iterations for a full-batch run, default all since the start).

    >>> from types import SimpleNamespace as NS
    >>> progress_line(NS(per_epoch=1, total=500, record={"step": 10, "train_loss": 2.1,
    ...     "train_accuracy": 0.25, "dev_accuracy": 0.24, "learning_rate": 0.1, "seconds": 0.2}))
    'iteration  10/500  loss 2.1000  train_acc 0.2500  dev_acc 0.2400  lr 1.00e-01  0.20 s for 10 iterations'
    >>> progress_line(NS(per_epoch=430, total=4300, record={"step": 860, "epoch": 2,
    ...     "train_loss": 0.2, "train_accuracy": 0.95, "dev_loss": 0.05, "dev_accuracy": 0.98,
    ...     "learning_rate": 0.0, "seconds": 12.5}))
    'epoch  2/10  loss~ 0.2000  train_acc~ 0.9500  dev_loss 0.0500  dev_acc 0.9800  lr 0.00e+00  12.50 s for this epoch'
    """
    r = snap.record
    running = "~" if snap.per_epoch > 1 else ""
    if snap.per_epoch == 1:
        head = f"iteration {r['step']:>{len(str(snap.total))}}/{snap.total}"
        n = r["step"] if covered is None else covered
        span = f"{n} iteration{'s' if n != 1 else ''}"
    else:
        epochs = -(-snap.total // snap.per_epoch)
        head = f"epoch {r['epoch']:>{len(str(epochs))}}/{epochs}"
        span = "this epoch"
    names = [("train_loss", f"loss{running}"), ("train_accuracy", f"train_acc{running}"),
             ("dev_loss", "dev_loss"), ("dev_accuracy", "dev_acc")]
    body = "  ".join(f"{short} {figure_text(r[k])}" for k, short in names if k in r)
    lr = f"  lr {r['learning_rate']:.2e}" if "learning_rate" in r else ""
    return f"{head}  {body}{lr}  {r.get('seconds', 0):.2f} s for {span}"


def start_line(result_splits: dict, params, total: int | None = None, per_epoch: int | None = None) -> str:
    """The first line of a run: the network, the data, and the steps an epoch.

    >>> from funcnet import model, rng, data
    >>> import numpy as np
    >>> ds = data.Dataset(np.zeros((4, 3), np.uint8), np.zeros(4, int), "mnist/train.gz")
    >>> start_line({"train": ds, "dev": ds}, model.init(rng.key(0), (3, 2)), 20, 2)
    'training 3-2 on 4 examples (mnist/train.gz), dev 4: 20 steps, 2 an epoch'
    """
    from ..model import describe

    train, dev = result_splits.get("train"), result_splits.get("dev")
    data = f"{len(train):,} examples" + (f" ({train.source})" if getattr(train, "source", "") else "")
    dev_part = f", dev {len(dev):,}" if dev is not None else ""
    steps = (f": {total:,} steps, {per_epoch:,} an epoch" if total and per_epoch and per_epoch > 1
             else f": {total:,} full-batch iterations" if total else "")
    return f"training {describe(params)} on {data}{dev_part}{steps}"


def heartbeat_line(snap, seconds: float) -> str:
    """A progress line between metrics lines, for output that is not a terminal: where the run
    is and the running figures since the last metrics line.

    >>> from types import SimpleNamespace as NS
    >>> heartbeat_line(NS(per_epoch=430, total=4300, epoch=2, batch=120, window=(60.0, 110, 120, 1),
    ...                   state=NS(step=550)), 10.2)
    '  epoch 2, step 120/430 (step 550/4300), loss~ 0.5000, train_acc~ 0.9167, 10.2 s since the last line'
    """
    lsum, correct, count, _ = snap.window
    figures = (f", loss~ {lsum / count:.4f}, train_acc~ {correct / count:.4f}" if count else "")
    where = (f"epoch {snap.epoch}, step {snap.batch}/{snap.per_epoch} (step {int(snap.state.step)}"
             f"/{snap.total})" if snap.per_epoch > 1 else f"iteration {int(snap.state.step)}/{snap.total}")
    return f"  {where}{figures}, {seconds:.1f} s since the last line"


def final_lines(result) -> list[str]:
    """The run's final figures: accuracies, loss, training time and steps.

    >>> from types import SimpleNamespace as NS
    >>> final_lines(NS(metrics={"train_accuracy": 0.9, "dev_accuracy": 0.8, "loss": 0.3,
    ...                         "seconds": 1.5, "steps": 20}))
    ['train accuracy 0.9000, dev accuracy 0.8000; training loss 0.3000; trained in 1.50 s (20 steps)']
    """
    m = result.metrics
    parts = [f"{k.replace('_', ' ')} {figure_text(m.get(k))}"
             for k in ("train_accuracy", "dev_accuracy", "test_accuracy") if k in m]
    return [f"{', '.join(parts)}; training loss {figure_text(m.get('loss'))}; "
            f"trained in {m['seconds']:.2f} s ({m['steps']} steps)"]


def echo_lines(lines, err: bool = False) -> None:
    for line in lines:
        click.echo(line, err=err)


def plural(n: int, noun: str) -> str:
    """``n`` and ``noun``, with an ``s`` unless ``n`` is 1.

    >>> plural(1, "image"), plural(3, "image")
    ('1 image', '3 images')
    """
    return f"{n} {noun}{'' if n == 1 else 's'}"


def accuracy_lines(y: np.ndarray | None, pred: np.ndarray) -> list[str]:
    """``accuracy A (R of N right)`` when there are labels ``y``, else nothing (labels first,
    as :func:`funcnet.evaluate.accuracy`).

    >>> accuracy_lines(np.array([1, 2, 0]), np.array([1, 2, 3]))
    ['accuracy 0.6667 (2 of 3 right)']
    >>> accuracy_lines(None, np.array([1]))
    []
    """
    if y is None or not len(y):
        return []
    right = int(np.count_nonzero(pred == y))
    return [f"accuracy {right / len(y):.4f} ({right} of {len(y)} right)"]


def warn(text: str) -> None:
    """One warning line on stderr."""
    click.echo(f"funcnet: warning: {text}", err=True)


def warn_diverged(result, where: str = "") -> None:
    """One warning line on stderr if the run's loss ended higher than it started."""
    from .. import pipeline as fpipeline

    warning = fpipeline.diverged(result)
    if warning:
        warn(f"{where}{warning}")
