"""Describing a network: its layers' outputs, a summary, its architecture as JSON.

:func:`architecture` writes the JSON a checkpoint keeps and
:func:`from_architecture` rebuilds a template network from it (also from the
``{"kind": "mlp", "sizes": ...}`` record that model files of the tutorial's
MLP held before every network was a network of layers).
"""

from __future__ import annotations

import numpy as np

from .. import tree
from ..layers import base, network
from ..layers.network import Network
from . import _fused, ensembles
from .training import init


def intermediates(params: Network, x: np.ndarray, model_state=None, *, nested: bool = False):
    """Every layer's output at evaluation, ``[x_1, …, x_L]`` (Z1, A1, Z2 for the tutorial's MLP);
    with ``nested``, a dict ``{path: output}`` of every layer at every depth.

    For pictures of a few examples (the first hidden layer's activations,
    the first convolution's feature maps): not chunked.

    >>> from funcnet import rng
    >>> [a.shape for a in intermediates(init(rng.key(0), (4, 3, 2)), np.ones((5, 4)))]
    [(5, 3), (5, 3), (5, 2)]
    """
    return network.intermediates(params, x, model_state, nested=nested)


def _kind(layer) -> str:
    name = base.kind_of(layer)
    return layer.name if name == "activation" else name


def _shapes(layers: tuple, shapes: tuple, prefix: tuple) -> list:
    """(path, layer, output shape) of every layer, a block before its layers."""
    rows = []
    for i, (layer, shape) in enumerate(zip(layers, shapes)):
        path = (*prefix, i)
        rows.append((path, layer, shape))
        rows += _shapes(base.children(layer), getattr(layer, "shapes", ()), path)
    return rows


def summary(params: Network):
    """One row per layer, as Keras' ``model.summary()``: kind, output shape, params; the index
    is the layer's path (``3.0`` is layer 0 of block 3, listed after the block, whose row
    counts the params of all its layers); the last row, ``total``, counts the network's.

    >>> from funcnet import rng
    >>> summary(init(rng.key(0), (784, 10, 10)))
            kind output_shape  params
    0      dense        (10,)    7850
    1       relu        (10,)       0
    2      dense        (10,)     110
    total                        7960
    """
    import pandas as pd

    rows = _shapes(params.layers, params.shapes, ())
    return pd.DataFrame({"kind": [_kind(layer) for _, layer, _ in rows] + [""],
                         "output_shape": [str(s) for _, _, s in rows] + [""],
                         "params": [tree.size(layer) for _, layer, _ in rows] + [tree.size(params)]},
                        index=[".".join(map(str, p)) for p, _, _ in rows] + ["total"])


def describe(params: Network) -> str:
    """A one-line name: ``784-10-10 relu`` for an MLP of one activation (dropout or not), else
    the kinds in order.

    >>> from funcnet import rng
    >>> describe(init(rng.key(0), (784, 10, 10)))
    '784-10-10 relu'
    """
    if isinstance(params, ensembles.Ensemble):  # "ensemble of 2: 784-10-10 relu ×2"
        return ensembles.describe(params)
    stack = _fused.match(params)
    if stack is not None and len(set(stack.acts)) <= 1:
        sizes = [params.input_shape[0]] + [d.w.shape[1] for d in stack.dense]
        return "-".join(map(str, sizes)) + (f" {stack.acts[0]}" if stack.acts else "")
    return " ".join(summary(params)["kind"].iloc[:-1]) + f" on {params.input_shape}"


def architecture(params: Network) -> dict:
    """The architecture as JSON, enough to rebuild the network from a checkpoint.

    >>> from funcnet import rng
    >>> architecture(init(rng.key(0), (4, 3, 2), activation="tanh"))["layers"]
    [{'kind': 'dense', 'units': 3}, {'kind': 'activation', 'name': 'tanh'}, {'kind': 'dense', 'units': 2}]
    """
    return network.to_json(params)


def architecture_specs(arch) -> tuple:
    """``(specs, input_shape)`` of an architecture (:func:`architecture`'s JSON, or an older
    file's ``{"kind": "mlp", "sizes": [...], "activation": ...}``), every field checked
    before anything is built: a ValueError naming what was wrong.

    >>> architecture_specs({"kind": "mlp", "sizes": [4, 3, 2], "activation": "tanh"})[0][1]
    ActivationSpec(name='tanh')
    >>> architecture_specs({"kind": "mlp", "sizes": [4, 3.5, 2]})
    Traceback (most recent call last):
    ...
    ValueError: sizes: expected a whole number, got 3.5
    """
    from ..layers import activation as activation_spec, dense

    if not isinstance(arch, dict):
        raise ValueError(f"an architecture must be a JSON object, got {type(arch).__name__}")
    if arch.get("kind") == "mlp":
        sizes, act = arch.get("sizes"), arch.get("activation", "relu")
        if not isinstance(sizes, list) or not 2 <= len(sizes) <= network.MAX_LAYERS:
            raise ValueError("sizes: expected a list of at least 2 layer sizes")
        try:
            sizes = [base.whole(s) for s in sizes]
        except (TypeError, ValueError) as err:
            raise ValueError(f"sizes: {err}") from None
        if min(sizes) < 1:
            raise ValueError(f"sizes: expected sizes ≥ 1, got {sizes}")
        g = activation_spec(act if isinstance(act, str) else repr(act))
        specs = tuple(s for n in sizes[1:-1] for s in (dense(n), g)) + (dense(sizes[-1]),)
        return specs, network.check_input_shape(sizes[:1])
    if arch.get("kind") == "serial":
        return network.specs_from_json(arch)
    raise ValueError(f"unknown architecture kind {arch.get('kind')!r}: expected 'serial' (or 'mlp')")


def from_architecture(arch: dict, dtype=np.float32) -> Network:
    """A template network (fresh weights) of the architecture :func:`architecture` wrote, or of
    an MLP record ``{"kind": "mlp", "sizes": [...], "activation": ...}`` of older model files.

    >>> p = from_architecture({"kind": "mlp", "sizes": [4, 3, 2], "activation": "relu"})
    >>> p.input_shape, p.shapes
    ((4,), ((3,), (3,), (2,)))
    """
    from .. import rng

    if not isinstance(arch, dict):
        raise ValueError(f"an architecture must be a JSON object, got {type(arch).__name__}")
    if arch.get("kind") == "mlp":
        return init(rng.key(0), tuple(arch["sizes"]), "he", arch.get("activation", "relu"), dtype)
    if arch.get("kind") == "serial":
        return network.from_json(arch, dtype)
    raise ValueError(f"unknown architecture kind {arch.get('kind')!r}: expected 'serial' (or 'mlp')")
