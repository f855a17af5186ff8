"""Stages shared by the minibatch image-classification pipelines.

A pipeline file (``pipelines/mnist_mlp.py``, ``pipelines/fashion_mnist.py``,
``pipelines/mnist_cnn.py``) declares its ``Config`` (a subclass of
:class:`MLPConfig` or :class:`CNNConfig`, both :class:`TrainConfig`s) and
delegates its stages here. The stages read the fields :class:`TrainConfig`
declares and the network the config's :meth:`~TrainConfig.network` returns
on its :meth:`~TrainConfig.input_shape_of` examples; a pipeline that only
changes a default keeps the field's validator and help (:func:`default`).

Fine-tuning: ``init_from`` (a trained run) gives the network its matching
layers, ``freeze`` pins parameters, ``lr_groups`` gives parameters their own
learning rate; AdamW decays the weights only unless ``decay_all``.

Everything here is pure except :func:`load`, which reads the data files, and,
with ``init_from``, :func:`init_state` and :func:`init_line`, which read the
trained model.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from . import data as fdata
from . import evaluate as fevaluate
from . import activations, augment, model, optim, rng, tree
from . import train as ftrain
from .errors import ConfigError
from .finetuning import REST, check_patterns, lr_groups_of, read_trained, take_layers
from .layers.conv import PADDINGS
from .losses import cross_entropy

__all__ = ["TrainConfig", "MLPConfig", "CNNConfig", "field", "default", "one_of", "architecture",
           "keys", "load", "split", "schedule", "optimizer", "init_state", "train", "evaluate",
           "lr_groups_of", "check_patterns", "read_trained", "init_line", "DECAYED"]


def field(default, help, validator=None):
    """A Config field with a default, a help text (shown by ``funcnet show``) and a validator."""
    return attrs.field(default=default, validator=validator, metadata={"help": help})


def default(base: type, name: str, value):
    """``base``'s field ``name`` with another default: the same validator, converter and help.

    A pipeline's Config redefines a field this way to change only its default:

    >>> @attrs.frozen
    ... class Config(CNNConfig):
    ...     padding: str = default(CNNConfig, "padding", "same")
    >>> Config().padding
    'same'
    >>> Config(padding="foo")
    Traceback (most recent call last):
    ...
    ValueError: padding: unknown 'foo'; expected one of valid, same
    """
    a = attrs.fields_dict(base)[name]
    return attrs.field(default=value, validator=a.validator, converter=a.converter,
                       metadata=dict(a.metadata))


def one_of(choices):
    """A validator refusing a value not in ``choices`` with a ValueError naming the field and them.

    >>> @attrs.frozen
    ... class C:
    ...     init: str = attrs.field(default="he", validator=one_of(("he", "xavier")))
    >>> C("bar")
    Traceback (most recent call last):
    ...
    ValueError: init: unknown 'bar'; expected one of he, xavier
    """
    def check(instance, attribute, value):
        if value not in choices:
            raise ValueError(f"{attribute.name}: unknown {value!r}; "
                             f"expected one of {', '.join(map(str, choices))}")
    return check


POSITIVE, NON_NEGATIVE = attrs.validators.gt(0), attrs.validators.ge(0)
RATE = attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.lt(1.0))
INIT, ACTIVATION = one_of(model.SCHEMES), one_of(activations.NAMES)
SCHEDULES = ("constant", "cosine", "step", "exponential")
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adamw")


@attrs.frozen
class TrainConfig:
    """The fields every minibatch pipeline reads: data, optimizer, schedule, batches, augmentation.

    Subclasses add the network's fields and :meth:`network`; their defaults
    are the MNIST MLP's unless they say otherwise.
    """

    seed: int = field(0, "random seed (split, init, batches, dropout, augmentation)", NON_NEGATIVE)
    dataset: str = field("mnist", "dataset folder name under $FUNCNET_DATA")
    data: str | None = field(None, "a folder with the IDX files or a Kaggle CSV (default $FUNCNET_DATA/mnist)")
    dev_size: int = field(5000, "training rows held out as the dev set", POSITIVE)
    init: str = field("he", "initialiser: he, xavier or tutorial", INIT)
    optimizer: str = field("adamw", "sgd, momentum, rmsprop, adam or adamw", one_of(OPTIMIZERS))
    learning_rate: float = field(1e-3, "peak learning rate", POSITIVE)
    momentum: float = field(0.9, "momentum for sgd/momentum", RATE)
    schedule: str = field("cosine", "learning-rate schedule: constant, cosine, step, exponential",
                          one_of(SCHEDULES))
    warmup_epochs: float = field(0.5, "linear warm-up, in epochs", NON_NEGATIVE)
    weight_decay: float = field(1e-4, "decoupled weight decay (adamw)", NON_NEGATIVE)
    decay_all: bool = field(False, "adamw: decay every parameter (default: the weights only, "
                                   "not the biases or batch norm's gamma and beta)")
    lr_groups: tuple[str, ...] = attrs.field(
        default=(), converter=tuple, validator=lambda i, a, v: lr_groups_of(v),
        metadata={"help": "PATTERN=RATE,...: the peak learning rate of the parameters PATTERN "
                          "names (e.g. layers.0-3=1e-4), on the same schedule"})
    freeze: tuple[str, ...] = attrs.field(
        default=(), converter=tuple,
        metadata={"help": "patterns of the parameters kept as they are (e.g. layers.0-5): no "
                          "update, no optimizer state, no gradient below the first trainable layer"})
    init_from: str | None = field(None, "a run folder or model file whose matching layers start "
                                        "the network (fine-tuning; none: fresh)")
    init_layers: tuple[str, ...] = attrs.field(
        default=(), converter=tuple,
        metadata={"help": "patterns of the layers init_from gives (empty: every layer)"})
    partial: bool = field(False, "init_from: keep layers whose kind or shape differ freshly "
                                 "initialised instead of refusing them")
    l2: float = field(0.0, "L2 penalty λ in the loss (λ/2·ΣW²)", NON_NEGATIVE)
    dropout: float = field(0.2, "dropout rate on hidden layers (inverted dropout), in [0, 1)", RATE)
    shift: int = field(2, "augmentation: translate training images by up to this many pixels", NON_NEGATIVE)
    flip: bool = field(False, "augmentation: mirror training images left-right at random")
    rotation: float = field(0.0, "augmentation: rotate training images by up to this many degrees "
                                 "(bilinear; with zoom or shear, the shift is sub-pixel too)",
                            attrs.validators.and_(NON_NEGATIVE, attrs.validators.le(180.0)))
    zoom: float = field(0.0, "augmentation: scale training images by a factor in [1 − zoom, 1 + zoom]",
                        RATE)
    shear: float = field(0.0, "augmentation: shear training images by up to this many degrees",
                         attrs.validators.and_(NON_NEGATIVE, attrs.validators.lt(90.0)))
    elastic: float = field(0.0, "augmentation: Simard's elastic distortion of this size α in pixels "
                                "(0: off)", NON_NEGATIVE)
    elastic_sigma: float = field(4.0, "augmentation: the smoothness σ of the elastic distortion, "
                                      "in pixels", POSITIVE)
    label_smoothing: float = field(0.0, "train against (1 − ε)·onehot(y) + ε/K instead of onehot(y)",
                                   RATE)
    clip_norm: float | None = field(None, "clip gradients to this global norm (none: off)",
                                    attrs.validators.optional(POSITIVE))
    batch_size: int = field(128, "minibatch size", POSITIVE)
    epochs: int = field(20, "passes over the training set", POSITIVE)
    patience: int | None = field(None, "early stopping: epochs without a better dev accuracy (none: off)",
                                 attrs.validators.optional(POSITIVE))

    def network(self, classes: int = 10) -> tuple:
        """The layer specs of the network (subclasses say)."""
        raise NotImplementedError(f"{type(self).__name__} does not say its network")

    def input_shape_of(self) -> tuple:
        """One example's shape as the network takes it (subclasses say)."""
        raise NotImplementedError(f"{type(self).__name__} does not say its input shape")

    def check_data(self, ds: fdata.Dataset) -> None:
        """Refuse data that do not fit the network (a ConfigError naming the field)."""


