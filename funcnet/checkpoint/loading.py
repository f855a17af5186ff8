"""Loading: a checkpoint's header (:func:`read_info`) and its tensors into a template tree."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import safetensors

from funcnet import tree as _tree
from funcnet.errors import CheckpointError

from .fileformat import _DIGEST, _DTYPES, _REQUIRED, FORMAT, FORMAT_VERSION, _digest, _one_line


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """The file opened with ``safetensors.safe_open``, its header validated."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: expected a checkpoint file, found a folder or device")
    try:
        handle = safetensors.safe_open(str(path), framework="numpy")
    except Exception as err:  # SafetensorError, OSError or anything the parser raises
        raise CheckpointError(
            f"{path}: not a readable safetensors file (empty, truncated or damaged?): "
            f"{_one_line(err)}") from None
    with handle as f:
        yield f


def _header(path: Path, f: Any) -> dict[str, Any]:
    """The checked metadata of an open file: format, version, config, metadata."""
    raw = f.metadata() or {}
    if raw.get("format") != FORMAT:
        got = f"format {raw['format']!r}" if "format" in raw else "no 'format' field"
        raise CheckpointError(
            f"{path}: not a funcnet checkpoint: expected format {FORMAT!r} in the "
            f"safetensors metadata, found {got}")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise CheckpointError(f"{path}: damaged checkpoint: metadata lacks {', '.join(missing)}")
    try:
        fields = {k: json.loads(raw[k]) for k in ("format_version", "config", "metadata")}
    except ValueError as err:
        raise CheckpointError(f"{path}: damaged checkpoint: metadata is not valid JSON: "
                              f"{_one_line(err)}") from None
    except RecursionError:
        raise CheckpointError(f"{path}: the metadata's JSON nests too deeply to be a funcnet "
                              "model") from None
    version = fields["format_version"]
    objects = isinstance(fields["config"], dict) and isinstance(fields["metadata"], dict)
    if type(version) is not int or not objects:
        raise CheckpointError(f"{path}: damaged checkpoint: expected an integer format_version "
                              "and JSON objects for config and metadata")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format_version {version} is newer than this funcnet "
            f"supports ({FORMAT_VERSION}); upgrade funcnet to read it")
    return {**fields, "funcnet_version": raw.get("funcnet_version", "unknown"), "raw": raw}


def _specs(f: Any) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{name: (numpy dtype name, shape)}`` from the header, no data read."""
    out = {}
    for name in f.keys():
        view = f.get_slice(name)
        code = view.get_dtype()
        out[name] = (_DTYPES.get(code, code), tuple(view.get_shape()))
    return out


def read_info(path: str | os.PathLike) -> dict[str, Any]:
    """What a checkpoint holds, read from its header without a template.

    Only the header is read and checked (it is a funcnet checkpoint of a
    supported version); the tensors' bytes and checksum are checked by
    :func:`load`.

    Args:
      path: a file written by :func:`save`.

    Returns:
      A dict with ``config`` and ``metadata`` (the dicts given to
      :func:`save`, as JSON gives them back: tuples become lists),
      ``format_version`` (int), ``funcnet_version`` (str, the version that
      wrote the file) and ``tensors``: ``{name: (dtype name, shape tuple)}``.

    Raises:
      CheckpointError: the file is missing, not safetensors, damaged, not a
        funcnet checkpoint, or of a newer format_version.

    >>> import tempfile, numpy as np
    >>> from funcnet.checkpoint import save
    >>> path = save(tempfile.mkdtemp() + "/c.safetensors", {"w": np.ones((2, 3), np.float32)},
    ...             config={"lr": 0.1}, metadata={"sizes": [2, 3]})
    >>> info = read_info(path)
    >>> info["config"], info["metadata"], info["format_version"]
    ({'lr': 0.1}, {'sizes': [2, 3]}, 1)
    >>> info["tensors"]
    {'w': ('float32', (2, 3))}
    """
    path = Path(path)
    with _opened(path) as f:
        header = _header(path, f)
        tensors = _specs(f)
    return {
        "config": header["config"],
        "metadata": header["metadata"],
        "format_version": header["format_version"],
        "funcnet_version": header["funcnet_version"],
        "tensors": tensors,
    }


def _names_listed(names: set[str], limit: int = 5) -> str:
    """The first ``limit`` names, sorted and quoted, then how many more."""
    shown = ", ".join(repr(n) for n in sorted(names)[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _check_specs(path: Path, got: dict, expected: dict) -> None:
    """Refuse a file whose names, dtypes or shapes differ from the template's."""
    missing, unexpected = set(expected) - set(got), set(got) - set(expected)
    if missing or unexpected:
        parts = ([f"missing {_names_listed(missing)}"] if missing else []) + (
            [f"unexpected {_names_listed(unexpected)}"] if unexpected else [])
        raise CheckpointError(
            f"{path}: tensor names differ from the template: {'; '.join(parts)}")
    for name, (dtype, shape) in expected.items():
        if got[name][0] != dtype:
            raise CheckpointError(
                f"{path}: tensor '{name}': expected dtype {dtype}, got {got[name][0]}")
        if got[name][1] != shape:
            raise CheckpointError(
                f"{path}: tensor '{name}': expected shape {shape}, got {got[name][1]}")


