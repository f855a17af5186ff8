"""``funcnet predict MODEL --images PATH ...``: one's own picture files, through MNIST's recipe.

The recipe is :mod:`funcnet.digitize`; decoding and folders are
:mod:`funcnet.data.picture_files`. This module only prints and writes.
"""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path

import click

from .. import digitize
from .. import report as freport
from .. import terminal
from ..data import picture_files
from ..errors import DataError
from .._atomic import write_atomic
from ..runtime import quiet_numpy
from .exits import debugging
from .lines import echo_lines, plural
from .model_data import load_model, model_line
from .outputs import model_inputs, refuse_clobbering

EXIT_SOME_FAILED = DataError.exit_code


def _draw(files, fields, probs, n: int) -> list[str]:
    """The first ``n`` fields as the network saw them, each with its file and prediction."""
    ascii_only = not terminal.can_encode(getattr(sys.stdout, "encoding", None))
    cards = [terminal.card(field.ravel(), [Path(f).name[-28:], f"pred {int(p.argmax())}  "
                                                             f"{float(p.max()):.0%}"],
                           ascii=ascii_only)
             for f, field, p in list(zip(files, fields, probs))[:n]]
    width = shutil.get_terminal_size((80, 24)).columns
    return ["", f"what the network saw ({plural(len(cards), 'picture')}):", "",
            *terminal.grid(cards, width)]


def predict_pictures(model_path, paths, out, show: int) -> None:
    """Predict every picture in ``paths``; a file that fails is one line, and the exit code 3."""
    params, info = load_model(model_path)
    side = digitize.field_side(digitize.input_shape(params))
    picture_files.pillow()
    files, problems = picture_files.image_files(paths)
    if out not in (None, "-"):
        refuse_clobbering(out, model_inputs(model_path) + [("a picture read", f) for f in files])
    read, fields, failed = picture_files.read_fields(files, functools.partial(digitize.preprocess, side=side))
    problems += failed
    with quiet_numpy(not debugging()):
        probs = digitize.probabilities(params, fields, info["model_state"]) if read else None
    to_stdout = out == "-"
    names = [str(f) for f in read]
    if read and out is not None:
        text = digitize.predictions_csv(names, probs)
        if to_stdout:
            click.echo(text, nl=False)
        else:
            write_atomic(Path(out), text)
    classes = freport.class_names(info["config"].get("dataset"))
    wrote = f"; wrote {out}" if read and out and not to_stdout else ""
    tried = len(read) + len(failed)
    lines = [model_line(model_path, params),
             *(digitize.prediction_line(n, p, classes) for n, p in zip(names, probs if read else [])),
             f"predicted {len(read)} of {plural(tried, 'file')}{wrote}"]
    if show and read:
        lines += _draw(names, fields, probs, show)
    echo_lines(lines, err=to_stdout)
    for problem in problems:
        click.echo(f"funcnet: error: {' '.join(problem.split())}", err=True)
    if problems:
        sys.exit(EXIT_SOME_FAILED)
