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


def progress_line(snap) -> str:
    """One metrics line: the iteration (full batch) or epoch, then the record's figures.

    >>> from types import SimpleNamespace as NS
    >>> progress_line(NS(per_epoch=1, total=500, record={"step": 10, "train_loss": 2.1,
    ...     "train_accuracy": 0.25, "dev_accuracy": 0.24, "learning_rate": 0.1, "seconds": 0.2}))
    'iteration  10/500  loss 2.1000  train_acc 0.2500  dev_acc 0.2400  lr 0.1  0.20s'
    """
    r = snap.record
    if snap.per_epoch == 1:
        head = f"iteration {r['step']:>{len(str(snap.total))}}/{snap.total}"
    else:
        epochs = -(-snap.total // snap.per_epoch)
        head = f"epoch {r['epoch']:>{len(str(epochs))}}/{epochs}"
    names = [("train_loss", "loss"), ("train_accuracy", "train_acc"), ("dev_accuracy", "dev_acc")]
    body = "  ".join(f"{short} {figure_text(r[k])}" for k, short in names if k in r)
    lr = f"  lr {r['learning_rate']:.3g}" if "learning_rate" in r else ""
    return f"{head}  {body}{lr}  {r.get('seconds', 0):.2f}s"


def final_lines(result) -> list[str]:
    """The run's final figures: accuracies, loss, training time and steps.

    >>> from types import SimpleNamespace as NS
    >>> final_lines(NS(metrics={"train_accuracy": 0.9, "dev_accuracy": 0.8, "loss": 0.3,
    ...                         "seconds": 1.5, "steps": 20}))
    ['train accuracy 0.9000, dev accuracy 0.8000; loss 0.3000; trained in 1.50 s (20 steps)']
    """
    m = result.metrics
    parts = [f"{k.replace('_', ' ')} {figure_text(m.get(k))}"
             for k in ("train_accuracy", "dev_accuracy", "test_accuracy") if k in m]
    return [f"{', '.join(parts)}; loss {figure_text(m.get('loss'))}; "
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
