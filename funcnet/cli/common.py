"""What every command shares: one-line errors with their exit codes, and output helpers.

Exit codes: 0 success; 1 an unexpected error or an I/O failure; 2 a bad
config, ``--set`` or pipeline file (and click's usage errors, and an
``--out`` that would destroy an input); 3 bad or missing data; 4 a bad checkpoint; 5 a failed download; 6 training stopped
on a non-finite loss; 130 interrupted by Ctrl-C, 143 stopped by SIGTERM
(the last good state kept).
Every failure is one line ``funcnet: error: ...`` on stderr; ``--debug``
(before the command or after it) shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
import warnings
from pathlib import Path

import click
import numpy as np

from .._atomic import write_atomic  # noqa: F401 -- the commands write their files with it
from ..errors import ConfigError, FuncnetError

EXIT_INTERRUPTED = 130


EXIT_NONFINITE = 6


class OneLineError(click.ClickException):
    """A usage or click error shown as the single line ``funcnet: error: ...``."""

    def show(self, file=None) -> None:
        """Print the one line on stderr."""
        click.echo(f"funcnet: error: {self.format_message()}", err=True)


def _one_line(exc: click.ClickException) -> OneLineError:
    """``exc`` as a :class:`OneLineError` that points at the command's ``--help``."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError):
        path = ctx.command_path if ctx is not None else "funcnet"
        message += f" (see '{path} --help')"
    err = OneLineError(message)
    err.exit_code = exc.exit_code
    return err


_PASS_THROUGH = (OneLineError,) + tuple(
    e for e in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if e is not None)


def _debug_after(ctx, param, value) -> None:
    """``--debug`` given after the sub-command: the same as before it (the group's flag)."""
    if value:
        ctx.find_root().params["debug"] = True


def debug_option() -> click.Option:
    """The ``--debug`` flag every sub-command takes, so that ``funcnet run ... --debug`` works."""
    return click.Option(["--debug"], is_flag=True, expose_value=False, callback=_debug_after,
                        help="Show full tracebacks instead of one-line errors "
                             "(as funcnet --debug COMMAND).")


class FuncnetGroup(click.Group):
    """A click group whose usage errors are one line on stderr (exit code 2), and whose
    sub-commands all take ``--debug`` after their name as well as before it."""

    def add_command(self, cmd, name=None) -> None:
        """Add ``cmd``, giving it the ``--debug`` flag if it has none."""
        if not any(p.name == "debug" for p in cmd.params):
            cmd.params.append(debug_option())
        super().add_command(cmd, name)

    def make_context(self, info_name, args, parent=None, **extra):
        """Parse the group's own options, turning usage errors into one line."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _PASS_THROUGH:
            raise
        except click.ClickException as exc:
            raise _one_line(exc) from exc

    def invoke(self, ctx):
        """Run the sub-command, turning its usage errors into one line."""
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except click.ClickException as exc:
            raise _one_line(exc) from exc


def _fail(message: str, code: int) -> None:
    click.echo(f"funcnet: error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug", False))


def handle_errors(fn):
    """Turn every failure into one line on stderr and its exit code (tracebacks with --debug).

    funcnet's errors carry their exit code; an OSError exits 1; Ctrl-C
    outside training exits 130; anything else is unexpected (exit 1).
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = _debug()
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except FuncnetError as exc:
            if debug:
                raise
            _fail(str(exc), exc.exit_code)
        except BrokenPipeError:  # the reader went away (funcnet ... | head): stop quietly
            _silence_stdout()
            sys.exit(1)
        except OSError as exc:
            if debug:
                raise
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _fail(f"{where}{exc.strerror or exc}", 1)
        except KeyboardInterrupt:
            if debug:
                raise
            _fail("interrupted", EXIT_INTERRUPTED)
        except Exception as exc:  # a bug: still one line, the traceback on request
            if debug:
                raise
            _fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)
    return wrapper


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. under CliRunner)
        pass


@contextlib.contextmanager
def _quiet_numpy(debug: bool):
    """Silence NumPy's overflow warnings (the non-finite guard reports them) unless debugging."""
    if debug:
        yield
        return
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield




# ---------------------------------------------------------------- outputs never clobber inputs


