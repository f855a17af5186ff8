"""Milliseconds per training step of a small CNN: funcnet's convolution and
pooling kernels beside the same network in PyTorch, measured in one process.

The network is conv(32, 3×3)-relu-maxpool(2)-conv(64, 3×3)-relu-maxpool(2)-
flatten-dense(10) on 28×28×1 MNIST digits, softmax cross-entropy, Adam 1e-3,
batch 128, float32. One step is the forward pass, the backward pass and the
Adam update: ``train.make_step(optim.adam(1e-3))`` on the network
``funcnet.init`` builds from the layer specs (the update runs over the
pytree of the layer records); ``torch.optim.Adam`` in PyTorch. The contenders take turns, a block of
``--steps`` steps each per round, so a change in the machine's load hits
both alike; the ratio is taken within each round and its median reported,
beside the ratio of the best single steps (the least disturbed by other
processes) and of the CPU time per step (all threads, spinning included).
Each figure is printed with its min and max over the rounds (6 after the
warm-up by default), beside the CPU model, the BLAS kernel and the plan.
``--threads`` sets both PyTorch's threads and NumPy's BLAS threads.

    python benchmarks/cnn_step.py                     # 7 rounds of 10 steps each, 2 threads
    python benchmarks/cnn_step.py --rounds 11 --profile
    python benchmarks/cnn_step.py --threads 1         # both on one core
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import numpy as np

import _common as C

TARGET = 2.0  # funcnet's step time at most this many times PyTorch's


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=128, help="batch size")
    p.add_argument("--steps", type=int, default=10, help="steps per contender in each round")
    p.add_argument("--rounds", type=int, default=7, help="rounds (the first is a warm-up, dropped)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads of PyTorch and of NumPy's BLAS (threadpoolctl)")
    p.add_argument("--profile", action="store_true",
                   help="also print funcnet's milliseconds per layer, forward and backward")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def digits(n: int):
    """(x: (n, 28, 28, 1) float32 in [0, 1], y: (n,) int64): the first n training digits,
    or random images when MNIST is not found."""
    try:
        train = C.mnist()["train"]
        return C.as_float(train.x[:n]).reshape(n, 28, 28, 1), train.y[:n].astype(np.int64)
    except Exception as e:  # noqa: BLE001 - a benchmark still runs without the data
        print(f"   MNIST not found ({type(e).__name__}): random images instead")
        r = np.random.default_rng(0)
        return r.random((n, 28, 28, 1), np.float32), r.integers(0, 10, n)


class Funcnet:
    """The network as a funcnet user builds it: ``funcnet.init`` from layer specs, then
    ``train.make_step(optim.adam(1e-3))``, a pure step TrainState -> TrainState."""

    def __init__(self, args):
        import funcnet
        from funcnet import data, optim, rng, train
        from funcnet.layers import conv2d, dense, flatten, max_pool, relu
        specs = (conv2d(32, 3), relu(), max_pool(2), conv2d(64, 3), relu(), max_pool(2),
                 flatten(), dense(10))
        net = funcnet.init(rng.key(args.seed), specs, input_shape=(28, 28, 1))
        opt = optim.adam(1e-3)
        self.state = train.init_state(net, opt, rng.key(args.seed + 1))
        self.step = train.make_step(opt)
        self.Dataset = data.Dataset

    def convert(self, batches):
        return [self.Dataset(x, y) for x, y in batches]

    def run(self, batches):
        for b in batches:
            self.state = self.step(self.state, b)

    def profile(self, batches) -> dict:
        """ms per step of each layer's forward and backward (the layers run one by one)."""
        from funcnet.layers import base
        from funcnet.losses import cross_entropy_grad, softmax
        net, out = self.state.params, {}

        def timed_call(name, f, *a, **kw):
            t0 = C.clock()
            r = f(*a, **kw)
            out[name] = out.get(name, 0.0) + 1e3 * (C.clock() - t0) / len(batches)
            return r

        for b in batches:
            x, caches = b.x.reshape(-1, *net.input_shape), []
            for i, layer in enumerate(net.layers):
                x, cache = timed_call(f"{i} {base.kind_of(layer)} fwd", base.forward, layer, x)
                caches.append(cache)
            dy = timed_call("softmax, dZ", lambda z: cross_entropy_grad(softmax(z), b.y), x)
            for i in reversed(range(len(net.layers))):
                dy, _ = timed_call(f"{i} {base.kind_of(net.layers[i])} bwd", base.backward,
                                   net.layers[i], caches[i], dy, need_dx=i > 0)
        t0 = C.clock()
        self.run(batches)
        out["whole step (make_step)"] = 1e3 * (C.clock() - t0) / len(batches)
        return out


