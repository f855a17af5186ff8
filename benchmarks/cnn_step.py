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
``--bn`` puts batch normalisation after each convolution (``batch_norm()``,
ε = 1e-5, ρ = 0.9; ``nn.BatchNorm2d`` in PyTorch), as ``CNNConfig(batch_norm=True)`` does.

Two more measurements, instead of the comparison:

``--bn-alone N,H,W,C`` times batch norm's training forward and backward alone
on an NHWC float32 batch of that shape (median of ``--rounds`` × ``--steps``
calls), taking turns with the same layer computed with NumPy's reductions over
the leading axes (as funcnet did before), and prints the error of the batch mean and variance in float32
against a float64 reference for inputs 100 + N(0, 1) (a large mean).

``--inference`` times ``model.predict`` of the MNIST CNN (``CNNConfig().network()``,
untrained; ``--bn``: with batch norm) on the 10,000 test digits, alternating with the
same chunks run one after another as ``model.logits`` ran a CNN's before its chunks went
to worker threads, and checks that both give the same logits, bit for bit.

``--faults`` runs ``--steps`` (20 here) steps of ``train.make_step`` on the CNN in
fresh processes, alternately without and with ``funcnet.runtime.keep_freed_memory()``
(``--rounds`` of each), and prints the minor page faults (getrusage ru_minflt) of
those steps, after two warm-up steps.

    python benchmarks/cnn_step.py                     # 7 rounds of 10 steps each, 2 threads
    python benchmarks/cnn_step.py --rounds 11 --profile
    python benchmarks/cnn_step.py --threads 1         # both on one core
    python benchmarks/cnn_step.py --bn --profile      # with batch norm after each convolution
    python benchmarks/cnn_step.py --bn-alone 128,14,14,32 --rounds 7 --steps 20
    python benchmarks/cnn_step.py --faults --steps 20 --rounds 3 [--bn]
    python benchmarks/cnn_step.py --inference --rounds 3 [--bn]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import numpy as np

import _common as C

