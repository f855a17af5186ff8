"""Pictures of a run: learning curves, confusion matrix, mistakes, first-layer weights;
and of a search: its trials across the searched fields (:func:`parallel`) and their dev
accuracy against the budget spent (:func:`search_curves`).

Each function takes arrays or DataFrames and a path, draws one PNG of a
fixed pixel size (:data:`SIZES`), writes it atomically (a temp file in the
same folder, then ``os.replace``) and returns the path. matplotlib is
optional (``pip install 'funcnet[plot]'``); it is imported inside the
functions and used through its Agg canvas directly, without pyplot, so no
global backend or figure state is touched.

>>> layout(24), layout(5), layout(64, columns=8)
((4, 6), (1, 5), (8, 8))
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ._atomic import write_atomic

__all__ = ["DPI", "SIZES", "SEARCH_SIZES", "HINT", "available", "layout", "write_atomic",
           "curves", "curves_figure", "confusion", "confusion_figure", "mistakes",
           "mistakes_figure", "weights", "weights_figure", "figures", "axis_positions", "parallel",
           "search_curves"]

DPI = 100
# (width, height) in pixels of each picture.
SIZES = {"curves": (1000, 400), "confusion": (700, 600), "mistakes": (900, 720),
         "weights": (800, 840)}
# (width, height) in pixels of a search's pictures (in the sweep folder, not a run's).
SEARCH_SIZES = {"parallel": (1100, 520), "search_curves": (900, 520)}
HINT = "install funcnet[plot] for pictures"
MAX_MISTAKES = 24
MAX_UNITS = 64


def available() -> bool:
    """Whether matplotlib can be imported (the ``plot`` extra is installed).

    >>> import importlib.util
    >>> available() == (importlib.util.find_spec("matplotlib") is not None)
    True
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def layout(n: int, columns: int = 6) -> tuple[int, int]:
    """``(rows, columns)`` of a grid for ``n`` panels, at most ``columns`` wide.

    >>> layout(0), layout(7), layout(12, columns=4)
    ((1, 1), (2, 6), (3, 4))
    """
    cols = max(1, min(n, columns))
    return max(1, math.ceil(n / cols)), cols


def _figure(kind: str):
    """A matplotlib Figure of the pixel size ``SIZES[kind]`` on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = {**SIZES, **SEARCH_SIZES}[kind]
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    """Render ``fig`` as PNG and write it atomically to ``path``."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return write_atomic(path, buffer.getvalue())


def _image(pixels) -> np.ndarray:
    """A flat square image as a 2-D float array in [0, 1] (integers are /255)."""
    arr = np.asarray(pixels)
    side = math.isqrt(arr.size)
    img = arr.reshape(side, side).astype(np.float64)
    return img / 255.0 if np.issubdtype(arr.dtype, np.integer) or img.max(initial=0) > 1 else img


