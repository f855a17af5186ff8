"""funcnet.paths (tree.labels, tree.mask, tree.at): patterns over dotted paths, labels, surgery."""

import numpy as np
import pytest

from funcnet import model, rng, tree
from funcnet.layers import batch_norm, conv2d, dense, flatten, relu, residual


def cnn():
    return model.init(rng.key(0), (conv2d(2, 3), batch_norm(), relu(), flatten(), dense(4),
                                   residual(dense(4), relu()), dense(3)), input_shape=(5, 5, 1))


def test_paths_of_a_network_are_what_patterns_see():
    paths = [p for p, _ in tree.flatten_with_path(cnn())]
    assert paths == ["layers.0.w", "layers.0.b", "layers.1.gamma", "layers.1.beta",
                     "layers.4.w", "layers.4.b", "layers.5.layers.0.w", "layers.5.layers.0.b",
                     "layers.6.w", "layers.6.b"]


@pytest.mark.parametrize("pattern, expected", [
    ("layers.0", ["layers.0.w", "layers.0.b"]),
    ("layers.0.*", ["layers.0.w", "layers.0.b"]),
    ("layers.0-4", ["layers.0.w", "layers.0.b", "layers.1.gamma", "layers.1.beta",
                    "layers.4.w", "layers.4.b"]),
    ("*.b", ["layers.0.b", "layers.4.b", "layers.5.layers.0.b", "layers.6.b"]),
    ("*.gamma", ["layers.1.gamma"]),
    ("layers.5", ["layers.5.layers.0.w", "layers.5.layers.0.b"]),
    ("layers.?.w", ["layers.0.w", "layers.4.w", "layers.6.w"]),
    ("layers.7", []),
    ("*", ["layers.0.w", "layers.0.b", "layers.1.gamma", "layers.1.beta", "layers.4.w",
           "layers.4.b", "layers.5.layers.0.w", "layers.5.layers.0.b", "layers.6.w", "layers.6.b"]),
])
def test_mask_from_patterns(pattern, expected):
    picked = [p for p, m in tree.flatten_with_path(tree.mask(cnn(), pattern)) if m]
    assert picked == expected


def test_a_prefix_matches_only_at_a_dot():
    assert tree.matches("layers.10.w", "layers.1") is False
    assert tree.matches("layers.10.w", "layers.10") is True
    assert tree.matches("layers.1.bias", "layers.1.b") is False
    assert tree.matches("layers.12.w", "layers.10-13") is True


def test_masks_with_no_match_and_with_every_match():
    net = cnn()
    none = tree.mask(net, "conv.*")
    every = tree.mask(net, ["layers.0-3", "layers.4-9"])
    assert tree.structure(none) == tree.structure(every) == tree.structure(net)
    assert not any(tree.leaves(none)) and all(tree.leaves(every))
    assert tree.unmatched(net, ["conv.*", "layers.4"]) == ["conv.*"]


def test_labels_from_patterns_first_match_wins_and_default():
    got = tree.labels(cnn(), {"layers.0-1": "features", "*.b": "bias"}, default="rest")
    by_path = dict(tree.flatten_with_path(got))
    assert by_path["layers.0.b"] == "features"  # the first pattern wins
    assert by_path["layers.4.b"] == "bias" and by_path["layers.4.w"] == "rest"
    with pytest.raises(ValueError, match="no pattern names layers.4.w"):
        tree.labels(cnn(), {"layers.0-1": "features", "*.b": "bias"})


def test_labels_from_a_function_of_path_and_leaf():
    got = tree.labels(cnn(), lambda path, x: f"{x.ndim}d" if "layers.5" not in path else "block")
    assert dict(tree.flatten_with_path(got))["layers.0.w"] == "4d"
    assert dict(tree.flatten_with_path(got))["layers.5.layers.0.b"] == "block"
    with pytest.raises(ValueError, match="no label"):
        tree.labels(cnn(), lambda path, x: None)


def test_at_replaces_a_layer_a_leaf_or_several_and_keeps_the_input():
    net = cnn()
    before = tree.map(np.copy, net)
    new_head = model.init(rng.key(9), (dense(3),), input_shape=(4,)).layers[0]
    a = tree.at(net, lambda p: p.layers[6], new_head)
    assert a.layers[6] is new_head and a.layers[0] is net.layers[0]
    b = tree.at(net, "layers.5.layers.0.b", replace_fn=lambda b: b + 1)
    assert np.array_equal(b.layers[5].layers[0].b, net.layers[5].layers[0].b + 1)
    c = tree.at(net, lambda p: (p.layers[0].w, p.layers[6].b), (np.zeros((3, 3, 1, 2)), np.ones(3)))
    assert not c.layers[0].w.any() and c.layers[6].b.all()
    whole = tree.at(net, lambda p: p.layers, replace_fn=lambda layers: layers[::-1][::-1])
    assert tree.equal(whole, net)
    assert tree.equal(net, before)


def test_at_refuses_nodes_not_in_the_tree_and_paths_that_do_not_exist():
    net = cnn()
    with pytest.raises(ValueError, match="not a node of the tree"):
        tree.at(net, lambda p: np.zeros(1), np.ones(1))
    with pytest.raises(ValueError, match="no node at layers.9.w"):
        tree.at(net, "layers.9.w", np.ones(1))
    with pytest.raises(ValueError, match="picked 2 nodes but replace holds 1"):
        tree.at(net, ["layers.0.w", "layers.0.b"], (np.ones(1),))