TARGET = 1.5  # the CNN step against PyTorch's (moonshot 1.2)


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
    p.add_argument("--bn", action="store_true",
                   help="batch normalisation after each convolution (both contenders)")
    p.add_argument("--bn-alone", metavar="N,H,W,C", type=shape_arg,
                   help="time batch norm's forward and backward alone on this NHWC shape")
    p.add_argument("--faults", action="store_true",
                   help="minor page faults of --steps steps, fresh processes, "
                        "without and with keep_freed_memory()")
    p.add_argument("--inference", action="store_true",
                   help="model.predict of the MNIST CNN on the 10,000 test digits, chunks on "
                        "worker threads vs one after another")
    p.add_argument("--faults-child", choices=("plain", "keep"), help=argparse.SUPPRESS)
    p.add_argument("--donate", action="store_true",
                   help="funcnet's step donates its state (make_step(opt, donate=True)), as "
                        "funcnet run trains")
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="call funcnet.runtime.keep_freed_memory() first (process-wide: both "
                        "contenders), as funcnet run does")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def shape_arg(text: str) -> tuple:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) < 2 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes such as 128,14,14,32, got {text!r}")
    return shape


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
        from funcnet.layers import batch_norm, conv2d, dense, flatten, max_pool, relu
        norm = (batch_norm(),) if args.bn else ()
        specs = (conv2d(32, 3), *norm, relu(), max_pool(2), conv2d(64, 3), *norm, relu(),
                 max_pool(2), flatten(), dense(10))
        net = funcnet.init(rng.key(args.seed), specs, input_shape=(28, 28, 1))
        opt = optim.adam(1e-3)
        self.state = train.init_state(net, opt, rng.key(args.seed + 1))
        self.step = train.make_step(opt, donate=args.donate)
        self.Dataset = data.Dataset

    def convert(self, batches):
        return [self.Dataset(x, y) for x, y in batches]

    def run(self, batches):
        for b in batches:
            self.state = self.step(self.state, b)

    def profile(self, batches) -> dict:
        """ms per step of each layer's forward (in training) and backward (the layers run
        one by one, as the fold runs them: a ReLU and the max pooling after it as one step,
        pooled first)."""
        from funcnet.layers import base, blocks
        from funcnet.losses import cross_entropy_grad, softmax
        net, out = self.state.params, {}
        states = self.state.model_state or (None,) * len(net.layers)

        def timed_call(name, f, *a, **kw):
            t0 = C.clock()
            r = f(*a, **kw)
            out[name] = out.get(name, 0.0) + 1e3 * (C.clock() - t0) / len(batches)
            return r

        layers = net.layers
        for b in batches:
            x, caches, i = b.x.reshape(-1, *net.input_shape), [], 0
            while i < len(layers):  # the fold's steps: a ReLU and the max pooling after it are one
                n = 2 if blocks.pools_first(layers, i) else 1
                name = " ".join(f"{j} {base.kind_of(layers[j])}" for j in range(i, i + n))
                x, cache, _ = timed_call(f"{name} fwd", blocks.forward_layers, layers[i:i + n], x,
                                         base.Ctx(train=True, state=tuple(states[i:i + n])))
                caches.extend(cache)
                i += n
            dy = timed_call("softmax, dZ", lambda z: cross_entropy_grad(softmax(z), b.y), x)
            for i in reversed(range(len(layers))):
                dy, _ = timed_call(f"{i} {base.kind_of(layers[i])} bwd", blocks.backward_one,
                                   layers, caches, i, dy, need_dx=i > 0)
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
        norm = (lambda c: [nn.BatchNorm2d(c)]) if args.bn else (lambda c: [])
        self.net = nn.Sequential(nn.Conv2d(1, 32, 3), *norm(32), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(32, 64, 3), *norm(64), nn.ReLU(), nn.MaxPool2d(2),
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
    road = (", donated state" if args.donate else "") + \
        (", keep_freed_memory" if args.keep_freed_memory else "")
    return {"funcnet": f"none (im2col, one GEMM per convolution; {args.threads} BLAS thread"
                       f"{'s' if args.threads != 1 else ''}{road})",
            "PyTorch": f"none (PyTorch, {args.threads} thread{'s' if args.threads != 1 else ''})"}


def limit_blas(threads: int):
    """Limit NumPy's BLAS to ``threads`` (threadpoolctl), or do nothing without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(threads, user_api="blas")


def bn_alone(args):
    """Batch norm's training forward and backward alone on ``args.bn_alone``, float32, and
    the float32 error of its batch statistics on inputs with a large mean."""
    from funcnet import rng
    from funcnet.layers import batch_norm, norm
    shape = args.bn_alone
    layer, _ = norm.init(None, batch_norm(), shape[1:], "he", np.float32)
    state = norm.initial_state(layer)
    r = np.random.default_rng(args.seed)
    x = r.standard_normal(shape, np.float32)
    dy = r.standard_normal(shape, np.float32)
    ctx = norm.Ctx(train=True, state=state)
    runs = {"funcnet": (norm.forward, norm.backward), "axis reductions": (axes_forward, axes_backward)}
    fwd, bwd = {k: [] for k in runs}, {k: [] for k in runs}
    for rnd in range(args.rounds):
        for name, (forward, backward) in runs.items():  # taking turns round by round
            f, b = [], []
            for _ in range(args.steps):
                t0 = C.clock()
                _, cache, _ = forward(layer, x, ctx)
                t1 = C.clock()
                backward(layer, cache, dy)
                t2 = C.clock()
                f.append(1e3 * (t1 - t0))
                b.append(1e3 * (t2 - t1))
            if rnd:  # the first round warms up
                fwd[name].append(C.median(f))
                bwd[name].append(C.median(b))
    plan = f"batch norm alone, {shape} float32, {args.threads} BLAS thread(s)"
    for name in runs:
        both = [a + b for a, b in zip(fwd[name], bwd[name])]
        print(f"{name}: forward {C.spread(fwd[name])}, backward {C.spread(bwd[name])}, "
              f"both {C.spread(both)} ms (medians per call)  {C.where(plan)}")
    # float32 accuracy of μ and σ² where the mean is large against the spread: 100 + N(0, 1)
    big = (100 + rng.normal(rng.key(args.seed), shape, np.float64)).astype(np.float32)
    ref = big.astype(np.float64).reshape(-1, shape[-1])
    mu64, var64 = ref.mean(axis=0), ref.var(axis=0)
    # momentum 0 and running statistics 0: the moved ones are the batch's μ and σ² exactly
    plain = norm.init(None, batch_norm(momentum=0.0), shape[1:], "he", np.float32)[0]
    zero = np.zeros(shape[-1], np.float32)
    _, _, moved = norm.forward(plain, big, norm.Ctx(train=True, state=norm.BatchNormState(zero, zero)))
    mu32, var32 = moved.mean.astype(np.float64), moved.var.astype(np.float64)
    numpy_mu = big.mean(axis=tuple(range(len(shape) - 1))).astype(np.float64)
    numpy_var = big.var(axis=tuple(range(len(shape) - 1))).astype(np.float64)
    print("float32 statistics of 100 + N(0, 1) against float64 (max relative error over channels):")
    for name, m, v in (("funcnet batch_norm", mu32, var32), ("NumPy x.mean/x.var", numpy_mu, numpy_var)):
        print(f"   {name:<20s} mean {np.max(np.abs(m - mu64) / np.abs(mu64)):.2e}   "
              f"var {np.max(np.abs(v - var64) / var64):.2e}")
    print(f"   (float32 rounding unit 2^-24 = {2.0 ** -24:.2e})")


def axes_forward(layer, x, ctx):
    """Batch norm's training forward with NumPy's reductions over the leading axes (as funcnet
    computed it before its sums became matrix products), for comparison."""
    from funcnet.layers import norm
    axes = tuple(range(x.ndim - 1))
    mu, var = x.mean(axis=axes), x.var(axis=axes)
    rho = x.dtype.type(layer.momentum)
    new = norm.BatchNormState(rho * ctx.state.mean + (1 - rho) * mu,
                              rho * ctx.state.var + (1 - rho) * var)
    inv_std = 1 / np.sqrt(var + x.dtype.type(layer.eps))
    xhat = (x - mu) * inv_std
    return xhat * layer.gamma + layer.beta, norm.BatchNormCache(xhat, inv_std, True), new


def axes_backward(layer, cache, dy):
    """The backward pass of :func:`axes_forward`: Σ dY, Σ dY ⊙ x̂, Σ dx̂, Σ dx̂ ⊙ x̂ over the axes."""
    axes = tuple(range(dy.ndim - 1))
    dgamma, dbeta = (dy * cache.xhat).sum(axis=axes), dy.sum(axis=axes)
    dxhat = dy * layer.gamma
    n = dy.dtype.type(dy.size // dy.shape[-1])
    dx = n * dxhat - dxhat.sum(axis=axes) - cache.xhat * (dxhat * cache.xhat).sum(axis=axes)
    return dx * (cache.inv_std / n), (dgamma, dbeta)


FAULT_WARMUP = 2  # steps before the count starts: the first steps allocate the optimizer state


def faults_child(args):
    """In this fresh process: ``args.steps`` CNN steps' minor page faults, printed as one number."""
    import resource
    if args.faults_child == "keep":
        from funcnet import runtime
        runtime.keep_freed_memory()
    x, y = digits(args.batch * (args.steps + FAULT_WARMUP))
    fn = Funcnet(args)
    batches = fn.convert([(x[i:i + args.batch], y[i:i + args.batch])
                          for i in range(0, len(x), args.batch)])
    fn.run(batches[:FAULT_WARMUP])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = C.clock()
    fn.run(batches[FAULT_WARMUP:])
    ms = 1e3 * (C.clock() - t0) / args.steps
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, f"{ms:.2f}")


