"""Fine-tuning helpers: `abstract_state` (the `like` of `restore`, nothing initialised) and the
freezing masks (`freeze_mask`, `layer_keys`) of the three fine-tuning states."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import jax
import numpy as np

from jaxdl import checks
from jaxdl.core import Layer, Params
from jaxdl.optim.base import GradientTransformation

if TYPE_CHECKING:  # for the annotation only: importing jaxdl.train loads all of fit
    from jaxdl.train.state import TrainState


def abstract_state(model: Layer, optimizer: GradientTransformation, input_shape: Sequence[int],
                   *, frozen: Sequence[str | int] = (), skip_nonfinite: bool = False
                   ) -> TrainState:
    """The structure of the TrainState `fit` trains, with nothing computed: `like` for `restore`.

    `jax.eval_shape` of `jaxdl.train.state.new_state` (no param is initialised): every leaf is a
    `jax.ShapeDtypeStruct`. The optimizer state is that of the optimizer `fit` really steps:
    `frozen` chains `optim.freeze` after it and `skip_nonfinite` wraps it in
    `optim.apply_if_finite`, so pass the values the run that saved the checkpoint used.

    Args:
      model: the Layer that was trained.
      optimizer: the optimizer given to `fit`.
      input_shape: one example's shape, without the batch axis, as `fit` saw it (8, 8, 1).
      frozen: `fit`'s `frozen` (layer keys or positions).
      skip_nonfinite: `fit`'s `skip_nonfinite`.

    Returns:
      A TrainState whose leaves are `jax.ShapeDtypeStruct`s (its key of the default PRNG
      implementation).
    """
    from jaxdl.train.fit import wrap_optimizer
    from jaxdl.train.state import new_state

    owner = "checkpoint.abstract_state"
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"{owner}: input_shape must be a tuple of ints (one example's shape, no "
                        f"batch axis, e.g. (8, 8, 1)), got {input_shape!r}")
    shape = tuple(checks.positive_int(d, "input_shape", owner) for d in input_shape)
    if not isinstance(skip_nonfinite, bool):
        raise TypeError(f"{owner}: skip_nonfinite must be a bool, got {skip_nonfinite!r}")

    def build(key: jax.Array) -> TrainState:
        ts = new_state(model, optimizer, shape, key)
        keys = layer_keys(ts.params, frozen, owner) if frozen else ()
        wrapped = wrap_optimizer(optimizer, tuple(ts.params), keys, skip_nonfinite)
        return ts._replace(opt_state=wrapped.init(ts.params))

    return jax.eval_shape(build, jax.random.key(0))



def layer_keys(params: Params, frozen: Sequence[str | int], owner: str = "freeze_mask"
               ) -> tuple[str, ...]:
    """The top-level keys of `params` named by `frozen` (keys like "0_dense" or positions)."""
    names = list(params)
    if isinstance(frozen, (str, int)):
        frozen = [frozen]
    out = []
    for f in frozen:
        if isinstance(f, (int, np.integer)) and not isinstance(f, bool):
            match = [k for k in names if k.split("_", 1)[0] == str(int(f))]
            if not match:
                raise ValueError(f"{owner}: frozen position {f} is not a layer; layers: {names}")
            out.append(match[0])
        elif isinstance(f, str) and f in params:
            out.append(f)
        else:
            raise ValueError(f"{owner}: frozen entry {f!r} is not a top-level layer key or "
                             f"position; layers: {names}")
    return tuple(out)


def freeze_mask(params: Params, frozen: Sequence[str | int]) -> Any:
    """A bool pytree like `params`: True on every leaf of the frozen top-level layers.

    Use with `jaxdl.optim.freeze(mask)` (zero updates where True) or `fit(..., frozen=...)`.
    """
    keys = layer_keys(params, frozen)
    return {k: jax.tree.map(lambda _: k in keys, v) for k, v in params.items()}

