"""Plans chosen by measurement and kept per machine, as FFTW's planner and cuDNN's
benchmark mode choose theirs.

A hot pass can often run in several layouts (rows per chunk, zero columns padded
to a narrow product, a number of threads) whose speed depends on the CPU and the
BLAS kernel, not on the maths. :func:`choose` runs each candidate once, keeps
those whose result has the same bits as the first (the default plan), times
them over a few alternating rounds and picks the one of least median time::

    choice = argmin_{c ∈ C} median_r t(c, r),   C = {c : run(c) ≡ run(c_0), bit for bit}

The choice is stored in this machine's plan file and used from then on (read
once per process). The caller promises that its candidates give the same bits
(the planner knows no maths); the bit check drops any that do not, on this
machine, so choosing never changes a result.

**The plan file.** One file per machine, ``plans-<digest>.json`` in
:func:`cache_folder` (``$FUNCNET_CACHE/plans``, else ``plans`` in funcnet's OS
cache folder, ``~/.cache/funcnet`` on Linux), the digest taken over the :class:`Machine` record (CPU
model, BLAS library and version, OpenBLAS kernel, NumPy version, usable cores),
which the file also holds: a plan is used only where every field is equal, so a
plan measured on one CPU is never used on another, even in a shared home
folder. Entries are keyed by (pass name, shape key). A missing, unreadable,
corrupt, truncated or foreign file is ignored (and replaced at the next store);
stores take a file lock, re-read the file and write it atomically.

**Measuring or not.** ``FUNCNET_PLAN`` (or the ``mode`` argument) is
``measure`` (the default: use the stored plan, measure when there is none),
``cached`` (use a stored plan, never measure: the default plan otherwise) or
``default`` (the first candidate, no file read: deterministic tests).

This is process and machine state, as :mod:`funcnet.runtime`: the pure
functions never call it; a kernel's caller asks it which plan to run.

>>> import numpy as np
>>> now = [0.0]
>>> def run(plan):                      # a fake pass: costs plan["cost"] seconds
...     now[0] += plan["cost"]
...     return np.ones(3)
>>> choose("demo", {"rows": 8}, [{"cost": 3}, {"cost": 1}], run, mode="default")
{'cost': 3}
>>> measure([{"cost": 3}, {"cost": 1}, {"cost": 2}], run, timer=lambda: now[0]).choice
1
"""

from __future__ import annotations

from .choosing import MODES, Measured, choose, measure, plan_mode
from .identity import Machine, canonical, cpu_model, machine, usable_cores
from .planfile import FORMAT, Plan, cache_folder, clear, plan_file, plans, read_plans, store
from .registry import Tunable, register, registered, tune

__all__ = ["MODES", "FORMAT", "Machine", "Measured", "Plan", "Tunable", "canonical", "cpu_model",
           "usable_cores", "machine", "cache_folder", "plan_file", "plan_mode", "read_plans",
           "store", "measure", "choose", "plans", "clear", "register", "registered", "tune"]
