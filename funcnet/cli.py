"""The ``funcnet`` command: the edge where printing, files and signals live.

Commands: ``run`` (train a pipeline; also over several seeds, or the
tutorial's ablation), ``predict`` (Kaggle submission CSV, digits drawn in the
terminal), ``evaluate`` (accuracy, per-class report, confusion matrix) and
``show`` (a pipeline's Config fields).

Exit codes: 0 success; 1 an unexpected error or an I/O failure; 2 a bad
config, ``--set`` or pipeline file (and click's usage errors); 3 bad or
missing data; 4 a bad checkpoint; 5 a failed download; 6 training stopped
on a non-finite loss; 130 interrupted by Ctrl-C (the last good state kept).
Every failure is one line ``funcnet: error: ...`` on stderr; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import signal
import sys
import warnings
from pathlib import Path

import attrs
import click
import numpy as np
import pandas as pd

from . import pipeline as fpipeline
from . import plots as fplots
from . import report as freport
from . import terminal
from .errors import CheckpointError, ConfigError, DataError, FuncnetError

EXIT_INTERRUPTED = 130
EXIT_NONFINITE = 6
FIGURES = ("train_accuracy", "dev_accuracy", "test_accuracy", "loss", "seconds")
ABLATION_SEEDS = (0, 1, 2)


# ---------------------------------------------------------------- errors


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


# Help shown for a bare command is click's to print, not an error line.
_PASS_THROUGH = (OneLineError,) + tuple(
    e for e in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if e is not None)


class FuncnetGroup(click.Group):
    """A click group whose usage errors are one line on stderr (exit code 2)."""

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


# ---------------------------------------------------------------- formatting


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder and os.replace."""
    fplots.write_atomic(path, text)


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


# ---------------------------------------------------------------- the group


@click.group(cls=FuncnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="funcnet")
def cli(debug: bool) -> None:
    """funcnet: neural networks from scratch in NumPy, as pure functions.

    Run a pipeline file (load → split → train → evaluate), then use the model:

    \b
        funcnet run pipelines/mnist.py --seed 0 --out runs/mnist
        funcnet evaluate runs/mnist
        funcnet predict runs/mnist --data test.csv --out submission.csv --show 6
        funcnet show pipelines/mnist.py

    Data is read from --data, else $FUNCNET_DATA/<dataset>/.

    \b
    Exit codes: 0 ok, 1 I/O or unexpected error, 2 bad config or usage,
    3 bad or missing data, 4 bad checkpoint, 5 download failed,
    6 non-finite loss, 130 interrupted (last good state kept).
    """


# ---------------------------------------------------------------- run: machinery


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


def _save_run(out: Path, result_or_state, config, *, params=None, metrics=None, history=None,
              model_state=None):
    """Write the run's files into ``out`` (each atomically)."""
    from . import checkpoint, model

    out.mkdir(parents=True, exist_ok=True)
    cfg = fpipeline.to_json(config)
    meta = {"architecture": model.architecture(params)} if params is not None else {}
    if params is not None:
        checkpoint.save_network(out / "model.safetensors", params, model_state, config=cfg,
                                metadata=meta)
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
                _save_run(out, snap.state, config, params=snap.state.params,
                          model_state=snap.state.model_state)
        if interrupt.requested:
            raise fpipeline.Stop()

    def close():
        if bar[0] is not None:
            bar[0].close()

    return observe, close


def _load_resume(pipe, config, resume: Path):
    from . import checkpoint

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
    _save_run(out_dir, result.state, config, params=result.params, model_state=result.model_state,
              metrics=metrics,
              history=history)
    dataset = _judge_set(result)
    if opts.plots and fplots.available() and result.stopped != "interrupted" and dataset is not None:
        names = freport.class_names(getattr(config, "dataset", None))
        fplots.figures(out_dir, history, result.params, dataset, names, result.model_state)