def faults(args):
    """Alternate fresh processes without and with keep_freed_memory(), ``args.rounds`` each."""
    import subprocess
    import sys
    C.print_header(f"minor page faults of {args.steps} CNN steps (after {FAULT_WARMUP}), batch "
                   f"{args.batch}, float32{', batch norm' if args.bn else ''}, fresh processes")
    base = [sys.executable, os.path.abspath(__file__), "--batch", str(args.batch), "--steps",
            str(args.steps), "--threads", str(args.threads), "--seed", str(args.seed)]
    base += ["--bn"] if args.bn else []
    found = {"plain": [], "keep": []}
    for r in range(args.rounds):
        for mode in ("plain", "keep"):
            out = subprocess.run(base + ["--faults-child", mode], check=True,
                                 capture_output=True, text=True).stdout.split()
            found[mode].append((int(out[-2]), float(out[-1])))
            print(f"   round {r} {mode:<5s}: {out[-2]} faults, {out[-1]} ms/step")
    plan = f"{args.threads} BLAS thread(s)"
    for mode, label in (("plain", "default malloc"), ("keep", "keep_freed_memory()")):
        per = [f / args.steps for f, _ in found[mode]]
        print(f"{label:<20s} {C.spread(per, digits=1)} minor faults/step, "
              f"{C.spread([ms for _, ms in found[mode]], digits=1)} ms/step  {C.where(plan)}")


