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
