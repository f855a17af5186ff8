"""Seconds per epoch of minibatch training on MNIST: funcnet beside a plain
NumPy reference, PyTorch and scikit-learn, measured in one process.

The contenders take turns epoch by epoch (funcnet, numpy, torch, sklearn,
funcnet, ...), so a change in the machine's load hits all of them alike. The
first epoch of each is dropped and the median of the rest reported, with
the min and max (5 rounds by default) and the achieved GFLOP/s
(6·n·Σ n_in·n_out per epoch / time) against the float32 GEMM peak measured
in this process (a 2048 × 2048 sgemm). Every figure is printed beside the
CPU model, the BLAS kernel and the contender's plan (how it lays out its
work), the ratios beside their spread over the rounds.

    python benchmarks/epoch_time.py                       # 784-128-10, Adam 1e-3, batch 128
    python benchmarks/epoch_time.py --sizes 784,256,10 --batch 256 --lr 2e-3
    python benchmarks/epoch_time.py --only funcnet,numpy --epochs 8
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import _common as C

ALL = ("funcnet", "funcnet-donate", "funcnet-repl", "funcnet-f32", "numpy", "torch", "sklearn")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="784,128,10", help="layer sizes, input first")
    p.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--batch", type=int, default=128, help="batch size")
    p.add_argument("--epochs", type=int, default=5,
                   help="epochs timed per contender, after one dropped warm-up epoch")
    p.add_argument("--only", default="funcnet,funcnet-donate,funcnet-repl,funcnet-f32,numpy,torch,sklearn",
                   help=f"comma-separated contenders among {', '.join(ALL)} "
                        "(funcnet-donate: make_step(opt, donate=True), the road funcnet run takes; "
                        "funcnet-f32: funcnet fed pre-scaled float32 instead of uint8; "
                        "funcnet-repl: forward, backward, opt.update, optim.apply_updates "
                        "in a plain Python loop, as the README's REPL walkthrough composes them)")
    p.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="call funcnet.runtime.keep_freed_memory() first (glibc malloc thresholds), "
                        "as funcnet run does")
    args = p.parse_args(argv)
    args.sizes = tuple(int(s) for s in args.sizes.split(","))
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = set(args.only) - set(ALL)
    if bad:
        p.error(f"unknown contender(s) {', '.join(sorted(bad))}; choose among {', '.join(ALL)}")
    return args


class Funcnet:
    """funcnet's public API as a user trains with it: init, make_step, fit over batches."""

    donate = False

    def __init__(self, args, train_ds):
        from funcnet import model, optim, rng, train
        self.rng, self.train = rng, train
        opt = optim.by_name(args.optimizer, args.lr)
        params = model.init(rng.key(args.seed), args.sizes)
        self.state = train.init_state(params, opt, rng.key(args.seed + 1))
        self.step = train.make_step(opt, donate=self.donate)
        self.key, self.ds, self.batch, self.e = rng.key(args.seed + 2), train_ds, args.batch, 0

    def epoch(self):
        from funcnet import data
        batches = data.batches(self.rng.fold_in(self.key, self.e), self.ds, self.batch)
        self.state = self.train.fit(self.step, self.state, batches)
        self.e += 1

    def accuracy(self, test):
        from funcnet import evaluate
        return evaluate.dataset_accuracy(self.state.params, test)


class FuncnetDonate(Funcnet):
    """``make_step(opt, donate=True)``: each state written into the last one's arrays."""

    donate = True


class FuncnetRepl(Funcnet):
    """The REPL road: ``forward`` → ``backward`` → ``opt.update`` → ``optim.apply_updates``
    in a plain Python loop over the same batches, nothing else called."""

    def __init__(self, args, train_ds):
        super().__init__(args, train_ds)
        from funcnet import optim
        self.opt = optim.by_name(args.optimizer, args.lr)
        self.params, self.opt_state = self.state.params, self.state.opt_state

    def epoch(self):
        import funcnet
        from funcnet import data, optim
        p, s = self.params, self.opt_state
        for b in data.batches(self.rng.fold_in(self.key, self.e), self.ds, self.batch):
            acts = funcnet.forward(p, b.x)
            grads = funcnet.backward(p, acts, b.y)
            updates, s = self.opt.update(grads, s, p)
            p = optim.apply_updates(p, updates)
        self.params, self.opt_state, self.e = p, s, self.e + 1

    def accuracy(self, test):
        from funcnet import evaluate
        return evaluate.dataset_accuracy(self.params, test)


