"""Shared pieces of the benchmark scripts: the machine line, timing, MNIST,
the float32 GEMM peak, and the reference implementations measured beside
funcnet (a plain imperative NumPy MLP, PyTorch, scikit-learn).

The scripts in this folder put it on ``sys.path`` themselves (Python adds a
script's folder), so ``import _common`` works from anywhere.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time

import numpy as np

FLOAT = np.float32

if hasattr(sys.stdout, "reconfigure"):
    sys.stdout.reconfigure(line_buffering=True)  # progress lines show up as they happen


# --- the machine -------------------------------------------------------------------------

def blas_line() -> str:
    """Which BLAS NumPy uses, its kernel (``architecture``) and thread count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: threadpoolctl not installed"
    parts = [f"{d.get('internal_api')} {d.get('version')} kernel={d.get('architecture')} "
             f"threads={d.get('num_threads')} ({os.path.basename(d.get('filepath', ''))})"
             for d in threadpool_info() if d.get("user_api") == "blas"]
    return "BLAS: " + ("; ".join(parts) or "none found")


def machine_lines() -> list[str]:
    """Lines describing where the figures were measured."""
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                          "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return [f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}",
            blas_line(),
            "env: " + " ".join(f"{k}={v}" for k, v in env.items() if v is not None),
            "load average (1, 5, 15 min): " + " ".join(f"{x:.2f}" for x in os.getloadavg())]


def print_header(title: str) -> None:
    print(f"== {title}")
    for line in machine_lines():
        print("   " + line)


# --- beside every figure: where it was measured, with which plan, and its spread -----------

MIN_ROUNDS = 5  # a spread is taken over at least this many alternating rounds


def cpu_short() -> str:
    """The CPU's model name with its family and model numbers, which tell apart CPUs that
    share a name (funcnet's planner keys plans by the whole of ``/proc/cpuinfo``'s
    description, :func:`funcnet.planner.cpu_model`)."""
    from funcnet import planner
    name, *rest = planner.cpu_model().split("; ")
    numbers = [p for p in rest if p.startswith(("cpu family ", "model ", "CPU part "))]
    return f"{name} ({', '.join(numbers)})" if numbers else name


def kernel_name() -> str:
    """The BLAS library and, for OpenBLAS, the kernel it runs (threadpoolctl)."""
    from funcnet import planner
    m = planner.machine()
    return f"{m.blas} {m.kernel}".strip() if m.kernel else m.blas


def where(plan: str) -> str:
    """The tag printed beside a figure: ``[CPU; BLAS kernel; plan: ...]``."""
    return f"[{cpu_short()}; {kernel_name()}; plan: {plan}]"


def chunked_plan(dtype) -> str:
    """The layout funcnet's chunked full-batch pass runs here for ``dtype``
    (``funcnet.model._fused.layout``, every usable core), in words."""
    from funcnet import tunables
    from funcnet._kernels import default_threads
    from funcnet.model import _fused
    plan = dict(_fused.layout(dtype)._asdict(), threads=default_threads())
    return tunables.describe_layout(plan, {"sizes": [784], "dtype": np.dtype(dtype).name})


def spread(xs, scale: float = 1.0, digits: int = 3) -> str:
    """``median (min–max, n rounds)`` of ``xs`` × ``scale``, flagged when there are fewer
    than :data:`MIN_ROUNDS` rounds.

    >>> spread([0.3, 0.1, 0.2, 0.5, 0.4])
    '0.300 (0.100–0.500, 5 rounds)'
    """
    xs = [scale * x for x in xs]
    if not xs:
        return "n/a"
    few = f", fewer than {MIN_ROUNDS}" if len(xs) < MIN_ROUNDS else ""
    return (f"{statistics.median(xs):.{digits}f} ({min(xs):.{digits}f}–{max(xs):.{digits}f}, "
            f"{len(xs)} round{'s' if len(xs) != 1 else ''}{few})")


# --- timing -----------------------------------------------------------------------------

def clock() -> float:
    return time.perf_counter()


def minor_faults() -> int:
    """Minor page faults of this process so far (getrusage ru_minflt)."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def median(xs) -> float:
    return statistics.median(xs) if xs else float("nan")


def gemm_peak(n: int = 2048, repeats: int = 7) -> tuple[float, float]:
    """(best, median) GFLOP/s of a square float32 GEMM ``a @ b`` of size n."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), FLOAT), rng.random((n, n), FLOAT)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = clock()
        a @ b
        times.append(clock() - t0)
    flops = 2.0 * n ** 3
    return flops / min(times) / 1e9, flops / median(times) / 1e9


def mlp_flops(sizes, n: int) -> float:
    """Floating-point operations of one epoch of minibatch training: 6·n·Σ n_in·n_out
    (2 for the forward GEMM, 4 for the two backward ones; the input layer's
    input gradient is not needed, so this slightly overstates the work)."""
    return 6.0 * n * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


# --- data -------------------------------------------------------------------------------

def mnist():
    """MNIST as funcnet loads it: {"train", "test"} Datasets, uint8 x of shape (n, 784).

    Reads ``$FUNCNET_DATA/mnist`` (default: ``../shared/data`` beside the
    repository, as the tests do) and never downloads.
    """
    import funcnet
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ.setdefault("FUNCNET_DATA",
                          os.path.normpath(os.path.join(here, "..", "..", "shared", "data")))
    return funcnet.data.load("mnist", download=False)


def as_float(x: np.ndarray) -> np.ndarray:
    """x / 255 as float32 (what the references train on)."""
    return np.multiply(x, np.float32(1 / 255), dtype=FLOAT)


