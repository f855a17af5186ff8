"""What a plan is measured on: the machine's identity, as plans are keyed by it."""

from __future__ import annotations

import functools
import json
import os
import platform
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Machine", "canonical", "cpu_model", "machine", "usable_cores"]

_CPU_FIELDS = ("model name", "vendor_id", "cpu family", "model", "stepping", "cache size",
               "CPU implementer", "CPU architecture", "CPU variant", "CPU part", "CPU revision",
               "Hardware", "Model")


# --- the machine ----------------------------------------------------------------------------

class Machine(NamedTuple):
    """What a plan was measured on; a stored plan is used only where every field is equal."""

    cpu: str
    arch: str
    cores: int
    blas: str
    kernel: str
    numpy: str


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's name from the first processor of ``/proc/cpuinfo`` (or the text
    ``cpuinfo``): its model name, vendor, family, model, stepping and cache size
    (on ARM: implementer, part, revision), which tell apart CPUs that share a
    marketing name; ``platform.processor()`` or ``platform.machine()`` elsewhere.

    >>> cpu_model("model name\\t: AMD EPYC\\ncpu family\\t: 25\\nmodel\\t\\t: 17\\nflags : sse\\n")
    'AMD EPYC; cpu family 25; model 17'
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                cpuinfo = fh.read()
        except OSError:
            cpuinfo = ""
    first = cpuinfo.strip().split("\n\n")[0]
    fields = dict(map(str.strip, line.split(":", 1)) for line in first.splitlines() if ":" in line)
    parts = [fields[k] if k == "model name" else f"{k} {fields[k]}"
             for k in _CPU_FIELDS if fields.get(k)]
    return "; ".join(parts) or platform.processor() or platform.machine() or "unknown CPU"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else ``os.cpu_count()``.

    >>> usable_cores() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@functools.cache
def _blas() -> tuple[str, str]:
    """(library and version, OpenBLAS kernel or "") of the first BLAS threadpoolctl finds."""
    from .._kernels import _controller

    for lib in _controller().lib_controllers:
        if lib.user_api == "blas":
            return f"{lib.internal_api} {lib.version}", str(getattr(lib, "architecture", "") or "")
    return "no BLAS found", ""


@functools.cache
def _cpu() -> str:
    return cpu_model()


def machine() -> Machine:
    """This machine's identity, as plans are keyed by it.

    >>> m = machine()
    >>> m.numpy == np.__version__ and m.cores == usable_cores()
    True
    """
    blas, kernel = _blas()
    return Machine(_cpu(), platform.machine(), usable_cores(), blas, kernel, np.__version__)


def canonical(value: Any) -> str:
    """``value`` as canonical JSON: the text keys and candidates are compared by.

    >>> canonical({"b": (1, 2), "a": "x"})
    '{"a":"x","b":[1,2]}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


