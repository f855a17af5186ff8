"""Judging a model: accuracy, confusion matrix, per-class report, mistakes.

These take integer labels and predictions (or a model and a dataset) and
return numbers or pandas DataFrames; they print nothing. Labels come first,
then predictions, in every one of them (``accuracy(y_true, y_pred)``,
``confusion_matrix(y_true, y_pred)``, ``report(y_true, y_pred)``), as in
scikit-learn's ``sklearn.metrics``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data.dataset import Dataset
from .model import predict, predict_proba

__all__ = ["accuracy", "confusion_matrix", "report", "misclassified", "dataset_accuracy"]


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The fraction of right predictions: (1/m) Σ [ŷ_i = y_i] (the tutorial's ``get_accuracy``).

    Labels first, then predictions, as :func:`confusion_matrix` (and
    scikit-learn's ``accuracy_score``) take them.

    >>> accuracy(np.array([1, 2, 0, 0]), np.array([1, 2, 3, 0]))
    0.75
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_pred.shape != y_true.shape:
        raise ValueError(f"labels {y_true.shape} and predictions {y_pred.shape} differ in shape")
    return float(np.mean(y_pred == y_true)) if y_true.size else float("nan")


def dataset_accuracy(params, ds: Dataset, model_state=None) -> float:
    """Accuracy of ``params`` on a labelled dataset, by the one inference path :func:`funcnet.model.logits`.

    >>> from funcnet import model, rng
    >>> params, x = model.init(rng.key(0), (3, 2)), np.eye(3, dtype=np.uint8)
    >>> pred = predict(params, x)
    >>> dataset_accuracy(params, Dataset(x, pred)), dataset_accuracy(params, Dataset(x, 1 - pred))
    (1.0, 0.0)
    """
    return accuracy(ds.y, predict(params, ds.x, model_state=model_state))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int = 10) -> pd.DataFrame:
    """C[i, j] = number of examples of true class i predicted as j (labels first, as in
    :func:`accuracy`).

    >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), classes=2)
    predicted  0  1
    true           
    0          1  0
    1          1  1
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    for name, ys in (("label", y_true), ("prediction", y_pred)):
        bad = np.flatnonzero((ys < 0) | (ys >= classes))
        if bad.size:
            raise ValueError(f"{name} {ys[bad[0]]} at index {bad[0]} is outside 0..{classes - 1}")
    counts = np.bincount(y_true * classes + y_pred,
                         minlength=classes * classes).reshape(classes, classes)
    return pd.DataFrame(counts, index=pd.RangeIndex(classes, name="true"),
                        columns=pd.RangeIndex(classes, name="predicted"))


def report(y_true: np.ndarray, y_pred: np.ndarray, classes: int = 10) -> pd.DataFrame:
    """Per class: precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2PR/(P+R), support.

    >>> report(np.array([0, 1, 1]), np.array([0, 0, 1]), classes=2).round(3)
           precision  recall     f1  support
    class                                   
    0            0.5     1.0  0.667        1
    1            1.0     0.5  0.667        2
    """
    c = confusion_matrix(y_true, y_pred, classes).to_numpy()
    tp = np.diag(c).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(tp / c.sum(axis=0))
        recall = np.nan_to_num(tp / c.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return pd.DataFrame({"precision": precision, "recall": recall, "f1": f1,
                         "support": c.sum(axis=1)},
                        index=pd.RangeIndex(classes, name="class"))


def misclassified(params, ds: Dataset, n: int | None = None, model_state=None) -> pd.DataFrame:
    """The examples the model gets wrong, most confident first.

    Columns: ``index`` (row in ``ds``), ``label``, ``prediction``,
    ``confidence`` (the predicted class's probability).

    >>> from funcnet import model, rng
    >>> ds = Dataset(np.eye(3, dtype=np.float32), np.array([0, 1, 2]))
    >>> list(misclassified(model.init(rng.key(0), (3, 3)), ds).columns)
    ['index', 'label', 'prediction', 'confidence']
    """
    probs = predict_proba(params, ds.x, model_state=model_state)
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != ds.y)
    frame = pd.DataFrame({"index": wrong, "label": ds.y[wrong], "prediction": pred[wrong],
                          "confidence": probs[wrong, pred[wrong]]})
    frame = frame.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)
    return frame if n is None else frame.head(n)
