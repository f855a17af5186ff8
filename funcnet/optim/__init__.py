"""Optimizers in optax's shape: ``(init, update)`` pairs composed with ``chain``.

Primitives transform gradients into updates; recipes (``sgd``, ``adam``, …)
chain primitives; schedules give a learning rate per step; wrappers apply
them to parts of the parameters (``masked``, ``multi_transform``,
``freeze``), accumulate gradients (``multi_steps``) or keep the current
hyperparameters in the state (``inject_hyperparams``). A training step::

    updates, opt_state = opt.update(grads, opt_state, params)
    params = apply_updates(params, updates)

>>> import numpy as np
>>> opt = adam(0.1)
>>> params = {"w": np.array([1.0, -1.0], np.float32)}
>>> state = opt.init(params)
>>> updates, state = opt.update({"w": np.array([2.0, -3.0], np.float32)}, state, params)
>>> apply_updates(params, updates)
{'w': array([ 0.9, -0.9], dtype=float32)}
"""

from .alias import RECIPES, adam, adamw, by_name, momentum, rmsprop, sgd
from .base import Optimizer, apply_updates, chain, donated_form, donating
from .accumulation import MultiStepsState, multi_steps
from .groups import (MaskedState, MultiTransformState, SetToZeroState, by_path, freeze, frozen,
                     masked, multi_transform, set_to_zero)
from .injection import InjectHyperparamsState, hyperparams, inject_hyperparams
from .schedules import (Schedule, constant, cosine_decay, exponential_decay, step_decay,
                        warmup, warmup_cosine)
from .transform import (AddDecayedWeightsState, ClipByGlobalNormState, IdentityState,
                        ScaleByAdamState, ScaleByLearningRateState, ScaleByRmsState,
                        ScaleByScheduleState, ScaleState, TraceState, add_decayed_weights,
                        clip_by_global_norm, identity, scale, scale_by_adam,
                        scale_by_learning_rate, scale_by_rms, scale_by_schedule, trace)

__all__ = [
    "Optimizer", "apply_updates", "chain", "donating", "donated_form",
    "identity", "scale", "scale_by_learning_rate", "scale_by_schedule", "trace",
    "scale_by_rms", "scale_by_adam", "add_decayed_weights", "clip_by_global_norm",
    "IdentityState", "ScaleState", "ScaleByLearningRateState", "ScaleByScheduleState",
    "TraceState", "ScaleByRmsState", "ScaleByAdamState", "AddDecayedWeightsState",
    "ClipByGlobalNormState",
    "masked", "multi_transform", "set_to_zero", "freeze", "multi_steps", "inject_hyperparams",
    "by_path", "frozen", "hyperparams", "MaskedState", "MultiTransformState", "SetToZeroState",
    "MultiStepsState", "InjectHyperparamsState",
    "sgd", "momentum", "rmsprop", "adam", "adamw", "by_name", "RECIPES",
    "Schedule", "constant", "step_decay", "exponential_decay", "cosine_decay", "warmup",
    "warmup_cosine",
]
