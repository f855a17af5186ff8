"""Ensemble folders: the members' model files and ``ensemble.json``, which says how they combine.

An ensemble folder (``funcnet ensemble RUN_DIR... --out DIR``) holds:

- ``members/<name>.safetensors``: a copy of each member's model file (a run's
  ``model.safetensors``, byte for byte), ``<name>`` its run folder's name;
- ``ensemble.json``::

      {"format": "funcnet-ensemble", "format_version": 1, "funcnet_version": "0.1.0",
       "combine": "mean-probability",
       "members": [{"file": "members/seed-0.safetensors", "run": "/abs/runs/seed-0"}, ...],
       "input_shape": [784], "classes": 10, "class_names": null,
       "dataset": "mnist", "data": null, "trained_on": "mnist"}

  ``combine`` ``mean-probability`` is P = (1/K) Σ_k softmax(Z_k)
  (:mod:`funcnet.model.ensembles`); member files are relative to the folder;
  ``run`` records where each member came from; ``input_shape``, ``classes``
  (their number) and ``class_names`` (None for digits) are the ensemble's;
  ``dataset`` and ``data`` (the members' config fields) and ``trained_on``
  (the known data set of their model files' metadata) are there when every
  member has the same one.

:func:`write` makes the folder whole or not at all: everything is written
into a temp folder beside it, read back as an ensemble, then renamed into
place. :func:`load` reads it back as ``(Ensemble, info)``, as
:func:`funcnet.runs.load_model` reads a model file.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from pathlib import Path, PurePosixPath

from .. import checkpoint
from .._atomic import write_atomic
from ..errors import CheckpointError, ConfigError
from .files import to_json_text

__all__ = ["ENSEMBLE", "MEMBERS", "FORMAT", "FORMAT_VERSION", "COMBINE", "is_ensemble",
           "ensemble_file", "record", "read_record", "load", "write"]

ENSEMBLE, MEMBERS = "ensemble.json", "members"
FORMAT, FORMAT_VERSION = "funcnet-ensemble", 1
COMBINE = "mean-probability"  # P = (1/K) Σ_k softmax(Z_k)


def is_ensemble(path) -> bool:
    """Whether ``path`` is an ensemble folder (it holds ``ensemble.json``) or names an
    ensemble file (a ``.json`` file: model files are ``.safetensors``).

    >>> is_ensemble("/nonexistent/ens"), is_ensemble("runs/ens/ensemble.json")
    (False, True)
    """
    p = Path(path)
    return (p / ENSEMBLE).is_file() if p.is_dir() else p.suffix == ".json"


def ensemble_file(path) -> Path:
    """The ``ensemble.json`` that ``path`` names: the file, or the one in an ensemble folder.

    >>> ensemble_file("runs/ens/ensemble.json").as_posix()
    'runs/ens/ensemble.json'
    """
    p = Path(path)
    return p / ENSEMBLE if p.is_dir() else p


def record(files, runs, *, input_shape, classes: int, class_names=None, agreed=None) -> dict:
    """The JSON object ``ensemble.json`` holds (see the module's docstring).

    ``files`` are the member files' paths relative to the folder, ``runs``
    the run folders they came from; ``agreed`` the fields every member shares
    (``dataset``, ``data``, ``trained_on``; None values are left out).

    >>> r = record(["members/a.safetensors"], ["/r/a"], input_shape=(784,), classes=10,
    ...            agreed={"dataset": "mnist", "data": None})
    >>> r["members"], r["input_shape"], r["dataset"], "data" in r
    ([{'file': 'members/a.safetensors', 'run': '/r/a'}], [784], 'mnist', False)
    """
    from ..checkpoint.fileformat import _funcnet_version

    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "funcnet_version": _funcnet_version(), "combine": COMBINE,
            "members": [{"file": str(f), "run": str(r)} for f, r in zip(files, runs)],
            "input_shape": [int(s) for s in input_shape], "classes": int(classes),
            "class_names": list(class_names) if class_names else None,
            **{k: v for k, v in (agreed or {}).items() if v is not None}}


def _member_path(where: Path, folder: Path, i: int, entry) -> Path:
    """Member ``i``'s file: a relative path inside ``folder``, else a CheckpointError."""
    name = entry.get("file") if isinstance(entry, dict) else None
    rel = PurePosixPath(name) if isinstance(name, str) and name else None
    if rel is None or rel.is_absolute() or ".." in rel.parts:
        raise CheckpointError(f"{where}: members[{i}]: expected {{\"file\": a path relative to "
                              f"the folder, inside it}}, got {json.dumps(entry)[:80]}")
    return folder / rel


def read_record(path) -> dict:
    """``ensemble.json`` read and checked: its format, version, rule and members' files.

    Raises CheckpointError (one line naming the file and what was expected).
    """
    where = ensemble_file(path)
    try:
        rec = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{where}: no such ensemble file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        got = rec.get("format") if isinstance(rec, dict) else type(rec).__name__
        raise CheckpointError(f"{where}: not a funcnet ensemble: expected format {FORMAT!r}, "
                              f"found {got!r}")
    version = rec.get("format_version")
    if type(version) is not int or version > FORMAT_VERSION:
        raise CheckpointError(f"{where}: ensemble format_version {version!r}: this funcnet reads "
                              f"versions up to {FORMAT_VERSION}; upgrade funcnet to read it")
    if rec.get("combine") != COMBINE:
        raise CheckpointError(f"{where}: combine {rec.get('combine')!r}: this funcnet combines "
                              f"members by {COMBINE!r} only")
    members = rec.get("members")
    if not isinstance(members, list) or not members:
        raise CheckpointError(f"{where}: expected a non-empty list of members")
    for i, entry in enumerate(members):
        _member_path(where, where.parent, i, entry)
    return rec


def _info(rec: dict, infos: list, states: tuple) -> dict:
    """What :func:`load` says of the ensemble, shaped as a model file's info."""
    config = {k: rec[k] for k in ("dataset", "data") if rec.get(k) is not None}
    metadata = {"dataset": rec["trained_on"]} if isinstance(rec.get("trained_on"), str) else {}
    return {"config": config, "metadata": metadata, "format_version": rec["format_version"],
            "funcnet_version": rec.get("funcnet_version", "unknown"), "tensors": {},
            "ensemble": rec, "members": infos, "model_state": states}


def load(path):
    """``(ensemble, info)``: the ensemble folder (or ``ensemble.json``) at ``path``, rebuilt.

    Each member is read by :func:`funcnet.checkpoint.load_network` (every
    name, shape and checksum checked); ``info["model_state"]`` is the tuple
    of the members' model states, ``info["members"]`` their files' infos,
    ``info["config"]`` the data the members agree on (``dataset``, ``data``)
    and ``info["ensemble"]`` the record. Raises CheckpointError naming the
    file: a damaged record or member, or members that do not go together.
    """
    from ..model.ensembles import Ensemble

    where = ensemble_file(path)
    rec = read_record(where)
    files = [_member_path(where, where.parent, i, m) for i, m in enumerate(rec["members"])]
    loaded = [checkpoint.load_network(f) for f in files]
    try:
        ens = Ensemble.of([net for net, _, _ in loaded], names=[str(f) for f in files])
    except ConfigError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    if list(ens.input_shape) != rec.get("input_shape"):
        raise CheckpointError(f"{where}: input_shape {rec.get('input_shape')} differs from the "
                              f"members' {list(ens.input_shape)}")
    from ..model import num_outputs

    if rec.get("classes") != num_outputs(ens):
        raise CheckpointError(f"{where}: classes {rec.get('classes')} differs from the members' "
                              f"{num_outputs(ens)}")
    return ens, _info(rec, [info for _, _, info in loaded], tuple(s for _, s, _ in loaded))


def _check_target(out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that is a file, or a folder holding anything but (with ``overwrite``)
    an ensemble: a run or files of one's own are never replaced."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is a file; choose another --out for the ensemble")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if (out / ENSEMBLE).is_file():
        if overwrite:
            return
        raise ConfigError(f"{out}: already holds an ensemble; replace it with --overwrite "
                          "or choose another --out")
    names = sorted(p.name for p in out.iterdir())
    raise ConfigError(f"{out}: holds other files ({', '.join(names[:3])}"
                      f"{', ...' if len(names) > 3 else ''}); an ensemble is written into a new "
                      "or empty folder")


def _swap(tmp: Path, out: Path) -> None:
    """Put the folder ``tmp`` at ``out``: a rename (an old ensemble moved aside, then removed)."""
    old = None
    if out.is_dir() and any(out.iterdir()):
        old = out.with_name(f".{out.name}.{secrets.token_hex(6)}.old")
        os.rename(out, old)
    try:
        os.replace(tmp, out)  # onto a missing or empty folder
    except BaseException:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write(out, rec: dict, models: dict, *, overwrite: bool = False) -> Path:
    """Write the ensemble folder ``out``: ``models`` (``{member file: source model file}``,
    the files ``rec`` names) copied, then ``ensemble.json``; all or nothing.

    Everything goes into a temp folder beside ``out``, which is read back
    with :func:`load` (so a member that does not load is never delivered)
    and renamed onto ``out``. ``out`` must be missing or empty, or hold an
    ensemble and ``overwrite`` be set (ConfigError otherwise). On any error
    the temp folder is removed and ``out`` is as it was. Returns ``out``.
    """
    out = Path(out)
    _check_target(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
    try:
        tmp.mkdir()
        for rel, source in models.items():
            write_atomic(tmp / rel, Path(source).read_bytes())
        write_atomic(tmp / ENSEMBLE, to_json_text(rec))
        load(tmp)
        _swap(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return out
