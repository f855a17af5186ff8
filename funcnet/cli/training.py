"""How ``funcnet run`` trains: signals, the progress bar and lines, claiming the --out folder.

The run folder itself (what is saved, resumed, locked or refused) is
:mod:`funcnet.runs`; this module only reports and calls it.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import attrs
import click

from .. import pipeline as fpipeline
from .. import plots as fplots
from .. import report as freport
from .. import runs
from .common import EXIT_INTERRUPTED, _json_default, progress_line

EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as a shell reports a process ended by SIGTERM


class _Interrupt:
    """SIGINT and SIGTERM handler: the first asks for a stop after the current step.

    A second signal stops at once (KeyboardInterrupt); ``signum`` is the
    first signal received (None if none).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum = None
        self.previous = {}

    @property
    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self.signum is not None

    def __enter__(self):
        def handler(signum, frame):
            if self.signum is not None:  # a second signal: stop now
                raise KeyboardInterrupt
            self.signum = signum
        for sig in self.SIGNALS:
            try:
                self.previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread (e.g. under some test runners)
                pass
        return self

    def __exit__(self, *exc):
        for sig, previous in self.previous.items():
            signal.signal(sig, previous)
        return False

    def exit_code(self) -> int:
        """130 after Ctrl-C, 143 after SIGTERM."""
        return EXIT_TERMINATED if self.signum == signal.SIGTERM else EXIT_INTERRUPTED

    def what(self) -> str:
        """``interrupted`` (Ctrl-C) or ``terminated`` (SIGTERM)."""
        return "terminated" if self.signum == signal.SIGTERM else "interrupted"


@attrs.frozen
class _Options:
    """How a run reports: metrics lines, the progress bar, records, pictures."""

    lines: bool = True
    bar: bool = True
    verbose: bool = False
    plots: bool = True


def _observer(out, config, opts: _Options, interrupt: _Interrupt, earlier=None):
    """The training stream's watcher: bar, lines, and the run saved at every record."""
    from tqdm import tqdm

    bar = [None]
    record = runs.recorder(out, config, earlier) if out is not None else (lambda snap: None)

    def observe(snap):
        if bar[0] is None and opts.bar:
            bar[0] = tqdm(total=snap.total, initial=int(snap.state.step) - 1, file=sys.stderr,
                          disable=not sys.stderr.isatty(), leave=False, unit="step",
                          dynamic_ncols=True)
        if bar[0] is not None:
            bar[0].update(1)
        if snap.record is not None:
            record(snap)  # keep the last good state (and the history) on disk as we go
            if opts.lines:
                line = progress_line(snap)
                (bar[0].write(line, file=sys.stdout) if bar[0] is not None else click.echo(line))
                if opts.verbose:
                    click.echo(f"  {json.dumps(snap.record, default=_json_default)}")
        if interrupt.requested:
            raise fpipeline.Stop()

    def close():
        if bar[0] is not None:
            bar[0].close()

    return observe, close


def _execute(pipe, config, out_dir, resumed, opts: _Options, interrupt: _Interrupt, data=None):
    """One pipeline run with progress, saving the run to ``out_dir`` as it goes.

    ``resumed`` (a :class:`funcnet.runs.Resumed` or None) is the run to
    continue; ``data`` (the pipeline's ``load`` output) is read here when not given.
    """
    earlier = resumed.history if resumed is not None else None
    observe, close = _observer(out_dir, config, opts, interrupt, earlier)
    try:
        return fpipeline.run(pipe, config, observe, data=data,
                             state=resumed.state if resumed is not None else None,
                             window=resumed.window if resumed is not None else None,
                             best=resumed.best if resumed is not None else None)
    finally:
        close()


def _finish(out_dir: Path, result, config, opts: _Options, history=None) -> None:
    """Write a finished (or stopped) run's files and, unless interrupted, its pictures."""
    names = freport.class_names(getattr(config, "dataset", None))
    runs.save(out_dir, result, config, history=history, pictures=opts.plots, names=names)


def _plot_hint(out_dir, opts: _Options) -> None:
    if out_dir is not None and opts.plots and not fplots.available():
        click.echo(f"funcnet: hint: {fplots.HINT} (pip install 'funcnet[plot]')", err=True)
