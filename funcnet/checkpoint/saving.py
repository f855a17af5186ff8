"""Saving: a pytree as flat safetensors tensors plus its metadata, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy

from funcnet import tree as _tree
from funcnet._atomic import write_atomic
from funcnet.errors import CheckpointError

from .fileformat import (_DIGEST, _RESERVED_NAME, _SUPPORTED, FORMAT, FORMAT_VERSION, _digest,
                         _funcnet_version, _one_line)


def _stored(path: Path, name: str, leaf: Any) -> np.ndarray:
    """``leaf`` as the C-contiguous little-endian array that is written.

    safetensors copies ``nbytes`` from the data pointer, so a strided view
    must be made contiguous first or the wrong bytes would be saved
    (``np.ascontiguousarray`` would turn a 0-d array into shape ``(1,)``).
    """
    arr = np.asarray(leaf)
    if arr.dtype.name not in _SUPPORTED:
        raise CheckpointError(
            f"{path}: cannot save leaf '{name}': dtype {arr.dtype} is not supported "
            f"(expected one of {', '.join(sorted(_SUPPORTED))})")
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _tensors(path: Path, tree: Any) -> dict[str, np.ndarray]:
    """The tensors to write: ``{dotted path: array}``, refusing clashing names."""
    out: dict[str, np.ndarray] = {}
    for name, leaf in _tree.flatten_with_path(tree):
        if name in out or name == _RESERVED_NAME:
            raise CheckpointError(
                f"{path}: cannot save leaf '{name}': expected unique tensor names "
                f"other than '{_RESERVED_NAME}' (do dict keys contain dots?)")
        out[name] = _stored(path, name, leaf)
    return out


def _json_object(path: Path, field: str, value: Any) -> str:
    """``value`` (a dict, or None for ``{}``) as JSON text."""
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise CheckpointError(
            f"{path}: {field} must be a JSON-able dict, got {type(value).__name__}")
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: {field} is not JSON-able: {_one_line(err)}") from None


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all at once (:func:`funcnet._atomic.write_atomic`); an
    OSError becomes a CheckpointError naming ``path``, which keeps its old bytes."""
    try:
        write_atomic(path, data)
    except OSError as err:
        reason = f"[Errno {err.errno}] {err.strerror}" if err.errno else _one_line(err)
        raise CheckpointError(f"{path}: cannot write checkpoint: {reason}") from err


def save(path: str | os.PathLike, tree: Any, *, config: dict | None = None,
         metadata: dict | None = None) -> Path:
    """Write the pytree ``tree`` to the safetensors file ``path``, atomically.

    Leaves must be NumPy arrays or NumPy/Python scalars of a dtype that
    safetensors holds (bool, (u)int8..64, float16/32/64, complex64); scalars
    are stored as 0-d arrays. The file is written to a temp file in the same
    folder, flushed to disk and renamed onto ``path``: a crash or error at
    any moment leaves either the old checkpoint or the new one, never a
    mixture (a killed process may leave a ``.<name>.*.tmp`` file behind). The
    parent folder is created if missing. The inputs are only read.

    Args:
      path: the file to write, conventionally ending in ``.safetensors``.
      tree: the pytree to save (tuples, lists, dicts, None, NamedTuples and
        registered records; dict keys must not contain dots).
      config: a JSON-able dict, e.g. the run's config (default ``{}``).
      metadata: a JSON-able dict of further facts (default ``{}``).

    Returns:
      ``path`` as a :class:`pathlib.Path`.

    Raises:
      CheckpointError: a leaf of an unsupported type, two leaves with one
        name, a config/metadata that is not a JSON-able dict, or a failed write.

    >>> import tempfile, numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> save(f"{folder}/run/ckpt.safetensors", {"w": np.eye(2), "step": 3}).name
    'ckpt.safetensors'
    >>> save(f"{folder}/bad.safetensors", {"w": np.array(["a"])})
    Traceback (most recent call last):
    ...
    funcnet.errors.CheckpointError: .../bad.safetensors: cannot save leaf 'w': dtype <U1 ...
    """
    path = Path(path)
    tensors = _tensors(path, tree)
    header = {
        "format": FORMAT,
        "format_version": json.dumps(FORMAT_VERSION),
        "funcnet_version": _funcnet_version(),
        "config": _json_object(path, "config", config),
        "metadata": _json_object(path, "metadata", metadata),
    }
    header[_DIGEST] = _digest(header, tensors)
    try:
        data = safetensors.numpy.save(tensors, metadata=header)
    except Exception as err:  # safetensors' own refusal, e.g. a dtype it lacks
        raise CheckpointError(f"{path}: cannot encode checkpoint: {_one_line(err)}") from None
    _write_atomic(path, data)
    return path