@attrs.frozen
class MLPConfig(TrainConfig):
    """A multilayer perceptron: ``sizes`` (input first) and one hidden ``activation``, with
    dropout after each hidden activation; the MNIST MLP's defaults.

    >>> [s.__class__.__name__ for s in MLPConfig(sizes=(784, 32, 10)).network()]
    ['DenseSpec', 'ActivationSpec', 'DropoutSpec', 'DenseSpec']
    """

    sizes: tuple[int, ...] = attrs.field(default=(784, 512, 512, 10), converter=tuple,
                                         metadata={"help": "layer sizes, input first"})
    activation: str = field("relu", "hidden activation: relu, leaky_relu, tanh, sigmoid", ACTIVATION)

    def network(self, classes: int = 10) -> tuple:
        """dense(h), g, dropout(p) for each hidden size h, then dense(sizes[-1])."""
        from .layers import activation, dense, dropout
        drop = (dropout(self.dropout),) if self.dropout else ()
        hidden = tuple(spec for h in self.sizes[1:-1]
                       for spec in (dense(h), activation(self.activation), *drop))
        return hidden + (dense(self.sizes[-1]),)

    def input_shape_of(self) -> tuple:
        return (int(self.sizes[0]),)

    def check_data(self, ds: fdata.Dataset) -> None:
        check_sizes(self, ds)


