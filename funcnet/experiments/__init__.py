"""Experiments as data: tasks, lists of tasks, and one engine that runs them.

A :class:`Task` is a small picklable record: a pipeline file, config
overrides (a dict of typed values) and a seed. :func:`seeds`,
:func:`ablation` and :func:`grid` build lists of tasks; :func:`execute`
runs them (here, in local worker processes, or on a Dask cluster) and
yields one row per task as each finishes; :func:`sweep` runs a grid and
returns the rows as a DataFrame (and, with ``out``, keeps ``results.csv``
and every task's run folder); :func:`summarize` gives mean ± sd per grid
point.

Results are a pure function of the tasks: a task's row holds the same
numbers, bit for bit, wherever it runs. BLAS sums depend on the number of
threads that split them (OpenBLAS gives other last bits with 1 and 2
threads), so every task runs with ``threads`` BLAS threads (default 1),
set with threadpoolctl in whichever process runs it, and funcnet's chunked
passes share their chunks among as many threads (:func:`funcnet.runtime.threads`);
local workers default to one per core, so that workers × threads = cores.

>>> t = Task("/p/mnist.py", {"learning_rate": 0.05}, seed=1)
>>> t.overrides, t.seed, folder_name(t, ["learning_rate"])
({'learning_rate': 0.05}, 1, 'learning_rate=0.05_seed-1')
"""

from .engine import execute
from .sweeps import read_results, summarize, sweep
from .task import METRICS, STATUSES, run_task, trained
from .tasks import (Task, ablation, ablation_variants, folder_name, grid, parse_grid, parse_sets,
                    seeds, value_text)
from .workers import close, connect, local_cluster

__all__ = ["Task", "METRICS", "STATUSES", "seeds", "ablation", "ablation_variants", "grid",
           "parse_grid", "parse_sets", "value_text", "folder_name", "run_task", "trained",
           "execute", "sweep", "summarize", "read_results", "connect", "local_cluster", "close"]
