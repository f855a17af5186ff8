"""Ensembles of finished runs: check that they go together, then write one ensemble folder.

:func:`ensemble` is what ``funcnet ensemble RUN_DIR... --out DIR`` does: the
folder it writes (:mod:`funcnet.runs.ensemble_folders`) is a model that
``funcnet evaluate``, ``predict`` and ``serve`` take wherever they take a run
folder, its probabilities the mean of its members' (:mod:`funcnet.model.ensembles`).
"""

from __future__ import annotations

from pathlib import Path

from .. import report, runs
from ..checkpoint import trained_on
from ..errors import ConfigError
from ..model import num_outputs
from ..model.ensembles import Ensemble
from ..runs import ensemble_folders

__all__ = ["ensemble", "member_names", "check_finished", "check_classes", "agreed"]


def member_names(folders) -> list[str]:
    """The members' file names: each run folder's name; a name already taken gets its parent
    folder's name before it, then ``-2``, ``-3``, ... if still taken.

    >>> member_names(["runs/mlp/seed-0", "runs/cnn/seed-0", "runs/b/cnn/seed-0", "c"])
    ['seed-0', 'cnn-seed-0', 'cnn-seed-0-2', 'c']
    """
    names: list[str] = []
    for folder in folders:
        path = Path(folder).resolve()
        name = path.name or "run"
        if name in names and path.parent.name:
            name = f"{path.parent.name}-{name}"
        base, n = name, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def check_finished(folder) -> None:
    """A ConfigError naming ``folder`` unless it holds a run that ran to its end.

    >>> check_finished("/nonexistent/run")
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: /nonexistent/run: not a finished run: it holds nothing of a run
    """
    out = Path(folder)
    if runs.is_finished(out):
        return
    if runs.is_ensemble(out):
        why = "it holds an ensemble (give the runs it was made of)"
    elif not runs.is_complete(out):
        why = f"it holds {runs.describe(out)}"
    elif runs.read_metrics(out) is None:
        why = f"it has not ended (no metrics.json): continue it with funcnet run --resume {out}"
    else:
        why = f"it stopped before its end ({runs.read_metrics(out).get('stopped')})"
    raise ConfigError(f"{out}: not a finished run: {why}")


def _classes_of(info: dict) -> tuple:
    """What a member's classes are called: its data set's class names, or the digits."""
    return report.class_names(info["config"].get("dataset")) or ("digits",)


def check_classes(folders, infos) -> None:
    """A ConfigError unless the members' classes have the same names and the known data sets
    their model files record (MNIST, Fashion-MNIST) agree.

    >>> check_classes(["a", "b"], [{"config": {"dataset": "mnist"}, "metadata": {}},
    ...                            {"config": {"dataset": "fashion-mnist"}, "metadata": {}}])
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: b: its classes are fashion-mnist's (T-shirt/top, Trouser, ...), but a's are digits: an ensemble's members have the same classes
    """
    def named(info):
        names = _classes_of(info)
        return (f"{info['config'].get('dataset')}'s ({', '.join(names[:2])}, ...)"
                if len(names) > 1 else names[0])

    first = infos[0]
    for folder, info in zip(folders[1:], infos[1:]):
        if _classes_of(info) != _classes_of(first):
            raise ConfigError(f"{folder}: its classes are {named(info)}, but {folders[0]}'s are "
                              f"{named(first)}: an ensemble's members have the same classes")
        sets = {trained_on(first), trained_on(info)} - {None}
        if len(sets) > 1:
            raise ConfigError(f"{folder}: trained on {trained_on(info)}, but {folders[0]} on "
                              f"{trained_on(first)}: an ensemble's members have the same classes")


def agreed(infos) -> dict:
    """The data the members share: ``dataset`` and ``data`` of their configs and the known data
    set they were trained on, each where every member has the same (else None).

    >>> agreed([{"config": {"dataset": "mnist", "data": "a.csv"}, "metadata": {}},
    ...         {"config": {"dataset": "mnist", "data": "b.csv"}, "metadata": {}}])
    {'dataset': 'mnist', 'data': None, 'trained_on': None}
    """
    def shared(values):
        values = list(values)
        return values[0] if all(v == values[0] for v in values) else None

    return {"dataset": shared(i["config"].get("dataset") for i in infos),
            "data": shared(i["config"].get("data") for i in infos),
            "trained_on": shared(trained_on(i) for i in infos)}


def ensemble(run_dirs, out, *, overwrite: bool = False) -> Path:
    """Write the ensemble of the finished runs ``run_dirs`` into the folder ``out``.

    Every folder must hold a run that ran to its end (:func:`check_finished`),
    given once; the members must take the same examples, have as many classes
    (:func:`funcnet.model.ensembles.check_members`) and the same class names
    (:func:`check_classes`): else one ConfigError line naming the folder, and
    nothing written. Each member's ``model.safetensors`` is copied into
    ``out/members/`` and ``out/ensemble.json`` says how they combine: the mean
    of their softmax probabilities. ``out`` must be new or empty, or hold an
    ensemble and ``overwrite`` be set. Returns ``out``; read it with
    :func:`funcnet.runs.load_model`.

    >>> ensemble([], "/tmp/never")
    Traceback (most recent call last):
    ...
    funcnet.errors.ConfigError: an ensemble needs at least one run folder
    """
    folders = [Path(d) for d in run_dirs]
    if not folders:
        raise ConfigError("an ensemble needs at least one run folder")
    seen: dict = {}
    for folder in folders:
        first = seen.setdefault(folder.resolve(), folder)
        if first is not folder:
            also = "" if str(first) == str(folder) else f" (also as {first})"
            raise ConfigError(f"{folder}: given twice{also}: each run is one member")
        check_finished(folder)
    loaded = [runs.load_model(folder) for folder in folders]
    infos = [info for _, info in loaded]
    ens = Ensemble.of([params for params, _ in loaded], names=[str(f) for f in folders])
    check_classes(folders, infos)
    files = [f"{ensemble_folders.MEMBERS}/{name}.safetensors" for name in member_names(folders)]
    rec = ensemble_folders.record(
        files, [str(f.resolve()) for f in folders], input_shape=ens.input_shape,
        classes=num_outputs(ens), class_names=report.class_names(agreed(infos)["dataset"]),
        agreed=agreed(infos))
    models = {rel: runs.model_file(folder) for rel, folder in zip(files, folders)}
    return ensemble_folders.write(out, rec, models, overwrite=overwrite)
