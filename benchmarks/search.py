"""Successive halving against running every trial to the end, on local workers and on Dask.

The stand-in: ``pipelines/mnist_mlp.py`` with ``sizes=784,64,10``,
``epochs=9`` and a constant learning rate (``schedule=constant
warmup_epochs=0``) — its stages otherwise unchanged (55,000 training digits
shifted by up to 2 pixels, 5,000 dev digits, AdamW, dropout), one hidden
layer of 64 units instead of 512-512 (about a tenth of the arithmetic: 27
runs of the default network's 20 epochs would take hours on 2 shared
cores). The rate is constant because successive halving judges a trial at a
rung by where it stands then, which predicts where it ends only if the rest
of its run trains as the start did; a warm-up and cosine decay spread over
the whole budget change the rate under the trials between rungs (measured:
with them, the four best full runs were all stopped at 3 epochs, halving
ending 0.38 points below the best; ``--set schedule=cosine --set
warmup_epochs=0.5`` runs that stand-in again).

27 configurations are drawn (Optuna's random sampler, ``--seed``) from
``learning_rate=log:1e-4..1e-1``, ``dropout=0..0.5`` and
``weight_decay=log:1e-6..1e-2``, and run two ways on ``--workers`` local
worker processes (one BLAS thread each):

- full: every trial to the whole budget (``experiments.search(halving=None)``);
- halving: successive halving, η = 3, rungs of 1, 3 and 9 epochs
  (``experiments.search(halving=3, min_budget=1)``), promoted trials
  continuing their saved runs.

Printed: the best dev accuracy of the full runs, the dev accuracy (at 9
epochs) of the configuration halving ranks first and the gap in points
(target ≤ 0.2); the training steps halving took over those of the full runs
(target ≤ 40 %); and whether each trial halving ran to the end has the row
of its full run, bit for bit. Then the same search on a Dask cluster
started here (``dask scheduler`` and ``dask worker --nworkers 2 --nthreads
1`` on 127.0.0.1): whether its rows equal the local workers' bit for bit
(every column but ``seconds``).

    python benchmarks/search.py
    python benchmarks/search.py --trials 9 --no-dask      # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import _common as C

ROOT = Path(__file__).resolve().parents[1]
SPACE = {"learning_rate": "log:1e-4..1e-1", "dropout": "0..0.5", "weight_decay": "log:1e-6..1e-2"}


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its finished child processes."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(**kwargs) -> tuple[float, float, pd.DataFrame]:
    """Wall and CPU seconds of one search, and its rows."""
    from funcnet import experiments

    start, cpu = time.perf_counter(), cpu_seconds()
    frame = experiments.search(ROOT / "pipelines" / "mnist_mlp.py", SPACE, **kwargs)
    return time.perf_counter() - start, cpu_seconds() - cpu, frame


def no_timing(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["seconds"]).reset_index(drop=True)


def steps(frame: pd.DataFrame) -> int:
    """Training steps a search took: each trial and seed, the steps of its last rung."""
    return int(frame.groupby(["trial", "seed"])["steps"].max().sum())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dask_cluster(workers: int, logs: Path):
    """``dask scheduler`` and ``dask worker --nworkers N --nthreads 1`` on 127.0.0.1: a client."""
    from funcnet import experiments
    from funcnet.errors import ClusterError

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    commands = [
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(port), "--no-dashboard"],
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
         "--nworkers", str(workers), "--nthreads", "1", "--no-dashboard"],
    ]
    procs, client = [], None
    try:
        for i, command in enumerate(commands):
            log = open(logs / f"dask-{i}.log", "w")
            procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        deadline = time.monotonic() + 60
        while client is None:
            try:
                client = experiments.connect(address, timeout=2)
            except ClusterError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        client.wait_for_workers(workers, timeout=60)
        yield client
    finally:
        if client is not None:
            experiments.close(client)
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=27)
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--min-epochs", type=int, default=1)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--sizes", default="784,64,10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-dask", action="store_true", help="skip the search on Dask")
    parser.add_argument("--out", default=None, help="keep the searches' folders here")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                        help="fix another field of the stand-in (repeatable; after the stand-in's "
                             "own schedule=constant warmup_epochs=0, e.g. --set schedule=cosine)")
    args = parser.parse_args()

    from funcnet import experiments

    fixed = {"sizes": args.sizes, "epochs": args.epochs, "schedule": "constant", "warmup_epochs": "0"}
    for item in args.sets:
        field, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item}: expected FIELD=VALUE")
        fixed[field.strip()] = value.strip()
    C.print_header(f"search: {args.trials} configurations of pipelines/mnist_mlp.py "
                   f"sizes={args.sizes} epochs={args.epochs}"
                   + "".join(f" {k}={v}" for k, v in fixed.items() if k not in ("sizes", "epochs"))
                   + f", successive halving η={args.eta} "
                   f"from {args.min_epochs} epoch(s) against every trial to the end")
    local = f"{args.workers} local worker processes x 1 BLAS thread"
    tag = C.where(local)
    scratch = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="funcnet-bench-search-"))
    common = dict(trials=args.trials, seed=args.seed, overrides=fixed)

    t_full, c_full, full = timed(halving=None, workers=args.workers, out=scratch / "full",
                                 overwrite=True, **common)
    print(f"   full: {len(full)} runs to {args.epochs} epochs in {t_full:.0f} s ({c_full:.0f} CPU s); "
          f"load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f"  {tag}")
    t_half, c_half, half = timed(halving=args.eta, min_budget=args.min_epochs,
                                 workers=args.workers, out=scratch / "halving", overwrite=True,
                                 **common)
    print(f"   halving: {len(half)} runs (budgets {half.attrs['budgets']}) in {t_half:.0f} s "
          f"({c_half:.0f} CPU s); load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
          + f"  {tag}")
    assert (full["status"] == "ok").all() and (half["status"] == "ok").all()

    best_full = full["dev_accuracy"].max()
    found = experiments.best_trials(half).iloc[0]
    found_dev = float(found["dev_accuracy"])
    gap = 100 * (best_full - found_dev)
    print(f"   best dev accuracy of the {args.trials} full runs: {best_full:.4f} (trial "
          f"{int(full.loc[full['dev_accuracy'].idxmax(), 'trial'])}); halving's first: trial "
          f"{int(found['trial'])} at {int(found['budget'])} epochs, dev {found_dev:.4f}: "
          f"{gap:.2f} points below (target <= 0.2: {'met' if gap <= 0.2 else 'NOT met'})  {tag}")
    s_full, s_half = steps(full), steps(half)
    print(f"   training steps: halving {s_half:,} of the full runs' {s_full:,} = "
          f"{100 * s_half / s_full:.1f} % (target <= 40 %: "
          f"{'met' if s_half <= 0.4 * s_full else 'NOT met'}); wall time {t_half / t_full:.2f} x "
          f"the full runs'  {tag}")
    done = half[half["decision"] == "done"]
    keep = ["train_accuracy", "dev_accuracy", "loss", "steps"]
    same = all((full[full["trial"] == t][keep].to_numpy() == done[done["trial"] == t][keep].to_numpy()).all()
               for t in done["trial"])
    print(f"   the {len(done)} trials halving ran to the end have the rows of their full runs, "
          f"bit for bit: {same}")
    print("   full runs, best dev first:")
    table = full.sort_values("dev_accuracy", ascending=False)[["trial", *SPACE, "dev_accuracy"]]
    decided = half.groupby("trial")["budget"].max()
    for row in table.itertuples(index=False):
        print(f"     trial {row.trial:2d}  lr {row.learning_rate:.2e}  dropout {row.dropout:.3f}  "
              f"wd {row.weight_decay:.1e}  dev {row.dev_accuracy:.4f}  halving stopped it at "
              f"{int(decided[row.trial])} epochs")

    if args.no_dask:
        return
    dask_tag = C.where(f"dask scheduler + {args.workers} workers x 1 thread on 127.0.0.1")
    with dask_cluster(args.workers, scratch) as client:
        t_dask, _, on_dask = timed(halving=args.eta, min_budget=args.min_epochs, client=client,
                                   out=scratch / "dask", overwrite=True, **common)
    equal = no_timing(on_dask).equals(no_timing(half))
    print(f"   dask: {len(on_dask)} runs in {t_dask:.0f} s; rows identical to the local workers' "
          f"bit for bit (every column but seconds): {equal}  {dask_tag}")
    if not equal:
        diff = no_timing(on_dask).compare(no_timing(half))
        print(diff.head(20).to_string())


if __name__ == "__main__":
    main()