def _plot_hint(out_dir, opts: _Options) -> None:
    if out_dir is not None and opts.plots and not fplots.available():
        click.echo(f"funcnet: hint: {fplots.HINT} (pip install 'funcnet[plot]')", err=True)


def _figures_row(result, **extra) -> dict:
    m = result.metrics
    return {**extra, **{k: m.get(k) for k in FIGURES}, "steps": m.get("steps"),
            "stopped": result.stopped or ""}


def _present(frame: pd.DataFrame, columns) -> list[str]:
    """The columns of ``frame`` that hold at least one figure."""
    return [c for c in columns if c in frame and pd.to_numeric(frame[c], errors="coerce").notna().any()]


# ---------------------------------------------------------------- run: modes


def _run_single(pipe, config, out_dir, resume, opts, interrupt) -> None:
    config = fpipeline.resolve_seed(config)
    state = _load_resume(pipe, config, Path(resume)) if resume else None
    result = _execute(pipe, config, out_dir, state, opts, interrupt)
    if out_dir is not None:
        earlier = _earlier_history(Path(resume), int(state.step)) if resume else None
        history = _join_history(earlier, result.history)
        _finish(out_dir, result, config, opts, history)
        _plot_hint(out_dir, opts)
    _echo_lines(final_lines(result))
    if result.stopped == "interrupted":
        click.echo("funcnet: interrupted; kept the last good state"
                   + (f" in {out_dir}" if out_dir else ""), err=True)
        sys.exit(EXIT_INTERRUPTED)
    if result.stopped:
        _fail(result.stopped + (f"; saved in {out_dir}" if out_dir else ""), EXIT_NONFINITE)


def _seed_runs(pipe, config, seeds, out_dir, opts, interrupt):
    """Each seed's run as a row of figures, lazily, saving it in ``out_dir/seed-<S>/``.

    Stops at Ctrl-C (the interrupted run is saved but gives no row).
    """
    data = pipe.load(config)  # the same files for every seed: read them once
    for i, seed in enumerate(seeds, 1):
        cfg = fpipeline.apply_overrides(config, [f"seed={seed}"])
        sub = out_dir / f"seed-{seed}" if out_dir is not None else None
        if opts.lines:
            click.echo(f"seed {seed} ({i}/{len(seeds)})")
        result = _execute(pipe, cfg, sub, None, opts, interrupt, data)
        if sub is not None:
            _finish(sub, result, cfg, opts)
        if result.stopped == "interrupted":
            return
        if opts.lines:
            _echo_lines(f"  {line}" for line in final_lines(result))
        yield _figures_row(result, seed=seed)


def _run_seeds(pipe, config, seeds, out_dir, opts, interrupt) -> None:
    frame = pd.DataFrame(list(_seed_runs(pipe, config, seeds, out_dir, opts, interrupt)),
                         columns=["seed", *FIGURES, "steps", "stopped"])
    if out_dir is not None:
        write_atomic(out_dir / "seeds.csv", frame.to_csv(index=False))
        _plot_hint(out_dir, opts)
    if opts.lines:
        click.echo()
    if len(frame):
        _echo_lines(freport.seeds_table(frame, _present(frame, FIGURES)))
    if len(frame) < len(seeds):
        click.echo(f"funcnet: interrupted after {len(frame)} of {len(seeds)} seeds"
                   + (f"; runs kept in {out_dir}" if out_dir else ""), err=True)
        sys.exit(EXIT_INTERRUPTED)
    stops = [f"seed {r.seed}: {r.stopped}" for r in frame.itertuples() if r.stopped]
    if stops:
        more = f" (and {len(stops) - 1} more)" if len(stops) > 1 else ""
        _fail(stops[0] + more + (f"; saved in {out_dir}" if out_dir else ""), EXIT_NONFINITE)


