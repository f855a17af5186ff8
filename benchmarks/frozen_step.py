"""Milliseconds per training step of the MNIST CNN with its convolutions frozen, beside the
whole network trained: what stopping the backward pass at the first trainable layer saves.

The network is pipelines/mnist_cnn.py's (conv(32, 3×3)-relu-maxpool(2)-conv(64, 3×3)-relu-
maxpool(2)-flatten-dropout-dense(128)-relu-dropout-dense(10)), batch 128, float32, AdamW
1e-3 (weight decay 1e-4 on the weights), one step = ``train.make_step(opt)`` on a TrainState.
Three contenders take turns, a block of ``--steps`` steps each per round:

- ``whole``: every layer trained;
- ``frozen``: ``chain(freeze("layers.0-5"), adamw(...))``: the convolutions (half of the
  layers) frozen; the step neither writes them nor runs their backward pass;
- ``frozen, full backward``: the same optimizer with its ``frozen`` marker dropped, so the
  step computes every gradient and applies zero updates to the convolutions: what
  freezing by the optimizer alone would cost.

The ratios are taken within each round and their median printed, with the spread over
the rounds, beside the CPU model, the BLAS kernel and the plan.

    python benchmarks/frozen_step.py                  # 6 rounds of 10 steps each, 2 threads
    python benchmarks/frozen_step.py --threads 1
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import _common as C
from cnn_step import digits, limit_blas, timed


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=128, help="batch size")
    p.add_argument("--steps", type=int, default=10, help="steps per contender in each round")
    p.add_argument("--rounds", type=int, default=6, help="rounds (the first is a warm-up, dropped)")
    p.add_argument("--threads", type=int, default=2, help="NumPy's BLAS threads (threadpoolctl)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def contenders(args) -> dict:
    """name -> (step, initial state): three steps on the same network and batches."""
    from funcnet import classify, model, optim, rng, train
    config = classify.CNNConfig()
    specs, shape = classify.architecture(config)
    net = model.init(rng.key(args.seed), specs, input_shape=shape)
    adamw = lambda: optim.adamw(1e-3, weight_decay=1e-4, mask="*.w")  # noqa: E731
    frozen = optim.chain(optim.freeze("layers.0-5"), adamw())
    opts = {"whole": adamw(), "frozen": frozen,
            "frozen, full backward": frozen._replace(frozen=None)}
    return {name: (train.make_step(opt), train.init_state(net, opt, rng.key(args.seed + 1)))
            for name, opt in opts.items()}


def main(argv=None):
    args = parse(argv)
    from funcnet.data import Dataset
    with limit_blas(args.threads):
        C.print_header(f"MNIST CNN training step, batch {args.batch}, float32: convolutions "
                       f"frozen vs the whole network, {args.threads} BLAS thread(s)")
        x, y = digits(args.batch * args.steps)
        batches = [Dataset(x[i:i + args.batch], y[i:i + args.batch])
                   for i in range(0, len(x), args.batch)]
        runs = contenders(args)
        states = {name: state for name, (_, state) in runs.items()}
        rounds: dict = {name: [] for name in runs}

        def block(name):
            step = runs[name][0]

            def go(bs):
                for b in bs:
                    states[name] = step(states[name], b)
            return go

        for r in range(args.rounds):
            line = []
            for name in runs:
                times, cpu = timed(block(name), batches)
                if r:
                    rounds[name].append(C.median(times))
                line.append(f"{name} {C.median(times):7.2f}")
            print(f"   round {r}{' (warm-up)' if not r else ''}: " + ", ".join(line) + " ms/step")
    plan = f"none (im2col, one GEMM per convolution; {args.threads} BLAS thread(s))"
    for name, ms in rounds.items():
        print(f"{name:<22s} {C.spread(ms, digits=2)} ms/step  {C.where(plan)}")
    whole = rounds["whole"]
    for name in ("frozen", "frozen, full backward"):
        ratios = [a / b for a, b in zip(rounds[name], whole)]
        print(f"{name:<22s} {C.median(ratios):5.2f} × whole (rounds {C.spread(ratios, digits=2)})"
              f"  {C.where(plan)}")
    print("   load average (1, 5, 15 min) at the end: "
          + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    assert np.array_equal(states["frozen"].params.layers[0].w,
                          runs["frozen"][1].params.layers[0].w), "a frozen array moved"


if __name__ == "__main__":
    main()