class Torch:
    """The same network in PyTorch: nn.Sequential on NCHW tensors, torch.optim.Adam."""

    def __init__(self, args):
        import torch
        from torch import nn
        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        self.torch = torch
        self.net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Flatten(), nn.Linear(1600, 10))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)

    def convert(self, batches):
        t = self.torch
        return [(t.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), t.from_numpy(y))
                for x, y in batches]

    def run(self, batches):
        F = self.torch.nn.functional
        for x, y in batches:
            loss = F.cross_entropy(self.net(x), y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()


def timed(run, batches) -> tuple[list[float], float]:
    """(wall ms of each step, CPU ms per step of the whole block, all threads)."""
    walls, c0 = [], time.process_time()
    for b in batches:
        t0 = C.clock()
        run([b])
        walls.append(1e3 * (C.clock() - t0))
    return walls, 1e3 * (time.process_time() - c0) / len(batches)


def summary(name, rounds, plan: str) -> tuple[float, float, float]:
    """Print and return (median wall, best wall, median CPU) ms per step over the rounds,
    with the spread of the rounds' median steps, beside the CPU, BLAS kernel and ``plan``."""
    walls = [w for ws, _ in rounds for w in ws]
    medians = [C.median(ws) for ws, _ in rounds]
    med, best = C.median(medians), min(walls)
    cpu = C.median([c for _, c in rounds])
    print(f"{name:<9s} {med:7.2f} ms/step (median; rounds {C.spread(medians, digits=2)}), "
          f"best step {best:7.2f} ms, CPU {cpu:7.2f} ms/step  {C.where(plan)}")
    return med, best, cpu


def plans_of(args) -> dict:
    """How each contender lays out a step (no chunks to plan: one GEMM per convolution)."""
    return {"funcnet": f"none (im2col, one GEMM per convolution; {args.threads} BLAS thread"
                       f"{'s' if args.threads != 1 else ''})",
            "PyTorch": f"none (PyTorch, {args.threads} thread{'s' if args.threads != 1 else ''})"}


def limit_blas(threads: int):
    """Limit NumPy's BLAS to ``threads`` (threadpoolctl), or do nothing without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(threads, user_api="blas")


def main(argv=None):
    args = parse(argv)
    with limit_blas(args.threads):  # before the header, whose BLAS line shows the threads
        C.print_header(f"CNN training step, batch {args.batch}, float32: funcnet vs PyTorch, "
                       f"{args.threads} thread(s) each")
        x, y = digits(args.batch * args.steps)
        batches = [(x[i:i + args.batch], y[i:i + args.batch])
                   for i in range(0, len(x), args.batch)]
        run_rounds(args, batches)
    print("   load average (1, 5, 15 min) at the end: "
          + " ".join(f"{v:.2f}" for v in os.getloadavg()))


def run_rounds(args, batches):
    fn = Funcnet(args)
    fb = fn.convert(batches)
    torch = C.torch_or_none()
    th = Torch(args) if torch is not None else None
    print(f"   PyTorch {torch.__version__}, {torch.get_num_threads()} threads" if th else
          "   PyTorch not installed: funcnet alone, no comparison")
    tb = th.convert(batches) if th else None
    rounds = {"funcnet": [], "torch": []}
    for r in range(args.rounds):
        f = timed(fn.run, fb)
        t = timed(th.run, tb) if th else ([float("nan")], float("nan"))
        if r:  # the first round warms up caches, allocator and thread pools
            rounds["funcnet"].append(f)
            rounds["torch"].append(t)
        fm, tm = C.median(f[0]), C.median(t[0])
        print(f"   round {r}{' (warm-up)' if not r else ''}: funcnet {fm:7.2f} ms/step"
              + (f", PyTorch {tm:7.2f} ms/step, ratio {fm / tm:5.2f}" if th else ""))
    plans = plans_of(args)
    f_med, f_best, f_cpu = summary("funcnet", rounds["funcnet"], plans["funcnet"])
    if th:
        t_med, t_best, t_cpu = summary("PyTorch", rounds["torch"], plans["PyTorch"])
        ratios = [C.median(f[0]) / C.median(t[0])
                  for f, t in zip(rounds["funcnet"], rounds["torch"])]
        ratio = C.median(ratios)
        print(f"ratio     {ratio:7.2f} × PyTorch (median of the rounds' ratios of median steps; "
              f"rounds {C.spread(ratios, digits=2)}); "
              f"target ≤ {TARGET:.1f}×: {'met' if ratio <= TARGET else 'NOT met'}  "
              f"{C.where(plans['funcnet'])}")
        print(f"          {f_best / t_best:7.2f} × best step to best step, "
              f"{f_cpu / t_cpu:5.2f} × in CPU time  {C.where(plans['funcnet'])}")
    if args.profile:
        prof = fn.profile(fb)
        print("funcnet by layer (ms/step, one more pass of the batches, timed per call):")
        for k, v in prof.items():
            print(f"   {k:<24s}{v:7.2f}")


if __name__ == "__main__":
    main()
