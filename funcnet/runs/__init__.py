"""Run folders: save a run, load its model and state, resume it; never clobber one.

A run folder (``funcnet run --out DIR``) holds one run:

- ``config.json``: the run's config (every field, the seed resolved);
- ``model.safetensors``: the parameters the run delivers (a checkpoint whose
  metadata holds ``sizes`` and ``activation``);
- ``state.safetensors``: the whole training state (parameters, optimizer
  state, step, key), to resume from; its metadata also holds ``window``, the
  training figures summed since the last history row, so that an epoch cut
  by Ctrl-C reports the whole epoch once resumed;
- ``best.safetensors``: with early stopping, the state with the best
  monitored score so far when it is an earlier one (its score, the records
  since and its step are in the state's metadata, ``best``), so that a
  resumed run stops where the uncut run would and delivers the same
  parameters;
- ``history.csv``: one row per history record (per epoch, or every
  ``log_every`` iterations);
- ``metrics.json``: the final figures (only once the run has ended);
- ``curves.png``, ``confusion.png``, ``mistakes.png``, ``weights.png``.

The rules:

- **One run per folder, one writer at a time.** :func:`lock` holds the
  folder (a ``.funcnet.lock`` file beside the run) while a run writes it; a
  second run is refused at once. :func:`refuse_to_clobber` refuses a folder
  that already holds a run; :func:`clear` removes every file of an old run
  before a new one is written (``--overwrite``), so a folder never mixes two.
- **Saved as it goes.** :func:`save_progress` writes config, history, model
  and state at every history record, each file atomically and the state
  last, so a killed run can always be resumed from its last record.
  :func:`save` writes the finished run (and its pictures).
- **A run is complete** when ``config.json``, ``model.safetensors`` and
  ``state.safetensors`` are all there (:func:`is_complete`); a folder with
  only some of them is the remains of a save cut short (:func:`describe`).
- **Resume continues the same run.** :func:`check_resume` allows only the
  fields in :data:`EXTENDING` (``iterations``, ``epochs``, ``log_every``,
  ``patience``) to change; every other field defines the data, the split,
  the model or the schedule. The schedule belongs to the run: a learning
  rate that decays over the run's length (``schedule`` cosine, step or
  exponential) would change shape in mid-run, so such a run keeps its
  ``epochs`` (and ``iterations``); with ``schedule=constant`` (warm-up
  included) or no schedule they may grow.

The API, for the command line and for experiments alike:

- ``claim(folder, overwrite=, resuming=)``: a context manager holding the
  folder for one run (``check_writable``, ``lock``, then ``clear`` or
  ``refuse_to_clobber``, and ``clean_temp``); ``lock(folder)`` alone.
- ``save_progress(folder, state, config, history=)`` at each record;
  ``save(folder, result, config, history=, pictures=, names=)`` at the end.
- ``resume(folder, pipe, overrides) -> Resumed(config, state, window,
  history)``; pass ``state`` and ``window`` to :func:`funcnet.pipeline.run`
  and the new rows to ``join_history(resumed.history, result.history)``.
- ``load(folder) -> Saved(folder, config, metrics, history, params, info)``;
  ``load_model(path) -> (params, info)``, the one way a model is read (a
  model file, a run folder, or an ensemble folder: then ``params`` is a
  :class:`funcnet.model.Ensemble`).
- ``is_complete(folder)`` (resumable), ``is_finished(folder)`` (ran to its
  end), ``describe(folder)``, ``contents(folder)``, ``read_metrics(folder)``.

The modules: ``files`` (the files' names and the rules), ``folders`` (what a
folder holds; claiming one), ``writing`` (saving as it goes and at the end),
``resuming`` and ``reading`` (a run read back), ``ensemble_folders`` (an
ensemble's folder: its members' model files and ``ensemble.json``, written
whole or not at all).

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> is_complete(folder), describe(folder)
(False, 'nothing of a run')
>>> with lock(folder):
...     check_writable(folder)
"""

from __future__ import annotations

from pathlib import Path  # noqa: F401 -- the example above uses it

from .files import (ABLATION_TABLE, BEST, CONFIG, DECAYING, EXTENDING, HISTORY, LENGTH, LOCK,
                    METRICS, MODEL, NO_WINDOW, PICTURES, REQUIRED, RUN_FILES, SEEDS_TABLE, STATE,
                    SUMMARIES, json_default, to_json_text, write_atomic)
from .folders import (check_writable, claim, clean_temp, clear, contents, describe, is_complete,
                      lock, refuse_to_clobber)
from .ensemble_folders import ENSEMBLE, is_ensemble
from .reading import Saved, is_finished, load, load_model, model_file, read_metrics
from .resuming import (Resumed, check_resume, history, join_history, load_best, load_state,
                       read_config, resume)
from .writing import recorder, save, save_progress

__all__ = ["CONFIG", "MODEL", "STATE", "METRICS", "HISTORY", "BEST", "PICTURES", "SUMMARIES",
           "SEEDS_TABLE", "ABLATION_TABLE", "RUN_FILES", "REQUIRED", "LOCK", "EXTENDING",
           "DECAYING", "LENGTH", "NO_WINDOW", "Resumed", "model_file", "load_model", "is_complete",
           "contents", "describe", "check_writable", "lock", "claim", "refuse_to_clobber",
           "clean_temp", "clear", "read_config", "check_resume", "load_state", "load_best",
           "history", "join_history", "recorder", "save_progress", "save", "resume",
           "read_metrics", "is_finished", "Saved", "load", "write_atomic", "to_json_text",
           "json_default", "ENSEMBLE", "is_ensemble"]