def ablation_variants(pipe, path: str) -> tuple[list[tuple[str, dict]], str | None]:
    """The runs of the tutorial's ablation: ``[(name, Config changes)]`` and a note.

    A pipeline whose Config has ``tutorial_quirks`` can be ablated. If it
    also lists its quirks in a module dict ``QUIRKS`` (name → description)
    and its Config has ``fixes: tuple[str, ...]`` (the quirks fixed anyway
    under ``tutorial_quirks``), the runs are: all quirks, each fix alone,
    all fixes. Otherwise only all quirks against all fixes, with a note.
    """
    names = {name for name, *_ in fpipeline.fields(pipe.Config)}
    if "tutorial_quirks" not in names:
        raise ConfigError(f"{path}: --ablation needs a pipeline whose Config has tutorial_quirks "
                          "(such as pipelines/mnist.py)")
    quirks = getattr(pipe, "QUIRKS", None)
    if not (quirks and "fixes" in names):
        return ([("tutorial (all quirks)", {"tutorial_quirks": True}),
                 ("all fixes", {"tutorial_quirks": False})],
                f"{path} cannot toggle single fixes (it defines no QUIRKS dict and Config "
                "field fixes): comparing all quirks with all fixes only")
    return ([("tutorial (all quirks)", {"tutorial_quirks": True, "fixes": ()})]
            + [(f"fix {q}", {"tutorial_quirks": True, "fixes": (q,)}) for q in quirks]
            + [("all fixes", {"tutorial_quirks": False, "fixes": ()})], None)


def _ablation_runs(pipe, path, config, variants, seeds, opts, interrupt):
    """Each (variant, seed) run as a row of figures, lazily; stops at Ctrl-C."""
    inner = attrs.evolve(opts, lines=opts.verbose, plots=False)
    data = pipe.load(config)  # quirks and seeds change nothing about the files read
    width = max(len(name) for name, _ in variants)
    for name, changes in variants:
        for seed in seeds:
            try:
                cfg = attrs.evolve(config, seed=seed, **changes)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{path}: cannot set {changes}: {exc}") from None
            result = _execute(pipe, cfg, None, None, inner, interrupt, data)
            if result.stopped == "interrupted":
                return
            row = _figures_row(result, variant=name, seed=seed)
            if opts.lines:
                figs = "  ".join(f"{k.split('_')[0]} {_fmt(row[k])}" for k in FIGURES[:3]
                                 if row[k] is not None)
                flag = "  (stopped: non-finite loss)" if result.stopped else ""
                click.echo(f"{name:<{width}}  seed {seed}: {figs}  {row['seconds']:.1f}s{flag}")
            yield row


def _run_ablation(pipe, path, config, seeds, out_dir, opts, interrupt) -> None:
    variants, note = ablation_variants(pipe, path)
    if note:
        click.echo(f"funcnet: note: {note}", err=True)
    rows = list(_ablation_runs(pipe, path, config, variants, seeds, opts, interrupt))
    frame = pd.DataFrame(rows, columns=["variant", "seed", *FIGURES, "steps", "stopped"])
    if out_dir is not None:
        write_atomic(out_dir / "ablation.csv", frame.to_csv(index=False))
    if opts.lines:
        click.echo()
    if len(frame):
        accs = _present(frame, FIGURES[:3])
        _echo_lines(freport.ablation_table(frame, accs, variants[0][0], accs[-1] if accs else None))
        if not note:
            _echo_lines([""] + [f"fix {q}: {d}" for q, d in pipe.QUIRKS.items()])
    if len(frame) < len(variants) * len(seeds):
        click.echo(f"funcnet: interrupted after {len(frame)} of {len(variants) * len(seeds)} runs",
                   err=True)
        sys.exit(EXIT_INTERRUPTED)


