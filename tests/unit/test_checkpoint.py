"""Checkpoints: round trips, the file's header, refusals and atomic writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import NamedTuple

import attrs
import numpy as np
import pytest
import safetensors
import safetensors.numpy

import funcnet
from funcnet import checkpoint, tree
from funcnet.errors import CheckpointError


@tree.pytree
@attrs.frozen(eq=False)
class Layer:
    w: np.ndarray
    b: np.ndarray
    activation: str = tree.static_field(default="relu")


class Moments(NamedTuple):
    mu: object
    nu: object


def make_tree(seed: int = 0, n_in: int = 4, n_out: int = 3):
    """A tree like a training state: records, NamedTuples, scalars and None."""
    rng = np.random.default_rng(seed)
    layer = Layer(rng.standard_normal((n_in, n_out)).astype(np.float32),
                  rng.standard_normal(n_out).astype(np.float32))
    return {
        "params": {"layers": [layer, None]},
        "opt": Moments(mu=np.zeros(n_out), nu=(np.ones((0, 2), np.uint8),)),
        "step": 7, "lr": 0.25, "done": False, "scale": np.float32(0.5),
        "mask": rng.random((2, 2)) > 0.5,
    }


@pytest.fixture
def ckpt(tmp_path):
    """A saved tree, its path and a template for it."""
    path = checkpoint.save(tmp_path / "model.safetensors", make_tree(),
                           config={"sizes": [4, 3], "lr": 0.25},
                           metadata={"activation": "relu"})
    return path, make_tree(seed=1)


def header(path: Path) -> dict:
    """The safetensors JSON header of ``path``."""
    data = path.read_bytes()
    return json.loads(data[8:8 + int.from_bytes(data[:8], "little")])


def temp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


# ---------------------------------------------------------------- round trips


def test_round_trip_keeps_structure_values_and_leaf_types(ckpt):
    path, like = ckpt
    got = checkpoint.load(path, like)
    assert tree.equal(got, make_tree())
    assert (type(got["step"]), type(got["lr"]), type(got["done"])) == (int, float, bool)
    assert type(got["scale"]) is np.float32
    assert got["params"]["layers"][0].activation == "relu"


def test_loaded_arrays_are_fresh_and_writable(ckpt):
    path, like = ckpt
    got = checkpoint.load(path, like)
    arrays = [x for x in tree.leaves(got) if isinstance(x, np.ndarray)]
    assert all(a.flags.writeable and a.flags.c_contiguous for a in arrays)
    template_arrays = [x for x in tree.leaves(like) if isinstance(x, np.ndarray)]
    assert not any(np.shares_memory(a, b) for a in arrays for b in arrays + template_arrays
                   if a is not b)


def test_save_reads_read_only_and_strided_arrays_without_changing_them(tmp_path):
    base = np.arange(24.0).reshape(4, 6)
    base.flags.writeable = False
    t = {"t": base.T, "s": base[::2, 1::3], "r": base}
    checkpoint.save(tmp_path / "c.safetensors", t)
    got = checkpoint.load(tmp_path / "c.safetensors", tree.map(np.zeros_like, t))
    assert all(np.array_equal(got[k], t[k]) for k in t)
    assert not base.flags.writeable
    assert np.array_equal(base, np.arange(24.0).reshape(4, 6))


def test_template_values_are_not_used_or_changed(ckpt):
    path, like = ckpt
    before = tree.map(np.copy, like)
    checkpoint.load(path, like)
    assert tree.equal(like, before)


def test_empty_tree_and_a_bare_array_round_trip(tmp_path):
    checkpoint.save(tmp_path / "e.safetensors", {"a": None, "b": ()})
    assert checkpoint.load(tmp_path / "e.safetensors", {"a": None, "b": ()}) == {"a": None, "b": ()}
    checkpoint.save(tmp_path / "x.safetensors", np.arange(3))
    assert np.array_equal(checkpoint.load(tmp_path / "x.safetensors", np.zeros(3, int)), np.arange(3))


def test_save_returns_the_path_and_creates_missing_folders(tmp_path):
    target = tmp_path / "runs" / "a" / "b.safetensors"
    assert checkpoint.save(str(target), {"w": np.ones(2)}) == target
    assert target.is_file() and temp_files(target.parent) == []


def test_save_over_an_existing_checkpoint_replaces_it(ckpt):
    path, _ = ckpt
    checkpoint.save(path, {"w": np.ones(2)})
    assert tree.equal(checkpoint.load(path, {"w": np.zeros(2)}), {"w": np.ones(2)})
    assert temp_files(path.parent) == []


def test_new_file_mode_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = checkpoint.save(tmp_path / "m.safetensors", {"w": np.ones(1)})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


# ---------------------------------------------------------------- the file's header


def test_header_holds_format_config_and_metadata_as_strings(ckpt):
    path, _ = ckpt
    meta = header(path)["__metadata__"]
    assert meta["format"] == "funcnet-checkpoint"
    assert json.loads(meta["format_version"]) == 1
    assert json.loads(meta["config"]) == {"sizes": [4, 3], "lr": 0.25}
    assert json.loads(meta["metadata"]) == {"activation": "relu"}
    assert isinstance(meta["funcnet_version"], str) and len(meta["content_sha256"]) == 64


def test_tensor_names_are_the_tree_paths(ckpt):
    path, like = ckpt
    names = set(header(path)) - {"__metadata__"}
    assert names == {p for p, _ in tree.flatten_with_path(like)}
    assert "params.layers.0.w" in names and "opt.nu.0" in names


def test_file_is_plain_safetensors(ckpt):
    path, _ = ckpt
    plain = safetensors.numpy.load_file(path)
    assert np.array_equal(plain["params.layers.0.w"], make_tree()["params"]["layers"][0].w)
    assert plain["step"].shape == () and plain["step"].dtype == np.int64


def test_read_info_without_a_template(ckpt):
    path, _ = ckpt
    info = checkpoint.read_info(path)
    assert set(info) == {"config", "metadata", "format_version", "funcnet_version", "tensors"}
    assert info["config"] == {"sizes": [4, 3], "lr": 0.25}
    assert info["metadata"] == {"activation": "relu"}
    assert info["format_version"] == 1
    assert info["tensors"]["params.layers.0.w"] == ("float32", (4, 3))
    assert info["tensors"]["opt.nu.0"] == ("uint8", (0, 2))
    assert info["tensors"]["step"] == ("int64", ())
    assert info["tensors"]["mask"] == ("bool", (2, 2))


def test_config_and_metadata_default_to_empty_dicts(tmp_path):
    info = checkpoint.read_info(checkpoint.save(tmp_path / "c.safetensors", {"w": np.ones(1)}))
    assert info["config"] == {} and info["metadata"] == {}


# ---------------------------------------------------------------- refusals on save


@pytest.mark.parametrize("leaf, shown", [
    (np.array(["a"]), "dtype <U1"),
    (np.array([object()]), "dtype object"),
    (np.ones(2, np.complex128), "dtype complex128"),
    ("text", "dtype <U4"),
    (2 ** 70, "dtype object"),
])
def test_save_refuses_unsupported_leaves(tmp_path, leaf, shown):
    target = tmp_path / "c.safetensors"
    with pytest.raises(CheckpointError, match=rf"c\.safetensors: cannot save leaf 'x\.0': {shown} "):
        checkpoint.save(target, {"x": [leaf]})
    assert not target.exists() and temp_files(tmp_path) == []


@pytest.mark.parametrize("bad", [{"a.b": np.ones(1), "a": {"b": np.ones(1)}},
                                 {"a.0": np.ones(1), "a": [np.ones(1)]},
                                 {"__metadata__": np.ones(1)}])
def test_save_refuses_clashing_or_reserved_names(tmp_path, bad):
    with pytest.raises(CheckpointError, match="cannot save leaf '.*': expected unique tensor names"):
        checkpoint.save(tmp_path / "c.safetensors", bad)


@pytest.mark.parametrize("field", ["config", "metadata"])
def test_save_refuses_config_that_is_not_a_json_dict(tmp_path, field):
    with pytest.raises(CheckpointError, match=f"{field} must be a JSON-able dict, got list"):
        checkpoint.save(tmp_path / "c.safetensors", {}, **{field: [1]})
    with pytest.raises(CheckpointError, match=f"{field} is not JSON-able: .*ndarray"):
        checkpoint.save(tmp_path / "c.safetensors", {}, **{field: {"a": np.ones(1)}})


# ---------------------------------------------------------------- refusals on load


def assert_refused(path, like, pattern):
    with pytest.raises(CheckpointError, match=pattern) as info:
        checkpoint.load(path, like)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_missing_file_and_folder(tmp_path):
    assert_refused(tmp_path / "nope.safetensors", {}, "no such checkpoint file")
    assert_refused(tmp_path, {}, "expected a checkpoint file, found a folder")
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        checkpoint.read_info(tmp_path / "nope.safetensors")


def test_empty_and_random_files(tmp_path):
    (tmp_path / "empty.safetensors").write_bytes(b"")
    assert_refused(tmp_path / "empty.safetensors", {}, "not a readable safetensors file")
    (tmp_path / "noise.safetensors").write_bytes(np.random.default_rng(0).bytes(4096))
    assert_refused(tmp_path / "noise.safetensors", {}, "not a readable safetensors file")
    (tmp_path / "text.safetensors").write_text("hello, world " * 20)
    assert_refused(tmp_path / "text.safetensors", {}, "not a readable safetensors file")


def test_truncated_files_are_refused(ckpt, tmp_path):
    path, like = ckpt
    data = path.read_bytes()
    n = 8 + int.from_bytes(data[:8], "little")
    cut_path = tmp_path / "cut.safetensors"
    for cut in sorted({1, 4, 7, 8, 9, n // 2, n - 1, n, n + 1, (n + len(data)) // 2, len(data) - 1}):
        cut_path.write_bytes(data[:cut])
        assert_refused(cut_path, like, "not a readable safetensors file")
        with pytest.raises(CheckpointError):
            checkpoint.read_info(cut_path)


def test_every_flipped_header_byte_is_refused(ckpt, tmp_path):
    path, like = ckpt
    data = path.read_bytes()
    n = 8 + int.from_bytes(data[:8], "little")
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(data)
    with open(bad, "r+b", buffering=0) as f:  # flip in place: rewriting files is slow
        for i in range(n):
            mask = 0xFF if i % 2 else 1 << (i // 2 % 8)  # every byte, every bit position
            f.seek(i)
            f.write(bytes([data[i] ^ mask]))
            with pytest.raises(CheckpointError, match=r"^.*flipped\.safetensors: "):
                checkpoint.load(bad, like)
            f.seek(i)
            f.write(data[i:i + 1])


def test_flipped_data_byte_fails_the_checksum(ckpt, tmp_path):
    path, like = ckpt
    flipped = bytearray(path.read_bytes())
    flipped[-5] ^= 0x10
    (tmp_path / "f.safetensors").write_bytes(flipped)
    assert_refused(tmp_path / "f.safetensors", like, "damaged checkpoint: content checksum mismatch")


def test_foreign_safetensors_files_are_refused(tmp_path):
    plain = tmp_path / "plain.safetensors"
    safetensors.numpy.save_file({"w": np.ones(2)}, plain)
    assert_refused(plain, {"w": np.ones(2)},
                   "not a funcnet checkpoint: expected format 'funcnet-checkpoint' in the "
                   "safetensors metadata, found no 'format' field")
    torchy = tmp_path / "torchy.safetensors"
    safetensors.numpy.save_file({"w": np.ones(2)}, torchy, metadata={"format": "pt"})
    assert_refused(torchy, {"w": np.ones(2)}, "found format 'pt'")
    with pytest.raises(CheckpointError, match="not a funcnet checkpoint"):
        checkpoint.read_info(torchy)


def rewrite_metadata(path: Path, out: Path, **changes) -> Path:
    """``path``'s tensors with metadata fields changed (None deletes one)."""
    with safetensors.safe_open(path, framework="numpy") as f:
        meta = {**f.metadata(), **changes}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    safetensors.numpy.save_file(tensors, out, metadata={k: v for k, v in meta.items() if v is not None})
    return out


