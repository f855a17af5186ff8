"""funcnet.layers and the model API on networks of layers: shapes, errors, summary,
intermediates, the MLP seen as layers, checkpoints with their architecture, training."""

from pathlib import Path

import attrs
import numpy as np
import pytest
import safetensors.numpy
import toolz

from funcnet import checkpoint, data, layers, model, optim, rng, train, tree
from funcnet.errors import CheckpointError, ConfigError, DataError
from funcnet.layers import batch_norm, conv2d, dense, dropout, flatten, max_pool, relu, tanh

FIXTURE = Path(__file__).parent.parent / "fixtures" / "mlp_784_10_10_before_architecture.safetensors"


def small_cnn():
    return (conv2d(4, 3), batch_norm(), relu(), max_pool(2), flatten(), dropout(0.25), dense(10))


# --- shapes and errors --------------------------------------------------------------------

def test_shapes_flow_from_the_input_shape():
    net = model.init(rng.key(0), small_cnn(), input_shape=(28, 28, 1))
    assert net.shapes == ((26, 26, 4), (26, 26, 4), (26, 26, 4), (13, 13, 4), (676,), (676,),
                          (10,))
    assert net.layers[0].w.shape == (3, 3, 1, 4) and net.layers[-1].w.shape == (676, 10)


@pytest.mark.parametrize("specs, message", [
    ((conv2d(4, 3), dense(10)),
     r"^layer 1 \(dense\): input shape \(26, 26, 4\): expects flat inputs"),
    ((conv2d(4, 30),), r"^layer 0 \(conv2d\): input shape \(28, 28, 1\): .*larger"),
    ((max_pool(8), max_pool(8)), r"^layer 1 \(max_pool\): input shape \(3, 3, 1\): .*leaves nothing"),
    ((flatten(), conv2d(2, 3)), r"^layer 1 \(conv2d\): input shape \(784,\): expects images"),
])
def test_a_network_that_does_not_fit_is_refused_in_one_line(specs, message):
    with pytest.raises(ConfigError, match=message) as info:
        model.init(rng.key(0), specs, input_shape=(28, 28, 1))
    assert "\n" not in str(info.value)


def test_specs_need_an_input_shape_and_known_kinds():
    with pytest.raises(ConfigError, match="input_shape"):
        model.init(rng.key(0), (dense(3),))
    with pytest.raises(ConfigError, match=r"layer 0 \(str\)"):
        model.init(rng.key(0), ("dense",), input_shape=(3,))
    with pytest.raises(ValueError, match="unknown activation"):
        layers.activation("swish")
    with pytest.raises(ValueError, match="dropout rate"):
        dropout(1.0)


def test_inputs_that_do_not_fit_the_input_shape_are_named():
    net = model.init(rng.key(0), (flatten(), dense(2)), input_shape=(2, 2, 1))
    assert model.predict(net, np.zeros((3, 4))).shape == (3,)  # rows of pixels are reshaped
    with pytest.raises(DataError, match=r"expected one example per row, \(n, 2, 2, 1\) or \(n, 4\); got \(3, 5\)"):
        model.predict(net, np.zeros((3, 5)))


# --- the MLP is the special case dense, g, dense ------------------------------------------

def test_the_tutorial_mlp_is_the_network_dense_relu_dense():
    p = model.init(rng.key(1), (784, 10, 10), scheme="tutorial")
    net = attrs.evolve(model.init(rng.key(1), (dense(10), relu(), dense(10)), input_shape=(784,)),
                       layers=p.layers)
    assert tree.structure(p) == tree.structure(net) and p.specs == net.specs
    x = rng.uniform(rng.key(2), (50, 784))
    np.testing.assert_array_equal(model.logits(p, x), model.logits(net, x))


# --- the inference path, intermediates, summary -------------------------------------------

def test_logits_are_the_same_in_any_chunks_and_for_pixels_or_floats():
    net = model.init(rng.key(0), (dense(5), batch_norm(), tanh(), dense(3)), input_shape=(6,))
    state = model.init_model_state(net)
    pixels = rng.generator(rng.key(1)).integers(0, 256, (37, 6)).astype(np.uint8)
    whole = model.logits(net, pixels, 1000, model_state=state)
    np.testing.assert_array_equal(model.logits(net, pixels, 5, model_state=state), whole)
    np.testing.assert_allclose(model.logits(net, data.scale(pixels), model_state=state), whole)
    assert model.logits(net, pixels[:0], model_state=state).shape == (0, 3)
    with pytest.raises(ValueError, match="model state"):
        model.logits(net, pixels)  # batch norm at evaluation needs its running statistics


def test_intermediates_give_every_layer_output_at_evaluation():
    net = model.init(rng.key(0), small_cnn(), input_shape=(28, 28, 1))
    outs = model.intermediates(net, np.zeros((2, 784), np.uint8), model.init_model_state(net))
    assert [o.shape[1:] for o in outs] == list(net.shapes)
    np.testing.assert_array_equal(outs[-1], model.logits(net, np.zeros((2, 784)),
                                                         model_state=model.init_model_state(net)))
    mlp = model.init(rng.key(0), (4, 3, 2))
    z1, a1, z2 = model.intermediates(mlp, np.ones((2, 4)))
    np.testing.assert_array_equal(a1, np.maximum(z1, 0))


def test_summary_has_one_row_per_layer():
    net = model.init(rng.key(0), small_cnn(), input_shape=(28, 28, 1))
    frame = model.summary(net)
    assert list(frame.columns) == ["kind", "output_shape", "params"]
    assert list(frame["kind"]) == ["conv2d", "batch_norm", "relu", "max_pool", "flatten",
                                   "dropout", "dense", ""]
    assert list(frame["params"]) == [40, 8, 0, 0, 0, 0, 6770, 6818]
    assert frame["params"].iloc[-1] == tree.size(net) and frame.index[-1] == "total"
    assert frame["output_shape"]["3"] == "(13, 13, 4)" and list(frame.index)[:2] == ["0", "1"]