def _parse_seeds(ctx, param, value):
    """``--seeds 1,2,3`` as a tuple of distinct non-negative ints."""
    if value is None:
        return None
    try:
        seeds = tuple(int(s) for s in value.split(",") if s.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers such as 0,1,2; got {value!r}")
    if not seeds or min(seeds) < 0 or len(set(seeds)) < len(seeds):
        raise click.BadParameter(
            f"expected distinct non-negative integers such as 0,1,2; got {value!r}")
    return seeds


def _configure(pipe, overrides, seed, data, resume):
    config = _resume_config(pipe, Path(resume)) if resume else pipe.Config()
    config = fpipeline.apply_overrides(config, list(overrides))
    if seed is not None:
        config = fpipeline.apply_overrides(config, [f"seed={seed}"])
    if data is not None:
        config = fpipeline.apply_overrides(config, [f"data={data}"])
    return config


@cli.command()
@click.argument("pipeline_file", metavar="PIPELINE", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=None, help="Random seed (the pipeline's default if omitted).")
@click.option("--seeds", callback=_parse_seeds, default=None, metavar="S1,S2,...",
              help="Run once per seed and print each run's figures and their mean ± sd; "
                   "with --out, DIR/seeds.csv and each run in DIR/seed-<S>/.")
@click.option("--ablation", is_flag=True,
              help="For tutorial pipelines (Config.tutorial_quirks): run with all quirks, each fix "
                   "alone and all fixes over seeds 0,1,2 (or --seeds) and print what each fix is worth.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a Config field, e.g. --set learning_rate=0.05 (repeatable).")
@click.option("--data", type=click.Path(), default=None,
              help="A CSV file (Kaggle format) or a folder with the IDX files.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for config.json, metrics.json, history.csv, model.safetensors, "
                   "state.safetensors and the pictures.")
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue the run saved in this --out folder.")
@click.option("--overwrite", is_flag=True,
              help="Let --out replace a run already saved in that folder.")
@click.option("--plots/--no-plots", default=True, show_default=True,
              help="With --out, draw curves.png, confusion.png, mistakes.png and weights.png "
                   "(needs funcnet[plot]).")
@click.option("--quiet", "-q", is_flag=True, help="Print the final figures only.")
@click.option("--verbose", "-v", is_flag=True, help="Also print every history record in full.")
@handle_errors
def run(pipeline_file, seed, seeds, ablation, overrides, data, out, resume, overwrite, plots, quiet,
        verbose):
    """Run PIPELINE (a pipeline file such as pipelines/mnist.py).

    Prints a metrics line per epoch (per 10 iterations for full-batch runs),
    then the final train/dev/test accuracy and the training time. Ctrl-C stops
    after the current step and keeps the last good state (exit 130).

    \b
    Examples:
      funcnet run pipelines/mnist.py --seed 0 --out runs/mnist
      funcnet run pipelines/mnist.py --resume runs/mnist --set iterations=1000
      funcnet run pipelines/mnist_mlp.py --set epochs=5 --seeds 0,1,2 --out runs/mlp
      funcnet run pipelines/mnist.py --ablation --quiet
    """
    if resume and (seeds or ablation):
        raise click.UsageError(
            "--resume continues one run; it cannot be combined with --seeds or --ablation")
    if seed is not None and seeds:
        raise click.UsageError("give --seed or --seeds, not both")
    pipe = fpipeline.load_pipeline(pipeline_file)
    config = _configure(pipe, overrides, seed, data, resume)
    out_dir = Path(out) if out else (Path(resume) if resume else None)
    if out and not overwrite and not (resume and Path(resume).resolve() == Path(out).resolve()):
        _refuse_to_clobber(Path(out))
    opts = _Options(lines=not quiet, bar=not quiet, verbose=verbose and not quiet, plots=plots)
    with _quiet_numpy(_debug()), _Interrupt() as interrupt:
        if ablation:
            chosen = seeds or ((seed,) if seed is not None else ABLATION_SEEDS)
            _run_ablation(pipe, pipeline_file, config, chosen, out_dir, opts, interrupt)
        elif seeds:
            _run_seeds(pipe, config, seeds, out_dir, opts, interrupt)
        else:
            _run_single(pipe, config, out_dir, resume, opts, interrupt)


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


# ---------------------------------------------------------------- models and data


def model_file(path) -> Path:
    """The model checkpoint ``path`` names: the file, or ``model.safetensors`` in a run folder."""
    p = Path(path)
    if p.is_dir():
        if not (p / "model.safetensors").is_file():
            raise CheckpointError(f"{p}: no model.safetensors in this folder "
                                  "(expected a funcnet run folder, as written by funcnet run --out)")
        return p / "model.safetensors"
    return p


def load_model(path):
    """``(params, info)``: a model checkpoint rebuilt from its file alone
    (:func:`funcnet.checkpoint.load_network`); ``info["model_state"]`` holds its model state."""
    from . import checkpoint

    params, model_state, info = checkpoint.load_network(model_file(path))
    return params, {**info, "model_state": model_state}


def load_examples(data, info, split: str | None):
    """``(dataset, description)``: the examples to predict or judge.

    ``data`` is a CSV file or a folder of IDX files; without it, the data
    the model was trained on (its config's ``data``, else
    ``$FUNCNET_DATA/<dataset>``). From a folder the ``test`` split is used
    unless ``split`` says otherwise; a CSV file holds one set.
    """
    from . import data as fdata

    cfg = info["config"]
    dataset = cfg.get("dataset") or "mnist"
    path = data if data is not None else cfg.get("data")
    sets = fdata.load(dataset, path)
    name = split or ("test" if "test" in sets else "train")
    if name not in sets:
        where = path or dataset
        raise DataError(f"{where}: no {name} split: a CSV file holds one set of examples")
    ds = sets[name]
    kind = f"{name} split" if len(sets) > 1 else ("labelled" if ds.y is not None else "unlabelled")
    return ds, f"{ds.source or path or dataset} ({kind}, {len(ds)} images)"


def probabilities(params, x: np.ndarray, model_state=None) -> np.ndarray:
    """Class probabilities for every row of ``x`` (pixels scaled to [0, 1] chunk by chunk).

    >>> from funcnet import model, rng
    >>> probabilities(model.init(rng.key(0), (4, 3)), np.zeros((5, 4), np.uint8)).shape
    (5, 3)
    """
    from .model import predict_proba

    return predict_proba(params, x, model_state=model_state)


def _check_inputs(params, ds, description: str) -> None:
    from .model import input_shape

    expected = math.prod(input_shape(params))
    if ds.num_features != expected:
        raise DataError(f"{description}: {ds.num_features} pixels per image, but the model "
                        f"expects {expected} (input shape {input_shape(params)})")


def _model_line(path, params) -> str:
    from .model import describe

    return f"model: {model_file(path)} ({describe(params)})"


# ---------------------------------------------------------------- predict


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


def _mistake_rows(ds, probs, n: int) -> tuple[np.ndarray, int]:
    """The ``n`` most confidently wrong rows and the number of mistakes."""
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != ds.y)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")]
    return order[:n], len(wrong)


