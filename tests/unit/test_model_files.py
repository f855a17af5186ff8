"""Model files are validated before anything is allocated: the architecture's types, ranges,
depth and size, the shapes it implies against the header's, then the values. Every file here
is tampered with and written by checkpoint.save, which computes its digest again: the
validation, not the checksum, must catch it."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from funcnet import checkpoint, layers, model, rng
from funcnet.errors import CheckpointError, ConfigError
from funcnet.layers import batch_norm, conv2d, dense, flatten, relu


def mlp_file(tmp_path, arch=None, *, name="m.safetensors", tensors=None, state=None):
    """A 784-10-10 model file whose architecture metadata is ``arch`` (default: its own)."""
    net = model.init(rng.key(0), (784, 10, 10))
    tree = {"layers": net.layers if tensors is None else tensors, "model_state": state}
    meta = {"architecture": model.architecture(net) if arch is None else arch}
    return checkpoint.save(tmp_path / name, tree, metadata=meta)


def serial(*layer_objects, input_shape=(784,)):
    return {"kind": "serial", "input_shape": list(input_shape), "layers": list(layer_objects)}


WIDE = serial({"kind": "dense", "units": 300_000}, {"kind": "activation", "name": "relu"},
              {"kind": "dense", "units": 10})


@pytest.mark.parametrize("arch, fragment", [
    (WIDE, r"tensor 'layers\.0\.w': the architecture implies shape \(784, 300000\), the file holds \(784, 10\)"),
    ([1, 2, 3], "an architecture must be a JSON object, got list"),
    (serial({"kind": "dense", "units": [10]}), "layer 0: expected a whole number, got \\[10\\]"),
    (serial({"kind": "dense", "units": 2.9}), "layer 0: expected a whole number, got 2.9"),
    (serial(["dense", 10]), "expected a layer object with a 'kind', got list"),
    (serial({"kind": "warp"}), "unknown layer kind 'warp'"),
    (serial(input_shape=(784,)), "a network needs at least one layer"),
    (serial({"kind": "dense", "units": 10}, input_shape=(0,)), r"input shape \(0,\)"),
    (serial({"kind": "dense", "units": 10}, input_shape=(100_000, 100_000)), "values per example"),
    (serial({"kind": "batch_norm", "eps": 0.0}), "expected eps > 0"),
    (serial({"kind": "conv2d", "filters": 4, "kernel": 2.7}, input_shape=(28, 28, 1)),
     "expected a whole number, got 2.7"),
])
def test_a_tampered_architecture_is_refused_in_one_line(tmp_path, arch, fragment):
    path = mlp_file(tmp_path, arch)
    with pytest.raises(CheckpointError, match=fragment) as info:
        checkpoint.load_network(path)
    assert "\n" not in str(info.value)


def _nested(depth):
    inner = {"kind": "dense", "units": 10}
    for _ in range(depth):
        inner = {"kind": "serial", "layers": [inner]}
    return serial(inner)


@pytest.mark.parametrize("arch, fragment", [
    (_nested(100), "blocks nest deeper than 32 levels"),
    (serial(*([{"kind": "activation", "name": "relu"}] * 200_000)), "more than 10,000 layers"),
])
def test_deep_or_long_architectures_are_refused_quickly(tmp_path, arch, fragment):
    path = mlp_file(tmp_path, arch)
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=fragment):
        checkpoint.load_network(path)
    assert time.perf_counter() - start < 5  # well under a second alone; slack for a busy machine


def test_json_nested_100000_deep_is_refused(tmp_path):
    text = "[" * 100_000 + "]" * 100_000
    path = mlp_file(tmp_path, {"kind": "serial", "input_shape": [784], "layers": []})
    raw = path.read_bytes()  # replace the architecture's text inside the header, keeping sizes honest
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    meta = json.loads(header["__metadata__"]["metadata"])
    meta["architecture"] = "PLACEHOLDER"
    header["__metadata__"]["metadata"] = json.dumps(meta).replace('"PLACEHOLDER"', text)
    new = json.dumps(header).encode()  # the header is read (and refused) before any digest
    new += b" " * (-len(new) % 8)
    path.write_bytes(len(new).to_bytes(8, "little") + new + raw[8 + header_len:])
    with pytest.raises(CheckpointError, match="nests too deeply|not valid JSON"):
        checkpoint.load_network(path)


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, bad):
    net = model.init(rng.key(0), (784, 10, 10))
    w = net.layers[2].w.copy()
    w[3, 4] = float(bad)
    tensors = (net.layers[0], net.layers[1], layers.Dense(w, net.layers[2].b))
    with pytest.raises(CheckpointError, match=r"tensor 'layers\.2\.w' holds non-finite values"):
        checkpoint.load_network(mlp_file(tmp_path, tensors=tensors))


@pytest.mark.parametrize("dtype", [np.int32, np.float16])
def test_weights_of_other_dtypes_are_refused(tmp_path, dtype):
    net = model.init(rng.key(0), (784, 10, 10))
    tensors = tuple(layers.Dense(l.w.astype(dtype), l.b.astype(dtype)) if hasattr(l, "w") else l
                    for l in net.layers)
    with pytest.raises(CheckpointError, match=f"dtype {np.dtype(dtype).name}; expected float32 or float64"):
        checkpoint.load_network(mlp_file(tmp_path, tensors=tensors))


def test_a_negative_running_variance_is_refused_naming_the_tensor(tmp_path):
    net = model.init(rng.key(0), (dense(4), batch_norm(), relu(), dense(2)), input_shape=(3,))
    state = model.init_model_state(net)
    bad = (None, layers.BatchNormState(state[1].mean, -state[1].var), None, None)
    path = checkpoint.save_network(tmp_path / "bn.safetensors", net, bad)
    with pytest.raises(CheckpointError, match=r"tensor 'model_state\.1\.var': a running variance below 0"):
        checkpoint.load_network(path)


def test_specs_refuse_fractions_from_python_and_from_json_alike():
    for make in (lambda: dense(2.9), lambda: conv2d(4, 2.7), lambda: conv2d(4.5, 3),
                 lambda: layers.max_pool(2.5), lambda: layers.avg_pool(True)):
        with pytest.raises(ValueError, match="expected a whole number"):
            make()
    for obj in ({"kind": "dense", "units": 2.9}, {"kind": "conv2d", "filters": 4, "kernel": 2.7}):
        with pytest.raises(ValueError, match="expected a whole number"):
            layers.spec_from_json(obj)
    assert dense(4.0) == dense(4)


def test_a_pool_larger_than_its_input_is_one_line():
    with pytest.raises(ConfigError, match=r"layer 1 \(max_pool\): input shape \(2, 2, 4\): .*leaves nothing"):
        model.init(rng.key(0), (conv2d(4, 3), layers.max_pool(3)), input_shape=(4, 4, 1))


def test_a_wide_architecture_file_is_refused_before_allocating_in_a_fresh_process(tmp_path):
    path = mlp_file(tmp_path, WIDE)
    script = f"""
import resource, sys, time
from funcnet import checkpoint
start = time.perf_counter()
try:
    checkpoint.load_network({str(path)!r})
except checkpoint.CheckpointError as err:
    took = time.perf_counter() - start
    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
    print(took, int(hwm) // 1024)
"""
    out = subprocess.run([sys.executable, "-c", script.replace("checkpoint.CheckpointError",
                                                               "__import__('funcnet').CheckpointError")],
                         capture_output=True, text=True, timeout=120, check=True).stdout.split()
    seconds, peak_mb = float(out[0]), int(out[1])
    assert peak_mb < 300, peak_mb  # a 300,000-unit layer would take 2.8 GB in float32
    assert seconds < 5, seconds
