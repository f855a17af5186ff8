"""funcnet.classify's optimizer: the weight decay mask, lr_groups, freeze; init_from's transfer."""

from pathlib import Path

import numpy as np
import pytest

from funcnet import checkpoint, classify, optim, tree
from funcnet.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def decayed(config, params):
    """Which leaves AdamW moved with a zero gradient (only the decay moves them)."""
    opt = classify.optimizer(config)
    u, _ = opt.update(tree.zeros_like(params), opt.init(params), params)
    return [p for p, x in tree.flatten_with_path(u) if x.any()]


def test_adamw_decays_the_weights_not_the_biases_or_batch_norm_unless_decay_all():
    config = classify.CNNConfig(filters=(2,), hidden=3, batch_norm=True, warmup_epochs=0)
    params = tree.map(np.ones_like, classify.init_state(config).params)  # every leaf can decay
    assert decayed(config, params) == ["layers.0.w", "layers.6.w", "layers.9.w"]
    everything = [p for p, _ in tree.flatten_with_path(params)]
    assert decayed(classify.CNNConfig(filters=(2,), hidden=3, batch_norm=True, warmup_epochs=0,
                                      decay_all=True), params) == everything


def test_a_run_saved_before_the_decay_mask_still_loads_into_the_template():
    """The mask adds no array to the optimizer state: old state files keep their tensor names."""
    config = classify.MLPConfig(sizes=(784, 16, 10), schedule="constant", warmup_epochs=0)
    like = classify.init_state(config)
    state = checkpoint.load(FIXTURES / "legacy_runs" / "mlp" / "state.safetensors", like=like,
                            names=checkpoint.legacy_names(like.params))
    assert int(state.step) > 0


def test_lr_groups_give_a_group_its_own_peak_on_the_same_schedule():
    config = classify.MLPConfig(sizes=(4, 3, 2), lr_groups=("layers.0=1e-4",), optimizer="sgd",
                                momentum=0.0, warmup_epochs=0, schedule="constant")
    params = classify.init_state(config).params
    opt = classify.optimizer(config)
    u, s = opt.update(tree.map(np.ones_like, params), opt.init(params), params)
    assert np.allclose(u.layers[0].w, -1e-4) and np.allclose(u.layers[3].w, -1e-3)
    assert optim.hyperparams(s, everywhere=True) == {
        "inner_states.layers.0": {"learning_rate": 1e-4},
        "inner_states.rest": {"learning_rate": 1e-3}}
    with pytest.raises(ValueError, match="expected PATTERN=RATE"):
        classify.MLPConfig(lr_groups=("layers.0=-1",))


def test_freeze_is_the_first_link_of_the_chain():
    config = classify.MLPConfig(sizes=(4, 3, 2), freeze=("layers.3",), clip_norm=1.0)
    params = classify.init_state(config).params
    assert [p for p, f in tree.flatten_with_path(optim.frozen(classify.optimizer(config), params))
            if f] == ["layers.3.w", "layers.3.b"]
    with pytest.raises(ConfigError, match="freeze: 'layers.2' names no parameter"):
        classify.init_state(classify.MLPConfig(sizes=(4, 3, 2), freeze=("layers.2",)))


def test_init_from_takes_the_matching_layers_of_a_saved_model(tmp_path):
    src_config = classify.MLPConfig(sizes=(4, 3, 2), seed=1)
    src = classify.init_state(src_config).params
    checkpoint.save_network(tmp_path / "model.safetensors", src, None, config={})
    config = classify.MLPConfig(sizes=(4, 3, 5), init_from=str(tmp_path), partial=True)
    state = classify.init_state(config)
    assert tree.equal(state.params.layers[0], src.layers[0])
    assert tree.equal(state.params.layers[3], classify.init_state(
        classify.MLPConfig(sizes=(4, 3, 5))).params.layers[3])
    assert classify.init_line(config) == (f"init from {tmp_path}: taken layers.0 (15 numbers) | "
                                          "new none | kept fresh (partial) layers.3 | frozen none")


# --- augmentation and label smoothing chosen by config fields --------------------------------