def contenders(args, raw):
    """name -> (run one epoch, test accuracy), or name -> reason it is absent."""
    from funcnet import data
    tr, te = raw["train"], raw["test"]
    out = {}
    xf, xtf = C.as_float(tr.x), C.as_float(te.x)
    if "funcnet" in args.only:
        f = Funcnet(args, tr)
        out["funcnet"] = (f.epoch, lambda f=f: f.accuracy(te))
    if "funcnet-donate" in args.only:
        d = FuncnetDonate(args, tr)
        out["funcnet-donate"] = (d.epoch, lambda d=d: d.accuracy(te))
    if "funcnet-repl" in args.only:
        r = FuncnetRepl(args, tr)
        out["funcnet-repl"] = (r.epoch, lambda r=r: r.accuracy(te))
    if "funcnet-f32" in args.only:
        g = Funcnet(args, data.Dataset(xf, tr.y))
        out["funcnet-f32"] = (g.epoch, lambda g=g: g.accuracy(te))
    if "numpy" in args.only:
        ref, gen = C.NumpyMLP(args.sizes, args.optimizer, args.lr, args.seed), \
            np.random.default_rng(args.seed)
        out["numpy"] = (lambda: ref.epoch(xf, tr.y, args.batch, gen),
                        lambda: float(np.mean(ref.predict(xtf) == te.y)))
    if "torch" in args.only:
        torch = C.torch_or_none()
        if torch is None:
            out["torch"] = "not installed (pip install torch)"
        else:
            tm = C.TorchMLP(args.sizes, args.optimizer, args.lr, args.seed, args.threads)
            xt, yt = torch.from_numpy(xf), torch.from_numpy(tr.y)
            out["torch"] = (lambda: tm.epoch(xt, yt, args.batch),
                            lambda: float(np.mean(tm.predict(torch.from_numpy(xtf)) == te.y)))
    if "sklearn" in args.only:
        if C.sklearn_or_none() is None:
            out["sklearn"] = "not installed (pip install scikit-learn)"
        elif args.optimizer != "adam":
            out["sklearn"] = "skipped: measured with solver adam only"
        else:
            sk = C.SklearnMLP(args.sizes, args.lr, args.batch, args.seed)
            out["sklearn"] = (lambda: sk.epoch(xf, tr.y),
                              lambda: float(np.mean(sk.predict(xtf) == te.y)))
    return out


def plan_of(name: str, args) -> str:
    """How contender ``name`` lays out its work: funcnet's batches of at most a chunk's rows
    go through the fused dense kernel in one piece (no chunks to plan)."""
    import numpy as np
    from funcnet.model import _fused
    rows = _fused.chunk_rows(784, np.float32, _fused.layout(np.float32).chunk_bytes)
    one_piece = (f"one piece a batch ({args.batch} ≤ {rows} rows), BLAS threads "
                 "as the process has them" if args.batch <= rows else
                 f"{rows}-row chunks on every core")
    return {"funcnet": f"make_step, {one_piece}", "funcnet-f32": f"make_step, {one_piece}",
            "funcnet-donate": f"make_step(donate=True), {one_piece}",
            "funcnet-repl": f"forward/backward, {one_piece}",
            "numpy": "none (the reference as written)",
            "torch": f"none (PyTorch, {args.threads} threads)",
            "sklearn": "none (scikit-learn)"}.get(name, "none")


