"""funcnet.model.match / transfer / transfer_state: layers taken from a trained network."""

import copy

import numpy as np
import pytest

from funcnet import model, rng, tree
from funcnet.errors import ConfigError
from funcnet.layers import batch_norm, conv2d, dense, flatten, relu, residual


def net(key, hidden=4, classes=3, dtype=np.float32):
    return model.init(rng.key(key), (conv2d(2, 3), batch_norm(), relu(), flatten(), dense(hidden),
                                     residual(dense(hidden), relu()), dense(classes)),
                      input_shape=(5, 5, 1), dtype=dtype)


def test_nested_layers_are_taken_by_path_and_cast_to_the_new_dtype():
    src, dst = net(0), net(1, dtype=np.float64)
    m = model.match(src, dst)
    assert m.taken == ("layers.0", "layers.1", "layers.4", "layers.5.layers.0", "layers.6")
    out = model.transfer(src, dst)
    assert out.layers[5].layers[0].w.dtype == np.float64
    assert np.array_equal(out.layers[5].layers[0].w, src.layers[5].layers[0].w)
    assert tree.structure(out) == tree.structure(dst)


def test_a_rule_limits_what_is_taken_and_the_rest_is_new():
    src, dst = net(0), net(1, classes=7)
    m = model.match(src, dst, rule="layers.0-1")
    assert m == model.Match(("layers.0", "layers.1"), ("layers.4", "layers.5.layers.0", "layers.6"), ())
    out = model.transfer(src, dst, rule=lambda path, layer: path == "layers.4")
    assert tree.equal(out.layers[4], src.layers[4]) and tree.equal(out.layers[0], dst.layers[0])


def test_mismatches_are_refused_unless_partial_and_inputs_are_never_written():
    src, dst = net(0), net(1, hidden=6)
    before = copy.deepcopy((src, dst))
    with pytest.raises(ConfigError, match=r"^layers.4 does not match: dense with w \(18, 4\) "
                                          r"in the trained network, \(18, 6\) here \(and 2 more\)"):
        model.transfer(src, dst)
    out = model.transfer(src, dst, partial=True)
    assert model.match(src, dst).mismatched == ("layers.4", "layers.5.layers.0", "layers.6")
    assert tree.equal(out.layers[4], dst.layers[4]) and tree.equal(out.layers[1], src.layers[1])
    assert tree.equal((src, dst), before)
    assert out.layers[0].w is not src.layers[0].w  # copies, not the trained arrays


def test_the_running_statistics_come_along_with_their_layer():
    src, dst = net(0), net(1)
    moved = list(model.init_model_state(src))
    moved[1] = type(moved[1])(moved[1].mean + 2, moved[1].var * 3)
    state = model.transfer_state(src, tuple(moved), dst, model.init_model_state(dst))
    assert np.array_equal(state[1].mean, moved[1].mean) and np.array_equal(state[1].var, moved[1].var)
    fresh = model.transfer_state(src, tuple(moved), dst, model.init_model_state(dst), rule="layers.4")
    assert not fresh[1].mean.any()
