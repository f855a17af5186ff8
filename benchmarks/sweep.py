"""Eight tutorial runs as one experiment: serially in this process, and on local workers.

The tasks are ``pipelines/mnist.py`` with ``iterations=100`` for seeds
0..7 (``funcnet run pipelines/mnist.py --set iterations=100 --seeds
0,...,7``). Each is timed as ``funcnet.experiments.execute`` runs it:

- serial, 1 BLAS thread: every task in turn in this process, each computing
  with one BLAS thread as every task of the engine does;
- 2 workers: two spawned worker processes of one BLAS thread each (the
  engine's default on 2 cores), process start and data loading included;
- serial, all BLAS threads: in turn, each task free to use every core,
  as one ``funcnet run`` does (its last bits differ: OpenBLAS splits its
  sums by thread).

The target: 2 workers ≤ 0.6 × the serial time, with the 8 rows identical
bit for bit to the serial ones (every column but the timing). The CPU
seconds (this process and its workers) show the work done: on a machine
busy with other login sessions, Linux's autogroup scheduling gives a session
its share of the cores however many processes it runs, so there the wall
time of 2 workers cannot drop below the serial one's.

    python benchmarks/sweep.py
    python benchmarks/sweep.py --repeats 3 --iterations 100
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import pandas as pd

import _common as C

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its finished child processes."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(tasks, **where) -> tuple[float, float, pd.DataFrame]:
    """Wall and CPU seconds to run ``tasks`` with the engine, and their rows in task order."""
    from funcnet import experiments

    start, cpu = time.perf_counter(), cpu_seconds()
    rows = sorted(experiments.execute(tasks, **where), key=lambda pair: pair[0])
    return time.perf_counter() - start, cpu_seconds() - cpu, pd.DataFrame([row for _, row in rows])


def same_bits(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two result frames agree exactly in every column but the timing."""
    cols = [c for c in a.columns if c != "seconds"]
    return a[cols].equals(b[cols])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    from funcnet import experiments

    C.print_header(f"sweep: {args.seeds} tutorial runs of {args.iterations} iterations")
    tasks = experiments.seeds(ROOT / "pipelines" / "mnist.py", range(args.seeds),
                              {"iterations": args.iterations})
    times: dict[str, list[float]] = {"serial": [], "workers": [], "serial_all": []}
    for r in range(args.repeats):
        t_serial, c_serial, serial = timed(tasks, workers=1)
        t_workers, c_workers, local = timed(tasks, workers=args.workers)
        t_all, c_all, every = timed(tasks, workers=1, threads=None)
        for key, t in (("serial", t_serial), ("workers", t_workers), ("serial_all", t_all)):
            times[key].append(t)
        print(f"   repeat {r + 1}: serial 1 thread {t_serial:.1f} s ({c_serial:.1f} CPU s), "
              f"{args.workers} workers {t_workers:.1f} s ({c_workers:.1f} CPU s), serial all "
              f"threads {t_all:.1f} s ({c_all:.1f} CPU s); load average "
              + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        assert (serial["status"] == "ok").all(), serial[["seed", "status", "error"]]
        print(f"   rows of {args.workers} workers identical to the serial rows: "
              f"{same_bits(serial, local)}; serial all threads identical: {same_bits(serial, every)}")
    s, w, a = (C.median(times[k]) for k in ("serial", "workers", "serial_all"))
    print(f"   median: serial 1 thread {s:.1f} s | {args.workers} workers {w:.1f} s "
          f"(= {w / s:.2f} x serial; target <= 0.60) | serial all threads {a:.1f} s "
          f"({args.workers} workers = {w / a:.2f} x it)")
    print("   dev accuracy per seed: "
          + " ".join(f"{v:.4f}" for v in serial["dev_accuracy"]))


if __name__ == "__main__":
    main()