def main(argv=None):
    args = parse(argv)
    arch = "-".join(map(str, args.sizes))
    C.print_header(f"epoch time: {arch}, {args.optimizer} lr={args.lr:g}, batch {args.batch}, "
                   f"MNIST 60,000 digits; {args.epochs} timed epochs each after 1 dropped, "
                   "contenders interleaved epoch by epoch")
    raw = C.mnist()
    runs = contenders(args, raw)
    peak_best, peak_med = C.gemm_peak()
    flops = C.mlp_flops(args.sizes, len(raw["train"]))
    print(f"   float32 GEMM peak (2048² sgemm, this process): {peak_best:.1f} GFLOP/s best of 7, "
          f"{peak_med:.1f} median")
    print(f"   work per epoch: 6·n·Σ n_in·n_out = {flops / 1e9:.2f} GFLOP")
    if args.keep_freed_memory:
        from funcnet import runtime
        print(f"   process-wide settings: funcnet.runtime.keep_freed_memory() -> "
              f"{runtime.keep_freed_memory()} (as funcnet run sets them)")
    else:
        print("   process-wide settings: none (glibc malloc defaults; funcnet.runtime.keep_freed_memory "
              "is not called)")
    live = {k: v for k, v in runs.items() if not isinstance(v, str)}
    times = {k: [] for k in live}
    faults = {k: [] for k in live}
    for e in range(args.epochs + 1):
        for name, (epoch, _) in live.items():
            f0, t0 = C.minor_faults(), C.clock()
            epoch()
            times[name].append(C.clock() - t0)
            faults[name].append(C.minor_faults() - f0)
        print(f"   epoch {e + 1}: " + "  ".join(f"{k} {v[-1]:.3f}s ({faults[k][-1]} faults)"
                                             for k, v in times.items()),
              flush=True)
    peak2, _ = C.gemm_peak()
    print(f"   float32 GEMM peak again after the runs: {peak2:.1f} GFLOP/s best of 7")
    peak = max(peak_best, peak2)
    med = {k: C.median(v[1:]) for k, v in times.items()}
    print(f"{'contender':<13} {'s/epoch':>8} {'min':>7} {'max':>7} {'GFLOP/s':>8} {'% peak':>7} "
          f"{'× numpy':>8} {'× torch':>8} {'test acc':>9} {'faults/epoch':>13}  "
          f"[CPU; BLAS kernel; plan] ({len(times[next(iter(times))][1:])} rounds"
          f"{f', fewer than {C.MIN_ROUNDS}' if args.epochs < C.MIN_ROUNDS else ''})")
    for name, (_, acc) in live.items():
        rel = lambda other: f"{med[name] / med[other]:8.2f}" if other in med else f"{'-':>8}"
        print(f"{name:<13} {med[name]:8.3f} {min(times[name][1:]):7.3f} {max(times[name][1:]):7.3f} "
              f"{flops / med[name] / 1e9:8.1f} {100 * flops / med[name] / 1e9 / peak:6.1f}% "
              f"{rel('numpy')} {rel('torch')} {acc():9.4f} {C.median(faults[name][1:]):13.0f}  "
              f"{C.where(plan_of(name, args))}")
    for name, why in runs.items():
        if isinstance(why, str):
            print(f"{name:<13} {why}")
    if "funcnet" in med:
        print("targets (784-128-10, Adam, batch 128): funcnet ≤ 1.0× numpy, ≤ 0.8× torch, "
              "≥ 50% of the GEMM peak")

        def ratio(name, other, target, label=""):
            if name in med and other in med:
                r = med[name] / med[other]
                per_round = [a / b for a, b in zip(times[name][1:], times[other][1:])]
                print(f"   {name} / {other}{label} = {r:.2f}  ({'met' if r <= target else 'NOT met'}, "
                      f"target ≤ {target}); per round {C.spread(per_round, digits=2)}  "
                      f"{C.where(plan_of(name, args))}")

        for road in ("funcnet", "funcnet-donate"):
            ratio(road, "numpy", 1.0)
            ratio(road, "torch", 0.8)
            if road in med:
                ts = times[road][1:]
                r = max(ts) / min(ts)
                ref = (f"; the NumPy loop's own, same epochs: "
                       f"{max(times['numpy'][1:]) / min(times['numpy'][1:]):.2f}"
                       if "numpy" in times else "")  # a busy machine widens every spread alike
                print(f"   {road}: max/min of its epochs = {r:.2f}  "
                      f"({'met' if r <= 1.25 else 'NOT met'}, target ≤ 1.25{ref})  "
                      f"{C.where(plan_of(road, args))}")
        ratio("funcnet-repl", "funcnet", 1.15, " (make_step)")
        tag = C.where(plan_of("funcnet", args))
        share = flops / med["funcnet"] / 1e9 / peak
        print(f"   funcnet at {100 * share:.1f}% of the GEMM peak "
              f"({'met' if share >= 0.5 else 'NOT met'}, target ≥ 50%)  {tag}")
    print("   load average now: " + " ".join(f"{x:.2f}" for x in __import__('os').getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
