"""funcnet predict --images (picture files and folders) and funcnet serve's refusals."""

from __future__ import annotations

import socket
import sys

import numpy as np
import pandas as pd
import pytest

from funcnet import digitize
from funcnet.cli import load_model

from .cli_helpers import invoke, no_temp_files

Image = pytest.importorskip("PIL.Image", reason="needs the images extra (Pillow)")

DIGITS = 6


def picture(digit: np.ndarray, offset: tuple[int, int] = (0, 0)) -> Image.Image:
    """A 28x28 MNIST digit 4x larger, dark on white, off-centre on a 160x160 canvas."""
    big = 255 - np.kron(digit.reshape(28, 28), np.ones((4, 4), np.uint8))
    top, left = 24 + offset[0], 24 + offset[1]
    return Image.fromarray(np.pad(big, ((top, 48 - top), (left, 48 - left)), constant_values=255))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory, mnist_test):
    """A folder of six real test digits: PNG, JPEG, BMP and GIF, some in a subfolder."""
    folder = tmp_path_factory.mktemp("pictures")
    (folder / "more").mkdir()
    names = ["0.png", "1.jpg", "2.bmp", "3.gif", "more/4.png", "more/5.jpeg"]
    for i, name in enumerate(names):
        picture(mnist_test.x[i], (7 * i % 20 - 10, 11 * i % 20 - 10)).save(folder / name)
    return folder


def model_labels(run, x):
    params, _ = load_model(run)
    return digitize.probabilities(params, x.reshape(-1, 28, 28) / 255).argmax(axis=1)


def test_a_folder_of_pictures_gets_one_line_each_and_the_labels_of_the_digits(
        small_mlp, pictures, mnist_test, tmp_path):
    out = tmp_path / "preds.csv"
    result = invoke("predict", small_mlp, "--images", pictures, "--out", out)
    assert result.exit_code == 0, result.stderr
    lines = [l for l in result.stdout.splitlines() if "runner-up" in l]
    assert len(lines) == DIGITS and result.stderr == ""
    assert f"predicted {DIGITS} of {DIGITS} files; wrote {out}" in result.stdout
    table = pd.read_csv(out)
    assert list(table.columns) == ["file", "label", "confidence"] + [f"p{k}" for k in range(10)]
    order = table["file"].map(lambda f: int(f.rsplit("/", 1)[-1].split(".")[0])).to_numpy()
    expected = model_labels(small_mlp, mnist_test.x[:DIGITS])
    assert (table["label"].to_numpy() == expected[order]).mean() >= 5 / 6
    probs = table[[f"p{k}" for k in range(10)]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-4)
    np.testing.assert_allclose(table["confidence"], probs.max(axis=1))
    assert no_temp_files(tmp_path)


def test_files_are_named_one_by_one_and_lines_say_label_confidence_runner_up(small_mlp, pictures):
    result = invoke("predict", small_mlp, "--images", pictures / "0.png", pictures / "1.jpg")
    assert result.exit_code == 0, result.stderr
    first = result.stdout.splitlines()[1]
    assert first.startswith(f"{pictures / '0.png'}: ")
    assert " runner-up " in first and "%" in first


