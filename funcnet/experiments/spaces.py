"""Search spaces: the Config fields a search varies and how each is drawn; sampling them.

A space maps field names to :class:`Dimension` records, written on the
command line as ``--space FIELD=SPEC``:

- ``a..b``: uniform on [a, b] (integers on an int field);
- ``log:a..b``: log-uniform, ``exp(U[ln a, ln b])`` (learning rates);
- ``int:a..b``: integers a..b, each equally likely;
- ``choice:v1,v2,...``: one of the values (a tuple field separates them by ``;``).

Drawing is Optuna's (the ``search`` extra: ``pip install 'funcnet[search]'``):
its distributions and samplers (``random``; ``tpe``, the tree-structured
Parzen estimator of Bergstra et al. 2011) through its ask-and-tell
interface, so funcnet's own engine runs every trial. :func:`sample` draws
``n`` configurations from a key with Optuna's ``RandomSampler``, the
configurations a search of the same seed tries with the random sampler.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import attrs

from .. import pipeline as fpipeline
from .. import rng
from ..errors import ConfigError
from .tasks import Task, _load, check_fixed, distinct, parse_sets, value_text

KINDS = ("uniform", "log", "int", "choice")
SAMPLERS = ("random", "tpe")
INSTALL = "pip install 'funcnet[search]'"


@attrs.frozen
class Dimension:
    """How one Config field is drawn: ``kind`` (one of :data:`KINDS`), the range
    ``[low, high]`` (``integer`` for an int field) or the ``choices``.

    >>> Dimension("log", 1e-4, 1e-1)
    Dimension(kind='log', low=0.0001, high=0.1, integer=False, choices=())
    """

    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    low: float | None = None
    high: float | None = None
    integer: bool = False
    choices: tuple = attrs.field(default=(), converter=tuple)

    def text(self) -> str:
        """The dimension as ``--space`` takes it.

        >>> Dimension("log", 1e-4, 0.1).text(), Dimension("choice", choices=((784, 10), (784, 32, 10))).text()
        ('log:0.0001..0.1', 'choice:784,10;784,32,10')
        """
        if self.kind == "choice":
            sep = ";" if any(isinstance(c, (tuple, list)) for c in self.choices) else ","
            return "choice:" + sep.join(value_text(c) for c in self.choices)
        head = {"uniform": "", "log": "log:", "int": "int:"}[self.kind]
        return f"{head}{_number(self.low)}..{_number(self.high)}"


def _number(x) -> str:
    """A bound as written: an int without a point, a float as repr.

    >>> _number(3), _number(0.5), _number(1e-4)
    ('3', '0.5', '0.0001')
    """
    return str(int(x)) if isinstance(x, int) else repr(float(x))


def _bounds(key: str, text: str, integer: bool) -> tuple:
    """``a..b`` as two numbers (ints when ``integer``), low < high."""
    a, sep, b = text.partition("..")
    try:
        if not sep:
            raise ValueError
        low, high = (int(a), int(b)) if integer else (float(a), float(b))
    except ValueError:
        kind = "integers" if integer else "numbers"
        raise ConfigError(f"--space {key}={text}: expected a range of {kind} LOW..HIGH") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"--space {key}={text}: expected finite LOW < HIGH")
    return low, high


def _is_int(tp) -> bool:
    """Whether a Config field holds an int (``int`` or ``int | None``)."""
    import typing

    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return tp is int or (len(args) == 1 and args[0] is int)


def parse_dimension(config_cls: type, key: str, text: str) -> Dimension:
    """One ``--space KEY=SPEC`` item as a :class:`Dimension` of the field ``key``.

    >>> import attrs
    >>> C = attrs.make_class("C", {"lr": attrs.field(type=float, default=0.1),
    ...                            "hidden": attrs.field(type=int, default=8)})
    >>> parse_dimension(C, "lr", "log:1e-4..1e-1").text(), parse_dimension(C, "hidden", "16..64")
    ('log:0.0001..0.1', Dimension(kind='int', low=16, high=64, integer=True, choices=()))
    >>> parse_dimension(C, "hidden", "choice:64,128,64").choices
    (64, 128)
    >>> parse_dimension(C, "lr", "log:0..1")
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: --space lr=log:0..1: a log-uniform range needs LOW > 0
    """
    table = {name: tp for name, tp, *_ in fpipeline.fields(config_cls)}
    fpipeline.check_key(table, key, "--space")
    head, sep, rest = text.partition(":")
    kind, body = (head.strip(), rest) if sep and head.strip() in ("log", "int", "choice") else ("", text)
    if kind == "choice":
        split = ";" if fpipeline.is_tuple(table[key]) else ","
        values = [v.strip() for v in body.split(split) if v.strip()]
        if not values:
            raise ConfigError(f"--space {key}={text}: expected values such as choice:V1{split}V2")
        parsed = [fpipeline.parse_field(config_cls, key, v, "--space") for v in values]
        return Dimension("choice", choices=tuple(distinct(parsed)))
    integer = kind == "int" or _is_int(table[key])
    low, high = _bounds(key, body.strip(), integer)
    if kind == "log" and low <= 0:
        raise ConfigError(f"--space {key}={text}: a log-uniform range needs LOW > 0")
    if kind == "log":
        return Dimension("log", low, high, integer)
    return Dimension("int" if integer else "uniform", low, high, integer)


def parse_space(config_cls: type, items: Iterable[str] | Mapping[str, Any]) -> dict[str, Dimension]:
    """``--space KEY=SPEC`` items (or a dict of specs or Dimensions) as ``{field: Dimension}``.

    Raises ConfigError naming the key (with the nearest valid one), a bad
    range or a value its field does not take; a field given twice is refused.
    """
    pairs = items.items() if isinstance(items, Mapping) else [_item(i) for i in items]
    space: dict[str, Dimension] = {}
    for key, spec in pairs:
        if key in space:
            raise ConfigError(f"--space {key}: given twice")
        space[key] = spec if isinstance(spec, Dimension) else parse_dimension(config_cls, key, str(spec))
    return space


def _item(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise ConfigError(f"--space {item!r}: expected KEY=SPEC such as learning_rate=log:1e-4..1e-1")
    return key.strip(), value


def space_text(space: Mapping[str, Dimension]) -> dict[str, str]:
    """A space as ``{field: --space spec}`` (what ``sweep.json`` records).

    >>> space_text({"lr": Dimension("log", 1e-4, 0.1), "p": Dimension("uniform", 0.0, 0.5)})
    {'lr': 'log:0.0001..0.1', 'p': '0.0..0.5'}
    """
    return {k: d.text() for k, d in space.items()}


# ---------------------------------------------------------------- Optuna


def optuna():
    """The optuna module, or a one-line ConfigError saying how to install it."""
    try:
        import optuna as module
    except ImportError:
        raise ConfigError(f"searching a space needs Optuna: {INSTALL}") from None
    return module


@contextlib.contextmanager
def quiet_optuna():
    """Inside the block Optuna logs warnings only (it logs every trial at INFO level)."""
    module = optuna()
    level = module.logging.get_verbosity()
    module.logging.set_verbosity(module.logging.WARNING)
    try:
        yield module
    finally:
        module.logging.set_verbosity(level)


def distributions(space: Mapping[str, Dimension]) -> dict:
    """Optuna's distribution for each dimension; a choice draws the text of its values."""
    dist = optuna().distributions
    out = {}
    for key, d in space.items():
        if d.kind == "choice":
            out[key] = dist.CategoricalDistribution([value_text(c) for c in d.choices])
        elif d.integer:
            out[key] = dist.IntDistribution(int(d.low), int(d.high), log=d.kind == "log")
        else:
            out[key] = dist.FloatDistribution(float(d.low), float(d.high), log=d.kind == "log")
    return out


