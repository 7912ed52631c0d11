"""jaxdl.optim: optimizers written as optax-compatible gradient transformations.

`opt = adam(1e-3); state = opt.init(params); updates, state = opt.update(grads, state, params);
params = apply_updates(params, updates)`. Every formula is in the docstring of its function; the
tests check each optimizer against its optax namesake.
"""

from jaxdl.optim.adam_scaling import ScaleByAdamState, scale_by_adam
from jaxdl.optim.alias import (
    adagrad, adam, adamw, gd, momentum, nesterov, rmsprop, rprop, sgd)
from jaxdl.optim.base import (
    EmptyState, GradientTransformation, Mask, MaskedNode, MaskedState, OptState, Params,
    ScalarOrSchedule, Schedule, Updates, apply_updates, chain, freeze, identity,
    init_empty_state, masked, set_to_zero, with_extra_args_support)
from jaxdl.optim.constraints import (
    WeightDecaySchedule, add_decayed_weights, clip, clip_by_global_norm, global_norm, max_norm)
from jaxdl.optim.hyperparams import (
    InjectStatefulHyperparamsState, WrappedScheduleState, inject_hyperparams)
from jaxdl.optim.loss_scaling import LossScaleState, loss_scale
from jaxdl.optim.resilient import ScaleByRpropState, scale_by_rprop
from jaxdl.optim.scaling import (
    ScaleByRmsState, ScaleByRmsWithCountState, ScaleByRssState, ScaleByRStdDevState,
    ScaleByRStdDevWithCountState, ScaleByScheduleState, TraceState, scale, scale_by_learning_rate,
    scale_by_rms, scale_by_rss, scale_by_stddev, trace)
from jaxdl.optim.wrappers import ApplyIfFiniteState, apply_if_finite

__all__ = [
    # base
    "GradientTransformation", "EmptyState", "MaskedNode", "MaskedState", "Params", "Updates",
    "OptState", "Schedule", "ScalarOrSchedule", "Mask", "init_empty_state", "identity",
    "set_to_zero", "chain", "apply_updates", "masked", "freeze", "with_extra_args_support",
    # scaling
    "ScaleByScheduleState", "TraceState", "ScaleByRssState", "ScaleByRmsState",
    "ScaleByRmsWithCountState", "ScaleByRStdDevState", "ScaleByRStdDevWithCountState",
    "ScaleByAdamState", "ScaleByRpropState",
    "scale", "scale_by_learning_rate", "trace", "scale_by_rss", "scale_by_rms", "scale_by_stddev",
    "scale_by_adam", "scale_by_rprop",
    # constraints
    "WeightDecaySchedule", "clip", "global_norm", "clip_by_global_norm", "add_decayed_weights",
    "max_norm",
    # wrappers
    "ApplyIfFiniteState", "apply_if_finite",
    # loss scaling (float16 training)
    "LossScaleState", "loss_scale",
    # hyperparameters in the state
    "InjectStatefulHyperparamsState", "WrappedScheduleState", "inject_hyperparams",
    # aliases
    "sgd", "gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "rprop",
]
