"""Milliseconds to augment a batch of MNIST digits beside the training step it feeds.

A batch of 128 training digits (28×28×1, float32 in [0, 1], as the pipelines'
batches are) is distorted by ``funcnet.augment.affine`` (rotation, scale,
shift, shear) and by ``funcnet.augment.elastic`` (Simard et al. 2003's elastic
distortion), and the MNIST CNN of ``pipelines/mnist_cnn.py`` takes a training
step on it: its ``Config()`` with ``classify.init_state(config)`` and
``train.make_step(classify.optimizer(config), l2=config.l2, donate=True)``, as
``classify.train`` builds them for ``funcnet run``. The three take turns in
each round (``--calls`` timed calls each), so a change in the machine's load
hits them alike; each round's medians give a ratio augmentation / step, and
the median of the rounds' ratios is compared with the target (< 0.15), and
the ratios of the best single calls (the least disturbed by other processes)
and of the CPU time per call (all threads, BLAS's spinning included) are
printed beside it. The same distortions of the uint8 digits are timed
in each round too.

    python benchmarks/augment.py                   # 7 rounds (the first a warm-up), 10 calls each
    python benchmarks/augment.py --rounds 11 --threads 1
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import _common as C
from cnn_step import digits, limit_blas

TARGET = 0.15  # augmenting a batch takes less than this fraction of the step it feeds
HERE = os.path.dirname(os.path.abspath(__file__))


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=128, help="images per batch")
    p.add_argument("--rounds", type=int, default=7,
                   help="rounds (the first is a warm-up, dropped; at least 6)")
    p.add_argument("--calls", type=int, default=10, help="timed calls of each contender a round")
    p.add_argument("--threads", type=int, default=2, help="NumPy's BLAS threads (threadpoolctl)")
    p.add_argument("--rotation", type=float, default=15.0, help="affine: max rotation, degrees")
    p.add_argument("--scale", type=float, nargs=2, default=(0.9, 1.1), help="affine: scale range")
    p.add_argument("--shift", type=float, default=2.0, help="affine: max shift, pixels")
    p.add_argument("--shear", type=float, default=10.0, help="affine: max shear, degrees")
    p.add_argument("--alpha", type=float, default=34.0, help="elastic: displacement scale α")
    p.add_argument("--sigma", type=float, default=4.0, help="elastic: Gaussian sd σ, pixels")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def cnn_step(batch: int):
    """(step, state) of the MNIST CNN pipeline's training, as ``classify.train`` makes them."""
    from funcnet import classify, data, pipeline, train
    pipe = pipeline.load_pipeline(os.path.join(HERE, "..", "pipelines", "mnist_cnn.py"))
    config = pipe.Config()
    per_epoch = data.num_batches(60000 - config.dev_size, batch)
    state = classify.init_state(config, per_epoch)
    step = train.make_step(classify.optimizer(config, per_epoch), l2=config.l2, donate=True,
                           label_smoothing=config.label_smoothing)
    return step, state, config


def timed_calls(f, calls: int) -> tuple[list[float], float]:
    """(wall milliseconds of each of ``calls`` calls of ``f()``, CPU ms per call, all threads)."""
    out, c0 = [], time.process_time()
    for _ in range(calls):
        t0 = C.clock()
        f()
        out.append(1e3 * (C.clock() - t0))
    return out, 1e3 * (time.process_time() - c0) / calls


def main(argv=None):
    args = parse(argv)
    from funcnet import augment, rng
    from funcnet.data import Dataset
    with limit_blas(args.threads):
        C.print_header(f"augmenting a batch of {args.batch} MNIST digits (28×28×1) beside the "
                       f"MNIST CNN's training step, BLAS threads {args.threads}")
        x, y = digits(args.batch)  # float32 (n, 28, 28, 1) in [0, 1]
        x8 = np.rint(x * 255).astype(np.uint8)
        step, state, config = cnn_step(args.batch)
        print(f"   pipelines/mnist_cnn.py: filters={config.filters} hidden={config.hidden} "
              f"dropout={config.dropout} optimizer={config.optimizer}")
        print(f"   affine: rotation ±{args.rotation:g}°, scale {args.scale[0]:g}–"
              f"{args.scale[1]:g}, shift ±{args.shift:g} px, shear ±{args.shear:g}°; "
              f"elastic: α={args.alpha:g}, σ={args.sigma:g}")
        batch = Dataset(x.reshape(len(x), -1), y)  # the flat float32 rows a pipeline's stream gives
        keys = iter(rng.split(rng.key(args.seed), args.rounds * args.calls * 4))
        holder = {"state": state}

        def run_step():
            holder["state"] = step(holder["state"], batch)

        contenders = {
            "affine": lambda: augment.affine(next(keys), x, args.rotation, tuple(args.scale),
                                             args.shift, args.shear),
            "elastic": lambda: augment.elastic(next(keys), x, args.alpha, args.sigma),
            "affine uint8": lambda: augment.affine(next(keys), x8, args.rotation,
                                                   tuple(args.scale), args.shift, args.shear),
            "elastic uint8": lambda: augment.elastic(next(keys), x8, args.alpha, args.sigma),
            "CNN step": run_step}
        rounds = []
        for r in range(args.rounds):
            got = {name: timed_calls(f, args.calls) for name, f in contenders.items()}
            med = {name: C.median(ms) for name, (ms, _) in got.items()}
            print(f"   round {r}{' (warm-up)' if not r else ''}: "
                  + ", ".join(f"{name} {m:.2f}" for name, m in med.items()) + " ms")
            if r:
                rounds.append(got)
        report(rounds)


def report(rounds: list[dict]) -> None:
    """Print each contender's median ms (and the spread) and the ratios to the step."""
    if len(rounds) < 5:
        print(f"only {len(rounds)} timed rounds: run with --rounds 6 or more")
        return
    walls = {name: [C.median(r[name][0]) for r in rounds] for name in rounds[0]}
    calls = {name: [ms for r in rounds for ms in r[name][0]] for name in rounds[0]}
    cpus = {name: [r[name][1] for r in rounds] for name in rounds[0]}
    print(f"over {len(rounds)} rounds (wall: the median of each round's calls; CPU: all threads):")
    for name in rounds[0]:
        print(f"   {name:<14s} median {C.median(walls[name]):7.2f} ms   rounds "
              f"{min(walls[name]):7.2f}–{max(walls[name]):7.2f}   single calls "
              f"{min(calls[name]):7.2f}–{max(calls[name]):7.2f}   "
              f"CPU {C.median(cpus[name]):7.2f} ms")
    step = "CNN step"
    for name in [n for n in rounds[0] if n != step]:
        ratios = [a / b for a, b in zip(walls[name], walls[step])]
        ratio = C.median(ratios)
        verdict = (f"target < {TARGET:.2f}: {'met' if ratio < TARGET else 'NOT met'}"
                   if "uint8" not in name else "(for comparison)")
        print(f"ratio {name:<14s} / {step} {ratio:6.3f} "
              f"(rounds {min(ratios):.3f}–{max(ratios):.3f}; "
              f"best call / best call {min(calls[name]) / min(calls[step]):.3f}; CPU "
              f"{C.median(cpus[name]) / C.median(cpus[step]):.3f}) {verdict}")
    print("   load average (1, 5, 15 min) at the end: "
          + " ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
