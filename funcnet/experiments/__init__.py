"""Experiments as data: tasks, lists of tasks, and one engine that runs them.

A :class:`Task` is a small picklable record: a pipeline file, config
overrides (a dict of typed values) and a seed. :func:`seeds`,
:func:`ablation` and :func:`grid` build lists of tasks; :func:`execute`
runs them (here, in local worker processes, or on a Dask cluster) and
yields one row per task as each finishes. Three studies run such a list
into a folder they own and return the rows as a DataFrame: :func:`sweep`
(a grid × seeds; ``results.csv`` and every task's run folder; :func:`summarize`
gives mean ± sd per grid point), :func:`run_seeds` (``seeds.csv`` and
``seed-S/``) and :func:`run_ablation` (``ablation.csv``);
:func:`trained_runs`, :func:`seeds_lines` and :func:`ablation_lines` are
the tables of the last two and their text. :func:`ensemble` writes the
ensemble of finished runs into a folder that is a model of its own
(``ensembling``).

A search (:func:`search`) draws configurations from a space (:func:`sample`:
uniform, log-uniform, integer or choice) and prunes them by successive
halving (:func:`rungs`, :class:`Ladder`), promoted trials continuing their
saved runs; :func:`best_trials` ranks its rows.

The modules, each importing only those above it: ``tasks`` (Task and the
lists), ``layout`` (where the files go), ``rows`` (one task run into its
row), ``runners`` (pools: this process, worker processes, Dask), ``engine``
(:func:`execute`), ``studies``; ``spaces`` (spaces and sampling, with
Optuna), ``halving`` (rungs and decisions) and ``searching`` (:func:`search`). Process-wide settings (BLAS threads, the
stop flag, quiet NumPy) are :mod:`funcnet.runtime`'s.

Results are a pure function of the tasks: a task's row holds the same
numbers, bit for bit, wherever it runs. BLAS sums depend on the number of
threads that split them (OpenBLAS gives other last bits with 1 and 2
threads), so every task runs with ``threads`` BLAS threads (default 1),
set with threadpoolctl in whichever process runs it, and funcnet's chunked
passes share their chunks among as many threads (:func:`funcnet.runtime.threads`);
local workers default to one per core, so that workers × threads = cores.

>>> t = Task("/p/mnist.py", {"learning_rate": 0.05}, seed=1)
>>> t.overrides, t.seed, folder_name(t, ["learning_rate"])
({'learning_rate': 0.05}, 1, 'learning_rate=0.05_seed-1_6d8fc498d8')
"""

from .tasks import (ABLATION_SEEDS, BASELINE, Task, ablation, ablation_variants, folder_name,
                    grid, legacy_folder_name, parse_grid, parse_sets, seeds, task_digest,
                    value_text)
from .rows import METRICS, STATUSES, budget_field, make_row, run_task, task_config, trained
from .runners import close, connect, local_cluster
from .engine import execute
from .ensembling import ensemble
from .studies import (ablation_lines, read_results, run_ablation, run_seeds, seeds_lines,
                      summarize, sweep, trained_runs)
from .spaces import SAMPLERS, Dimension, parse_space, sample, space_text
from .halving import Ladder, rungs
from .searching import best_trials, budget_spent, search

__all__ = ["Task", "METRICS", "STATUSES", "ABLATION_SEEDS", "BASELINE", "seeds", "ablation",
           "ablation_variants", "grid", "parse_grid", "parse_sets", "value_text", "folder_name",
           "legacy_folder_name", "task_digest",
           "task_config", "make_row", "run_task", "trained", "execute", "sweep", "run_seeds",
           "run_ablation", "trained_runs", "seeds_lines", "ablation_lines", "summarize",
           "read_results", "connect", "local_cluster", "close", "ensemble", "Dimension", "SAMPLERS",
           "parse_space", "space_text", "sample", "rungs", "Ladder", "search", "best_trials", "budget_spent",
           "budget_field"]
