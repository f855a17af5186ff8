"""Tasks and the lists of them: seeds, an ablation, a grid; ``--grid`` and ``--set`` items typed."""

from __future__ import annotations

import hashlib
import itertools
import json
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
    return {key: distinct(values) for key, values in out.items()}


def distinct(values: Iterable) -> list:
    """``values`` without repeats (the first of equal values kept, in order): a grid point
    given twice runs once.

    >>> distinct([0.1, 0.2, 0.10, 0.1]), distinct([(784, 10), (784, 10)])
    ([0.1, 0.2], [(784, 10)])
    """
    seen, out = set(), []
    for v in values:
        key = _canonical(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def check_fixed(fixed: Mapping[str, Any], varied: Mapping[str, Any], flag: str) -> None:
    """Refuse a seed among the varied or fixed fields, and a fixed field that is also varied.

    ``fixed`` are the ``--set`` values, ``varied`` the fields ``flag``
    (``--grid`` or ``--space``) varies, each with its values or range.

    >>> check_fixed({"lr": 0.1}, {"hidden": [8, 16]}, "--grid")
    >>> check_fixed({}, {"seed": [1, 2]}, "--grid")
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: --grid seed: the seeds are given by --seeds (such as --seeds 0,1,2), not by --grid
    """
    if "seed" in varied:
        raise ConfigError(f"{flag} seed: the seeds are given by --seeds (such as --seeds 0,1,2), "
                          f"not by {flag}")
    if "seed" in fixed:
        raise ConfigError("--set seed: the seeds are given by --seeds (such as --seeds 0,1,2), "
                          "not by --set")
    both = [k for k in fixed if k in varied]
    if both:
        k = both[0]
        v = varied[k]
        shown = v.text() if hasattr(v, "text") else v if isinstance(v, str) else ",".join(map(value_text, v))
        raise ConfigError(f"--set {k}={value_text(fixed[k])} contradicts {flag} {k}={shown}: "
                          f"give {k} in one of them")


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

    A value given twice runs once. Refused (ConfigError, one line): a grid
    over ``seed`` (the seeds are ``seeds``), an override of ``seed``, and an
    override of a field the grid varies (the two would contradict).

    >>> import pathlib
    >>> tasks = grid(pathlib.Path("pipelines/mnist.py"), {"learning_rate": [0.1, 0.2, 0.1]}, [0, 1])
    >>> [(t.overrides["learning_rate"], t.seed) for t in tasks]
    [(0.1, 0), (0.1, 1), (0.2, 0), (0.2, 1)]
    >>> grid(pathlib.Path("pipelines/mnist.py"), {"learning_rate": [0.1]}, [0], {"learning_rate": 0.5})
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: --set learning_rate=0.5 contradicts --grid learning_rate=0.1: give learning_rate in one of them
    """
    pipe, path = _load(pipeline)
    fixed = parse_sets(pipe.Config, overrides or {})
    axes = {k: distinct(fpipeline.parse_field(pipe.Config, k, v, "--grid") for v in vs)
            for k, vs in grid.items()}
    check_fixed(fixed, axes, "--grid")
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


def _canonical(value: Any) -> str:
    """A value as JSON text, the same for equal values of a field (tuples as lists).

    >>> _canonical((784, 10)), _canonical(0.10), _canonical("a/b")
    ('[784, 10]', '0.1', '"a/b"')
    """
    return json.dumps(list(value) if isinstance(value, tuple) else value, sort_keys=True)


def task_digest(task: Task) -> str:
    """A short digest of what makes a task this task: every override, the seed, the variant
    (10 hex digits of SHA-256 over their canonical JSON); distinct tasks, distinct digests.

    >>> task_digest(Task("p.py", {"data": "/x/a-b.csv"}, 0)) != task_digest(Task("p.py", {"data": "/x/a/b.csv"}, 0))
    True
    >>> task_digest(Task("p.py", {"lr": 0.1}, 0)) == task_digest(Task("q.py", {"lr": 0.10}, 0))
    True
    """
    what = {"overrides": {k: json.loads(_canonical(v)) for k, v in task.overrides.items()},
            "seed": task.seed, "variant": task.variant}
    text = json.dumps(what, sort_keys=True, allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


PREFIX = 60  # characters of a folder name's readable part (a file name holds 255 bytes)


def folder_name(task: Task, keys: Sequence[str] = ()) -> str:
    """A task's run folder: the values of ``keys`` and the seed, readable (at most
    :data:`PREFIX` characters, other characters than letters, digits and ``.=+-`` as ``-``),
    then the task's digest (:func:`task_digest`), so that distinct tasks never share a folder.

    >>> folder_name(Task("p.py", {"sizes": (784, 10), "data": "a/b"}, 2), ["sizes", "data"])
    'sizes=784-10_data=a-b_seed-2_db9ac64f15'
    >>> len(folder_name(Task("p.py", {"data": "x" * 300}, 0), ["data"]))
    71
    """
    return f"{legacy_folder_name(task, keys)[:PREFIX]}_{task_digest(task)}"


def legacy_folder_name(task: Task, keys: Sequence[str] = ()) -> str:
    """The run folder sweeps named before :func:`folder_name` (read to adopt their runs):
    the values of ``keys``, then the seed.

    >>> legacy_folder_name(Task("p.py", {"sizes": (784, 10), "data": "a/b"}, 2), ["sizes", "data"])
    'sizes=784-10_data=a-b_seed-2'
    """
    parts = [f"{k}={value_text(task.overrides.get(k)).replace(',', '-')}" for k in keys]
    name = "_".join(parts + [f"seed-{task.seed}"])
    return re.sub(r"[^\w.=+-]", "-", name)