def _owned(arr: np.ndarray) -> np.ndarray:
    """``arr`` if it is writable and backed by its own ``bytearray``, else a copy."""
    root = arr
    while isinstance(root, np.ndarray) and root.base is not None:
        root = root.base
    buffer = root.obj if isinstance(root, memoryview) else root
    return arr if arr.flags.writeable and isinstance(buffer, bytearray) else arr.copy()


def _as_template(arr: np.ndarray, like: Any) -> Any:
    """``arr`` as the kind of leaf ``like`` is: array, NumPy or Python scalar."""
    if isinstance(like, np.generic):
        return arr[()]
    if isinstance(like, (bool, int, float, complex)):
        return type(like)(arr.item())
    return _owned(arr)


def _read_tensors(path: Path, f: Any, names: list[str]) -> dict[str, np.ndarray]:
    """The named tensors of the open file ``f``, each a fresh array."""
    try:
        return {name: f.get_tensor(name) for name in names}
    except Exception as err:  # SafetensorError or a failed read
        raise CheckpointError(f"{path}: damaged checkpoint: cannot read tensors: "
                              f"{_one_line(err)}") from None


def load(path: str | os.PathLike, like: Any, *, names: Any = None) -> Any:
    """Read the checkpoint at ``path`` into a tree shaped like the template ``like``.

    The file's tensor names must be exactly the template's leaf paths, and
    each tensor's dtype and shape those of the template's leaf; the content
    checksum must match. Array leaves come back as fresh, writable arrays
    that share memory with nothing (in native byte order); scalar leaves as
    the template leaf's type (``float``, ``np.float32``, ...). The template's
    leaf values are not used and nothing is written into it.

    Args:
      path: a file written by :func:`save`.
      like: a pytree of the saved kind, e.g. freshly initialised parameters.
      names: a function from the template's leaf path to the tensor's name in
        the file, for files that named their tensors otherwise (the
        tutorial's MLP files before every network was a network of layers).

    Returns:
      A tree with the structure of ``like`` holding the saved leaves.

    Raises:
      CheckpointError: the file is missing, empty, truncated or damaged, not
        a funcnet checkpoint, of a newer format_version, or its names, dtypes
        or shapes differ from the template's.

    >>> import tempfile, numpy as np
    >>> from funcnet.checkpoint import save
    >>> path = save(tempfile.mkdtemp() + "/c.safetensors", {"w": np.arange(3.0), "lr": 0.5})
    >>> load(path, {"w": np.zeros(3), "lr": 0.0})
    {'lr': 0.5, 'w': array([0., 1., 2.])}
    >>> load(path, {"w": np.zeros(4), "lr": 0.0})
    Traceback (most recent call last):
    ...
    funcnet.errors.CheckpointError: .../c.safetensors: tensor 'w': expected shape (4,), got (3,)
    """
    path = Path(path)
    rename = names if names is not None else (lambda n: n)
    pairs = [(rename(n), x) for n, x in _tree.flatten_with_path(like)]
    expected = {n: (np.asarray(x).dtype.name, np.shape(x)) for n, x in pairs}
    if len(expected) < len(pairs):
        raise CheckpointError(f"{path}: the template has leaves sharing one tensor name "
                              "(do dict keys contain dots?)")
    with _opened(path) as f:
        header = _header(path, f)
        _check_specs(path, _specs(f), expected)
        arrays = _read_tensors(path, f, [n for n, _ in pairs])
    if _digest(header["raw"], arrays) != header["raw"][_DIGEST]:
        raise CheckpointError(f"{path}: damaged checkpoint: content checksum mismatch")
    leaves = [_as_template(arrays[n], x) for n, x in pairs]
    return _tree.unflatten(_tree.structure(like), leaves)
