"""Fine-tuning's pieces for the pipelines' configs: lr_groups items, patterns checked against
the network, the trained model read, its matching layers taken (:mod:`funcnet.classify` uses them).

Everything here is pure except :func:`read_trained`, which reads a model file.

>>> lr_groups_of(("layers.0-3=1e-4", "*.b=1e-3"))
[('layers.0-3', 0.0001), ('*.b', 0.001)]
"""

from __future__ import annotations

from pathlib import Path

from . import checkpoint, model, tree
from .errors import CheckpointError, ConfigError

__all__ = ["REST", "lr_groups_of", "check_patterns", "read_trained", "take_layers"]

REST = "rest"  # the label of the parameters no lr_groups pattern names


def lr_groups_of(items) -> list[tuple[str, float]]:
    """``[(pattern, rate)]`` from ``lr_groups`` items ``PATTERN=RATE``, or a ValueError naming
    the field and the item.

    >>> lr_groups_of(("layers.0-3=1e-4",))
    [('layers.0-3', 0.0001)]
    >>> lr_groups_of(("layers.0",))
    Traceback (most recent call last):
    ...
    ValueError: lr_groups: expected PATTERN=RATE items such as layers.0-3=1e-4, got 'layers.0'
    """
    out = []
    for item in items:
        pattern, sep, rate = str(item).rpartition("=")
        try:
            value = float(rate)
        except ValueError:
            value = float("nan")
        if not sep or not pattern or pattern == REST or not value > 0:
            raise ValueError(f"lr_groups: expected PATTERN=RATE items such as layers.0-3=1e-4, "
                             f"got {item!r}")
        out.append((pattern, value))
    return out


def _layer_list(params) -> str:
    return ", ".join(p for p, _, _ in model.layer_paths(params))


def check_patterns(config, params) -> None:
    """Refuse a ``freeze``, ``lr_groups`` or ``init_layers`` pattern that names no parameter
    of the network (a ConfigError naming the field, the pattern and the layers there are)."""
    fields = {"freeze": tuple(getattr(config, "freeze", ())),
              "lr_groups": tuple(p for p, _ in lr_groups_of(getattr(config, "lr_groups", ()))),
              "init_layers": tuple(getattr(config, "init_layers", ()))}
    for name, patterns in fields.items():
        missing = tree.unmatched(params, patterns) if patterns else []
        if missing:
            raise ConfigError(f"{name}: {missing[0]!r} names no parameter of the network; "
                              f"its layers with parameters are {_layer_list(params)}")


def read_trained(path) -> tuple:
    """``(params, model_state)`` of the model in a run folder or model file (reads it)."""
    p = Path(path)
    file = p / "model.safetensors" if p.is_dir() else p
    if p.is_dir() and not file.is_file():
        raise CheckpointError(f"init_from {p}: no model.safetensors in this folder (expected a "
                              "run folder written by funcnet run --out, or a model file)")
    params, model_state, _ = checkpoint.load_network(file)
    return params, model_state


def take_layers(config, fresh, src) -> tuple:
    """``(params, model_state)``: ``fresh`` with the layers init_from gives (ConfigError named)."""
    rule = tuple(config.init_layers) or None
    try:
        params = model.transfer(src[0], fresh, rule, partial=config.partial)
        state = model.transfer_state(src[0], src[1], fresh, model.init_model_state(fresh), rule,
                                     partial=config.partial)
    except ConfigError as exc:
        raise ConfigError(f"init_from {config.init_from}: {exc}") from None
    return params, state