@cli.command()
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.option("--data", type=click.Path(), default=None,
              help="Kaggle's test.csv (no label column), a labelled CSV, or a folder of IDX "
                   "files (its test split). Default: the data the model was trained on.")
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write the predictions here as ImageId,Label (Kaggle's submission format); "
                   "'-' for stdout.")
@click.option("--split", type=click.Choice(["test", "train"]), default=None,
              help="Which split of an IDX folder to use (default: test).")
@click.option("--show", type=click.IntRange(min=0), default=0, metavar="N",
              help="Draw the first N images in the terminal with prediction, label and confidence.")
@click.option("--show-mistakes", type=click.IntRange(min=0), default=0, metavar="N",
              help="Draw the N most confidently wrong predictions (needs labelled data).")
@handle_errors
def predict(model_path, data, out, split, show, show_mistakes):
    """Predict the class of every image in --data with MODEL.

    MODEL is a model.safetensors file or a run folder holding one (as
    written by funcnet run --out). Prints how many images were predicted
    (and the accuracy when the data are labelled).
    """
    params, info = load_model(model_path)
    ds, description = load_examples(data, info, split)
    _check_inputs(params, ds, description)
    if show_mistakes and ds.y is None:
        raise click.UsageError(
            f"--show-mistakes needs labelled data; {ds.source or data} has no labels")
    with _quiet_numpy(_debug()):
        probs = probabilities(params, ds.x, info["model_state"])
    pred = probs.argmax(axis=1)
    to_stdout = out == "-"
    if out is not None and not to_stdout:
        write_atomic(Path(out), submission_csv(pred))
    if to_stdout:
        click.echo(submission_csv(pred), nl=False)
    wrote = f"; wrote {out}" if out and not to_stdout else ""
    lines = [_model_line(model_path, params), f"data: {description}",
             f"predicted {_plural(len(pred), 'image')}{wrote}", *_accuracy_lines(pred, ds.y)]
    names = freport.class_names(info["config"].get("dataset"))
    if show:
        rows = np.arange(min(show, len(ds)))
        lines += ["", *_draw(ds, rows, probs, names, f"the first {_plural(len(rows), 'image')}:")]
    if show_mistakes:
        rows, total = _mistake_rows(ds, probs, show_mistakes)
        title = f"the {_plural(len(rows), 'most confident mistake')} (of {total}):"
        lines += ["", *_draw(ds, rows, probs, names, title)]
    _echo_lines(lines, err=to_stdout)

