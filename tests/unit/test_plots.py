"""The run's pictures as a student reads them, checked on the figure objects: whole-number
epoch ticks, the dev loss where it is measured, the split named in every title, a colour bar
with the sign legend, and a confusion matrix whose colour shows the mistakes."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib", reason="needs the plot extra")

from funcnet import plots  # noqa: E402


def test_a_short_runs_curves_have_whole_number_epoch_ticks_and_both_splits():
    history = pd.DataFrame({"step": [430, 860, 1290], "epoch": [1, 2, 3],
                            "train_loss": [0.5, 0.3, 0.2], "train_accuracy": [0.8, 0.9, 0.93],
                            "dev_loss": [0.2, 0.1, 0.08], "dev_accuracy": [0.95, 0.97, 0.98]})
    fig = plots.curves_figure(history)
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert [line.get_label() for line in ax.lines] == ["train (running mean over each epoch)", "dev"]
    assert [ax.get_title() for ax in fig.axes] == [
        "loss: train (running mean over each epoch) and dev",
        "accuracy: train (running mean over each epoch) and dev"]


def test_the_tutorials_curves_show_the_dev_loss_it_now_measures():
    history = pd.DataFrame({"step": [10, 20], "epoch": [10, 20], "train_loss": [2.1, 1.9],
                            "train_accuracy": [0.26, 0.33], "dev_loss": [2.0, 1.8],
                            "dev_accuracy": [0.28, 0.35]})
    fig = plots.curves_figure(history)
    assert fig.axes[0].get_xlabel() == "iteration"
    assert [line.get_label() for line in fig.axes[0].lines] == ["train", "dev"]


@pytest.mark.parametrize("split", ["test", "dev"])
def test_the_confusion_matrix_colours_the_mistakes_and_names_the_split(split):
    counts = np.diag([980, 1130, 1020]) + np.array([[0, 2, 5], [1, 0, 0], [9, 0, 0]])
    fig = plots.confusion_figure(counts, split=split)
    ax, bar = fig.axes
    assert ax.get_title().startswith(f"confusion matrix on the {split} set")
    assert bar.get_ylabel() == "mistakes (count, off the diagonal)"
    shown = ax.images[-1].get_array()
    assert np.ma.is_masked(shown[0, 0]) or np.isnan(shown[0, 0])  # the diagonal stands apart
    assert float(shown[2, 0]) == 9 and ax.images[-1].get_clim() == (0, 9.0)  # scaled to the mistakes


def test_the_weights_picture_has_a_colour_bar_with_the_sign_legend():
    fig = plots.weights_figure(np.linspace(-1, 1, 784 * 6).reshape(784, 6))
    bar = fig.axes[-1]
    assert [t.get_text() for t in bar.get_yticklabels()] == ["− (blue)", "0", "+ (red)"]
    assert "own scale" in bar.get_ylabel()


def test_the_mistakes_picture_names_the_split(tmp_path):
    fig = plots.mistakes_figure(np.zeros((2, 784)), [3, 5], [8, 6], [0.99, 0.9], split="dev")
    assert fig._suptitle.get_text() == "the most confident mistakes on the dev set"
    none = plots.mistakes_figure(np.zeros((0, 784)), [], [], [], split="test")
    assert none._suptitle.get_text() == "no mistakes on the test set"
    path = plots.mistakes(np.zeros((2, 784)), [3, 5], [8, 6], [0.99, 0.9], tmp_path / "m.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
