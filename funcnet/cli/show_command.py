"""``funcnet show``: a pipeline's Config fields with their types, defaults and help; or a
sweep folder's table (a search's best trials, a grid's mean ± sd per point)."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import click

from .. import experiments
from .. import pipeline as fpipeline
from .. import report as freport
from ..errors import ConfigError
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


def _sweep_lines(folder: Path, top: int) -> list[str]:
    """A sweep folder as text: what it ran, then its best trials (a search) or its summary."""
    from .sweep_command import best_lines

    marker, results = folder / experiments.layout.SWEEP, folder / experiments.layout.RESULTS
    try:
        what = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{folder}: not a sweep folder (no {marker.name}); funcnet show takes "
                          "a pipeline file or the --out of funcnet sweep") from None
    except ValueError:
        raise ConfigError(f"{marker}: not valid JSON") from None
    if not results.is_file():
        return [f"{folder}: a sweep of {what.get('pipeline')}; no finished run yet"]
    frame = experiments.read_results(results)
    if "space" in what:
        keys = list(what["space"])
        frame.attrs.update(budgets=what.get("rungs") or [None], unit=what.get("budget"))
        halving = f", halving η={what['halving']} over {what.get('budget')} {what.get('rungs')}" \
            if what.get("halving") else ""
        head = (f"{folder}: a search of {what.get('pipeline')}: {what.get('trials')} trials "
                f"({what.get('sampler')} sampler, seed {what.get('seed')}{halving}), "
                f"{len(frame)} rows")
        spent, whole = experiments.budget_spent(frame, what.get("trials", 0) * len(what.get("seeds", [0])))
        best = experiments.best_trials(frame, top)
        lines = [head, "", *best_lines(best, keys)]
        return lines + ([f"budget spent: {spent} of {whole} {what.get('budget')}"] if whole else [])
    keys = list(what.get("grid", {}))
    summary = experiments.summarize(frame, by=keys)
    columns = [c for c in experiments.METRICS if c in summary and summary[c].notna().any()]
    return [f"{folder}: a sweep of {what.get('pipeline')}: {len(frame)} rows", "",
            *freport.summary_table(summary.head(top), keys, columns)]


@click.command()
@click.argument("pipeline_file", metavar="PIPELINE|SWEEP_DIR", type=click.Path())
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="With a sweep folder: how many trials (or grid points) to show.")
@handle_errors
def show(pipeline_file, top):
    """Print PIPELINE's Config fields: name, type, default and help; or, given a folder
    written by funcnet sweep, its best trials (a search) or mean ± sd per grid point.

    Any field can be changed with funcnet run PIPELINE --set NAME=VALUE.
    """
    if Path(pipeline_file).is_dir():
        echo_lines(_sweep_lines(Path(pipeline_file), top))
        return
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