# --- the plain NumPy reference --------------------------------------------------------------

class NumpyMLP:
    """A plain, imperative NumPy MLP: float32, ReLU, softmax cross-entropy,
    Adam or SGD updating its arrays in place. Written the way one would by
    hand, as the yardstick for funcnet."""

    def __init__(self, sizes, optimizer="adam", lr=1e-3, seed=0, b1=0.9, b2=0.999, eps=1e-8,
                 schedule=None):
        rng = np.random.default_rng(seed)
        self.W = [(rng.standard_normal((a, b), dtype=FLOAT) * FLOAT(np.sqrt(2 / a)))
                  for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(b, FLOAT) for b in sizes[1:]]
        self.optimizer, self.lr, self.b1, self.b2, self.eps = optimizer, lr, b1, b2, eps
        self.schedule = schedule  # step -> learning rate, or None for a constant lr
        self.m = [np.zeros_like(p) for p in self.W + self.b]
        self.v = [np.zeros_like(p) for p in self.W + self.b]
        self.t = 0

    def step(self, x, y):
        n, L = len(x), len(self.W)
        acts = [x]
        for W, b in zip(self.W[:-1], self.b[:-1]):
            z = acts[-1] @ W
            z += b
            np.maximum(z, 0, out=z)
            acts.append(z)
        z = acts[-1] @ self.W[-1]
        z += self.b[-1]
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        z[np.arange(n), y] -= 1  # dZ = (A − Y) / n
        z /= n
        gW, gb, dz = [None] * L, [None] * L, z
        for l in range(L - 1, -1, -1):
            gW[l] = acts[l].T @ dz
            gb[l] = dz.sum(axis=0)
            if l:
                dz = dz @ self.W[l].T
                dz *= acts[l] > 0
        self.update(gW + gb)

    def update(self, grads):
        params = self.W + self.b
        lr = self.lr if self.schedule is None else self.schedule(self.t)
        self.t += 1
        if self.optimizer == "sgd":
            for p, g in zip(params, grads):
                p -= lr * g
            return
        b1, b2 = self.b1, self.b2
        lr_t = lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= lr_t * m / (np.sqrt(v) + self.eps)

    def epoch(self, x, y, batch, rng):
        perm = rng.permutation(len(x))
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            self.step(x[idx], y[idx])

    def predict(self, x, chunk=8192):
        out = []
        for i in range(0, len(x), chunk):
            a = x[i:i + chunk]
            for W, b in zip(self.W[:-1], self.b[:-1]):
                a = np.maximum(a @ W + b, 0)
            out.append((a @ self.W[-1] + self.b[-1]).argmax(axis=1))
        return np.concatenate(out)


# --- PyTorch and scikit-learn ---------------------------------------------------------------

def torch_or_none():
    try:
        import torch
        return torch
    except ImportError:
        return None


class TorchMLP:
    """The same network in PyTorch (CPU, 2 threads): nn.Sequential, F.cross_entropy,
    torch.optim.Adam or SGD, batches gathered from a float32 tensor."""

    def __init__(self, sizes, optimizer="adam", lr=1e-3, seed=0, threads=2, schedule=None):
        import torch
        from torch import nn
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.torch, self.net = torch, nn.Sequential(*layers)
        self.opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(
            self.net.parameters(), lr=lr)
        self.gen = torch.Generator().manual_seed(seed)
        self.schedule, self.t = schedule, 0  # step -> learning rate, or None

    def epoch(self, x, y, batch):
        torch = self.torch
        F = torch.nn.functional
        perm = torch.randperm(len(x), generator=self.gen)
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(self.net(x[idx]), y[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.schedule is not None:
                for group in self.opt.param_groups:
                    group["lr"] = self.schedule(self.t)
            self.opt.step()
            self.t += 1

    def predict(self, x):
        with self.torch.no_grad():
            return self.net(x).argmax(dim=1).numpy()


def sklearn_or_none():
    try:
        import sklearn.neural_network
        return sklearn.neural_network
    except ImportError:
        return None


class SklearnMLP:
    """scikit-learn's MLPClassifier: solver adam, float32 input, one partial_fit per epoch."""

    def __init__(self, sizes, lr=1e-3, batch=128, seed=0):
        from sklearn.neural_network import MLPClassifier
        self.clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu",
                                 solver="adam", learning_rate_init=lr, batch_size=batch,
                                 alpha=0.0, shuffle=True, random_state=seed)
        self.classes = np.arange(sizes[-1])

    def epoch(self, x, y):
        self.clf.partial_fit(x, y, classes=self.classes)

    def predict(self, x):
        return self.clf.predict(x)


def mnist_plain():
    """MNIST read with gzip and NumPy alone (what the references use in memory.py):
    (x_train uint8 (60000, 784), y_train int64, x_test, y_test)."""
    import gzip
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.environ.get("FUNCNET_DATA") or os.path.join(here, "..", "..", "shared", "data")
    folder = os.path.join(root, "mnist")

    def read(name, offset):
        path = os.path.join(folder, name)
        opener = gzip.open if os.path.exists(path + ".gz") else open
        with opener(path + ".gz" if os.path.exists(path + ".gz") else path, "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    xs = [read(f"{p}-images-idx3-ubyte", 16).reshape(-1, 784) for p in ("train", "t10k")]
    ys = [read(f"{p}-labels-idx1-ubyte", 8).astype(np.int64) for p in ("train", "t10k")]
    return xs[0], ys[0], xs[1], ys[1]