def test_newer_format_version_is_refused(ckpt, tmp_path):
    path, like = ckpt
    newer = rewrite_metadata(path, tmp_path / "v2.safetensors", format_version="2")
    assert_refused(newer, like, "checkpoint format_version 2 is newer than this funcnet supports "
                                r"\(1\); upgrade funcnet")
    with pytest.raises(CheckpointError, match="format_version 2 is newer"):
        checkpoint.read_info(newer)


@pytest.mark.parametrize("changes, pattern", [
    ({"content_sha256": None}, "damaged checkpoint: metadata lacks content_sha256"),
    ({"config": "{not json"}, "damaged checkpoint: metadata is not valid JSON"),
    ({"config": "[1, 2]"}, "expected an integer format_version and JSON objects"),
    ({"format_version": '"1"'}, "expected an integer format_version"),
    ({"config": '{"sizes": [4, 3], "lr": 0.5}'}, "content checksum mismatch"),
])
def test_damaged_metadata_is_refused(ckpt, tmp_path, changes, pattern):
    path, like = ckpt
    assert_refused(rewrite_metadata(path, tmp_path / "d.safetensors", **changes), like, pattern)


def test_key_mismatch_names_missing_and_unexpected_keys(ckpt):
    path, like = ckpt
    wider = {**like, "extra": np.ones(1)}
    del wider["lr"]
    message = assert_refused(path, wider, "tensor names differ from the template: "
                                          "missing 'extra'; unexpected 'lr'")
    assert message.endswith("missing 'extra'; unexpected 'lr'")


