"""``funcnet show``: a pipeline's Config fields with their types, defaults and help."""

from __future__ import annotations

import attrs
import click

from .. import pipeline as fpipeline
from .. import report as freport
from .exits import handle_errors
from .lines import echo_lines

def type_text(tp) -> str:
    """A Config field's type as written in the pipeline file.

    >>> type_text(int), type_text(tuple[int, ...]), type_text(float | None)
    ('int', 'tuple[int, ...]', 'float | None')
    """
    if isinstance(tp, type) and not getattr(tp, "__args__", None):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def default_text(value) -> str:
    """A default as one would type it after ``--set key=``.

    >>> default_text((784, 10, 10)), default_text(None), default_text(True), default_text(0.1)
    ('784,10,10', 'none', 'true', '0.1')
    >>> default_text(()), default_text("")
    ('""', '""')
    """
    if value is attrs.NOTHING:
        return "(required)"
    if isinstance(value, attrs.Factory):  # type: ignore[arg-type]
        return "(computed)"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    text = ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
    return text or '""'


def _summary_lines(pipe) -> list[str]:
    """The default network's layers (funcnet.summary), if the pipeline builds one."""
    from ..model import summary

    init_state = getattr(pipe, "init_state", None)
    if init_state is None:
        return []
    try:
        params = init_state(pipe.Config()).params
    except (TypeError, ValueError, AttributeError):  # a Config with required fields, ...
        return []
    frame = summary(params)
    total = int(frame["params"].iloc[-1])  # the summary's last row: the whole network
    frame = frame.iloc[:-1].reset_index(names="layer")
    rows = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    return ["", "network (default config):", *freport.table(list(frame.columns), rows),
            f"{total:,} trainable parameters"]


@click.command()
@click.argument("pipeline_file", metavar="PIPELINE", type=click.Path(dir_okay=False))
@handle_errors
def show(pipeline_file):
    """Print PIPELINE's Config fields: name, type, default and help.

    Any field can be changed with funcnet run PIPELINE --set NAME=VALUE.
    """
    pipe = fpipeline.load_pipeline(pipeline_file)
    summary = (pipe.__doc__ or "").strip().splitlines()
    head = f"{pipeline_file}: {summary[0]}" if summary else str(pipeline_file)
    rows = [[name, type_text(tp), default_text(default), help_]
            for name, tp, default, help_ in fpipeline.fields(pipe.Config)]
    lines = [head, "", *freport.table(["field", "type", "default", "help"], rows), "",
             f"change a field with: funcnet run {pipeline_file} --set NAME=VALUE"]
    lines += _summary_lines(pipe)
    quirks = getattr(pipe, "QUIRKS", None)
    if quirks:
        lines += ["", "quirks (with tutorial_quirks=true; fix one with --set fixes=NAME):",
                  *(f"  {q}: {d}" for q, d in quirks.items())]
    echo_lines(lines)

