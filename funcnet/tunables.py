"""The passes ``funcnet tune`` measures, registered with :mod:`funcnet.planner`.

One pass today: the chunked full-batch gradients of the tutorial's MLP
(:func:`funcnet.model._fused.grads`), at the tutorial's shape — 41,000 digits of
784 uint8 pixels, 784-10-10 — in float32 and float64. Its plans are the
first layer's padding (:class:`funcnet.model._fused.Layout`) and the worker
threads, the chunk rows kept as the default layout's: the chunks' partial
gradients are summed in chunk order, so other chunk rows give other bits,
while the threads never change them (and padding does or does not,
depending on the kernel and dtype: the planner's bit check keeps only the
paddings that give the default's bits on this machine).

>>> from funcnet import planner
>>> cands = chunked_candidates(TUTORIAL[0])
>>> cands[0]["threads"] == planner.usable_cores(), len({c["chunk_bytes"] for c in cands})
(True, 1)
"""

from __future__ import annotations

import numpy as np

from . import model, planner, rng
from .model import _fused as chunked  # the fused dense kernel: its chunked passes

__all__ = ["CHUNKED", "TUTORIAL", "PADDINGS", "chunked_candidates", "chunked_run",
           "chunked_plan", "chunked_key", "describe_layout", "describe_shape"]

CHUNKED = "chunked.grads"
TUTORIAL = tuple({"rows": 41000, "sizes": [784, 10, 10], "x": "uint8", "dtype": d}
                 for d in ("float32", "float64"))
# (forward, backward) zero-column paddings of the first layer's products: as they are, and
# the widths at which OpenBLAS's SkylakeX kernel was faster (see funcnet.model._fused.LAYOUTS).
PADDINGS = ((0, 0), (16, 12), (0, 12), (16, 0))


def chunked_candidates(key: dict) -> list[dict]:
    """Plans of :func:`funcnet.model._fused.grads` at shape ``key``: the default first
    (:func:`funcnet.model._fused.layout` for this kernel and dtype, every usable core), then
    every padding of :data:`PADDINGS` × threads from the cores down to 1, each with
    the default's ``chunk_bytes`` (so the same chunk boundaries and order of sums).

    >>> [(c["forward"], c["backward"], c["threads"]) for c in chunked_candidates(TUTORIAL[0])][-1]
    (16, 0, 1)
    """
    default = chunked.layout(np.dtype(key["dtype"]))
    cores = planner.usable_cores()
    first = dict(default._asdict(), threads=cores)
    rest = [dict(chunk_bytes=default.chunk_bytes, forward=f, backward=b, threads=t)
            for f, b in PADDINGS for t in range(cores, 0, -1)]
    return [first] + [c for c in rest if c != first]


def chunked_run(key: dict):
    """``run(plan) -> (Σ −log A[i, y_i], gradients, #right)``: :func:`funcnet.model._fused.grads`
    with ``plan`` on inputs of shape ``key``, made once from fixed keys (uint8 or float
    X of ``rows`` × ``sizes[0]``, labels, the tutorial's init in ``dtype``).

    >>> run = chunked_run({"rows": 300, "sizes": [6, 5, 3], "x": "uint8", "dtype": "float64"})
    >>> plan = {"chunk_bytes": 512, "forward": 0, "backward": 0, "threads": 1}
    >>> from funcnet import tree
    >>> tree.equal(run(plan), run(dict(plan, threads=2)))
    True
    """
    dtype, sizes, n = np.dtype(key["dtype"]), tuple(key["sizes"]), int(key["rows"])
    params = model.init(rng.key(0), sizes, "tutorial", dtype=dtype)
    gen = rng.generator(rng.key(1))
    x = gen.integers(0, 256, (n, sizes[0]), dtype=np.uint8)
    x = x if key.get("x", "uint8") == "uint8" else (x / 255).astype(key["x"])
    y = gen.integers(0, sizes[-1], n)

    def run(plan: dict):
        layout = chunked.Layout(plan["chunk_bytes"], plan["forward"], plan["backward"])
        return chunked.grads(params, x, y, plan=layout, threads=plan["threads"])

    return run


def chunked_key(x: np.ndarray, sizes, dtype) -> dict:
    """The planner's shape key of a chunked pass over ``x`` through layer ``sizes`` in ``dtype``.

    >>> chunked_key(np.zeros((5, 3), np.uint8), (3, 2), np.float32)
    {'rows': 5, 'sizes': [3, 2], 'x': 'uint8', 'dtype': 'float32'}
    """
    return {"rows": int(len(x)), "sizes": [int(s) for s in sizes], "x": np.dtype(x.dtype).name,
            "dtype": np.dtype(dtype).name}


def chunked_plan(key: dict, mode: str | None = None) -> tuple:
    """``(layout, threads)`` for :func:`funcnet.model._fused.grads` at shape ``key``: the plan
    the planner keeps for this machine, measured on first use (:func:`funcnet.planner.choose`
    over :func:`chunked_candidates`; ``FUNCNET_PLAN`` or ``mode`` can turn measuring off).
    Every candidate it may return gives the default layout's bits on this machine.
    The test inputs of the measurement are made only if it measures.

    >>> layout, threads = chunked_plan(TUTORIAL[0], mode="default")
    >>> layout == chunked.layout(np.float32), threads == planner.usable_cores()
    (True, True)
    """
    made: list = []

    def run(plan: dict):
        if not made:
            made.append(chunked_run(key))
        return made[0](plan)

    plan = planner.choose(CHUNKED, key, chunked_candidates(key), run, mode=mode)
    return chunked.Layout(plan["chunk_bytes"], plan["forward"], plan["backward"]), int(plan["threads"])


def describe_layout(plan: dict, key: dict) -> str:
    """A plan of :func:`chunked_candidates` for shape ``key`` in a few words.

    >>> describe_layout({"chunk_bytes": 4 << 20, "forward": 16, "backward": 0, "threads": 2},
    ...                 TUTORIAL[0])
    '1024-row chunks, W1 padded to 16 columns, 2 threads'
    """
    rows = chunked.chunk_rows(key["sizes"][0], np.dtype(key["dtype"]), plan["chunk_bytes"])
    pads = [f"W1 padded to {plan['forward']} columns" if plan["forward"] else "",
            f"dZ1 padded to {plan['backward']} columns" if plan["backward"] else ""]
    return ", ".join([f"{rows}-row chunks", *([p for p in pads if p] or ["no padding"]),
                      f"{plan['threads']} thread{'s' if plan['threads'] != 1 else ''}"])


def describe_shape(key: dict) -> str:
    """A shape key in a few words.

    >>> describe_shape(TUTORIAL[1])
    '41000×784 uint8, 784-10-10 float64'
    """
    return (f"{key['rows']}×{key['sizes'][0]} {key.get('x', 'uint8')}, "
            f"{'-'.join(map(str, key['sizes']))} {key['dtype']}")


planner.register(CHUNKED, planner.Tunable(chunked_candidates, chunked_run, TUTORIAL,
                                          describe_layout, describe_shape))
