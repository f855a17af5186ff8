"""The ``funcnet`` command: the edge where printing, files and signals live.

Exit codes: 0 success; 1 an unexpected error or an I/O failure; 2 a bad
config, ``--set`` or pipeline file (and click's usage errors); 3 bad or
missing data; 4 a bad checkpoint; 5 a failed download; 6 training stopped
on a non-finite loss; 130 interrupted by Ctrl-C (the last good state kept).
"""

from __future__ import annotations

import functools
import json
import math
import os
import signal
import sys
import tempfile
from pathlib import Path

import click
import numpy as np

from . import pipeline as fpipeline
from .errors import FuncnetError

EXIT_INTERRUPTED = 130


def _fail(message: str, code: int) -> None:
    click.echo(f"funcnet: error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn):
    """Turn funcnet's errors into one line on stderr and the error's exit code."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except FuncnetError as exc:
            if debug:
                raise
            _fail(str(exc), exc.exit_code)
        except OSError as exc:
            if debug:
                raise
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _fail(f"{where}{exc.strerror or exc}", 1)
    return wrapper


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    """One metrics line: the iteration (full batch) or epoch, then the record's figures."""
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
    m = result.metrics
    parts = [f"{k.replace('_', ' ')} {_fmt(m.get(k))}"
             for k in ("train_accuracy", "dev_accuracy", "test_accuracy") if k in m]
    return [f"{', '.join(parts)}; loss {_fmt(m.get('loss'))}; "
            f"trained in {m['seconds']:.2f} s ({m['steps']} steps)"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="funcnet")
def cli(debug: bool) -> None:
    """funcnet: neural networks from scratch in NumPy, as pure functions.

    Run a pipeline file (load → split → train → evaluate), e.g.

        funcnet run pipelines/mnist.py --seed 0 --out runs/mnist

    Data is read from --data, else $FUNCNET_DATA/<dataset>/.
    Exit codes: 0 ok, 1 I/O or unexpected error, 2 bad config or usage,
    3 bad or missing data, 4 bad checkpoint, 5 download failed,
    6 non-finite loss, 130 interrupted (last good state kept).
    """


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


def _save_run(out: Path, result_or_state, config, *, params=None, metrics=None, history=None):
    """Write the run's files into ``out`` (each atomically)."""
    from . import checkpoint

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


def _observer(out, config, quiet: bool, verbose: bool, interrupt: _Interrupt):
    from tqdm import tqdm

    bar = [None]

    def observe(snap):
        if bar[0] is None and not quiet:
            bar[0] = tqdm(total=snap.total, initial=int(snap.state.step) - 1, file=sys.stderr,
                          disable=not sys.stderr.isatty(), leave=False, unit="step",
                          dynamic_ncols=True)
        if bar[0] is not None:
            bar[0].update(1)
        if snap.record is not None:
            if not quiet:
                line = progress_line(snap)
                (bar[0].write(line, file=sys.stdout) if bar[0] is not None else click.echo(line))
                if verbose:
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


@cli.command()
@click.argument("pipeline_file", metavar="PIPELINE", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=None, help="Random seed (the pipeline's default if omitted).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a Config field, e.g. --set learning_rate=0.05 (repeatable).")
@click.option("--data", type=click.Path(), default=None,
              help="A CSV file (Kaggle format) or a folder with the IDX files.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for config.json, metrics.json, history.csv and the model.")
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue the run saved in this --out folder.")
@click.option("--quiet", "-q", is_flag=True, help="Print the final figures only.")
@click.option("--verbose", "-v", is_flag=True, help="Also print every history record in full.")
@handle_errors
def run(pipeline_file, seed, overrides, data, out, resume, quiet, verbose):
    """Run PIPELINE (a pipeline file such as pipelines/mnist.py).

    Prints a metrics line per epoch (per 10 iterations for full-batch runs),
    then the final train/dev/test accuracy and the training time. Ctrl-C stops
    after the current step and keeps the last good state (exit 130).
    """
    pipe = fpipeline.load_pipeline(pipeline_file)
    config = _resume_config(pipe, Path(resume)) if resume else pipe.Config()
    config = fpipeline.apply_overrides(config, list(overrides))
    if seed is not None:
        config = fpipeline.apply_overrides(config, [f"seed={seed}"])
    if data is not None:
        config = fpipeline.apply_overrides(config, [f"data={data}"])
    config = fpipeline.resolve_seed(config)
    out_dir = Path(out) if out else (Path(resume) if resume else None)
    state = _load_resume(pipe, config, Path(resume)) if resume else None
    with _Interrupt() as interrupt:
        observe, close = _observer(out_dir, config, quiet, verbose, interrupt)
        try:
            result = fpipeline.run(pipe, config, observe, state=state)
        finally:
            close()
    if out_dir is not None:
        metrics = {**result.metrics, "stopped": result.stopped}
        _save_run(out_dir, result.state, config, params=result.params, metrics=metrics,
                  history=result.history)
    for line in final_lines(result):
        click.echo(line)
    if result.stopped == "interrupted":
        click.echo("funcnet: interrupted; kept the last good state"
                   + (f" in {out_dir}" if out_dir else ""), err=True)
        sys.exit(EXIT_INTERRUPTED)
    if result.stopped:
        _fail(result.stopped + (f"; saved in {out_dir}" if out_dir else ""), 6)


def main() -> None:  # pragma: no cover - console entry point
    cli()