def _digits(n=16, dtype=np.uint8):
    from funcnet import rng
    gen = rng.generator(rng.key(11))
    return classify.fdata.Dataset(gen.integers(0, 256, (n, 784)).astype(dtype), np.arange(n) % 10)


def _first_batch(config):
    return next(iter(classify._augmented(config, iter([_digits()]), 0)))


def test_without_the_new_fields_the_augmented_batches_keep_their_bits():
    from funcnet import augment, rng
    config = classify.MLPConfig(sizes=(784, 16, 10), shift=2)
    k_shift, _ = rng.split(rng.fold_in(classify.keys(config)[4], 0))
    assert np.array_equal(_first_batch(config).x, augment.shift(k_shift, _digits().x, 2))


@pytest.mark.parametrize("fields", [{"rotation": 15.0}, {"zoom": 0.1}, {"shear": 10.0},
                                    {"elastic": 6.0, "elastic_sigma": 3.0, "shift": 0},
                                    {"rotation": 10.0, "zoom": 0.1, "elastic": 4.0}])
def test_rotation_zoom_shear_and_elastic_move_the_pixels_reproducibly(fields):
    config = classify.CNNConfig(**fields)
    a, b = _first_batch(config), _first_batch(config)
    assert a.x.shape == _digits().x.shape and a.x.dtype == np.uint8
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, _digits().y)
    plain = _first_batch(classify.CNNConfig(shift=0))
    assert not np.array_equal(a.x, plain.x)


def test_the_affine_fields_draw_one_affine_map_per_image():
    from funcnet import augment, rng
    config = classify.CNNConfig(rotation=20.0, zoom=0.1, shear=5.0, shift=2)
    kt = rng.fold_in(classify.keys(config)[4], 0)
    k_affine, _ = rng.split(rng.fold_in(kt, 1))
    expected = augment.affine(k_affine, _digits().x.reshape(-1, 28, 28, 1), rotation=20.0,
                              scale=(0.9, 1.1), shift=2.0, shear=5.0).reshape(-1, 784)
    assert np.array_equal(_first_batch(config).x, expected)


def test_moving_pixels_of_examples_that_are_not_images_is_one_config_error():
    config = classify.MLPConfig(sizes=(12, 16, 10), rotation=10.0)
    ds = classify.fdata.Dataset(np.zeros((4, 12), np.float32), np.arange(4))
    with pytest.raises(ConfigError, match=r"expected 28 × 28 images.*\(12,\)"):
        next(iter(classify._augmented(config, iter([ds]), 0)))
    with pytest.raises(ConfigError, match=r"expected 28 × 28 images.*\(12,\)"):
        classify.split(config, {"train": classify.fdata.Dataset(np.zeros((40, 12), np.float32),
                                                               np.arange(40) % 10)})


@pytest.mark.parametrize("field,value", [("rotation", 181.0), ("zoom", 1.0), ("shear", 90.0),
                                         ("elastic", -1.0), ("elastic_sigma", 0.0),
                                         ("label_smoothing", 1.0)])
def test_out_of_range_augmentation_fields_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        classify.CNNConfig(**{field: value})


def test_label_smoothing_reaches_the_training_step():
    from funcnet import model, rng, train
    config = classify.MLPConfig(sizes=(784, 16, 10), label_smoothing=0.1, shift=0, dropout=0.0,
                                optimizer="sgd", schedule="constant", warmup_epochs=0.0, l2=0.0,
                                momentum=0.0)
    ds = _digits()
    splits = {"train": ds, "dev": ds, "test": ds}
    state = classify.init_state(config, 1)
    snap = next(iter(classify.train(config, splits, state)))
    loss, *_ = model.value_and_grads(state.params, ds.x, ds.y, label_smoothing=0.1)
    # the batch holds the 16 rows shuffled: float32 sums in another order differ by at most
    # about n·ε = 16 × 6e-8 ≈ 1e-6 relative; smoothing moves the loss by far more (below)
    assert float(snap.state.loss) == pytest.approx(float(loss), rel=1e-5)
    plain, *_ = model.value_and_grads(state.params, ds.x, ds.y)
    assert abs(float(plain) - float(loss)) > 1e-3
