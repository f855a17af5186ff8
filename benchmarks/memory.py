"""Peak resident memory (ru_maxrss) of training 784-128-10 with Adam, batch 128,
on MNIST's 60,000 digits for a few epochs, each contender in its own process;
and of the CNN of ``pipelines/mnist_cnn.py`` (``funcnet-cnn``).

funcnet reads MNIST with its own loader and keeps it as uint8 (47 MB),
scaling each batch; the references read the IDX files with gzip and NumPy
and train on float32 X / 255 (188 MB), as one writes them by hand.
``funcnet-cnn`` trains conv(32)-pool-conv(64)-pool-dense(128)-dense(10)
(``classify.CNNConfig().network()``) with Adam 1e-3, batch 128, for
``--cnn-epochs`` epochs, then predicts the test set through the chunked
inference path.

Contenders take turns over ``--rounds`` rounds (5 by default), a fresh
process each; the peak is reported as its median with the min and max,
beside the CPU model, the BLAS kernel and the contender's plan.

    python benchmarks/memory.py
    python benchmarks/memory.py --epochs 1 --only funcnet,numpy
    python benchmarks/memory.py --only funcnet-cnn --cnn-epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

import numpy as np

import _common as C

ALL = ("funcnet", "numpy", "torch", "sklearn", "funcnet-cnn")
CNN_TARGET_MB = 1536
SIZES = (784, 128, 10)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(name: str, epochs: int) -> dict:
    """Train in this process and report peak RSS (MB) after imports, after loading, at the end."""
    out = {}
    if name in ("funcnet", "funcnet-cnn"):
        from funcnet import classify, data, evaluate, model, optim, rng, train
        out["after imports"] = rss_mb()
        raw = C.mnist()
        tr, te = raw["train"], raw["test"]
        out["after loading"] = rss_mb()
        opt = optim.adam(1e-3)
        net = (model.init(rng.key(0), classify.CNNConfig().network(), input_shape=(28, 28, 1))
               if name == "funcnet-cnn" else model.init(rng.key(0), SIZES))
        state = train.init_state(net, opt, rng.key(1))
        step = train.make_step(opt)
        t0 = C.clock()
        for e in range(epochs):
            state = train.fit(step, state, data.batches(rng.fold_in(rng.key(2), e), tr, 128))
        out["seconds"] = C.clock() - t0
        out["test accuracy"] = evaluate.dataset_accuracy(state.params, te, state.model_state)
    elif name == "numpy":
        out["after imports"] = rss_mb()
        x8, y, xt8, yt = C.mnist_plain()
        x, xt = C.as_float(x8), C.as_float(xt8)
        del x8, xt8
        out["after loading"] = rss_mb()
        ref, gen = C.NumpyMLP(SIZES, "adam", 1e-3), np.random.default_rng(0)
        t0 = C.clock()
        for _ in range(epochs):
            ref.epoch(x, y, 128, gen)
        out["seconds"] = C.clock() - t0
        out["test accuracy"] = float(np.mean(ref.predict(xt) == yt))
    elif name == "torch":
        torch = C.torch_or_none()
        if torch is None:
            return {"absent": "not installed (pip install torch)"}
        out["after imports"] = rss_mb()
        x8, y, xt8, yt = C.mnist_plain()
        x, xt = torch.from_numpy(C.as_float(x8)), torch.from_numpy(C.as_float(xt8))
        y = torch.from_numpy(y)
        del x8, xt8
        out["after loading"] = rss_mb()
        tm = C.TorchMLP(SIZES, "adam", 1e-3)
        t0 = C.clock()
        for _ in range(epochs):
            tm.epoch(x, y, 128)
        out["seconds"] = C.clock() - t0
        out["test accuracy"] = float(np.mean(tm.predict(xt) == yt))
    elif name == "sklearn":
        if C.sklearn_or_none() is None:
            return {"absent": "not installed (pip install scikit-learn)"}
        out["after imports"] = rss_mb()
        x8, y, xt8, yt = C.mnist_plain()
        x, xt = C.as_float(x8), C.as_float(xt8)
        del x8, xt8
        out["after loading"] = rss_mb()
        sk = C.SklearnMLP(SIZES, 1e-3, 128)
        t0 = C.clock()
        for _ in range(epochs):
            sk.epoch(x, y)
        out["seconds"] = C.clock() - t0
        out["test accuracy"] = float(np.mean(sk.predict(xt) == yt))
    out["peak"] = rss_mb()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--cnn-epochs", type=int, default=1, help="epochs of funcnet-cnn")
    p.add_argument("--only", default=",".join(ALL), help=f"among {', '.join(ALL)}")
    p.add_argument("--rounds", type=int, default=5,
                   help="alternating rounds (one process per contender each); medians with min/max")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.epochs)))
        return 0
    C.print_header(f"peak RSS: 784-128-10, Adam 1e-3, batch 128, {args.epochs} epochs on "
                   f"60,000 digits (the CNN: {args.cnn_epochs}), each in its own process "
                   f"(ru_maxrss), {args.rounds} alternating rounds")
    names = [s.strip() for s in args.only.split(",") if s.strip()]
    runs = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names:
            runs[name].append(run_child(name, args))
        print(f"   round {r + 1}: " + "  ".join(
            f"{k} {v[-1]['peak']:.0f} MB" if "peak" in v[-1] else f"{k} absent"
            for k, v in runs.items()), flush=True)
    print(f"{'contender':<12} {'peak MB (min–max, rounds)':>30} {'imports':>8} {'+data':>8} "
          f"{'train s':>8} {'test acc':>9}  [CPU; BLAS kernel; plan]")
    rows = {}
    for name, results in runs.items():
        done = [r for r in results if "absent" not in r]
        if not done:
            print(f"{name:<12} {results[-1]['absent']}")
            continue
        rows[name] = {k: C.median([r[k] for r in done]) for k in done[0]}
        print(f"{name:<12} {C.spread([r['peak'] for r in done], digits=0):>30} "
              f"{rows[name]['after imports']:8.0f} {rows[name]['after loading']:8.0f} "
              f"{rows[name]['seconds']:8.2f} {rows[name]['test accuracy']:9.4f}  "
              f"{C.where(PLANS.get(name, 'none'))}")
    if "funcnet" in rows:
        peak = rows["funcnet"]["peak"]
        print(f"target: funcnet's peak RSS ≤ 320 MB: {peak:.0f} MB, the median "
              f"({'met' if peak <= 320 else 'NOT met'})  {C.where(PLANS['funcnet'])}")
    if "funcnet-cnn" in rows:
        peak = rows["funcnet-cnn"]["peak"]
        print(f"target: funcnet-cnn's peak RSS < {CNN_TARGET_MB} MB ({args.cnn_epochs} epoch(s) "
              f"and the test set): {peak:.0f} MB, the median "
              f"({'met' if peak < CNN_TARGET_MB else 'NOT met'})  {C.where(PLANS['funcnet-cnn'])}")
    return 0


# How each contender lays out its work, printed beside its figures.
PLANS = {"funcnet": "make_step, one piece a batch (128 rows)",
         "funcnet-cnn": "none (im2col, one GEMM per convolution)",
         "numpy": "none (the reference as written)", "torch": "none (PyTorch, 2 threads)",
         "sklearn": "none (scikit-learn)"}


def run_child(name: str, args) -> dict:
    """One contender trained in a process of its own: its figures, or why it is absent."""
    epochs = args.cnn_epochs if name == "funcnet-cnn" else args.epochs
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name,
                           "--epochs", str(epochs)], capture_output=True, text=True)
    if proc.returncode:
        lines = proc.stderr.strip().splitlines() or ["(no message)"]
        return {"absent": "failed: " + lines[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
