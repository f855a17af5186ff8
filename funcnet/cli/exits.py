"""How a command ends: one-line errors with their exit codes, and Ctrl-C and SIGTERM.

Exit codes: 0 success; 1 an unexpected error or an I/O failure; 2 a bad
config, ``--set`` or pipeline file (and click's usage errors, and an
``--out`` that would destroy an input); 3 bad or missing data; 4 a bad
checkpoint; 5 a failed download; 6 training stopped on a non-finite loss;
130 interrupted by Ctrl-C, 143 stopped by SIGTERM (the last good state kept).
Every failure is one line ``funcnet: error: ...`` on stderr; ``--debug``
(before the command or after it) shows the traceback instead. :class:`Interrupt` turns the first Ctrl-C (or
SIGTERM) into a request to stop after the current step.
"""

from __future__ import annotations

import functools
import os
import signal
import sys

import click

from ..errors import FuncnetError

EXIT_NONFINITE = 6
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as a shell reports a process ended by SIGTERM


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


def fail(message: str, code: int) -> None:
    click.echo(f"funcnet: error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


def debugging() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug", False))


def handle_errors(fn):
    """Turn every failure into one line on stderr and its exit code (tracebacks with --debug).

    funcnet's errors carry their exit code; an OSError exits 1; Ctrl-C
    outside training exits 130; anything else is unexpected (exit 1).
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = debugging()
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except FuncnetError as exc:
            if debug:
                raise
            fail(str(exc), exc.exit_code)
        except BrokenPipeError:  # the reader went away (funcnet ... | head): stop quietly
            _silence_stdout()
            sys.exit(1)
        except OSError as exc:
            if debug:
                raise
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            fail(f"{where}{exc.strerror or exc}", 1)
        except KeyboardInterrupt:
            if debug:
                raise
            fail("interrupted", EXIT_INTERRUPTED)
        except Exception as exc:  # a bug: still one line, the traceback on request
            if debug:
                raise
            fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)
    return wrapper


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. under CliRunner)
        pass


class Interrupt:
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
