"""funcnet.evaluate: accuracy, confusion matrix, per-class report, misclassified examples."""

import math

import attrs
import numpy as np
import pytest

from funcnet import evaluate, model, rng
from funcnet.data.dataset import Dataset


def one_layer(w, b):
    """The network of one dense layer z = x·W + b."""
    net = model.init(rng.key(0), (len(w), len(b)), dtype=np.float64)
    return attrs.evolve(net, layers=(model.Dense(np.asarray(w, float), np.asarray(b, float)),))


def eye_model(k=3, gain=5.0):
    """One layer with W = gain·I: the prediction is the largest input feature."""
    return one_layer(np.eye(k) * gain, np.zeros(k))


def test_accuracy_known_cases():
    assert evaluate.accuracy(np.array([1, 2, 0, 0]), np.array([1, 2, 3, 0])) == 0.75
    assert evaluate.accuracy([0, 1], [0, 1]) == 1.0
    assert evaluate.accuracy(np.array([1]), np.array([0])) == 0.0
    assert math.isnan(evaluate.accuracy(np.array([], int), np.array([], int)))
    assert isinstance(evaluate.accuracy([0], [0]), float)


def test_accuracy_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"labels \(3,\) and predictions \(2,\) differ in shape"):
        evaluate.accuracy(np.zeros(3, int), np.zeros(2, int))


def test_confusion_matrix_known_case():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    c = evaluate.confusion_matrix(y_true, y_pred, classes=3)
    assert c.to_numpy().tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert c.index.name == "true" and c.columns.name == "predicted"
    assert list(c.index) == [0, 1, 2] and list(c.columns) == [0, 1, 2]
    assert c.to_numpy().sum() == 6
    assert np.diag(c.to_numpy()).sum() / 6 == evaluate.accuracy(y_true, y_pred)


def test_confusion_matrix_has_rows_for_absent_classes():
    c = evaluate.confusion_matrix(np.array([1]), np.array([1]))
    assert c.shape == (10, 10) and c.to_numpy().sum() == 1 and c.loc[1, 1] == 1


def test_confusion_matrix_refuses_labels_outside_the_classes():
    with pytest.raises(ValueError):
        evaluate.confusion_matrix(np.array([0]), np.array([2]), classes=2)


def test_report_known_case():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    r = evaluate.report(y_true, y_pred, classes=3)
    assert list(r.columns) == ["precision", "recall", "f1", "support"]
    np.testing.assert_allclose(r["precision"], [1 / 2, 1 / 2, 1.0])
    np.testing.assert_allclose(r["recall"], [1 / 2, 1.0, 2 / 3])
    np.testing.assert_allclose(r["f1"], [1 / 2, 2 / 3, 0.8])
    assert r["support"].tolist() == [2, 1, 3]


def test_report_gives_zero_not_nan_for_classes_never_seen_or_predicted():
    r = evaluate.report(np.array([0, 0]), np.array([0, 1]), classes=3)
    assert not r.isna().any().any()
    assert r.loc[2].tolist() == [0.0, 0.0, 0.0, 0]
    assert r.loc[1, "precision"] == 0.0 and r.loc[1, "support"] == 0


def test_misclassified_lists_the_wrong_ones_most_confident_first():
    x = np.array([[0.0, 1.0, 0.0],   # predicted 1, label 1: right
                  [1.0, 0.0, 0.0],   # predicted 0, label 2: wrong, confident
                  [0.0, 0.4, 0.5],   # predicted 2, label 1: wrong, unsure
                  [0.0, 0.0, 1.0]])  # predicted 2, label 2: right
    ds = Dataset(x, np.array([1, 2, 1, 2]))
    params = eye_model()
    frame = evaluate.misclassified(params, ds)
    assert list(frame.columns) == ["index", "label", "prediction", "confidence"]
    assert frame["index"].tolist() == [1, 2]
    assert frame["label"].tolist() == [2, 1] and frame["prediction"].tolist() == [0, 2]
    probs = model.predict_proba(params, x)
    np.testing.assert_allclose(frame["confidence"], [probs[1, 0], probs[2, 2]])
    assert frame["confidence"].is_monotonic_decreasing
    assert evaluate.misclassified(params, ds, n=1)["index"].tolist() == [1]


def test_misclassified_is_empty_when_all_are_right():
    ds = Dataset(np.eye(3), np.array([0, 1, 2]))
    frame = evaluate.misclassified(eye_model(), ds)
    assert len(frame) == 0 and list(frame.columns) == ["index", "label", "prediction", "confidence"]


def test_dataset_accuracy_scales_pixel_data():
    x = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 0, 0]], np.uint8)
    ds = Dataset(x, np.array([0, 1, 2, 1]))
    assert evaluate.dataset_accuracy(eye_model(), ds) == 0.75
    # scaled to [0, 1] before predicting: a bias of 2 wins over a scaled pixel times 1
    biased = one_layer(np.eye(3), np.array([0.0, 0.0, 2.0]))
    assert evaluate.dataset_accuracy(biased, ds) == 0.25
