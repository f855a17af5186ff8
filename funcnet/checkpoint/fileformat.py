"""The checkpoint file format: its name and version, the dtypes it holds, its content digest.

What saving and loading share: the constants of the header
(:data:`FORMAT`, :data:`FORMAT_VERSION`, the required fields), safetensors'
dtype codes and the NumPy dtypes they hold, and the SHA-256 over the header
and every tensor that :func:`funcnet.checkpoint.save` writes and
:func:`funcnet.checkpoint.load` checks.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json

import numpy as np

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