@attrs.frozen
class CNNConfig(TrainConfig):
    """A convolutional network, with the MNIST CNN's defaults.

    The network (:meth:`network`) is one block conv(f, kernel)-relu-max_pool(2)
    per entry f of ``filters`` (conv-batch_norm-relu-max_pool with
    ``batch_norm``), then flatten-dropout-dense(hidden)-relu-dropout-dense(10);
    ``hidden = 0`` leaves out the hidden dense layer, ``dropout = 0`` the
    dropout layers.
    """

    learning_rate: float = default(TrainConfig, "learning_rate", 2e-3)
    dropout: float = field(0.3, "dropout rate before each dense layer, in [0, 1)", RATE)
    epochs: int = default(TrainConfig, "epochs", 10)
    input_shape: tuple[int, ...] = attrs.field(default=(28, 28, 1), converter=tuple,
                                               metadata={"help": "one image: height, width, channels"})
    filters: tuple[int, ...] = attrs.field(default=(32, 64), converter=tuple,
                                           metadata={"help": "filters of each conv-relu-pool block"})
    kernel: int = field(3, "convolution kernel size", POSITIVE)
    padding: str = field("valid", "convolution padding: valid or same", one_of(PADDINGS))
    batch_norm: bool = field(False, "batch normalisation between each convolution and its relu")
    hidden: int = field(128, "units of the hidden dense layer (0: none)", NON_NEGATIVE)

    def network(self, classes: int = 10) -> tuple:
        """The layer specs: conv blocks, then the dense head."""
        from .layers import batch_norm, conv2d, dense, dropout, flatten, max_pool, relu
        norm = (batch_norm(),) if self.batch_norm else ()
        blocks = tuple(spec for f in self.filters
                       for spec in (conv2d(f, self.kernel, padding=self.padding), *norm, relu(),
                                    max_pool(2)))
        drop = (dropout(self.dropout),) if self.dropout else ()
        hidden = (*drop, dense(self.hidden), relu()) if self.hidden else ()
        return blocks + (flatten(),) + hidden + drop + (dense(classes),)

    def input_shape_of(self) -> tuple:
        return tuple(int(s) for s in self.input_shape)

    def check_data(self, ds: fdata.Dataset) -> None:
        check_images(self, ds)


def keys(config) -> tuple:
    """Independent keys from the seed: (split, init, batches, dropout, augment)."""
    return rng.split(rng.key(config.seed), 5)


def load(config) -> dict:
    """The raw datasets ``{"train", "test"}`` of ``config.dataset`` (reads files)."""
    return fdata.load(config.dataset, config.data)


