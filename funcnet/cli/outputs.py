"""Outputs never clobber inputs: the checks every command makes before it writes its --out.

A model, a data file or folder, or a picture being read is never the file a
command writes, nor a folder a run fills (``--overwrite`` removes a run's
files); a run folder is not a sweep's and a sweep folder is not a run's.
Each refusal is a :class:`funcnet.errors.ConfigError` (exit 2) raised before
anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

__all__ = ["refuse_clobbering", "refuse_folder_over_inputs", "data_inputs", "model_inputs",
           "refuse_sweep_folder"]


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


