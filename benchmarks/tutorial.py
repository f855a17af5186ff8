"""The tutorial's experiment, timed: funcnet's pipeline beside the tutorial's own code.

500 iterations of full-batch gradient descent (α = 0.10) of the 784-10-10
network on 41,000 digits (pipelines/mnist.py, as ``funcnet run`` runs it,
with its accuracy evaluated every 10 iterations), against Samson Zhang's
"Simple MNIST NN from scratch" re-typed here from its equations: one example
per column, float64, W1 (10, 784) = rand − 0.5, Z1 = W1·X + b1, softmax with
the builtin ``sum`` and no max shift, the one-hot Y rebuilt every iteration,
the scalar bias gradients (1/m)·Σ dZ with m = 42,000 (the size of the whole
file), accuracy every 10 iterations from A2. The same code in float32 is
timed too (its one-hot made float32, or NumPy would promote dZ2 to float64).

The pipeline's step takes its gradients from the fused dense kernel
(``funcnet.model._fused.grads``):
forward and backward together over fixed chunks of rows (1,024 in float32, 512 in float64;
2,048 in float32 under the SkylakeX kernel, where the first layer's products are padded,
see ``funcnet.model._fused.LAYOUTS``; the script prints which), the chunks
shared by one worker thread per core running single-threaded BLAS, the
chunks' gradients added in chunk order. A fourth row, "funcnet make_step",
runs the same 500 iterations through ``funcnet.train.make_step(optim.sgd(0.10))``
— the same fused kernel, reached through ``model.value_and_grads`` — with the
same evaluations every 10 iterations.

All of them start from the same split and the same initial weights (funcnet's
init for seed 0, transposed into the tutorial's shapes), so their accuracies
can be compared; funcnet's default arithmetic fixes the tutorial's defects
(per-unit bias gradients, m = 41,000), so they agree closely, not exactly.
``--quirks`` also times funcnet with ``tutorial_quirks=true`` (float64, the
tutorial's arithmetic), which agrees with the tutorial's code to rounding.
The runs take turns in each of ``--repeats`` rounds (5 by default); every
figure is printed with its min and max over the rounds, beside the CPU
model, the BLAS kernel and the run's plan (its chunks, padding and threads).

    python benchmarks/tutorial.py                     # 5 rounds
    python benchmarks/tutorial.py --repeats 7 --quirks
    python benchmarks/tutorial.py --quirks --keep-freed-memory   # glibc settings as funcnet run has them
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import _common as C

ROOT = Path(__file__).resolve().parents[1]


# --- the tutorial's code, re-typed (one example per column) ------------------------------

def ReLU(Z):
    return np.maximum(Z, 0)


def softmax(Z):
    A = np.exp(Z) / sum(np.exp(Z))
    return A


def forward_prop(W1, b1, W2, b2, X):
    Z1 = W1.dot(X) + b1
    A1 = ReLU(Z1)
    Z2 = W2.dot(A1) + b2
    A2 = softmax(Z2)
    return Z1, A1, Z2, A2


def ReLU_deriv(Z):
    return Z > 0


def one_hot(Y, dtype):
    one_hot_Y = np.zeros((Y.size, Y.max() + 1), dtype)
    one_hot_Y[np.arange(Y.size), Y] = 1
    one_hot_Y = one_hot_Y.T
    return one_hot_Y


def backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y, m):
    one_hot_Y = one_hot(Y, X.dtype)
    dZ2 = A2 - one_hot_Y
    dW2 = 1 / m * dZ2.dot(A1.T)
    db2 = 1 / m * np.sum(dZ2)
    dZ1 = W2.T.dot(dZ2) * ReLU_deriv(Z1)
    dW1 = 1 / m * dZ1.dot(X.T)
    db1 = 1 / m * np.sum(dZ1)
    return dW1, db1, dW2, db2


def update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha):
    W1 = W1 - alpha * dW1
    b1 = b1 - alpha * db1
    W2 = W2 - alpha * dW2
    b2 = b2 - alpha * db2
    return W1, b1, W2, b2


def get_predictions(A2):
    return np.argmax(A2, 0)


def get_accuracy(predictions, Y):
    return np.sum(predictions == Y) / Y.size


def gradient_descent(X, Y, params, alpha, iterations, m):
    W1, b1, W2, b2 = params
    history = []
    for i in range(iterations):
        Z1, A1, Z2, A2 = forward_prop(W1, b1, W2, b2, X)
        dW1, db1, dW2, db2 = backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y, m)
        W1, b1, W2, b2 = update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha)
        if i % 10 == 0:
            history.append(get_accuracy(get_predictions(A2), Y))
    return (W1, b1, W2, b2), history


def tutorial_accuracy(params, X, Y):
    return float(get_accuracy(get_predictions(forward_prop(*params, X)[3]), Y))


# --- the benchmark ------------------------------------------------------------------------

def tutorial_data(pipe, config, raw, dtype):
    """The tutorial's arrays for funcnet's split: ``data`` (42,000 × 785, label first,
    int64 as pandas reads train.csv), then X = data[1000:].T[1:] / 255 — one example
    per column, laid out in memory as the tutorial's is."""
    from funcnet import data as fdata
    rows = raw["train"].take(slice(0, config.rows))
    dev, train = fdata.split(pipe.keys(config)[0], rows, config.dev_size)
    data = np.concatenate([np.column_stack([d.y, d.x]) for d in (dev, train)]).astype(np.int64)
    n = data.shape[1]
    data_dev, data_train = data[0:config.dev_size].T, data[config.dev_size:].T
    as_x = lambda d: (d[1:n] / 255.).astype(dtype, copy=False)
    return (as_x(data_train), data_train[0]), (as_x(data_dev), data_dev[0]), data.shape[0]


