"""Networks in model files: the architecture as JSON beside the layers' tensors.

:func:`save_network` writes a network, its model state and its
architecture; :func:`load_network` rebuilds the network from the file
alone (MLP files written before the architecture was stored are rebuilt
from their sizes or tensor shapes); :func:`trained_on` reads the data set
a model was trained on.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from funcnet import rng
from funcnet import tree as _tree
from funcnet.errors import CheckpointError

from .fileformat import _one_line
from .loading import load, read_info
from .saving import save


def trained_on(info: dict[str, Any]) -> str | None:
    """The data set a model was trained on, as its metadata records it (None if not recorded).

    Files written before the record existed, or from unrecognised data, hold
    none: a reader that does not know the field ignores it.

    >>> trained_on({"metadata": {"dataset": "mnist"}}), trained_on({"metadata": {}})
    ('mnist', None)
    """
    value = info.get("metadata", {}).get("dataset")
    return value if isinstance(value, str) else None


def _network_tree(params: Any, model_state: Any) -> dict:
    """What a model file holds: ``layers.<i>.<leaf>`` and ``model_state.<i>.<leaf>`` tensors
    (``layers.3.layers.0.w`` for layer 0 of block 3)."""
    return {"layers": params.layers, "model_state": model_state}


def save_network(path: str | os.PathLike, params: Any, model_state: Any = None, *,
                 config: dict | None = None, metadata: dict | None = None) -> Path:
    """Write a network, its model state and its architecture to ``path``, atomically.

    The tensors are named by their paths in the network, ``layers.<i>.w``,
    ``layers.<i>.b``, ``layers.3.layers.0.w`` inside a block, and
    ``model_state.<i>.mean``, ... for batch norm's running statistics;
    ``metadata["architecture"]`` is the JSON spec of
    :func:`funcnet.model.architecture`, from which :func:`load_network`
    rebuilds the network with the file alone.

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


def is_legacy_mlp(info: dict) -> bool:
    """Whether a file was written for the tutorial's MLP record before every network was a
    network of layers: its architecture is ``{"kind": "mlp", ...}``, or it has none.

    >>> is_legacy_mlp({"metadata": {"architecture": {"kind": "mlp"}}}), is_legacy_mlp({"metadata": {}})
    (True, True)
    """
    arch = info.get("metadata", {}).get("architecture")
    return arch is None or (isinstance(arch, dict) and arch.get("kind") == "mlp")


def legacy_names(net: Any):
    """The tensor names an MLP file of the old record used for ``net``'s leaves: its i-th
    dense layer was ``layers.<i>`` (``layers.2.w`` of ``dense, relu, dense`` was ``layers.1.w``),
    wherever such a path stands (``params.``, an optimizer state's ``mu.``, ...). ``net`` is a
    network or its tuple of specs.

    >>> from funcnet import model, rng
    >>> rename = legacy_names(model.init(rng.key(0), (4, 3, 2)))
    >>> rename("layers.2.w"), rename("opt_state.0.mu.layers.2.b"), rename("layers.0.w")
    ('layers.1.w', 'opt_state.0.mu.layers.1.b', 'layers.0.w')
    """
    from funcnet.layers import kind_of

    items = getattr(net, "layers", net)
    dense = [i for i, item in enumerate(items) if kind_of(item) == "dense"]
    old = {str(p): str(j) for j, p in enumerate(dense)}
    pattern = re.compile(r"(^|\.)layers\.(\d+)(?=\.)")
    return lambda name: pattern.sub(lambda m: f"{m.group(1)}layers.{old.get(m.group(2), m.group(2))}",
                                    name)


WEIGHT_DTYPES = ("float32", "float64")