def check_sizes(config, ds: fdata.Dataset, classes: int = 10) -> None:
    """Refuse layer sizes that do not fit the data (a ConfigError naming the field)."""
    sizes = tuple(config.sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ConfigError(f"sizes={','.join(map(str, sizes))}: expected at least an input and "
                          f"an output size, all ≥ 1")
    if sizes[0] != ds.num_features:
        raise ConfigError(f"sizes={','.join(map(str, sizes))}: the first size must be the "
                          f"{ds.num_features} features of {ds.source or 'the data'}")
    if sizes[-1] < classes:
        raise ConfigError(f"sizes={','.join(map(str, sizes))}: the last size must be at least "
                          f"the {classes} classes")


def check_images(config, ds: fdata.Dataset) -> None:
    """Refuse images that do not fit ``config.input_shape`` (a ConfigError naming both shapes)."""
    shape = tuple(config.input_shape)
    if math.prod(shape) != ds.num_features:
        raise ConfigError(f"input_shape={','.join(map(str, shape))}: the images of "
                          f"{ds.source or 'the data'} have {ds.num_features} pixels, not "
                          f"{math.prod(shape)}")


def architecture(config, classes: int = 10) -> tuple:
    """``(specs, input_shape)`` for :func:`funcnet.model.init`: the config's layer specs and
    the shape of one example."""
    return config.network(classes), config.input_shape_of()


def split(config, data: dict) -> dict:
    """Carve ``dev_size`` random rows off the training set as the dev set."""
    fdata.require_labels(data["train"])
    config.check_data(data["train"])
    if config.rotation or config.zoom or config.shear or config.elastic:
        _image_shape(config, data["train"].x)  # refused here, before the first step
    if config.dev_size >= len(data["train"]):
        raise ConfigError(f"dev_size={config.dev_size}: expected fewer than the "
                          f"{len(data['train'])} training rows")
    dev, train = fdata.split(keys(config)[0], data["train"], config.dev_size)
    out = {"train": train, "dev": dev}
    if data.get("test") is not None:
        out["test"] = data["test"]
    return out


def schedule(config, per_epoch: int):
    """The learning rate as a function of the step, from the config.

    ``constant``: α; ``cosine``: α·½(1 + cos(π·t/T)); ``step``: α·0.1 every
    third of the run; ``exponential``: α·0.01^(t/T); each after a linear
    warm-up of ``warmup_epochs``. T is the number of steps after warm-up.
    """
    lr, total = config.learning_rate, config.epochs * per_epoch
    warm = int(round(config.warmup_epochs * per_epoch))
    rest = max(total - warm, 1)
    table = {
        "constant": lambda: optim.constant(lr),
        "cosine": lambda: optim.cosine_decay(lr, rest),
        "step": lambda: optim.step_decay(lr, 0.1, max(rest // 3, 1)),
        "exponential": lambda: optim.exponential_decay(lr, 0.01 ** (1 / rest)),
    }
    if config.schedule not in table:
        raise ConfigError(f"schedule: unknown {config.schedule!r}; expected one of {', '.join(SCHEDULES)}")
    after = table[config.schedule]()
    return optim.warmup(lr, warm, after) if warm else after


DECAYED = "*.w"  # what adamw decays unless decay_all: weights, not biases or batch norm's γ, β


def _recipe(config, lr) -> optim.Optimizer:
    """The optimizer the config names at learning rate ``lr`` (a number or a schedule)."""
    name, kw = config.optimizer, {}
    if name in ("sgd", "momentum") and config.momentum:
        kw = {"momentum": config.momentum} if name == "sgd" else {"mu": config.momentum}
    if name == "adamw":
        kw = {"weight_decay": config.weight_decay,
              **({} if getattr(config, "decay_all", True) else {"mask": DECAYED})}
    try:
        return optim.by_name(name, lr, **kw)
    except ValueError as exc:
        raise ConfigError(f"optimizer: {exc}") from None


def optimizer(config, per_epoch: int = 1) -> optim.Optimizer:
    """The optimizer the config names, with its schedule, groups, clipping and frozen parameters.

    ``chain(freeze(config.freeze), clip_by_global_norm(c), opt)``, each part only when
    asked for: the frozen parameters keep no state and are never clipped or decayed.
    AdamW decays the weights only (``*.w``) unless ``decay_all``. With ``lr_groups``,
    ``opt`` is a ``multi_transform`` of one recipe per group (the rest at
    ``learning_rate``), each under ``inject_hyperparams`` so that its current rate
    lives in the state (``optim.hyperparams``), as ``history.csv`` records it.
    """
    groups = lr_groups_of(getattr(config, "lr_groups", ()))
    if groups:
        def group(rate):
            lr = schedule(attrs.evolve(config, learning_rate=rate), per_epoch)
            return optim.inject_hyperparams(lambda learning_rate: _recipe(config, learning_rate))(
                learning_rate=lr)
        transforms = {REST: group(config.learning_rate), **{p: group(r) for p, r in groups}}
        opt = optim.multi_transform(transforms, optim.by_path({p: p for p, _ in groups}, REST))
    else:
        opt = _recipe(config, schedule(config, per_epoch))
    clip = config.clip_norm
    opt = optim.chain(optim.clip_by_global_norm(clip), opt) if clip else opt
    frozen = tuple(getattr(config, "freeze", ()))
    return optim.chain(optim.freeze(frozen), opt) if frozen else opt


def _fresh_params(config):
    _, k_init, *_ = keys(config)
    specs, shape = architecture(config)
    return model.init(k_init, specs, scheme=config.init, input_shape=shape)


def init_state(config, per_epoch: int = 1) -> ftrain.TrainState:
    """The state before the first step (also the template checkpoints load into).

    With ``init_from`` it reads the trained model there and starts from its matching
    layers (:func:`funcnet.model.transfer`), the other layers freshly initialised.
    """
    _, _, _, k_dropout, _ = keys(config)
    params = _fresh_params(config)
    check_patterns(config, params)
    model_state = None
    if getattr(config, "init_from", None):
        params, model_state = take_layers(config, params, read_trained(config.init_from))
    state = ftrain.init_state(params, optimizer(config, per_epoch), k_dropout)
    return state if model_state is None else attrs.evolve(state, model_state=model_state)


def init_line(config) -> str:
    """One line saying what ``init_from`` gives the network: the layers taken, new (fresh),
    mismatched (kept fresh with ``partial``) and frozen (reads the trained model)."""
    fresh = _fresh_params(config)
    src = read_trained(config.init_from)
    m = model.match(src[0], fresh, tuple(config.init_layers) or None)
    taken = take_layers(config, fresh, src)[0]  # refuses what init_state refuses
    numbers = sum(int(np.size(x)) for p, _, layer in model.layer_paths(taken) if p in m.taken
                  for x in tree.leaves(layer))
    flags = tree.flatten_with_path(optim.frozen(optimizer(config), taken))
    frozen = [p for p, _, layer in model.layer_paths(taken)
              if any(f for q, f in flags if q.startswith(p + "."))]
    show = lambda xs: ", ".join(xs) or "none"  # noqa: E731
    parts = [f"taken {show(m.taken)} ({numbers:,} numbers)", f"new {show(m.new)}"]
    if m.mismatched:
        parts.append(f"kept fresh (partial) {show(m.mismatched)}")
    parts.append(f"frozen {show(frozen)}")
    return f"init from {config.init_from}: " + " | ".join(parts)


def _learning_rates(state, lr) -> dict:
    """The learning rate of the last step: from the state (``inject_hyperparams``: one per
    lr group, ``learning_rate[PATTERN]``), else from the schedule."""
    found = optim.hyperparams(state.opt_state, everywhere=True)
    if not found:
        step = max(int(state.step) - 1, 0)
        return {"learning_rate": float(lr(step)) if callable(lr) else float(lr)}
    out = {"learning_rate": None}
    for path, values in found.items():
        label = path.rpartition("inner_states.")[2]
        name = "learning_rate" if label in (REST, path) else f"learning_rate[{label}]"
        out[name] = values.get("learning_rate")
    return out


def _record(config, splits: dict, lr):
    def evaluate(state: ftrain.TrainState, window: tuple) -> dict:
        lsum, correct, count, _ = window
        dev = splits["dev"]
        dev_logits = model.logits(state.params, dev.x, model_state=state.model_state)
        return {"train_loss": lsum / max(count, 1), "train_accuracy": correct / max(count, 1),
                "dev_loss": cross_entropy(dev_logits, dev.y),
                "dev_accuracy": fevaluate.accuracy(dev.y, dev_logits.argmax(axis=1)),
                **_learning_rates(state, lr)}
    return evaluate


def _image_shape(config, x: np.ndarray) -> tuple:
    """(height, width, channels) of one training example, for the augmentations that move
    pixels in two dimensions: the network's image input, or 28 × 28 × 1 for 784 features."""
    shape = tuple(config.input_shape_of())
    if len(shape) == 3:
        return shape
    if int(np.prod(x.shape[1:])) == 784:
        return (28, 28, 1)
    raise ConfigError(f"rotation, zoom, shear and elastic move image pixels: expected 28 × 28 "
                      f"images or an image input_shape, got examples of shape {x.shape[1:]}")


def _augmented(config, batches, start: int):
    """Each batch translated by up to ``config.shift`` pixels and, with ``config.flip``,
    mirrored left–right at random (step t draws from fold_in(key, t)).

    With ``rotation``, ``zoom`` or ``shear`` the images move by
    :func:`funcnet.augment.affine` instead (θ ~ U[±rotation], s ~ U[1 ± zoom],
    φ ~ U[±shear], a sub-pixel shift ~ U[±shift]); with ``elastic`` = α they
    are then distorted by :func:`funcnet.augment.elastic` (σ = ``elastic_sigma``).
    These draw from fold_in(fold_in(key, t), 1), so runs without them keep
    their bits."""
    s, mirror = config.shift, config.flip
    moved = bool(config.rotation or config.zoom or config.shear)
    warp = bool(config.elastic)
    if not (s or mirror or moved or warp):
        return batches
    key = keys(config)[4]

    def images(x):
        return x.reshape(len(x), *_image_shape(config, x))

    def one(t, b):
        kt = rng.fold_in(key, t)
        k_shift, k_flip = rng.split(kt)
        if moved or warp:
            k_affine, k_elastic = rng.split(rng.fold_in(kt, 1))
        if moved:
            x = augment.affine(k_affine, images(b.x), rotation=config.rotation,
                               scale=(1.0 - config.zoom, 1.0 + config.zoom), shift=float(s),
                               shear=config.shear).reshape(b.x.shape)
        else:
            x = augment.shift(k_shift, b.x, s) if s else b.x
        if warp:
            x = augment.elastic(k_elastic, images(x), config.elastic,
                                config.elastic_sigma).reshape(b.x.shape)
        return fdata.Dataset(augment.flip(k_flip, x) if mirror else x, b.y, b.source)

    return (one(t, b) for t, b in enumerate(batches, start))


def train(config, splits: dict, state: ftrain.TrainState | None = None,
          window: tuple = (0.0, 0, 0, 0), best: tuple | None = None, donate: bool = False):
    """The lazy stream of snapshots: minibatch training with the configured optimizer.

    ``window`` carries the figures of an epoch cut short into a resumed run,
    ``best`` its early-stopping bookkeeping (best state, best score, bad epochs);
    ``donate`` runs the step that writes each state into the last one's arrays
    (``make_step(..., donate=True)``, the same numbers).
    """
    tr = splits["train"]
    per_epoch = fdata.num_batches(len(tr), config.batch_size)
    state = init_state(config, per_epoch) if state is None else state
    step = ftrain.make_step(optimizer(config, per_epoch), l2=config.l2, donate=donate,
                            label_smoothing=config.label_smoothing)
    batches = _augmented(config, fdata.stream(keys(config)[2], tr, config.batch_size,
                                              start_step=int(state.step)), int(state.step))
    patience = config.patience
    return ftrain.snapshots(step, state, batches, steps=config.epochs * per_epoch,
                            per_epoch=per_epoch, evaluate=_record(config, splits, schedule(config, per_epoch)),
                            monitor="dev_accuracy" if patience else None, patience=patience,
                            window=window, best=best if best is not None else (None, -math.inf, 0))


def evaluate(config, splits: dict, params, model_state=None) -> dict:
    """Final figures: train/dev/test accuracy and the training set's mean cross-entropy."""
    tr = splits["train"]
    tr_logits = model.logits(params, tr.x, model_state=model_state)
    metrics = {"train_accuracy": fevaluate.accuracy(tr.y, tr_logits.argmax(axis=1)),
               "dev_accuracy": fevaluate.dataset_accuracy(params, splits["dev"], model_state),
               "test_accuracy": None, "loss": cross_entropy(tr_logits, tr.y)}
    if "test" in splits:
        metrics["test_accuracy"] = fevaluate.dataset_accuracy(params, splits["test"], model_state)
    return metrics