def tutorial_params(pipe, config, dtype):
    """funcnet's initial weights for this config, in the tutorial's shapes: W (out, in), b (out, 1)."""
    layers = [l for l in pipe.init_state(config).params.layers if hasattr(l, "w")]  # the dense ones
    return tuple(a.astype(dtype) for l in layers for a in (l.w.T.copy(), l.b[:, None].copy()))


def make_step_run(pipe, config, splits, iterations: int):
    """``iterations`` full-batch steps of make_step(sgd(α)) from the pipeline's initial
    state, with train and dev accuracy every ``log_every`` steps; (seconds, accuracies)."""
    from funcnet import data, evaluate, optim, train
    tr, dev = splits["train"], splits["dev"]
    tr = data.Dataset(data.scale(tr.x, pipe.dtype_of(config)), tr.y)  # make_step takes floats
    opt = optim.sgd(config.learning_rate)
    state = train.init_state(pipe.init_state(config).params, opt, np.zeros(4, np.uint32))
    step = train.make_step(opt)
    t0 = C.clock()
    for _ in range(0, iterations, config.log_every):
        state = train.fit(step, state, [tr] * config.log_every)
        evaluate.dataset_accuracy(state.params, tr), evaluate.dataset_accuracy(state.params, dev)
    seconds = C.clock() - t0
    return seconds, (evaluate.dataset_accuracy(state.params, tr),
                     evaluate.dataset_accuracy(state.params, dev))


