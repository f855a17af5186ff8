"""Models and examples for ``predict`` and ``evaluate``: read a checkpoint, load data, predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CheckpointError, DataError

def model_file(path) -> Path:
    """The model checkpoint ``path`` names: the file, or ``model.safetensors`` in a run folder."""
    p = Path(path)
    if p.is_dir():
        if not (p / "model.safetensors").is_file():
            raise CheckpointError(f"{p}: no model.safetensors in this folder "
                                  "(expected a funcnet run folder, as written by funcnet run --out)")
        return p / "model.safetensors"
    return p


def _sizes_from(path: Path, tensors: dict) -> list[int]:
    """Layer sizes read off the tensors ``layers.<i>.w`` of a model checkpoint."""
    shapes = [tensors.get(f"layers.{i}.w", (None, None))[1] for i in range(len(tensors))]
    shapes = [s for s in shapes if s is not None]
    if not shapes:
        raise CheckpointError(f"{path}: no layers.<i>.w tensors and no sizes in the metadata: "
                              "expected a funcnet model checkpoint")
    return [int(shapes[0][0])] + [int(s[1]) for s in shapes]


def load_model(path):
    """``(params, info)``: a model checkpoint read into a template rebuilt from its header.

    The sizes and activation come from the checkpoint's metadata (else its
    config or tensor shapes); the dtype from the first weight tensor.
    """
    from .. import activations, checkpoint, model

    file = model_file(path)
    info = checkpoint.read_info(file)
    tensors, meta, cfg = info["tensors"], info["metadata"], info["config"]
    if any(name.startswith("params.") for name in tensors):
        raise CheckpointError(f"{file}: a training state, not a model: pass the "
                              "model.safetensors beside it (or the run folder)")
    sizes = meta.get("sizes") or _sizes_from(file, tensors)
    activation = meta.get("activation") or cfg.get("activation") or "relu"
    dtype = tensors.get("layers.0.w", ("float32",))[0]
    try:
        activations.get(activation)
        template = model.Params(tuple(model.Dense.zeros(int(a), int(b), np.dtype(dtype))
                                      for a, b in zip(sizes[:-1], sizes[1:])), activation)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{file}: cannot rebuild the model from its metadata: {exc}") from None
    return checkpoint.load(file, template), info


def load_examples(data, info, split: str | None):
    """``(dataset, description)``: the examples to predict or judge.

    ``data`` is a CSV file or a folder of IDX files; without it, the data
    the model was trained on (its config's ``data``, else
    ``$FUNCNET_DATA/<dataset>``). From a folder the ``test`` split is used
    unless ``split`` says otherwise; a CSV file holds one set.
    """
    from .. import data as fdata

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


def probabilities(params, x: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Class probabilities for every row of ``x`` (pixels scaled to [0, 1] chunk by chunk).

    >>> from funcnet import model, rng
    >>> probabilities(model.init(rng.key(0), (4, 3)), np.zeros((5, 4), np.uint8)).shape
    (5, 3)
    """
    from ..data import scale
    from ..model import predict_proba

    dtype = params.layers[0].w.dtype
    parts = [predict_proba(params, scale(x[i:i + chunk], dtype)) for i in range(0, len(x), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, params.sizes[-1]), dtype)


def _check_inputs(params, ds, description: str) -> None:
    if ds.num_features != params.sizes[0]:
        raise DataError(f"{description}: {ds.num_features} pixels per image, but the model "
                        f"expects {params.sizes[0]}")


def _model_line(path, params) -> str:
    return f"model: {model_file(path)} ({'-'.join(map(str, params.sizes))} {params.activation})"

