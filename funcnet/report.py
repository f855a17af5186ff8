"""Figures as text: aligned tables, mean ± sd summaries, the evaluation report.

Pure functions from numbers and DataFrames to lists of lines; the CLI
prints them.

>>> print("\\n".join(table(["name", "acc"], [["a", "0.5"], ["bb", "0.25"]])))
name   acc
a      0.5
bb    0.25
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["CLASS_NAMES", "class_names", "fmt", "table", "frame_table", "mean_sd",
           "format_mean_sd", "seeds_table", "ablation_summary", "ablation_table", "report_lines",
           "confusion_lines"]

# Class names of the datasets whose labels are not the digits themselves.
CLASS_NAMES = {
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                      "Shirt", "Sneaker", "Bag", "Ankle boot"),
}

_NUMBER = re.compile(r"^[-+]?(\d[\d,]*(\.\d*)?|\.\d+|nan|inf)([eE][-+]?\d+)?%?$|^n/a$|^-$")


def class_names(dataset: str | None) -> tuple[str, ...] | None:
    """The class names of ``dataset``, or None when the labels speak for themselves.

    >>> class_names("fashion-mnist")[7], class_names("mnist")
    ('Sneaker', None)
    """
    return CLASS_NAMES.get(dataset or "")


def fmt(value: Any, digits: int = 4) -> str:
    """A figure as table text: floats to ``digits`` places, None as ``n/a``.

    >>> fmt(0.91234), fmt(None), fmt(3), fmt(float("nan")), fmt(np.float32(0.5), 2)
    ('0.9123', 'n/a', '3', 'nan', '0.50')
    """
    if value is None:
        return "n/a"
    if isinstance(value, (float, np.floating)):
        return "nan" if math.isnan(value) else f"{float(value):.{digits}f}"
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _numeric(cell: str) -> bool:
    """Whether a cell reads as a number (and is right-aligned).

    >>> _numeric("0.93"), _numeric("1,024"), _numeric("0.9 ± 0.01"), _numeric("relu")
    (True, True, True, False)
    """
    return all(_NUMBER.match(part.strip()) for part in cell.split("±")) if cell else False


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], gap: int = 2) -> list[str]:
    """Rows of cells as aligned lines: the first column left, numeric columns right.

    A column is right-aligned when all its non-empty cells are numbers
    (``0.93``, ``12``, ``0.90 ± 0.01``, ``nan``, ``n/a``).

    >>> table(["k", "v"], [["x", 1], ["yy", 10]])
    ['k    v', 'x    1', 'yy  10']
    """
    body = [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    cols = list(zip(*([list(headers)] + body))) if body else [[h] for h in headers]
    widths = [max(len(c) for c in col) for col in cols]
    right = [i > 0 and all(_numeric(c) or not c for c in col[1:]) for i, col in enumerate(cols)]
    def line(cells):
        parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)]
        return (" " * gap).join(parts).rstrip()
    return [line(list(headers))] + [line(row) for row in body]


def frame_table(frame: pd.DataFrame, digits: int = 4, index: bool = True) -> list[str]:
    """A DataFrame as an aligned table, its index (named by ``index.name``) first.

    >>> frame_table(pd.DataFrame({"acc": [0.5, 0.25]}, index=pd.Index(["a", "b"], name="run")))
    ['run     acc', 'a    0.5000', 'b    0.2500']
    """
    headers = ([str(frame.index.name or "")] if index else []) + [str(c) for c in frame.columns]
    rows = [([str(i)] if index else []) + [fmt(v, digits) for v in row]
            for i, row in zip(frame.index, frame.itertuples(index=False))]
    return table(headers, rows)


def mean_sd(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1), ignoring None and NaN; sd is NaN for n < 2.

    >>> mean_sd([0.9, 0.92, 0.94])
    (0.92, 0.02)
    >>> mean_sd([0.5])
    (0.5, nan)
    """
    arr = np.array([v for v in values if v is not None], dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return math.nan, math.nan
    sd = float(np.std(arr, ddof=1)) if arr.size > 1 else math.nan
    return round(float(arr.mean()), 12), round(sd, 12) if arr.size > 1 else sd


def format_mean_sd(values: Iterable[float], digits: int = 4) -> str:
    """``mean ± sd`` as text; the mean alone when there is one value, ``n/a`` for none.

    >>> format_mean_sd([0.9, 0.92, 0.94]), format_mean_sd([0.5]), format_mean_sd([None])
    ('0.9200 ± 0.0200', '0.5000', 'n/a')
    """
    mean, sd = mean_sd(values)
    if math.isnan(mean):
        return "n/a"
    return fmt(mean, digits) if math.isnan(sd) else f"{fmt(mean, digits)} ± {fmt(sd, digits)}"


def seeds_table(frame: pd.DataFrame, columns: Sequence[str], digits: int = 4) -> list[str]:
    """One row per seed, then a ``mean ± sd`` row, for ``columns`` of ``frame``.

    >>> f = pd.DataFrame({"seed": [0, 1], "dev_accuracy": [0.9, 0.92]})
    >>> print("\\n".join(seeds_table(f, ["dev_accuracy"])))
    seed         dev_accuracy
    0                  0.9000
    1                  0.9200
    mean ± sd  0.9100 ± 0.0141
    """
    rows = [[str(s)] + [fmt(v, digits) for v in vals]
            for s, vals in zip(frame["seed"], frame[list(columns)].itertuples(index=False))]
    summary = ["mean ± sd"] + [format_mean_sd(frame[c], digits) for c in columns]
    return table(["seed", *columns], rows + [summary])


def ablation_summary(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Per variant (in order of first appearance): runs, mean and sd of ``columns``.

    ``frame`` holds one row per run with a ``variant`` column.

    >>> f = pd.DataFrame({"variant": ["a", "a", "b"], "acc": [0.5, 0.7, 0.9]})
    >>> ablation_summary(f, ["acc"]).round(4).to_dict("list")
    {'variant': ['a', 'b'], 'runs': [2, 1], 'acc_mean': [0.6, 0.9], 'acc_sd': [0.1414, nan]}
    """
    order = list(dict.fromkeys(frame["variant"]))
    rows = []
    for name in order:
        part = frame[frame["variant"] == name]
        stats = {f"{c}_{k}": v for c in columns for k, v in zip(("mean", "sd"), mean_sd(part[c]))}
        rows.append({"variant": name, "runs": len(part), **stats})
    return pd.DataFrame(rows)


def ablation_table(frame: pd.DataFrame, columns: Sequence[str], baseline: str,
                   delta: str | None = None, digits: int = 4) -> list[str]:
    """Mean ± sd of ``columns`` per variant, and the change in ``delta`` from ``baseline``.

    ``frame`` has one row per run (``variant``, ``seed``, the columns, and
    optionally ``stopped``: a reason or empty); variants keep their order.
    Variants with runs stopped on a non-finite loss get a ``stopped`` count.

    >>> f = pd.DataFrame({"variant": ["tutorial", "tutorial", "all fixes", "all fixes"],
    ...                   "seed": [0, 1, 0, 1], "dev_accuracy": [0.80, 0.82, 0.85, 0.87]})
    >>> print("\\n".join(ablation_table(f, ["dev_accuracy"], "tutorial", "dev_accuracy")))
    variant       dev_accuracy    Δ dev
    tutorial   0.8100 ± 0.0141        -
    all fixes  0.8600 ± 0.0141  +0.0500
    """
    delta_name = f"Δ {delta.replace('_accuracy', '')}" if delta else None
    base = frame.loc[frame["variant"] == baseline, delta].mean() if delta else None
    stops = "stopped" in frame and frame["stopped"].fillna("").astype(bool).any()
    rows = []
    for name in dict.fromkeys(frame["variant"]):
        part = frame[frame["variant"] == name]
        row = [name] + [format_mean_sd(part[c], digits) for c in columns]
        if delta:
            change = part[delta].mean() - base
            row.append("-" if name == baseline else
                       "n/a" if math.isnan(change) else f"{change:+.{digits}f}")
        if stops:
            row.append(f"{int(part['stopped'].fillna('').astype(bool).sum())}/{len(part)}")
        rows.append(row)
    headers = ["variant", *columns] + ([delta_name] if delta else []) + (["stopped"] if stops else [])
    return table(headers, rows)


def summary_table(summary: pd.DataFrame, by: Sequence[str], columns: Sequence[str],
                  digits: int = 4) -> list[str]:
    """A sweep's summary (``experiments.summarize``) as a table: ``by``, runs, mean ± sd of ``columns``.

    >>> s = pd.DataFrame({"lr": [0.2, 0.1], "runs": [2, 2], "failed": [0, 1],
    ...                   "dev_accuracy": [0.96, 0.85], "dev_accuracy_sd": [0.0141, 0.0707]})
    >>> print("\\n".join(summary_table(s, ["lr"], ["dev_accuracy"])))
     lr  runs  failed     dev_accuracy
    0.2     2       0  0.9600 ± 0.0141
    0.1     2       1  0.8500 ± 0.0707
    """
    def cell(row, c):
        mean, sd = row[c], row.get(f"{c}_sd", math.nan)
        if mean is None or (isinstance(mean, float) and math.isnan(mean)):
            return "n/a"
        return fmt(mean, digits) if sd is None or math.isnan(sd) else f"{fmt(mean, digits)} ± {fmt(sd, digits)}"
    rows = [[str(r[b]) for b in by] + [str(int(r["runs"])), str(int(r["failed"]))]
            + [cell(r, c) for c in columns] for r in summary.to_dict("records")]
    return table([*by, "runs", "failed", *columns], rows)


def report_lines(report: pd.DataFrame, names: Sequence[str] | None = None,
                 digits: int = 4) -> list[str]:
    """The per-class report (``evaluate.report``) as a table with a macro-average row.

    >>> r = pd.DataFrame({"precision": [0.5, 1.0], "recall": [1.0, 0.5], "f1": [0.667, 0.667],
    ...                   "support": [1, 2]}, index=pd.RangeIndex(2, name="class"))
    >>> print("\\n".join(report_lines(r, digits=3)))
    class      precision  recall     f1  support
    0              0.500   1.000  0.667        1
    1              1.000   0.500  0.667        2
    macro avg      0.750   0.750  0.667        3
    """
    label = (lambda i: f"{i} {names[i]}") if names else str
    rows = [[label(i)] + [fmt(float(r.precision), digits), fmt(float(r.recall), digits),
                          fmt(float(r.f1), digits), str(int(r.support))]
            for i, r in zip(report.index, report.itertuples(index=False))]
    macro = ["macro avg"] + [fmt(float(report[c].mean()), digits)
                             for c in ("precision", "recall", "f1")] \
        + [str(int(report["support"].sum()))]
    return table(["class", "precision", "recall", "f1", "support"], rows + [macro])


def confusion_lines(matrix: pd.DataFrame | np.ndarray) -> list[str]:
    """The confusion matrix as a table: rows are true classes, columns predictions.

    >>> print("\\n".join(confusion_lines(np.array([[5, 1], [0, 7]]))))
    true \\ predicted  0  1
    0                 5  1
    1                 0  7
    """
    counts = np.asarray(matrix)
    headers = ["true \\ predicted"] + [str(j) for j in range(counts.shape[1])]
    return table(headers, [[str(i)] + [str(int(v)) for v in row] for i, row in enumerate(counts)])