def test_bad_empty_and_blank_files_are_one_line_each_and_the_rest_is_predicted(
        small_mlp, pictures, tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    (tmp_path / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (40, 40), "white").save(tmp_path / "blank.png")
    out = tmp_path / "preds.csv"
    result = invoke("predict", small_mlp, "--images", pictures / "0.png", tmp_path,
                    tmp_path / "missing.gif", "--out", out)
    assert result.exit_code == 3
    errors = result.stderr.splitlines()
    assert errors == [
        f"funcnet: error: {tmp_path / 'missing.gif'}: no such file or folder",
        f"funcnet: error: {tmp_path / 'blank.png'}: no ink: the picture is blank "
        "(no pixel differs from the paper by 10% or more)",
        f"funcnet: error: {tmp_path / 'empty.jpg'}: empty file",
        f"funcnet: error: {tmp_path / 'notes.png'}: not a picture (expected PNG, JPEG, BMP or GIF)",
    ]
    assert "predicted 1 of 4 files" in result.stdout
    assert pd.read_csv(out)["file"].tolist() == [str(pictures / "0.png")]


def test_when_no_file_can_be_read_nothing_is_written(small_mlp, tmp_path):
    (tmp_path / "x.png").write_text("no")
    out = tmp_path / "preds.csv"
    result = invoke("predict", small_mlp, "--images", tmp_path / "x.png", "--out", out)
    assert result.exit_code == 3 and not out.exists()
    assert result.stderr.count("\n") == 1 and "predicted 0 of 1 file" in result.stdout


def test_out_dash_writes_the_csv_to_stdout_and_the_lines_to_stderr(small_mlp, pictures):
    result = invoke("predict", small_mlp, "--images", pictures / "0.png", "--out", "-")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("file,label,confidence,p0,p1")
    assert "runner-up" in result.stderr


def test_show_draws_what_the_network_saw_with_file_and_prediction(small_mlp, pictures):
    result = invoke("predict", small_mlp, "--images", pictures, "--show", 2)
    assert result.exit_code == 0, result.stderr
    assert "what the network saw (2 pictures):" in result.stdout
    assert "0.png" in result.stdout and "1.jpg" in result.stdout
    assert "2.bmp" not in result.stdout.split("what the network saw")[1]


@pytest.mark.parametrize("args, message", [
    (["x.png"], "unexpected argument 'x.png': to predict picture files, add --images"),
    (["--images"], "--images needs at least one PATH"),
    (["--images", "x.png", "--data", "t.csv"], "--images cannot be combined with --data"),
    (["--images", "x.png", "--show-mistakes", "2"], "--images cannot be combined with --show-mistakes"),
])
def test_picture_options_that_do_not_fit_are_usage_errors(small_mlp, args, message):
    result = invoke("predict", small_mlp, *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_a_model_that_is_not_a_checkpoint_is_refused_for_pictures(pictures, tmp_path):
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"not a checkpoint")
    result = invoke("predict", fake, "--images", pictures)
    assert result.exit_code == 4 and result.stderr.startswith("funcnet: error: ")


def test_without_pillow_the_error_names_the_extra(small_mlp, pictures, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    result = invoke("predict", small_mlp, "--images", pictures)
    assert result.exit_code == 1
    assert "pip install 'funcnet[images]'" in result.stderr


# ---------------------------------------------------------------- serve


def test_serve_refuses_a_file_that_is_not_a_funcnet_model_before_serving(tmp_path):
    fake = tmp_path / "weights.safetensors"
    fake.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    result = invoke("serve", fake, "--port", 0)
    assert result.exit_code == 4 and "serving" not in result.stdout
    assert result.stderr.startswith(f"funcnet: error: {fake}") and result.stderr.count("\n") == 1


def test_serve_on_a_port_in_use_says_so_in_one_line(small_mlp):
    pytest.importorskip("flask", reason="needs the serve extra (Flask)")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = invoke("serve", small_mlp, "--port", port)
    assert result.exit_code == 1 and "serving" not in result.stdout
    assert result.stderr == (f"funcnet: error: port {port} on 127.0.0.1 is already in use: "
                             "choose another with --port\n")


def test_serve_without_flask_names_the_extra(small_mlp, monkeypatch):
    monkeypatch.setitem(sys.modules, "flask", None)
    result = invoke("serve", small_mlp, "--port", 0)
    assert result.exit_code == 1
    assert "pip install 'funcnet[serve]'" in result.stderr


@pytest.mark.parametrize("host, warned", [("0.0.0.0", True), ("::", True), ("127.0.0.1", False),
                                          ("localhost", False)])
def test_serve_says_plainly_when_the_page_is_reachable_from_the_network(small_mlp, monkeypatch,
                                                                         host, warned):
    pytest.importorskip("flask", reason="needs the serve extra (Flask)")
    import funcnet.web

    served = []
    monkeypatch.setattr(funcnet.web, "serve", lambda app, h, p, echo: served.append((h, p)))
    result = invoke("serve", small_mlp, "--host", host, "--port", 0)
    assert result.exit_code == 0, result.stderr
    assert served == [(host, 0)]  # nothing listened: the loop is replaced
    if warned:
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith(f"funcnet: warning: listening on {host} (every network "
                                        "interface): the page and the model are reachable from "
                                        "the network")
    else:
        assert result.stderr == ""


# ---------------------------------------------------------------- pictures as a viewer shows them


def test_a_sideways_photo_with_an_exif_orientation_is_predicted_as_it_is_shown(
        small_mlp, mnist_test, tmp_path):
    """A camera stores a portrait photo sideways and says so in EXIF (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90 degrees clockwise to show
    upright = picture(mnist_test.x[2])
    upright.save(tmp_path / "upright.png")
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.png", exif=exif.tobytes())
    out = tmp_path / "preds.csv"
    result = invoke("predict", small_mlp, "--images", tmp_path / "upright.png",
                    tmp_path / "phone.png", "--out", out)
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(out)
    probs = table[[f"p{k}" for k in range(10)]].to_numpy()
    np.testing.assert_array_equal(probs[0], probs[1])  # the very same pixels, turned upright


def test_a_16_bit_scan_larger_than_the_working_size_is_read(small_mlp, mnist_test, tmp_path):
    grey = np.asarray(picture(mnist_test.x[0]).resize((1600, 1600), Image.Resampling.NEAREST))
    scan = (grey.astype(np.uint16) * 200 + 4000)  # 16-bit levels 4,000..55,000
    Image.fromarray(scan).save(tmp_path / "scan.png")
    Image.fromarray(grey).save(tmp_path / "flat.png")
    out = tmp_path / "preds.csv"
    result = invoke("predict", small_mlp, "--images", tmp_path / "flat.png", tmp_path / "scan.png",
                    "--out", out)
    assert result.exit_code == 0, result.stderr
    assert pd.read_csv(out)["label"].nunique() == 1


def test_a_fifo_and_a_device_are_one_line_each_and_the_other_files_are_predicted(
        small_mlp, pictures, fed_fifo):
    fifo = fed_fifo("pipe.png", (pictures / "0.png").read_bytes())  # would unblock a reader
    result = invoke("predict", small_mlp, "--images", pictures / "0.png", fifo, "/dev/null",
                    pictures / "1.jpg")
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        f"funcnet: error: {fifo}: a FIFO (named pipe), not a regular file "
        "(expected a PNG, JPEG, BMP or GIF file)",
        "funcnet: error: /dev/null: a character device, not a regular file "
        "(expected a PNG, JPEG, BMP or GIF file)",
    ]
    assert "predicted 2 of 4 files" in result.stdout


def test_a_file_over_the_size_cap_is_one_line(small_mlp, pictures, tmp_path):
    from funcnet.data.picture_files import MAX_FILE_BYTES

    huge = tmp_path / "huge.jpg"
    with open(huge, "wb") as fh:  # sparse: nothing written to disk
        fh.truncate(MAX_FILE_BYTES + 1)
    result = invoke("predict", small_mlp, "--images", huge, pictures / "0.png")
    assert result.exit_code == 3
    assert result.stderr == (f"funcnet: error: {huge}: over {MAX_FILE_BYTES:,} bytes, too large "
                             f"for a picture file (at most {MAX_FILE_BYTES:,} bytes are read)\n")
    assert "predicted 1 of 2 files" in result.stdout