def plans_of() -> dict:
    """How each run lays out its work (the plan printed beside its figures)."""
    return {"funcnet": f"_fused.grads, {C.chunked_plan(np.float32)}",
            "funcnet quirks": f"_fused.grads, {C.chunked_plan(np.float64)}",
            "funcnet make_step": f"make_step (the fused kernel), {C.chunked_plan(np.float32)}",
            "tutorial f64": "none (the tutorial's code)", "tutorial f32": "none (the tutorial's code)"}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=500)
    p.add_argument("--repeats", type=int, default=5,
                   help="alternating rounds of (funcnet, ..., tutorial float64, tutorial float32); "
                        "medians reported with min and max")
    p.add_argument("--quirks", action="store_true",
                   help="also time funcnet with tutorial_quirks=true (float64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="call funcnet.runtime.keep_freed_memory() first (glibc malloc thresholds), "
                        "as funcnet run does; process-wide, so the tutorial's code runs under it too")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    from funcnet import pipeline
    C.print_header(f"tutorial pipeline: 784-10-10, {args.iterations} full-batch iterations, "
                   "α = 0.10, 41,000 digits; funcnet vs the tutorial's own code")
    from funcnet import runtime
    if args.keep_freed_memory:
        print(f"   process-wide settings: funcnet.runtime.keep_freed_memory() -> "
              f"{runtime.keep_freed_memory()} (as funcnet run sets them; every run below under them)")
    else:
        print("   process-wide settings: none (glibc malloc defaults; funcnet run calls "
              "funcnet.runtime.keep_freed_memory: --keep-freed-memory)")
    from funcnet.model import _fused
    for dtype in (np.float32, np.float64):
        plan = _fused.layout(dtype)
        print(f"   chunked pass, {np.dtype(dtype).name}: {_fused.chunk_rows(784, dtype, plan.chunk_bytes)}"
              f"-row chunks, Z1 = X·W1 with W1 padded to {plan.forward or 'no'} columns, dW1 "
              + (f"= ([dZ1|0]ᵀ·X)ᵀ with {plan.backward} columns" if plan.backward else "= Xᵀ·dZ1"))
    plans = plans_of()
    raw = C.mnist()
    pipe = pipeline.load_pipeline(ROOT / "pipelines" / "mnist.py")
    base = pipeline.apply_overrides(pipe.Config(), [f"seed={args.seed}",
                                                    f"iterations={args.iterations}"])
    configs = {"funcnet": base}
    if args.quirks:
        configs["funcnet quirks"] = pipeline.apply_overrides(base, ["tutorial_quirks=true"])
    tut = {}
    for name, dtype in (("tutorial f64", np.float64), ("tutorial f32", np.float32)):
        (x, y), (xd, yd), m = tutorial_data(pipe, base, raw, dtype)
        tut[name] = (x, y, xd, yd, m, tutorial_params(pipe, base, dtype))
    times = {k: [] for k in [*configs, "funcnet make_step", *tut]}
    acc, weights = {}, {}
    splits = pipe.split(base, raw)
    for r in range(args.repeats):
        for name, config in configs.items():
            res = pipeline.run(pipe, config, data=raw)
            times[name].append(res.metrics["seconds"])
            acc[name] = (res.metrics["train_accuracy"], res.metrics["dev_accuracy"])
            weights[name] = [a for l in res.params.layers if hasattr(l, "w")
                             for a in (l.w.T, l.b[:, None])]
        seconds, acc["funcnet make_step"] = make_step_run(pipe, base, splits, args.iterations)
        times["funcnet make_step"].append(seconds)
        for name, (x, y, xd, yd, m, params0) in tut.items():
            t0 = C.clock()
            params, _ = gradient_descent(x, y, params0, 0.10, args.iterations, m)
            times[name].append(C.clock() - t0)
            acc[name] = (tutorial_accuracy(params, x, y), tutorial_accuracy(params, xd, yd))
            weights[name] = list(params)
        print(f"   round {r + 1}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
              flush=True)
    med = {k: C.median(v) for k, v in times.items()}
    ref = med["tutorial f64"]
    print(f"{'run':<17} {'seconds':>8} {'min':>7} {'max':>7} {'× tutorial f64':>15} "
          f"{'train acc':>10} {'dev acc':>8}  [CPU; BLAS kernel; plan] ({args.repeats} rounds"
          f"{f', fewer than {C.MIN_ROUNDS}' if args.repeats < C.MIN_ROUNDS else ''})")
    for name in times:
        print(f"{name:<17} {med[name]:8.2f} {min(times[name]):7.2f} {max(times[name]):7.2f} "
              f"{med[name] / ref:15.3f} {acc[name][0]:10.4f} {acc[name][1]:8.4f}  "
              f"{C.where(plans[name])}")
    per_round = lambda a, b: C.spread([x / y for x, y in zip(times[a], times[b])])
    ratio = med["funcnet"] / ref
    print(f"target: the tutorial pipeline (funcnet) ≤ 0.45× the tutorial's float64 code "
          f"(moonshot 0.35): {ratio:.3f} ({'met' if ratio <= 0.45 else 'NOT met'}"
          f"{', moonshot met' if ratio <= 0.35 else ''}), per round {per_round('funcnet', 'tutorial f64')}; "
          f"funcnet / tutorial f32 = {med['funcnet'] / med['tutorial f32']:.3f}  "
          f"{C.where(plans['funcnet'])}")
    if "funcnet quirks" in med:
        rq = med["funcnet quirks"] / ref
        print(f"target: tutorial_quirks=true (funcnet quirks) ≤ 0.9× the tutorial's float64 code: "
              f"{rq:.3f} ({'met' if rq <= 0.9 else 'NOT met'}), per round "
              f"{per_round('funcnet quirks', 'tutorial f64')}; "
              f"{med['funcnet quirks'] / med['tutorial f32']:.3f}× its float32 code  "
              f"{C.where(plans['funcnet quirks'])}")
    name = "funcnet make_step"
    print(f"no target: {name} = {med[name] / ref:.3f}× the tutorial's float64 code "
          f"(per round {per_round(name, 'tutorial f64')}), "
          f"{med[name] / med['tutorial f32']:.3f}× its float32 code  {C.where(plans[name])}")
    for name in ("funcnet", "funcnet make_step"):
        gap = max(abs(acc[name][i] - acc["tutorial f64"][i]) for i in (0, 1))
        print(f"accuracy: {name} vs tutorial f64 differ by at most {100 * gap:.2f} points "
              f"(train and dev) — {'they agree' if gap <= 0.01 else 'DIFFERENT'} within 1 point")
    if "funcnet quirks" in acc:
        gapq = max(abs(acc["funcnet quirks"][i] - acc["tutorial f64"][i]) for i in (0, 1))
        print(f"accuracy: funcnet with tutorial_quirks vs tutorial f64 differ by "
              f"{100 * gapq:.3f} points (train and dev)")
        diff = max(float(np.max(np.abs(a - b)))
                   for a, b in zip(weights["funcnet quirks"], weights["tutorial f64"]))
        scale = max(float(np.max(np.abs(b))) for b in weights["tutorial f64"])
        print(f"weights: funcnet with tutorial_quirks vs tutorial f64 after {args.iterations} "
              f"iterations: max |ΔW|, |Δb| = {diff:.3g} (largest |W| {scale:.3g})")
    print("   load average now: " + " ".join(f"{x:.2f}" for x in __import__('os').getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