def values_of(space: Mapping[str, Dimension], params: Mapping[str, Any]) -> dict:
    """The typed Config values of an Optuna trial's ``params`` (a choice's text → its value)."""
    out = {}
    for key, d in space.items():
        value = params[key]
        if d.kind == "choice":
            value = next(c for c in d.choices if value_text(c) == value)
        out[key] = int(value) if d.integer and d.kind != "choice" else value
    return out


def sampler_seed(key) -> int:
    """The integer seed Optuna's samplers take, drawn from a funcnet key.

    >>> sampler_seed(rng.key(0)) == sampler_seed(rng.key(0)) != sampler_seed(rng.key(1))
    True
    """
    return int(rng.generator(key).integers(2**31 - 1))


def make_sampler(name: str, key, startup: int = 10):
    """Optuna's sampler ``name`` (random or tpe), seeded from ``key``; TPE draws its first
    ``startup`` trials at random."""
    module = optuna()
    if name not in SAMPLERS:
        raise ConfigError(f"--sampler {name}: expected one of {', '.join(SAMPLERS)}")
    seed = sampler_seed(key)
    if name == "tpe":
        return module.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    return module.samplers.RandomSampler(seed=seed)


def draw(space: Mapping[str, Dimension], n: int, key) -> list[dict]:
    """``n`` configurations ``{field: value}`` drawn at random from ``space`` with ``key``
    (the same key, the same configurations, in the same order)."""
    with quiet_optuna() as module:
        study = module.create_study(direction="maximize", sampler=make_sampler("random", key))
        dists = distributions(space)
        return [values_of(space, study.ask(dists).params) for _ in range(int(n))]


def sample(space: Mapping[str, Dimension | str], n: int, key, pipeline: str | Path | None = None,
           seeds: Sequence[int] = (0,), overrides=None) -> list[Task]:
    """``n`` configurations drawn from ``space`` with ``key``, each run with each seed: the tasks
    (configuration slowest, seed fastest), as :func:`funcnet.experiments.grid` lists a grid's.

    ``space`` maps fields to :class:`Dimension` or ``--space`` specs (those
    need ``pipeline``, whose Config types them). Draws are uniform, uniform
    in the log, integer or one of the choices, as each dimension says.

    >>> from funcnet import rng
    >>> tasks = sample({"learning_rate": Dimension("log", 1e-4, 1e-1)}, 3, rng.key(0))
    >>> [round(t.overrides["learning_rate"], 6) for t in tasks] == [
    ...     round(t.overrides["learning_rate"], 6) for t in sample(
    ...         {"learning_rate": Dimension("log", 1e-4, 1e-1)}, 3, rng.key(0))]
    True
    >>> all(1e-4 <= t.overrides["learning_rate"] <= 1e-1 for t in tasks)
    True
    """
    path, fixed = "", {}
    if pipeline is not None:
        pipe, path = _load(pipeline)
        space = parse_space(pipe.Config, space)
        fixed = parse_sets(pipe.Config, overrides or {})
    elif any(not isinstance(d, Dimension) for d in space.values()):
        raise ConfigError("sample: a space of --space texts needs the pipeline that types them")
    check_fixed(fixed, space, "--space")
    return [Task(path, {**fixed, **point}, int(s)) for point in draw(space, n, key) for s in seeds]