def inference(args):
    """``model.predict`` on the test digits vs the chunks one after another, alternating."""
    import funcnet
    from funcnet import classify, model, rng
    from funcnet._kernels import default_threads
    from funcnet.layers import network
    test = C.mnist()["test"]
    x = test.x.reshape(-1, 28, 28, 1)
    net = funcnet.init(rng.key(args.seed), classify.CNNConfig(batch_norm=args.bn).network(),
                       input_shape=(28, 28, 1))
    state = model.init_model_state(net)
    chunk = model.chunk_rows(net)

    def serial():  # the chunks one after another, each with BLAS's own threads
        return np.concatenate([network.forward(net, x[i:i + chunk], model_state=state)[0]
                               for i in range(0, len(x), chunk)])

    same = serial().tobytes() == model.logits(net, x, model_state=state).tobytes()
    print(f"   {len(x)} digits, chunks of {chunk} rows, {default_threads()} worker threads; "
          f"logits the same bits both ways: {same}")
    runs = {"one after another": lambda: serial().argmax(axis=1),
            "model.predict": lambda: model.predict(net, x, model_state=state)}
    times = {k: [] for k in runs}
    for r in range(args.rounds):
        for name, run in runs.items():
            t0 = C.clock()
            run()
            times[name].append(C.clock() - t0)
            print(f"   round {r} {name:<18s} {times[name][-1]:.3f} s")
    for name, plan in (("one after another", f"serial chunks, {args.threads} BLAS threads"),
                       ("model.predict", f"{default_threads()} worker threads, 1 BLAS thread each")):
        print(f"{name:<18s} {C.spread(times[name])} s  {C.where(plan)}")


def main(argv=None):
    args = parse(argv)
    if args.inference:
        with limit_blas(args.threads):
            C.print_header(f"MNIST CNN inference on the test digits{' (batch norm)' if args.bn else ''}")
            return inference(args)
    if args.faults_child:
        with limit_blas(args.threads):
            return faults_child(args)
    if args.faults:
        return faults(args)
    if args.bn_alone:
        with limit_blas(args.threads):
            C.print_header(f"batch norm forward + backward, {args.bn_alone} float32")
            return bn_alone(args)
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
    if args.keep_freed_memory:
        from funcnet import runtime
        print(f"   process-wide: funcnet.runtime.keep_freed_memory() -> {runtime.keep_freed_memory()}")
    print(f"   funcnet's step: make_step(optim.adam(1e-3){', donate=True' if args.donate else ''})")
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
