"""Tasks and the lists of them: seeds, an ablation, a grid; ``--grid`` and ``--set`` items typed."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import attrs

from .. import pipeline as fpipeline
from ..errors import ConfigError


@attrs.frozen
class Task:
    """One run: the pipeline file, the Config fields it changes, the seed, a variant name.

    ``overrides`` maps field names to typed values (``{"sizes": (784, 32, 10)}``);
    ``variant`` names an ablation's variant ("" otherwise).
    """

    pipeline: str
    overrides: dict = attrs.field(factory=dict, converter=dict)
    seed: int | None = None
    variant: str = ""



def value_text(value: Any) -> str:
    """A value as ``--set`` would take it: tuples as ``a,b,c``.

    >>> value_text((784, 10)), value_text(0.1), value_text(None), value_text(True)
    ('784,10', '0.1', 'none', 'true')
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


def parse_sets(config_cls: type, items: Iterable[str] | Mapping[str, Any],
               flag: str = "--set") -> dict:
    """``key=value`` items (or a dict) as a dict of values typed as their Config fields.

    Raises ConfigError naming the key (with the nearest valid one) or the
    field and type a value does not convert to.
    """
    pairs = items.items() if isinstance(items, Mapping) else [_split(i, flag) for i in items]
    return {key: fpipeline.parse_field(config_cls, key, value, flag) for key, value in pairs}


def _split(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise ConfigError(f"{flag} {item!r}: expected key=value")
    return key.strip(), value


def parse_grid(config_cls: type, items: Iterable[str]) -> dict[str, list]:
    """``--grid KEY=V1,V2`` items as ``{field: [typed values]}``, in the order given.

    A tuple-valued field takes its values separated by ``;``
    (``sizes=784,32,10;784,64,10``); a KEY given twice adds values.
    """
    table = {name: tp for name, tp, *_ in fpipeline.fields(config_cls)}
    out: dict[str, list] = {}
    for item in items:
        key, text = _split(item, "--grid")
        fpipeline.check_key(table, key, "--grid")
        sep = ";" if fpipeline.is_tuple(table[key]) else ","
        values = [v for v in text.split(sep) if v.strip()]
        if not values:
            raise ConfigError(f"--grid {key}: expected values such as {key}=V1{sep}V2")
        out.setdefault(key, []).extend(
            fpipeline.parse_field(config_cls, key, v.strip(), "--grid") for v in values)
    return out


def _load(path: str | Path):
    pipe = fpipeline.load_pipeline(path)
    return pipe, str(Path(path).absolute())


def seeds(pipeline: str | Path, seeds: Sequence[int], overrides=None) -> list[Task]:
    """One task per seed, each with the same overrides (a dict, or ``key=value`` items)."""
    pipe, path = _load(pipeline)
    fixed = parse_sets(pipe.Config, overrides or {})
    return [Task(path, fixed, int(s)) for s in seeds]


def grid(pipeline: str | Path, grid: Mapping[str, Sequence], seeds: Sequence[int] = (0,),
         overrides=None) -> list[Task]:
    """One task per point of the grid (first key slowest) and seed (fastest).

    >>> import pathlib
    >>> tasks = grid(pathlib.Path("pipelines/mnist.py"), {"learning_rate": [0.1, 0.2]}, [0, 1])
    >>> [(t.overrides["learning_rate"], t.seed) for t in tasks]
    [(0.1, 0), (0.1, 1), (0.2, 0), (0.2, 1)]
    """
    pipe, path = _load(pipeline)
    fixed = parse_sets(pipe.Config, overrides or {})
    axes = {k: [fpipeline.parse_field(pipe.Config, k, v, "--grid") for v in vs]
            for k, vs in grid.items()}
    points = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    return [Task(path, {**fixed, **point}, int(s)) for point in points for s in seeds]



ABLATION_SEEDS = (0, 1, 2)  # the seeds an ablation runs unless told otherwise
BASELINE = "tutorial (all quirks)"  # the ablation's first variant, which the others are compared with


def ablation_variants(pipe, path: str) -> tuple[list[tuple[str, dict]], str | None]:
    """The runs of the tutorial's ablation: ``[(name, Config changes)]`` and a note.

    A pipeline whose Config has ``tutorial_quirks`` can be ablated. If it
    also lists its quirks in a module dict ``QUIRKS`` (name → description)
    and its Config has ``fixes: tuple[str, ...]`` (the quirks fixed anyway
    under ``tutorial_quirks``), the runs are: all quirks, each fix alone,
    all fixes. Otherwise only all quirks against all fixes, with a note.
    """
    names = {name for name, *_ in fpipeline.fields(pipe.Config)}
    if "tutorial_quirks" not in names:
        raise ConfigError(f"{path}: --ablation needs a pipeline whose Config has tutorial_quirks "
                          "(such as pipelines/mnist.py)")
    quirks = getattr(pipe, "QUIRKS", None)
    if not (quirks and "fixes" in names):
        return ([(BASELINE, {"tutorial_quirks": True}),
                 ("all fixes", {"tutorial_quirks": False})],
                f"{path} cannot toggle single fixes (it defines no QUIRKS dict and Config "
                "field fixes): comparing all quirks with all fixes only")
    return ([(BASELINE, {"tutorial_quirks": True, "fixes": ()})]
            + [(f"fix {q}", {"tutorial_quirks": True, "fixes": (q,)}) for q in quirks]
            + [("all fixes", {"tutorial_quirks": False, "fixes": ()})], None)


def ablation(pipeline: str | Path, seeds: Sequence[int] = ABLATION_SEEDS, overrides=None) -> list[Task]:
    """The ablation's tasks: each variant (:func:`ablation_variants`) over each seed."""
    pipe, path = _load(pipeline)
    fixed = parse_sets(pipe.Config, overrides or {})
    variants, _ = ablation_variants(pipe, str(pipeline))
    return [Task(path, {**fixed, **changes}, int(s), name)
            for name, changes in variants for s in seeds]


def folder_name(task: Task, keys: Sequence[str] = ()) -> str:
    """A task's run folder: the values of ``keys``, then the seed (``lr=0.1_seed-0``).

    >>> folder_name(Task("p.py", {"sizes": (784, 10), "data": "a/b"}, 2), ["sizes", "data"])
    'sizes=784-10_data=a-b_seed-2'
    """
    parts = [f"{k}={value_text(task.overrides.get(k)).replace(',', '-')}" for k in keys]
    name = "_".join(parts + [f"seed-{task.seed}"])
    return re.sub(r"[^\w.=+-]", "-", name)
