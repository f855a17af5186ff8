"""The names of a run's files and rules, and how its small files are written atomically."""

from __future__ import annotations

import json

import numpy as np

from .. import plots as fplots
from .._atomic import write_atomic  # noqa: F401 -- runs.write_atomic

CONFIG, MODEL, STATE = "config.json", "model.safetensors", "state.safetensors"
METRICS, HISTORY, BEST = "metrics.json", "history.csv", "best.safetensors"
PICTURES = tuple(f"{name}.png" for name in fplots.SIZES)
SEEDS_TABLE, ABLATION_TABLE = "seeds.csv", "ablation.csv"  # experiments.run_seeds, run_ablation
SUMMARIES = (SEEDS_TABLE, ABLATION_TABLE)
RUN_FILES = (CONFIG, MODEL, STATE, METRICS, HISTORY, BEST, *PICTURES)
REQUIRED = (CONFIG, MODEL, STATE)
LOCK = ".funcnet.lock"
EXTENDING = ("iterations", "epochs", "log_every", "patience")
DECAYING = ("cosine", "step", "exponential")
LENGTH = ("iterations", "epochs")
NO_WINDOW = (0.0, 0, 0, 0)




def json_default(value):
    """``value`` as JSON can hold it (``json.dumps(..., default=json_default)``): NumPy scalars
    as numbers, arrays as lists.

    >>> json_default(np.float32(0.5)), json_default(np.arange(2))
    (0.5, [0, 1])
    """
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def to_json_text(obj) -> str:
    """``obj`` as indented JSON text (NumPy scalars and arrays as numbers and lists).

    >>> to_json_text({"a": np.int64(1)})
    '{\\n  "a": 1\\n}\\n'
    """
    return json.dumps(obj, indent=2, default=json_default, allow_nan=True) + "\n"