def test_many_missing_keys_are_listed_briefly(tmp_path):
    path = checkpoint.save(tmp_path / "c.safetensors", {})
    message = assert_refused(path, {f"k{i}": 0 for i in range(8)}, "missing 'k0'")
    assert message.endswith("'k4' and 3 more")


def test_load_refuses_a_template_with_clashing_names(ckpt):
    path, _ = ckpt
    assert_refused(path, {"a.b": np.ones(1), "a": {"b": np.ones(1)}},
                   "the template has leaves sharing one tensor name")


def test_shape_mismatch_names_the_key_and_both_shapes(ckpt):
    path, _ = ckpt
    assert_refused(path, make_tree(n_in=5),
                   r"tensor 'params\.layers\.0\.w': expected shape \(5, 3\), got \(4, 3\)$")


def test_dtype_mismatch_names_the_key_and_both_dtypes(ckpt):
    path, like = ckpt
    assert_refused(path, tree.astype(like, np.float64),
                   r"tensor 'params\.layers\.0\.w': expected dtype float64, got float32$")
    assert_refused(path, {**like, "step": 7.0}, r"tensor 'step': expected dtype float64, got int64$")
    assert_refused(path, {**like, "scale": np.float16(0)},
                   r"tensor 'scale': expected dtype float16, got float32$")