# --- checkpoints ----------------------------------------------------------------------------

def test_a_network_round_trips_with_its_architecture_and_model_state(tmp_path):
    net = model.init(rng.key(0), small_cnn(), input_shape=(28, 28, 1))
    state = model.init_model_state(net)
    state = tuple(s if s is None else layers.BatchNormState(s.mean + 1, s.var * 2) for s in state)
    path = checkpoint.save_network(tmp_path / "m.safetensors", net, state, config={"a": 1})
    params, got_state, info = checkpoint.load_network(path)
    assert tree.equal(params, net) and tree.equal(got_state, state)
    assert params.specs == net.specs and params.input_shape == (28, 28, 1)
    assert info["metadata"]["architecture"]["layers"][0] == {
        "kind": "conv2d", "filters": 4, "kernel": 3, "stride": 1, "padding": "valid"}


def test_an_mlp_file_written_before_architectures_loads_as_a_network():
    params, state, info = checkpoint.load_network(FIXTURE)
    assert isinstance(params, model.Network) and model.describe(params) == "784-10-10 relu"
    assert state is None and "architecture" not in info["metadata"]
    assert params.layers[0].w.dtype == np.float32
    old = safetensors.numpy.load_file(str(FIXTURE))  # its dense layers were layers.0 and layers.1
    np.testing.assert_array_equal(params.layers[2].w, old["layers.1.w"])
    np.testing.assert_array_equal(params.layers[2].b, old["layers.1.b"])


def test_an_mlp_file_without_any_metadata_loads_from_its_tensor_shapes(tmp_path):
    p = model.init(rng.key(0), (5, 4, 3))
    dense_only = {"layers": tuple(l for l in p.layers if hasattr(l, "w"))}  # the old record's tree
    path = checkpoint.save(tmp_path / "bare.safetensors", dense_only)  # the old format, no metadata
    params, state, _ = checkpoint.load_network(path)
    assert tree.equal(params, p) and state is None


def test_an_mlp_round_trips_with_its_architecture(tmp_path):
    p = model.init(rng.key(0), (5, 4, 3), activation="tanh", dtype=np.float64)
    path = checkpoint.save_network(tmp_path / "m.safetensors", p)
    params, _, info = checkpoint.load_network(path)
    assert tree.equal(params, p) and params.layers[1].name == "tanh"
    assert info["metadata"]["architecture"] == model.architecture(p)
    assert sorted(info["tensors"]) == ["layers.0.b", "layers.0.w", "layers.2.b", "layers.2.w"]


def test_a_training_state_or_a_bad_architecture_is_refused(tmp_path):
    p = model.init(rng.key(0), (5, 4, 3))
    state_file = checkpoint.save(tmp_path / "s.safetensors",
                                 train.init_state(p, optim.sgd(0.1), rng.key(1)))
    with pytest.raises(CheckpointError, match="a training state, not a model"):
        checkpoint.load_network(state_file)
    bad = checkpoint.save(tmp_path / "b.safetensors", {"layers": p.layers},
                          metadata={"architecture": {"kind": "serial", "input_shape": [5],
                                                     "layers": [{"kind": "warp"}]}})
    with pytest.raises(CheckpointError, match="cannot rebuild the model.*unknown layer kind 'warp'"):
        checkpoint.load_network(bad)


# --- training ---------------------------------------------------------------------------------

def _bn_problem():
    net = model.init(rng.key(0), (dense(8), batch_norm(), relu(), dropout(0.2), dense(3)),
                     input_shape=(5,))
    ds = data.Dataset(rng.normal(rng.key(1), (60, 5)), np.arange(60) % 3)
    return net, ds


def test_training_moves_the_running_statistics_and_learns():
    net, ds = _bn_problem()
    opt = optim.adam(1e-2)
    state = train.init_state(net, opt, rng.key(2))
    final = train.fit(train.make_step(opt), state, toolz.take(60, data.stream(rng.key(3), ds, 20)))
    assert not tree.equal(final.model_state, state.model_state)
    assert model.loss(final.params, ds.x, ds.y, model_state=final.model_state) < \
        model.loss(net, ds.x, ds.y, model_state=state.model_state)


def test_resume_equals_one_long_run_with_batch_norm_and_dropout(tmp_path):
    net, ds = _bn_problem()
    opt = optim.adam(1e-2)
    step = train.make_step(opt)
    start = train.init_state(net, opt, rng.key(2))
    straight = train.fit(step, start, toolz.take(12, data.stream(rng.key(3), ds, 16)))
    half = train.fit(step, start, toolz.take(6, data.stream(rng.key(3), ds, 16)))
    path = checkpoint.save(tmp_path / "state.safetensors", half)
    resumed = checkpoint.load(path, like=start)
    rest = train.fit(step, resumed, toolz.take(6, data.stream(rng.key(3), ds, 16, start_step=6)))
    assert tree.equal(straight, rest)


def test_the_optimizer_fast_path_is_a_field_that_chain_keeps():
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.sgd(0.1))
    assert opt.update_leaves is not None
    slow = opt._replace(update_leaves=None)
    net, ds = _bn_problem()
    a = train.fit(train.make_step(opt), train.init_state(net, opt, rng.key(2)),
                  toolz.take(3, data.stream(rng.key(3), ds, 20)))
    b = train.fit(train.make_step(slow), train.init_state(net, slow, rng.key(2)),
                  toolz.take(3, data.stream(rng.key(3), ds, 20)))
    assert tree.allclose(a.params, b.params, rtol=1e-6, atol=1e-7)