def curves_figure(history: pd.DataFrame):
    """The Figure of :func:`curves`: loss and accuracy panels, whole-number epoch ticks.

    A minibatch run's training figures are running means over each epoch (under
    dropout and augmentation), labelled so; the dev figures are a clean pass.

    >>> fig = curves_figure(pd.DataFrame({"step": [430, 860], "epoch": [1, 2],
    ...                                   "train_loss": [0.5, 0.3], "dev_loss": [0.2, 0.1]}))
    >>> [ax.get_title() for ax in fig.axes]
    ['loss: train (running mean over each epoch) and dev', 'accuracy: no history recorded']
    """
    from matplotlib.ticker import MaxNLocator

    fig = _figure("curves")
    ax_loss, ax_acc = fig.subplots(1, 2)
    x_name = "epoch" if "epoch" in history else "step"
    full_batch = {"step", "epoch"} <= set(history) and (history["step"] == history["epoch"]).all()
    train_label = "train" if full_batch else "train (running mean over each epoch)"
    for ax, what in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        shown = []
        for split, label in (("train", train_label), ("dev", "dev")):
            col = f"{split}_{what}"
            if col in history and len(history):
                ax.plot(history[x_name], history[col], marker="." if len(history) < 30 else None,
                        label=label)
                shown.append(label)
        ax.set_xlabel("iteration" if full_batch else x_name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
            ax.set_title(f"{what}: {' and '.join(shown)}")
        else:
            ax.text(0.5, 0.5, "no history recorded", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_title(f"{what}: no history recorded")
    fig.tight_layout()
    return fig


def curves(history: pd.DataFrame, path) -> Path:
    """Loss and accuracy against epochs (or iterations), train and dev, from a history.

    Uses the columns present among ``train_loss, dev_loss`` and
    ``train_accuracy, dev_accuracy``; the x axis is ``epoch`` (whole-number
    ticks), labelled "iteration" when every row's epoch equals its step (full batch).

    >>> curves(pd.DataFrame({"step": [1, 2], "epoch": [1, 2], "train_loss": [2.0, 1.0],
    ...                      "train_accuracy": [0.5, 0.7]}), "curves.png")  # doctest: +SKIP
    PosixPath('curves.png')
    """
    return _save(curves_figure(history), path)


def confusion_figure(matrix, names: Sequence[str] | None = None, split: str = "test"):
    """The Figure of :func:`confusion`: the mistakes (off the diagonal) coloured on their own
    scale, the diagonal's counts written on grey, so the mistakes are what the eye sees.

    >>> fig = confusion_figure(np.eye(3, dtype=int) * 50 + np.eye(3, k=1, dtype=int), split="dev")
    >>> fig.axes[0].get_title(), fig.axes[1].get_ylabel()
    ('confusion matrix on the dev set (accuracy 0.9868)', 'mistakes (count, off the diagonal)')
    """
    counts = np.asarray(matrix)
    k = counts.shape[0]
    fig = _figure("confusion")
    ax = fig.subplots()
    off = np.where(np.eye(k, dtype=bool), np.nan, counts.astype(float))
    top = np.nanmax(off) if k > 1 and np.isfinite(off).any() else 0.0
    ax.imshow(np.where(np.eye(k, dtype=bool), 1.0, np.nan), cmap="Greys", vmin=0, vmax=5)
    image = ax.imshow(off, cmap="Reds", vmin=0, vmax=max(top, 1.0))
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("mistakes (count, off the diagonal)")
    labels = list(names) if names else [str(i) for i in range(k)]
    ax.set_xticks(range(k), labels, rotation=45 if names else 0, ha="right" if names else "center")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), v in np.ndenumerate(counts):
        strong = i != j and top and v > top / 2
        ax.text(j, i, str(int(v)), ha="center", va="center", fontsize=7,
                fontweight="bold" if i == j else "normal", color="white" if strong else "black")
    total = counts.sum()
    acc = np.trace(counts) / total if total else float("nan")
    ax.set_title(f"confusion matrix on the {split} set (accuracy {acc:.4f})")
    fig.tight_layout()
    return fig


def confusion(matrix, path, names: Sequence[str] | None = None, split: str = "test") -> Path:
    """The confusion matrix (rows true, columns predicted) on the ``split`` set, with counts:
    the mistakes coloured, the diagonal apart (:func:`confusion_figure`).

    >>> confusion(np.eye(10, dtype=int) * 5, "confusion.png")  # doctest: +SKIP
    PosixPath('confusion.png')
    """
    return _save(confusion_figure(matrix, names, split), path)


def mistakes_figure(images, labels, predictions, confidences,
                    names: Sequence[str] | None = None, split: str = "test"):
    """A grid of up to 24 misclassified images, each titled true / pred / confidence.

    ``images`` is ``(n, 784)`` (uint8 or floats in [0, 1]), most confident first.

    >>> mistakes_figure(np.zeros((1, 784)), [3], [8], [0.99], split="dev")._suptitle.get_text()
    'the most confident mistakes on the dev set'
    """
    images = np.asarray(images)[:MAX_MISTAKES]
    n = len(images)
    rows, cols = layout(MAX_MISTAKES)
    fig = _figure("mistakes")
    axes = np.ravel(fig.subplots(rows, cols))
    name = (lambda c: names[c]) if names else str
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < n:
            ax.imshow(_image(images[i]), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"true {name(int(labels[i]))}\npred {name(int(predictions[i]))} "
                         f"({float(confidences[i]):.0%})", fontsize=8)
    if n == 0:
        axes[0].text(0.5, 0.5, "no mistakes", ha="center", va="center", transform=axes[0].transAxes)
    fig.suptitle(f"the most confident mistakes on the {split} set" if n
                 else f"no mistakes on the {split} set")
    fig.tight_layout()
    return fig


def mistakes(images, labels, predictions, confidences, path,
             names: Sequence[str] | None = None, split: str = "test") -> Path:
    """The most confident mistakes on the ``split`` set (:func:`mistakes_figure`), saved.

    >>> mistakes(np.zeros((2, 784)), [3, 5], [8, 6], [0.99, 0.9], "mistakes.png")  # doctest: +SKIP
    PosixPath('mistakes.png')
    """
    return _save(mistakes_figure(images, labels, predictions, confidences, names, split), path)


def weights_figure(w):
    """The Figure of :func:`weights`: first-layer weights as images, red positive, blue
    negative, each on its own scale, and a colour bar with the sign legend.

    An MLP's ``w: (784, units)``: column ``j`` is a 28×28 picture (up to 64
    units). A convolution's ``w: (kh, kw, c_in, filters)``: filter ``o`` is a
    kh×kw picture (channels averaged), up to 64 filters.

    >>> fig = weights_figure(np.arange(784 * 4.0).reshape(784, 4) - 1500)
    >>> [t.get_text() for t in fig.axes[-1].get_yticklabels()]
    ['− (blue)', '0', '+ (red)']
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim == 4:  # conv filters: one kh×kw picture per output channel
        pictures, what = w.mean(axis=2).transpose(2, 0, 1), "filters"
    else:
        side = math.isqrt(w.shape[0])
        square = side * side == w.shape[0]
        pictures = w.T.reshape(-1, side, side) if square else np.zeros((0, 1, 1))
        what = "units"
    total = w.shape[-1]
    units = min(total, MAX_UNITS)
    rows, cols = layout(units, columns=math.ceil(math.sqrt(units)))
    fig = _figure("weights")
    axes = np.ravel(fig.subplots(rows, cols))
    image = None
    for j, ax in enumerate(axes):
        ax.set_axis_off()
        if j < units and j < len(pictures):
            lim = float(np.abs(pictures[j]).max()) or 1.0
            image = ax.imshow(pictures[j] / lim, cmap="seismic", vmin=-1, vmax=1)
            ax.set_title(str(j), fontsize=7)
    fig.suptitle(f"first-layer weights ({units} of {total} {what})")
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    if image is not None:
        bar = fig.colorbar(image, cax=fig.add_axes((0.92, 0.25, 0.02, 0.5)), ticks=[-1, 0, 1])
        bar.ax.set_yticklabels(["− (blue)", "0", "+ (red)"])
        bar.set_label("weight sign; each picture on its own scale (÷ its largest |w|)")
    return fig


def weights(w, path) -> Path:
    """First-layer weights as images, red positive, blue negative, each on its own scale, with
    a colour bar saying so (:func:`weights_figure`).

    >>> weights(np.zeros((784, 10)), "weights.png")  # doctest: +SKIP
    PosixPath('weights.png')
    """
    return _save(weights_figure(w), path)


def figures(out, history: pd.DataFrame, params, dataset, names: Sequence[str] | None = None,
            model_state=None, split: str = "test") -> list[Path]:
    """The four pictures of a run in folder ``out``: curves, confusion, mistakes, weights.

    ``params`` is any network (with its ``model_state``); ``dataset`` a labelled
    :class:`funcnet.data.Dataset` (the ``split`` set: test, or dev) to judge it on.
    """
    from . import evaluate
    from .model import num_outputs, predict_proba, weights as layer_weights

    out = Path(out)
    x = dataset.x
    probs = predict_proba(params, x, model_state=model_state)
    pred = probs.argmax(axis=1)
    k = num_outputs(params)
    wrong = np.flatnonzero(pred != dataset.y)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:MAX_MISTAKES]
    return [
        curves(history, out / "curves.png"),
        confusion(evaluate.confusion_matrix(dataset.y, pred, k), out / "confusion.png", names,
                  split),
        mistakes(x[order], dataset.y[order], pred[order], probs[order, pred[order]],
                 out / "mistakes.png", names, split),
        weights(layer_weights(params)[0], out / "weights.png"),
    ]


def axis_positions(values: Sequence, log: bool = False) -> tuple[np.ndarray, list[str], list[float]]:
    """Where each value sits on a parallel-coordinates axis of [0, 1], with the axis's tick
    labels and their positions: numbers linearly between their least and greatest (in log10
    with ``log``), other values (texts, tuples) in sorted order, evenly spaced.

    >>> pos, labels, ticks = axis_positions([1e-3, 1e-1, 1e-2], log=True)
    >>> pos.round(3).tolist(), labels
    ([0.0, 1.0, 0.5], ['0.001', '0.1'])
    >>> axis_positions(["784,64,10", "784,32,10", "784,64,10"])[0].tolist()
    [1.0, 0.0, 1.0]
    """
    series = pd.Series(list(values), dtype=object)
    numbers = pd.to_numeric(series, errors="coerce")
    if len(series) and numbers.notna().all() and not series.map(lambda v: isinstance(v, bool)).any():
        x = np.asarray(numbers, dtype=np.float64)
        shown = np.log10(x) if log else x
        low, high = float(shown.min()), float(shown.max())
        span = high - low if high > low else 1.0
        return (shown - low) / span, [f"{x.min():.3g}", f"{x.max():.3g}"], [0.0, 1.0]
    texts = series.map(str)
    kinds = sorted(texts.unique())
    where = {k: (i / (len(kinds) - 1) if len(kinds) > 1 else 0.5) for i, k in enumerate(kinds)}
    return np.array([where[t] for t in texts]), kinds, [where[k] for k in kinds]


def parallel(table: pd.DataFrame, fields: Sequence[str], path, logs: Sequence[str] = (),
             score: str = "dev_accuracy") -> Path:
    """One line per trial across the searched ``fields`` and ``score`` (parallel coordinates),
    coloured by ``score``; the fields of ``logs`` on log scales. ``table`` holds a row per trial
    (:func:`funcnet.experiments.best_trials` with ``top=None``)."""
    from matplotlib import cm, colormaps, colors

    fig = _figure("parallel")
    ax = fig.subplots()
    axes = [*fields, score]
    placed = [axis_positions(table[f], f in logs) for f in axes]
    values = pd.to_numeric(table[score], errors="coerce").to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    norm = colors.Normalize(*(finite.min(), finite.max()) if len(finite) else (0.0, 1.0))
    cmap = colormaps["viridis"]
    order = np.argsort(np.where(np.isfinite(values), values, -np.inf), kind="stable")
    for i in order:
        ys = [pos[i] for pos, _, _ in placed]
        colour = cmap(norm(values[i])) if np.isfinite(values[i]) else (0.6, 0.6, 0.6, 0.5)
        ax.plot(range(len(axes)), ys, color=colour, alpha=0.8, linewidth=1.2)
    for j, (_, labels, ticks) in enumerate(placed):
        ax.axvline(j, color="black", linewidth=0.8)
        for label, y in zip(labels, ticks):
            ax.text(j + 0.02, y, label, fontsize=7, va="center")
    ax.set_xticks(range(len(axes)), [f"{a} (log)" if a in logs else a for a in axes])
    ax.set_yticks([])
    ax.set_xlim(-0.1, len(axes) - 0.6)
    ax.set_title(f"{len(table)} trials, coloured by {score}")
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=score)
    fig.tight_layout()
    return _save(fig, path)


def search_curves(rows: pd.DataFrame, path, score: str = "dev_accuracy") -> Path:
    """Every trial's ``score`` (the mean over its seeds) against the budget it had spent at
    each rung: pruned trials end early; trials that reached the whole budget in colour."""
    fig = _figure("search_curves")
    ax = fig.subplots()
    ok = rows[rows["status"] == "ok"] if "status" in rows else rows
    decisions = ok.groupby("trial")["decision"].last() if "decision" in ok else pd.Series(dtype=str)
    for trial, part in ok.groupby("trial", sort=True):
        curve = part.groupby("budget", sort=True)[score].mean()
        done = decisions.get(trial, "") == "done"
        ax.plot(curve.index.astype(float), curve.to_numpy(dtype=np.float64), marker="o",
                markersize=3, linewidth=1.5 if done else 0.8, alpha=0.9 if done else 0.4,
                color=None if done else "grey", label=f"trial {trial}" if done else None)
    unit = rows.attrs.get("unit") or "budget"
    ax.set_xlabel(f"budget ({unit})")
    ax.set_ylabel(score)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.set_title("dev accuracy against budget (grey: stopped at a rung)")
    fig.tight_layout()
    return _save(fig, path)