def _same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` are one file (by any name: a link, another spelling)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist: not the same existing file
        return False


def refuse_clobbering(out, inputs) -> None:
    """A ConfigError (exit 2) if the file ``out`` is one of ``inputs``, ``(what, path)`` pairs.

    Checked before anything is written, so that ``--out`` never replaces the
    model, the data or a picture being read.

    >>> import tempfile
    >>> model = Path(tempfile.mkdtemp()) / "model.safetensors"; _ = model.write_bytes(b"x")
    >>> refuse_clobbering(model, [("the model", model)])
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: --out ...model.safetensors is the model (...model.safetensors): writing it would destroy it; choose another --out
    """
    for what, path in inputs:
        if _same_file(out, path):
            raise ConfigError(f"--out {out} is {what} ({path}): writing it would destroy it; "
                              "choose another --out")


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both resolved)."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def refuse_folder_over_inputs(out, inputs) -> None:
    """A ConfigError (exit 2) if the folder ``out`` is, or lies in, a folder of ``inputs``, or
    directly holds a file of them: a run or a sweep writes its files there (and
    ``--overwrite`` removes the old ones), which is no place for the data.

    >>> import tempfile
    >>> data = Path(tempfile.mkdtemp())
    >>> refuse_folder_over_inputs(data / "run", [("the data", data)])
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: --out .../run is in the data folder ...: a run's files would be written among the data; choose another --out
    """
    out = Path(out)
    for what, path in inputs:
        path = Path(path)
        if path.is_dir() and _inside(out, path):
            raise ConfigError(f"--out {out} is in {what} folder {path}: a run's files would be "
                              "written among the data; choose another --out")
        if path.is_file() and out.resolve() == path.parent.resolve():
            raise ConfigError(f"--out {out} holds {what} ({path}): a run's files would be "
                              "written beside it; choose another --out")


def data_inputs(datas=(), datasets=()) -> list[tuple[str, Path]]:
    """The data a run reads, as ``(what, path)``: each ``data`` given (a CSV file or a folder),
    and for each dataset name the folders it is looked for in (``$FUNCNET_DATA/<name>``, ...).

    >>> [str(p) for _, p in data_inputs(["train.csv", None])]
    ['train.csv']
    """
    from ..data.locate import search_folders

    given = [("the data", Path(d)) for d in dict.fromkeys(datas) if d]
    looked = [(f"the {name}", folder) for name in dict.fromkeys(datasets) if name
              for folder in search_folders(name)]
    return given + looked


def model_inputs(model_path) -> list[tuple[str, Path]]:
    """The files a command reads a model from, as ``(what, path)``: the model file, and in a
    run folder the run's other files (config, state, metrics, history, pictures)."""
    from .. import runs

    folder = Path(model_path)
    inputs = [("the model", runs.model_file(model_path))]
    if folder.is_dir():
        names = (runs.CONFIG, runs.STATE, runs.METRICS, runs.HISTORY, runs.BEST,
                 *runs.PICTURES, *runs.SUMMARIES)
        inputs += [(f"a file of the run {folder}", folder / name) for name in names]
    return inputs


def refuse_sweep_folder(out) -> None:
    """A ConfigError (exit 2) if ``out`` holds a sweep (``sweep.json``): a run is not written
    into it, even with --overwrite (which replaces a run's files, not a sweep's)."""
    folder = Path(out)
    if (folder / "sweep.json").is_file():
        found = sorted(p.name for p in folder.iterdir())
        shown = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
        raise ConfigError(f"{folder}: holds a sweep ({shown}), not a run; choose another --out "
                          "(--overwrite replaces a run, not a sweep)")


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def _json(obj) -> str:
    return json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n"


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def progress_line(snap) -> str:
    """One metrics line: the iteration (full batch) or epoch, then the record's figures.

    >>> from types import SimpleNamespace as NS
    >>> progress_line(NS(per_epoch=1, total=500, record={"step": 10, "train_loss": 2.1,
    ...     "train_accuracy": 0.25, "dev_accuracy": 0.24, "learning_rate": 0.1, "seconds": 0.2}))
    'iteration  10/500  loss 2.1000  train_acc 0.2500  dev_acc 0.2400  lr 0.1  0.20s'
    """
    r = snap.record
    if snap.per_epoch == 1:
        head = f"iteration {r['step']:>{len(str(snap.total))}}/{snap.total}"
    else:
        epochs = -(-snap.total // snap.per_epoch)
        head = f"epoch {r['epoch']:>{len(str(epochs))}}/{epochs}"
    names = [("train_loss", "loss"), ("train_accuracy", "train_acc"), ("dev_accuracy", "dev_acc")]
    body = "  ".join(f"{short} {_fmt(r[k])}" for k, short in names if k in r)
    lr = f"  lr {r['learning_rate']:.3g}" if "learning_rate" in r else ""
    return f"{head}  {body}{lr}  {r.get('seconds', 0):.2f}s"


def final_lines(result) -> list[str]:
    """The run's final figures: accuracies, loss, training time and steps.

    >>> from types import SimpleNamespace as NS
    >>> final_lines(NS(metrics={"train_accuracy": 0.9, "dev_accuracy": 0.8, "loss": 0.3,
    ...                         "seconds": 1.5, "steps": 20}))
    ['train accuracy 0.9000, dev accuracy 0.8000; loss 0.3000; trained in 1.50 s (20 steps)']
    """
    m = result.metrics
    parts = [f"{k.replace('_', ' ')} {_fmt(m.get(k))}"
             for k in ("train_accuracy", "dev_accuracy", "test_accuracy") if k in m]
    return [f"{', '.join(parts)}; loss {_fmt(m.get('loss'))}; "
            f"trained in {m['seconds']:.2f} s ({m['steps']} steps)"]


def _echo_lines(lines, err: bool = False) -> None:
    for line in lines:
        click.echo(line, err=err)


def _plural(n: int, noun: str) -> str:
    """``n`` and ``noun``, with an ``s`` unless ``n`` is 1.

    >>> _plural(1, "image"), _plural(3, "image")
    ('1 image', '3 images')
    """
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _accuracy_lines(pred: np.ndarray, y: np.ndarray | None) -> list[str]:
    """``accuracy A (R of N right)`` when there are labels, else nothing.

    >>> _accuracy_lines(np.array([1, 2, 3]), np.array([1, 2, 0]))
    ['accuracy 0.6667 (2 of 3 right)']
    >>> _accuracy_lines(np.array([1]), None)
    []
    """
    if y is None or not len(y):
        return []
    right = int(np.count_nonzero(pred == y))
    return [f"accuracy {right / len(y):.4f} ({right} of {len(y)} right)"]


def _warn(text: str) -> None:
    """One warning line on stderr."""
    click.echo(f"funcnet: warning: {text}", err=True)


def _warn_diverged(result, where: str = "") -> None:
    """One warning line on stderr if the run's loss ended higher than it started."""
    from .. import pipeline as fpipeline

    warning = fpipeline.diverged(result)
    if warning:
        _warn(f"{where}{warning}")
