"""End to end on the real MNIST and Fashion-MNIST files in $FUNCNET_DATA."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from funcnet import checkpoint, pipeline, tree
from funcnet import train as ftrain

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mnist():
    from funcnet import data
    return data.load("mnist", download=False)


def load(name):
    return pipeline.load_pipeline(ROOT / "pipelines" / f"{name}.py")


def run(name, data, *overrides, state=None):
    pipe = load(name)
    config = pipeline.resolve_seed(pipeline.apply_overrides(pipe.Config(), list(overrides)))
    return pipeline.run(pipe, config, data=data, state=state)


@pytest.mark.slow
def test_tutorial_pipeline_reproduces_the_tutorial(mnist):
    result = run("mnist", mnist, "seed=0")
    m = result.metrics
    assert 0.80 <= m["dev_accuracy"] <= 0.89
    assert 0.80 <= m["train_accuracy"] <= 0.89
    assert 0.80 <= m["test_accuracy"] <= 0.90
    assert m["steps"] == 500 and len(result.history) == 50
    assert list(result.history["step"][:2]) == [10, 20]
    # the accuracy climbs: the last record beats the first by far
    assert result.history["train_accuracy"].iloc[-1] > result.history["train_accuracy"].iloc[0] + 0.3
    assert len(result.splits["train"]) == 41000 and len(result.splits["dev"]) == 1000


@pytest.mark.slow
def test_tutorial_quirks_change_the_arithmetic(mnist):
    fixed = run("mnist", mnist, "seed=1", "iterations=50")
    quirky = run("mnist", mnist, "seed=1", "iterations=50", "tutorial_quirks=true")
    assert quirky.params.layers[0].w.dtype == np.float64  # the tutorial's dtype
    assert fixed.params.layers[0].w.dtype == np.float32
    b = quirky.params.layers[0].b  # one scalar gradient moved every bias alike
    b0 = load("mnist").init_state(quirky.config).params.layers[0].b
    step = b - b0
    assert np.allclose(step, step[0])
    assert not np.allclose(fixed.params.layers[0].b - fixed.params.layers[0].b.mean(), 0)
    assert 0.3 < quirky.metrics["dev_accuracy"] < 0.95


def test_tutorial_quirks_without_seed_draw_a_fresh_seed():
    pipe = load("mnist")
    a = pipeline.resolve_seed(pipe.Config(tutorial_quirks=True))
    b = pipeline.resolve_seed(pipe.Config(tutorial_quirks=True))
    assert a.seed != b.seed
    assert pipeline.resolve_seed(pipe.Config()).seed == 0


def test_same_seed_same_bits_other_seed_other_bits(mnist):
    a = run("mnist", mnist, "seed=3", "iterations=20", "rows=5000", "dev_size=500")
    b = run("mnist", mnist, "seed=3", "iterations=20", "rows=5000", "dev_size=500")
    c = run("mnist", mnist, "seed=4", "iterations=20", "rows=5000", "dev_size=500")
    assert tree.equal(a.params, b.params)
    drop = lambda m: {k: v for k, v in m.items() if k != "seconds"}
    assert drop(a.metrics) == drop(b.metrics)
    assert not tree.allclose(a.params, c.params)


def test_full_batch_resume_equals_one_long_run(mnist):
    small = ("rows=4000", "dev_size=400", "seed=5")
    whole = run("mnist", mnist, *small, "iterations=30")
    first = run("mnist", mnist, *small, "iterations=12")
    rest = run("mnist", mnist, *small, "iterations=30", state=first.state)
    assert int(rest.state.step) == 30
    assert tree.equal(whole.state, rest.state)


def test_minibatch_resume_mid_epoch_equals_one_long_run(mnist, tmp_path):
    small = ("sizes=784,32,10", "epochs=2", "batch_size=1000", "dev_size=2000", "seed=2",
             "dropout=0.3")
    data = {"train": mnist["train"].take(slice(0, 12000)), "test": mnist["test"]}
    pipe = load("mnist_mlp")
    config = pipeline.apply_overrides(pipe.Config(), list(small))
    splits = pipe.split(config, data)
    stream = pipe.train(config, splits)
    snaps = list(stream)
    whole = snaps[-1].state
    mid = snaps[6].state  # step 7: inside the first epoch (10 batches per epoch)
    assert int(mid.step) == 7 and snaps[-1].per_epoch == 10
    # through a checkpoint, as --resume does
    checkpoint.save(tmp_path / "state.safetensors", mid)
    back = checkpoint.load(tmp_path / "state.safetensors", like=pipe.init_state(config))
    resumed = ftrain.last(pipe.train(config, splits, back))
    assert tree.equal(whole, resumed.state)


@pytest.mark.slow
def test_mlp_pipeline_learns(mnist):
    result = run("mnist_mlp", mnist, "sizes=784,128,10", "epochs=2", "seed=0", "dropout=0.0")
    assert result.metrics["test_accuracy"] > 0.92
    hist = result.history
    assert list(hist.columns[:2]) == ["step", "epoch"]
    assert {"train_loss", "train_accuracy", "dev_accuracy", "learning_rate", "seconds"} <= set(hist.columns)
    assert len(hist) == 2


def test_early_stopping_returns_best_params(mnist):
    """With patience, the run stops after `patience` worse epochs and delivers the best."""
    data = {"train": mnist["train"].take(slice(0, 6000)), "test": mnist["test"].take(slice(0, 1000))}
    pipe = load("mnist_mlp")
    # a learning rate far too high makes dev accuracy fall after the first epochs
    config = pipeline.apply_overrides(pipe.Config(), [
        "sizes=784,32,10", "epochs=12", "batch_size=200", "dev_size=1000", "seed=0",
        "optimizer=sgd", "momentum=0.0", "learning_rate=2.0", "schedule=constant",
        "warmup_epochs=0", "dropout=0", "patience=2"])
    result = pipeline.run(pipe, config, data=data)
    hist = result.history
    best_epoch = int(hist["dev_accuracy"].idxmax()) + 1
    assert result.snapshot.stop or len(hist) == 12
    if result.snapshot.stop:
        assert len(hist) == best_epoch + 2
    best = result.snapshot.best
    assert int(best.step) == best_epoch * 25
    assert tree.equal(result.params, best.params)
    assert math.isclose(result.metrics["dev_accuracy"], hist["dev_accuracy"].max())


@pytest.mark.slow
def test_fashion_pipeline_learns():
    from funcnet import data
    fashion = data.load("fashion-mnist", download=False)
    result = run("fashion_mnist", fashion, "sizes=784,128,10", "epochs=2", "seed=0")
    assert result.metrics["test_accuracy"] > 0.82


# --- the convolutional pipelines: a few steps on small subsets ---------------------------------

def small_cnn(name, data, *overrides, state=None):
    """A CNN pipeline on 1,600 training and 500 test images, narrow layers, two epochs."""
    small = {"train": data["train"].take(slice(0, 2000)), "test": data["test"].take(slice(0, 500))}
    pipe = load(name)
    config = pipeline.apply_overrides(pipe.Config(), [
        "filters=8,16", "hidden=32", "epochs=2", "batch_size=50", "dev_size=400",
        "learning_rate=0.005", *overrides])
    return pipe, config, pipeline.run(pipe, config, data=small, state=state)


def test_mnist_cnn_pipeline_trains_and_is_deterministic(mnist):
    pipe, config, a = small_cnn("mnist_cnn", mnist, "seed=1")
    _, _, b = small_cnn("mnist_cnn", mnist, "seed=1")
    assert a.metrics["steps"] == 64 and len(a.history) == 2
    assert a.params.shapes[0] == (26, 26, 8) and a.params.shapes[-1] == (10,)
    assert a.history["train_loss"].iloc[-1] < a.history["train_loss"].iloc[0]
    assert a.metrics["test_accuracy"] > 0.3  # ten classes: chance is 0.1
    assert tree.equal(a.params, b.params)
    drop = lambda m: {k: v for k, v in m.items() if k != "seconds"}
    assert drop(a.metrics) == drop(b.metrics)


def test_cnn_pipeline_resume_equals_one_long_run(mnist, tmp_path):
    data = {"train": mnist["train"].take(slice(0, 1000)), "test": mnist["test"].take(slice(0, 100))}
    pipe = load("mnist_cnn")
    config = pipeline.apply_overrides(pipe.Config(), [
        "filters=4", "hidden=8", "epochs=2", "batch_size=200", "dev_size=200", "seed=3"])
    splits = pipe.split(config, data)
    snaps = list(pipe.train(config, splits))
    mid = snaps[2].state  # step 3 of 8, inside the first epoch
    checkpoint.save(tmp_path / "state.safetensors", mid)
    back = checkpoint.load(tmp_path / "state.safetensors", like=pipe.init_state(config))
    resumed = ftrain.last(pipe.train(config, splits, back))
    assert tree.equal(snaps[-1].state, resumed.state)


def test_cnn_pipeline_refuses_images_of_another_shape(mnist):
    from funcnet.errors import ConfigError
    pipe = load("mnist_cnn")
    config = pipeline.apply_overrides(pipe.Config(), ["input_shape=32,32,3"])
    with pytest.raises(ConfigError, match=r"input_shape=32,32,3: the images of .* have 784 "
                                          r"pixels, not 3072"):
        pipe.split(config, {"train": mnist["train"].take(slice(0, 100))})


def test_fashion_cnn_pipeline_trains():
    from funcnet import data
    fashion = data.load("fashion-mnist", download=False)
    _, config, result = small_cnn("fashion_cnn", fashion, "seed=0")
    assert config.flip and config.batch_norm and not config.shift
    assert result.params.specs[1].__class__.__name__ == "BatchNormSpec"
    assert result.metrics["test_accuracy"] > 0.3


def test_the_tutorial_loop_on_uint8_digits_is_the_loop_on_scaled_digits(mnist):
    """The README's tutorial loop written on 0–255 pixels (forward, backward, update, 100
    iterations) reaches the same accuracy as on data.scale'd pixels: every entry point scales
    integer pixels by the one rule, so the two loops are the same bits."""
    import funcnet
    from funcnet import data, rng
    digits = mnist["train"].take(slice(0, 6000))
    dev, train = data.split(rng.key(0), digits, 1000)
    params = funcnet.init(rng.key(1), (784, 10, 10), scheme="tutorial")

    def loop(x, y):
        def step(p, _):
            return funcnet.update(p, funcnet.backward(p, funcnet.forward(p, x), y), 0.10)
        import toolz
        return toolz.reduce(step, range(100), params)

    on_pixels, on_scaled = loop(train.x, train.y), loop(data.scale(train.x), train.y)
    assert train.x.dtype == np.uint8 and tree.equal(on_pixels, on_scaled)
    acc = funcnet.accuracy(dev.y, funcnet.predict(on_pixels, dev.x))
    assert acc == funcnet.accuracy(dev.y, funcnet.predict(on_scaled, data.scale(dev.x))) and acc > 0.5


def test_fashion_finetune_keeps_the_mnist_convolutions_it_freezes(mnist, tmp_path):
    from funcnet import data
    _, _, src = small_cnn("mnist_cnn", mnist, "seed=2", "epochs=1")
    checkpoint.save_network(tmp_path / "model.safetensors", src.params, src.model_state, config={})
    fashion = data.load("fashion-mnist", download=False)
    pipe, config, tuned = small_cnn("fashion_finetune", fashion, "seed=0", "epochs=1",
                                    f"init_from={tmp_path}", "freeze=layers.0-5")
    assert config.dataset == "fashion-mnist" and config.init_layers == ("layers.0-5",)
    for i in (0, 3):  # the two convolutions: taken, then never written
        assert tree.equal(tuned.params.layers[i], src.params.layers[i])
    fresh = pipe.init_state(pipeline.apply_overrides(config, ["init_from=none", "freeze="])).params
    assert tree.equal(pipe.init_state(config).params.layers[8], fresh.layers[8])  # a new head
    assert not tree.allclose(tuned.params.layers[8], fresh.layers[8])
    assert tuned.metrics["test_accuracy"] > 0.3


@pytest.mark.parametrize("name,dataset", [("mnist_best", "mnist"), ("fashion_best", "fashion-mnist")])
def test_the_record_pipelines_train_their_strided_network(name, dataset):
    from funcnet import data
    from funcnet.layers.spatial import Conv2DSpec
    raw = data.load(dataset, download=False)
    pipe, config, result = small_cnn(name, raw, "seed=0", "epochs=1")
    convs = [s for s in result.params.specs if isinstance(s, Conv2DSpec)]
    assert [c.stride for c in convs] == [1, 1, 2, 1, 1, 2]
    assert result.params.shapes[-1] == (10,) and config.label_smoothing == 0.1
    assert result.metrics["steps"] == 32 and result.history["train_loss"].notna().all()