# ---------------------------------------------------------------- evaluate


@cli.command()
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.option("--data", type=click.Path(), default=None,
              help="A labelled CSV or a folder of IDX files (its test split). "
                   "Default: the data the model was trained on.")
@click.option("--split", type=click.Choice(["test", "train"]), default=None,
              help="Which split of an IDX folder to use (default: test).")
@handle_errors
def evaluate(model_path, data, split):
    """Judge MODEL on labelled data: accuracy, per-class report, confusion matrix.

    MODEL is a model.safetensors file or a run folder holding one.
    """
    from . import evaluate as fevaluate
    from .model import num_outputs

    params, info = load_model(model_path)
    ds, description = load_examples(data, info, split)
    _check_inputs(params, ds, description)
    if ds.y is None:
        raise DataError(f"{ds.source or data}: no labels to evaluate against "
                        "(use funcnet predict for unlabelled data)")
    with _quiet_numpy(_debug()):
        pred = probabilities(params, ds.x, info["model_state"]).argmax(axis=1)
    k = num_outputs(params)
    names = freport.class_names(info["config"].get("dataset"))
    lines = [_model_line(model_path, params), f"data: {description}",
             *_accuracy_lines(pred, ds.y), "",
             "per-class report", *freport.report_lines(fevaluate.report(ds.y, pred, k), names), "",
             "confusion matrix (rows: true class, columns: predicted class)",
             *freport.confusion_lines(fevaluate.confusion_matrix(ds.y, pred, k))]
    _echo_lines(lines)


# ---------------------------------------------------------------- show


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
    from .model import summary

    init_state = getattr(pipe, "init_state", None)
    if init_state is None:
        return []
    try:
        params = init_state(pipe.Config()).params
    except (TypeError, ValueError, AttributeError):  # a Config with required fields, ...
        return []
    frame = summary(params).reset_index(names="layer")
    rows = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    total = int(frame["params"].sum())
    return ["", "network (default config):", *freport.table(list(frame.columns), rows),
            f"{total:,} trainable parameters"]


@cli.command()
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
    _echo_lines(lines)


def main() -> None:  # pragma: no cover - console entry point
    """Run the ``funcnet`` command with the process's arguments."""
    cli(prog_name="funcnet")


if __name__ == "__main__":  # pragma: no cover - python -m funcnet.cli
    cli(prog_name="funcnet")
