"""Checkpoints: save and load a pytree of arrays, with its config, atomically.

A checkpoint is a `safetensors <https://huggingface.co/docs/safetensors>`_
file: one tensor per leaf, named by the leaf's dotted path
(:func:`funcnet.tree.flatten_with_path`, e.g. ``'params.layers.0.w'``), and a
header of text metadata. There is no pickle anywhere: a checkpoint holds
arrays and JSON only, so loading one runs no code.

The metadata fields (all strings, as safetensors requires):

- ``format``: ``"funcnet-checkpoint"``;
- ``format_version``: ``"1"`` (JSON for the integer 1);
- ``funcnet_version``: the funcnet that wrote the file, or ``"unknown"``;
- ``config``: a JSON object, the run's config, to rebuild the model;
- ``metadata``: a JSON object of free-form facts (sizes, activation, ``dataset``:
  the known data set a model was trained on, see :func:`trained_on`, ...);
- ``content_sha256``: SHA-256 over the other fields and every tensor's name,
  dtype, shape and bytes, so that damage anywhere is found.

Python and NumPy scalars are stored as 0-d arrays and come back as the
template's type. Since the file holds no structure, :func:`load` takes a
template tree of the same kind (e.g. freshly initialised parameters) and
checks every name, shape and dtype against it; :func:`read_info` reads the
header alone, so that a caller can rebuild the template from the config.

>>> import tempfile, numpy as np
>>> from funcnet import tree
>>> folder = tempfile.mkdtemp()
>>> params = {"w": np.ones((2, 3), np.float32), "b": np.zeros(3, np.float32)}
>>> path = save(f"{folder}/net.safetensors", params, config={"sizes": [2, 3]})
>>> sorted(read_info(path)["tensors"])
['b', 'w']
>>> tree.equal(load(path, params), params)
True
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import secrets
from pathlib import Path
from typing import Any, Iterator

import attrs
import numpy as np
import safetensors
import safetensors.numpy

from funcnet import tree as _tree
from funcnet.errors import CheckpointError

__all__ = ["save", "load", "read_info", "save_network", "load_network", "trained_on", "FORMAT",
           "FORMAT_VERSION"]

FORMAT = "funcnet-checkpoint"
FORMAT_VERSION = 1
_DIGEST = "content_sha256"
_REQUIRED = ("format_version", "config", "metadata", _DIGEST)
_RESERVED_NAME = "__metadata__"  # the key safetensors keeps its header under
# safetensors' dtype codes and the NumPy dtypes they hold.
_DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16",
    "I16": "int16", "U32": "uint32", "I32": "int32", "U64": "uint64",
    "I64": "int64", "F16": "float16", "F32": "float32", "F64": "float64",
    "C64": "complex64",
}
_SUPPORTED = frozenset(_DTYPES.values())


def _one_line(err: BaseException) -> str:
    """``err``'s message on one line (or its type's name if it has none)."""
    return " ".join(str(err).split()) or type(err).__name__


def _funcnet_version() -> str:
    """The installed funcnet's version, or ``"unknown"`` when it is not installed."""
    try:
        return importlib.metadata.version("funcnet")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------- saving


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