# ---------------------------------------------------------------- atomic writes


def test_failed_fsync_leaves_the_old_checkpoint_and_no_temp_file(ckpt, monkeypatch):
    path, like = ckpt
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: cannot write checkpoint: "
                                              r"\[Errno 28\] No space left on device"):
        checkpoint.save(path, {"w": np.ones(3)})
    monkeypatch.undo()
    assert path.read_bytes() == before and temp_files(path.parent) == []
    assert tree.equal(checkpoint.load(path, like), make_tree())


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failed_replace_leaves_the_old_checkpoint_and_no_temp_file(ckpt, monkeypatch, error):
    path, like = ckpt
    before = path.read_bytes()

    def broken_replace(src, dst):
        assert Path(src).stat().st_size > 0
        raise error

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(type(error)):
        checkpoint.save(path, {"w": np.ones(3)})
    monkeypatch.undo()
    assert path.read_bytes() == before and temp_files(path.parent) == []


def test_unwritable_target_is_reported(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(CheckpointError, match="taken: cannot write checkpoint: "):
        checkpoint.save(tmp_path / "taken", {"w": np.ones(1)})
    assert temp_files(tmp_path) == []


KILLED_SAVE = textwrap.dedent("""
    import sys
    import numpy as np
    from funcnet import checkpoint
    big = {"params": [np.full((1024, 1024), i, np.float64) for i in range(25)]}  # 200 MB
    print("ready", flush=True)
    checkpoint.save(sys.argv[1], big)
    print("saved", flush=True)
""")


def wait_for_partial_temp(folder: Path, proc: subprocess.Popen, timeout: float = 15.0) -> bool:
    """Poll until a non-empty temp file shows in ``folder``; False if the save ended first."""
    stop = time.monotonic() + timeout
    while time.monotonic() < stop and proc.poll() is None:
        for tmp in temp_files(folder):
            try:
                if tmp.stat().st_size > 0:
                    return True
            except FileNotFoundError:
                pass
        time.sleep(0.0005)
    return False


def test_save_killed_mid_write_leaves_the_old_checkpoint(ckpt):
    path, like = ckpt
    before = path.read_bytes()
    root = Path(funcnet.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(path)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        caught = wait_for_partial_temp(path.parent, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert caught, "the save ended before a partial temp file was seen"
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert tree.equal(checkpoint.load(path, like), make_tree())
    left = temp_files(path.parent)
    assert len(left) == 1  # a killed process cannot clean up; load ignores it
    left[0].unlink()
