"""``funcnet predict``: a Kaggle submission CSV, and digits drawn in the terminal."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click
import numpy as np

from .. import report as freport
from .. import terminal
from .._atomic import write_atomic
from ..runtime import quiet_numpy
from .exits import debugging, handle_errors
from .lines import accuracy_lines, echo_lines, plural
from .model_data import (check_inputs, load_examples, load_model, model_line, probabilities,
                         warn_other_data)
from .predict_pictures import predict_pictures
from .outputs import data_inputs, model_inputs, refuse_clobbering

def submission_csv(predictions: np.ndarray) -> str:
    """Kaggle's submission format: ``ImageId,Label`` with ImageId counted from 1.

    >>> print(submission_csv(np.array([7, 2])), end="")
    ImageId,Label
    1,7
    2,2
    """
    return "ImageId,Label\n" + "".join(f"{i},{int(p)}\n" for i, p in enumerate(predictions, 1))


def _caption(i: int, pred: int, conf: float, label, names) -> list[str]:
    name = (lambda c: names[c]) if names else str
    head = f"#{i + 1}  pred {name(pred)}  {conf:.0%}"
    if label is None:
        return [head]
    return [head, f"true {name(int(label))}" + ("" if int(label) == pred else "  WRONG")]


def _draw(ds, rows, probs, names, title: str) -> list[str]:
    """Cards for the examples at ``rows``, laid out to the terminal's width, under a title."""
    ascii_only = not terminal.can_encode(getattr(sys.stdout, "encoding", None))
    pred = probs.argmax(axis=1)
    cards = [terminal.card(ds.x[i], _caption(int(i), int(pred[i]), float(probs[i, pred[i]]),
                                             None if ds.y is None else ds.y[i], names),
                           ascii=ascii_only)
             for i in rows]
    width = shutil.get_terminal_size((80, 24)).columns
    return [title, ""] + terminal.grid(cards, width)


def _mistake_rows(ds, probs, n: int) -> tuple[np.ndarray, int]:
    """The ``n`` most confidently wrong rows and the number of mistakes."""
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != ds.y)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")]
    return order[:n], len(wrong)


def _data_files(data, ds) -> list[tuple[str, Path]]:
    """The data files predicted, as ``(what, path)``: the CSV, or the IDX files of the folder."""
    from ..data.idx import find_idx_files

    places = [p for p in (data, ds.source or None) if p]
    files = data_inputs(places)
    for _, place in list(files):
        folder = place if place.is_dir() else place.parent
        files += [("the data", f) for f in find_idx_files(folder).values() if f is not None]
    return files


def _check_picture_options(pictures, paths, data, split, show_mistakes) -> None:
    """A usage error when picture paths and --images do not come together, or with data options."""
    if not pictures:
        raise click.UsageError(f"unexpected argument {paths[0]!r}: to predict picture files, "
                               "add --images")
    if not paths:
        raise click.UsageError("--images needs at least one PATH (a picture file or a folder)")
    clash = [name for name, given in (("--data", data), ("--split", split),
                                       ("--show-mistakes", show_mistakes)) if given]
    if clash:
        raise click.UsageError(f"--images cannot be combined with {', '.join(clash)}")


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.argument("paths", metavar="[PATH ...]", nargs=-1, type=click.Path())
@click.option("--images", "pictures", is_flag=True,
              help="Predict the picture files PATH ... instead (PNG, JPEG, BMP, GIF; folders are "
                   "searched): one line each.")
@click.option("--data", type=click.Path(), default=None,
              help="Kaggle's test.csv (no label column), a labelled CSV, or a folder of IDX "
                   "files (its test split). Default: the data the model was trained on.")
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write the predictions here as ImageId,Label (Kaggle's submission format; "
                   "with --images file,label,confidence,p0..p9); '-' for stdout.")
@click.option("--split", type=click.Choice(["test", "train"]), default=None,
              help="Which split of an IDX folder to use (default: test).")
@click.option("--show", type=click.IntRange(min=0), default=0, metavar="N",
              help="Draw the first N images in the terminal with prediction, label and confidence.")
@click.option("--show-mistakes", type=click.IntRange(min=0), default=0, metavar="N",
              help="Draw the N most confidently wrong predictions (needs labelled data).")
@handle_errors
def predict(model_path, paths, pictures, data, out, split, show, show_mistakes):
    """Predict the class of every image in --data (or of picture files) with MODEL.

    MODEL is a model.safetensors file or a run folder holding one (as
    written by funcnet run --out), or an ensemble folder (funcnet ensemble
    --out). Prints how many images were predicted
    (and the accuracy when the data are labelled).

    With --images PATH ..., each picture is read as a photo viewer shows it
    (EXIF orientation, any bit depth, palette and alpha) and made into what
    MNIST's digits are (grey, light ink on black, its ink fitted to 20x20
    and centred by its centre of mass in 28x28); a file that cannot be read
    (not a picture, damaged, blank, over 50,000,000 bytes or pixels, not a
    regular file) is one line on stderr, the others are still predicted,
    and the exit code is 3.

    --out never replaces what is read: naming the model (or a file of its
    run folder), the data or a picture is refused (exit 2).
    """
    if pictures or paths:
        _check_picture_options(pictures, paths, data, split, show_mistakes)
        return predict_pictures(model_path, paths, out, show)
    params, info = load_model(model_path)
    ds, description = load_examples(data, info, split)
    if out not in (None, "-"):
        refuse_clobbering(out, model_inputs(model_path) + _data_files(data, ds))
    check_inputs(params, ds, description)
    warn_other_data(info, ds)
    if show_mistakes and ds.y is None:
        raise click.UsageError(
            f"--show-mistakes needs labelled data; {ds.source or data} has no labels")
    with quiet_numpy(not debugging()):
        probs = probabilities(params, ds.x, info["model_state"])
    pred = probs.argmax(axis=1)
    to_stdout = out == "-"
    if out is not None and not to_stdout:
        write_atomic(Path(out), submission_csv(pred))
    if to_stdout:
        click.echo(submission_csv(pred), nl=False)
    wrote = f"; wrote {out}" if out and not to_stdout else ""
    lines = [model_line(model_path, params), f"data: {description}",
             f"predicted {plural(len(pred), 'image')}{wrote}", *accuracy_lines(ds.y, pred)]
    names = freport.class_names(info["config"].get("dataset"))
    if show:
        rows = np.arange(min(show, len(ds)))
        lines += ["", *_draw(ds, rows, probs, names, f"the first {plural(len(rows), 'image')}:")]
    if show_mistakes:
        rows, total = _mistake_rows(ds, probs, show_mistakes)
        title = f"the {plural(len(rows), 'most confident mistake')} (of {total}):"
        lines += ["", *_draw(ds, rows, probs, names, title)]
    echo_lines(lines, err=to_stdout)