def _digest(header: dict[str, str], tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 over the header fields (but the digest) and every tensor.

    The names, dtypes and shapes go into a JSON prefix, so the bytes that
    follow it (in name order) split into tensors in exactly one way. The
    tensors are C-contiguous, so ``reshape(-1)`` is a view, not a copy.
    """
    names = sorted(tensors)
    prefix = {
        "header": {k: v for k, v in sorted(header.items()) if k != _DIGEST},
        "tensors": [[n, tensors[n].dtype.name, list(tensors[n].shape)] for n in names],
    }
    h = hashlib.sha256(json.dumps(prefix, sort_keys=True).encode())
    for n in names:
        h.update(tensors[n].reshape(-1).view(np.uint8))
    return h.hexdigest()


def _create_temp(target: Path) -> tuple[int, Path]:
    """Create an empty, hidden temp file beside ``target``; its fd and path.

    Made with mode 0o666 so that the umask applies, as to any new file.
    """
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp file name beside {target}")


def _fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entry list to disk, where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all at once: temp file, fsync, rename.

    On any error the temp file is removed and ``path`` keeps its old bytes.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(err, OSError):
            raise CheckpointError(f"{path}: cannot write checkpoint: {_one_line(err)}") from err
        raise
    _fsync_dir(path.parent)


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


# ---------------------------------------------------------------- loading


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


def load(path: str | os.PathLike, like: Any) -> Any:
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

    Returns:
      A tree with the structure of ``like`` holding the saved leaves.

    Raises:
      CheckpointError: the file is missing, empty, truncated or damaged, not
        a funcnet checkpoint, of a newer format_version, or its names, dtypes
        or shapes differ from the template's.

    >>> import tempfile, numpy as np
    >>> path = save(tempfile.mkdtemp() + "/c.safetensors", {"w": np.arange(3.0), "lr": 0.5})
    >>> load(path, {"w": np.zeros(3), "lr": 0.0})
    {'lr': 0.5, 'w': array([0., 1., 2.])}
    >>> load(path, {"w": np.zeros(4), "lr": 0.0})
    Traceback (most recent call last):
    ...
    funcnet.errors.CheckpointError: .../c.safetensors: tensor 'w': expected shape (4,), got (3,)
    """
    path = Path(path)
    pairs = _tree.flatten_with_path(like)
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


def trained_on(info: dict[str, Any]) -> str | None:
    """The data set a model was trained on, as its metadata records it (None if not recorded).

    Files written before the record existed, or from unrecognised data, hold
    none: a reader that does not know the field ignores it.

    >>> trained_on({"metadata": {"dataset": "mnist"}}), trained_on({"metadata": {}})
    ('mnist', None)
    """
    value = info.get("metadata", {}).get("dataset")
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------- networks


def _network_tree(params: Any, model_state: Any) -> dict:
    """What a model file holds: ``layers.<i>.<leaf>`` and ``model_state.<i>.<leaf>`` tensors."""
    return {"layers": params.layers, "model_state": model_state}


def save_network(path: str | os.PathLike, params: Any, model_state: Any = None, *,
                 config: dict | None = None, metadata: dict | None = None) -> Path:
    """Write a network, its model state and its architecture to ``path``, atomically.

    The tensors are named ``layers.<i>.w``, ``layers.<i>.b``, ... (as the
    MLP's model files have always been) and ``model_state.<i>.mean``, ... for
    batch norm's running statistics; ``metadata["architecture"]`` is the
    JSON spec of :func:`funcnet.model.architecture`, from which
    :func:`load_network` rebuilds the network with the file alone (an MLP
    also keeps its ``sizes`` and ``activation`` there, as before).

    >>> import tempfile
    >>> from funcnet import model, rng, tree
    >>> from funcnet.layers import dense, batch_norm, relu
    >>> net = model.init(rng.key(0), (dense(4), batch_norm(), relu(), dense(2)), input_shape=(3,))
    >>> path = save_network(tempfile.mkdtemp() + "/m.safetensors", net, model.init_model_state(net))
    >>> params, state, info = load_network(path)
    >>> tree.equal(params, net), tree.equal(state, model.init_model_state(net))
    (True, True)
    """
    from funcnet import model

    meta = dict(metadata or {})
    meta["architecture"] = model.architecture(params)
    if isinstance(params, model.Params):
        meta.update(sizes=list(params.sizes), activation=params.activation)
    return save(path, _network_tree(params, model_state), config=config, metadata=meta)


def _sizes_from(path: Path, tensors: dict) -> list[int]:
    """MLP layer sizes read off the tensors ``layers.<i>.w`` of a model file without metadata."""
    shapes = [tensors.get(f"layers.{i}.w", (None, None))[1] for i in range(len(tensors))]
    shapes = [s for s in shapes if s is not None]
    if not shapes or any(len(s) != 2 for s in shapes):
        raise CheckpointError(f"{path}: no architecture, no sizes in the metadata and no "
                              "layers.<i>.w matrices: expected a funcnet model checkpoint")
    return [int(shapes[0][0])] + [int(s[1]) for s in shapes]


def _architecture(path: Path, info: dict) -> dict:
    """The file's architecture; for an MLP file without one, from its sizes or tensor shapes."""
    meta, cfg = info["metadata"], info["config"]
    if "architecture" in meta:
        return meta["architecture"]
    return {"kind": "mlp", "sizes": meta.get("sizes") or _sizes_from(path, info["tensors"]),
            "activation": meta.get("activation") or cfg.get("activation") or "relu"}


def load_network(path: str | os.PathLike) -> tuple[Any, Any, dict]:
    """``(params, model_state, info)``: a network rebuilt from its model file alone.

    The architecture comes from the metadata (:func:`save_network`); MLP files
    written before it was stored are rebuilt from their ``sizes`` and
    ``activation`` metadata, the run's config, or the shapes of their
    ``layers.<i>.w`` tensors. The dtype is that of the first weight tensor.
    ``info`` is :func:`read_info`'s dict.

    Raises:
      CheckpointError: not a model file (e.g. a training state), an
        architecture that cannot be rebuilt, or any :func:`load` failure.
    """
    from funcnet import model

    path = Path(path)
    info = read_info(path)
    tensors = info["tensors"]
    if any(name.startswith("params.") for name in tensors):
        raise CheckpointError(f"{path}: a training state, not a model: pass the "
                              "model.safetensors beside it (or the run folder)")
    weights = sorted(n for n in tensors if n.startswith("layers.") and n.endswith(".w"))
    dtype = np.dtype(tensors[weights[0]][0] if weights else "float32")
    try:
        template = model.from_architecture(_architecture(path, info), dtype)
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the model from its metadata: "
                              f"{_one_line(exc)}") from None
    got = load(path, _network_tree(template, model.init_model_state(template)))
    return attrs.evolve(template, layers=got["layers"]), got["model_state"], info
