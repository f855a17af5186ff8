"""How ``funcnet run`` trains: Ctrl-C, the progress bar and lines, the run folder's files."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import attrs
import click
import pandas as pd

from .. import pipeline as fpipeline
from .. import plots as fplots
from .. import report as freport
from ..errors import ConfigError
from .common import _json, _json_default, progress_line, write_atomic

class _Interrupt:
    """SIGINT handler: the first Ctrl-C asks for a stop after the current step."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        def handler(signum, frame):
            if self.requested:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.requested = True
        try:
            self.previous = signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread (e.g. under some test runners)
            self.previous = None
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


@attrs.frozen
class _Options:
    """How a run reports: metrics lines, the progress bar, records, pictures."""

    lines: bool = True
    bar: bool = True
    verbose: bool = False
    plots: bool = True


def _save_run(out: Path, result_or_state, config, *, params=None, metrics=None, history=None):
    """Write the run's files into ``out`` (each atomically)."""
    from .. import checkpoint

    out.mkdir(parents=True, exist_ok=True)
    cfg = fpipeline.to_json(config)
    meta = {"sizes": list(params.sizes), "activation": params.activation} if params is not None else {}
    if params is not None:
        checkpoint.save(out / "model.safetensors", params, config=cfg, metadata=meta)
    checkpoint.save(out / "state.safetensors", result_or_state, config=cfg, metadata=meta)
    write_atomic(out / "config.json", _json(cfg))
    if metrics is not None:
        write_atomic(out / "metrics.json", _json(metrics))
    if history is not None:
        write_atomic(out / "history.csv", history.to_csv(index=False))


def _observer(out, config, opts: _Options, interrupt: _Interrupt):
    from tqdm import tqdm

    bar = [None]

    def observe(snap):
        if bar[0] is None and opts.bar:
            bar[0] = tqdm(total=snap.total, initial=int(snap.state.step) - 1, file=sys.stderr,
                          disable=not sys.stderr.isatty(), leave=False, unit="step",
                          dynamic_ncols=True)
        if bar[0] is not None:
            bar[0].update(1)
        if snap.record is not None:
            if opts.lines:
                line = progress_line(snap)
                (bar[0].write(line, file=sys.stdout) if bar[0] is not None else click.echo(line))
                if opts.verbose:
                    click.echo(f"  {json.dumps(snap.record, default=_json_default)}")
            if out is not None:  # keep the last good state on disk as we go
                _save_run(out, snap.state, config, params=snap.state.params)
        if interrupt.requested:
            raise fpipeline.Stop()

    def close():
        if bar[0] is not None:
            bar[0].close()

    return observe, close


def _load_resume(pipe, config, resume: Path):
    from .. import checkpoint

    state_file = resume / "state.safetensors"
    template = pipe.init_state(config)
    return checkpoint.load(state_file, like=template)


def _resume_config(pipe, resume: Path):
    path = resume / "config.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fpipeline.ConfigError(f"{path}: no such file (is {resume} a funcnet run folder?)") from None
    except json.JSONDecodeError as exc:
        raise fpipeline.ConfigError(f"{path}: not valid JSON: {exc}") from None
    known = {name for name, *_ in fpipeline.fields(pipe.Config)}
    unknown = sorted(set(saved) - known)
    if unknown:
        raise fpipeline.ConfigError(f"{path}: keys not in this pipeline's Config: {', '.join(unknown)}")
    items = [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in saved.items()]
    return fpipeline.apply_overrides(pipe.Config(), items)


def _earlier_history(folder: Path, upto: int) -> pd.DataFrame | None:
    """The rows of ``folder/history.csv`` up to step ``upto`` (a resumed run keeps them)."""
    path = folder / "history.csv"
    try:
        old = pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return None
    return old[old["step"] <= upto] if "step" in old else None


def _join_history(earlier: pd.DataFrame | None, later: pd.DataFrame) -> pd.DataFrame:
    """A resumed run's history: the earlier rows, then the new ones with ``elapsed`` carried on.

    >>> a = pd.DataFrame({"step": [10], "elapsed": [1.5]})
    >>> _join_history(a, pd.DataFrame({"step": [20], "elapsed": [1.0]}))["elapsed"].tolist()
    [1.5, 2.5]
    """
    if earlier is None or not len(earlier):
        return later
    if "elapsed" in earlier and "elapsed" in later and len(later):
        later = later.assign(elapsed=later["elapsed"] + float(earlier["elapsed"].iloc[-1]))
    return pd.concat([earlier, later], ignore_index=True)


def _execute(pipe, config, out_dir, state, opts: _Options, interrupt: _Interrupt, data=None):
    """One pipeline run with progress, saving the last good state to ``out_dir`` as it goes.

    ``data`` (the pipeline's ``load`` output) is read here when not given.
    """
    observe, close = _observer(out_dir, config, opts, interrupt)
    try:
        return fpipeline.run(pipe, config, observe, state=state, data=data)
    finally:
        close()


def _judge_set(result):
    """The labelled split the pictures judge the model on: test, else dev."""
    for name in ("test", "dev"):
        ds = result.splits.get(name)
        if ds is not None and ds.y is not None:
            return ds
    return None


def _finish(out_dir: Path, result, config, opts: _Options, history=None) -> None:
    """Write a finished (or stopped) run's files and, unless interrupted, its pictures."""
    history = result.history if history is None else history
    metrics = {**result.metrics, "stopped": result.stopped}
    _save_run(out_dir, result.state, config, params=result.params, metrics=metrics,
              history=history)
    dataset = _judge_set(result)
    if opts.plots and fplots.available() and result.stopped != "interrupted" and dataset is not None:
        names = freport.class_names(getattr(config, "dataset", None))
        fplots.figures(out_dir, history, result.params, dataset, names)


def _plot_hint(out_dir, opts: _Options) -> None:
    if out_dir is not None and opts.plots and not fplots.available():
        click.echo(f"funcnet: hint: {fplots.HINT} (pip install 'funcnet[plot]')", err=True)


RUN_FILES = ("model.safetensors", "state.safetensors", "metrics.json", "seeds.csv", "ablation.csv")


def _refuse_to_clobber(out: Path) -> None:
    """A ConfigError if ``out`` already holds a saved run (its files would be replaced)."""
    if not out.is_dir():
        return
    found = sorted({p.relative_to(out).as_posix() for name in RUN_FILES
                    for p in (*out.glob(name), *out.glob(f"seed-*/{name}"))})
    if found:
        raise ConfigError(f"{out}: already holds a run ({', '.join(found[:3])}"
                          f"{', ...' if len(found) > 3 else ''}); continue it with --resume {out}, "
                          f"replace it with --overwrite, or choose another --out")


def _configure(pipe, overrides, seed, data, resume):
    config = _resume_config(pipe, Path(resume)) if resume else pipe.Config()
    config = fpipeline.apply_overrides(config, list(overrides))
    if seed is not None:
        config = fpipeline.apply_overrides(config, [f"seed={seed}"])
    if data is not None:
        config = fpipeline.apply_overrides(config, [f"data={data}"])
    return config