def _check_against_header(path: Path, info: dict, expected: dict, rename) -> np.dtype:
    """Refuse a file whose ``layers.*`` tensors are not exactly those the architecture implies
    (names, shapes), or not all of one float dtype (float32 or float64): checked on the header
    alone, before any array is built. Returns the dtype."""
    held = {n: v for n, v in info["tensors"].items() if n.startswith("layers.")}
    wanted = {rename(n): shape for n, shape in expected.items()}
    missing, extra = sorted(set(wanted) - set(held)), sorted(set(held) - set(wanted))
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + (
            [f"unexpected {', '.join(extra[:3])}"] if extra else [])
        raise CheckpointError(f"{path}: the tensors do not fit the architecture: {'; '.join(parts)}")
    for name, shape in wanted.items():
        if tuple(held[name][1]) != tuple(shape):
            raise CheckpointError(f"{path}: tensor '{name}': the architecture implies shape "
                                  f"{tuple(shape)}, the file holds {tuple(held[name][1])}")
    dtypes = {held[n][0] for n in wanted}
    bad = sorted(n for n in wanted if held[n][0] not in WEIGHT_DTYPES)
    if bad:
        raise CheckpointError(f"{path}: tensor '{bad[0]}': dtype {held[bad[0]][0]}; expected "
                              f"{' or '.join(WEIGHT_DTYPES)}")
    if len(dtypes) > 1:
        raise CheckpointError(f"{path}: the layers' tensors mix dtypes {', '.join(sorted(dtypes))}; "
                              "expected one")
    return np.dtype(dtypes.pop() if dtypes else "float32")


def _check_values(path: Path, tree: dict) -> None:
    """Refuse non-finite parameters or running statistics, and negative running variances,
    naming the first such tensor."""
    for name, value in _tree.flatten_with_path(tree):
        arr = np.asarray(value)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise CheckpointError(f"{path}: tensor '{name}' holds non-finite values (NaN or ±inf)")
        if name.startswith("model_state.") and name.endswith(".var") and (arr < 0).any():
            raise CheckpointError(f"{path}: tensor '{name}': a running variance below 0; "
                                  "expected batch norm's variances ≥ 0")


def load_network(path: str | os.PathLike) -> tuple[Any, Any, dict]:
    """``(params, model_state, info)``: a network rebuilt from its model file alone.

    The architecture comes from the metadata (:func:`save_network`); MLP files
    written before every network was a network of layers (architecture
    ``{"kind": "mlp"}``, or none: their ``sizes`` and ``activation``
    metadata, the run's config, or the shapes of their ``layers.<i>.w``
    tensors) load as the network ``dense, g, …, dense``. The dtype is that of
    the first weight tensor. ``info`` is :func:`read_info`'s dict.

    Nothing is allocated before the architecture is checked (types, ranges,
    nesting depth, number of layers) and the tensor shapes it implies are
    compared with the header's; after loading, every tensor must be finite and
    batch norm's running variances ≥ 0. The arrays come back read-only, as
    every parameter array funcnet hands out.

    Raises:
      CheckpointError: not a model file (e.g. a training state), an
        architecture that cannot be rebuilt or does not fit the tensors,
        weights that are not float32/float64 or not finite, or any
        :func:`load` failure.
    """
    from funcnet import model

    path = Path(path)
    info = read_info(path)
    tensors = info["tensors"]
    if any(name.startswith("params.") for name in tensors):
        raise CheckpointError(f"{path}: a training state, not a model: pass the "
                              "model.safetensors beside it (or the run folder)")
    from funcnet.layers import network

    try:
        specs, shape = model.architecture_specs(_architecture(path, info))
        expected = network.param_shapes(specs, shape)
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the model from its metadata: "
                              f"{_one_line(exc)}") from None
    names = legacy_names(specs) if is_legacy_mlp(info) else None
    dtype = _check_against_header(path, info, expected, names or (lambda n: n))
    template = network.init(rng.key(0), specs, shape, "he", dtype)  # as large as the file's layers
    got = load(path, _network_tree(template, model.init_model_state(template)), names=names)
    _check_values(path, got)
    return (_tree.freeze(attrs.evolve(template, layers=got["layers"])), _tree.freeze(got["model_state"]),
            info)
