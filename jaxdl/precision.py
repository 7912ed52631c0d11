"""Mixed precision: params kept in one dtype, the model computed in another, outputs in a third.

On GPUs and TPUs the speed comes from bfloat16/float16 matmuls and convolutions, while the
weights are best updated in float32 (a float32 weight takes an update 1e-4 times its size; a
bfloat16 one rounds it away). As jmp and Keras' mixed precision do:

    policy = get_policy("params=float32,compute=bfloat16,output=float32")
    model = mixed(serial(Conv2D(16, 3), BatchNorm(), Relu(), Flatten(), Dense(10)), policy)

`mixed(model, policy)` is a layer: its params are the model's, in `param_dtype`; its apply casts
the params and the input to `compute_dtype`, runs the model, and casts the output to
`output_dtype`, so the loss is taken in float32. The gradients arrive in `param_dtype` (the
transpose of a cast casts back), so the optimizer and its moments work in float32. The model
state keeps its dtype: batch-norm statistics are computed and stored in float32
(`jaxdl.nn.BatchNorm`). Being a layer, it goes through `fit`, `vmap_fit`, `evaluate`, `predict`,
`frozen=`, `skip_nonfinite=` and checkpoints unchanged. For float16 compute add loss scaling:
`jaxdl.optim.loss_scale`.

Reference: Micikevicius et al. 2018, "Mixed Precision Training"; jmp's `Policy`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.core import Layer
from jaxdl.spec import by_value

# jmp's names for the dtypes, without its "half" (bfloat16 on TPU, float16 elsewhere): a policy
# here means the same on every device
NAMES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "f16": "float16", "float16": "float16",
         "full": "float32", "f32": "float32", "float32": "float32", "f64": "float64",
         "float64": "float64"}
_SHORT = {"bfloat16": "bf16", "float16": "f16", "float32": "f32", "float64": "f64"}


def _dtype(value: Any, name: str, owner: str) -> np.dtype:
    """`value` (a dtype or a name) as a floating NumPy dtype."""
    need = (f"{owner}: {name} must be a floating dtype (float32, bfloat16, float16, float64, or "
            f"jmp's short names f32, bf16, f16, f64)")
    if isinstance(value, str) and value.strip() == "half":
        raise ValueError(f"{need}, got 'half': jmp's 'half' is bfloat16 on TPU and float16 "
                         "elsewhere; name the one you mean")
    try:
        dtype = jnp.dtype(NAMES.get(value, value) if isinstance(value, str) else value)
    except TypeError:
        raise TypeError(f"{need}, got {value!r}") from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{need}, got {dtype}")
    return dtype


def _cast(tree: Any, dtype: np.dtype) -> Any:
    """Every floating leaf of `tree` cast to `dtype`; other leaves (ints, keys, bools) kept."""

    def one(x):
        if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating) and x.dtype != dtype:
            return jnp.asarray(x).astype(dtype)
        return x

    return jax.tree.map(one, tree)


@dataclasses.dataclass(frozen=True)
class Policy:
    """Three dtypes: params are stored in `param_dtype`, the model runs in `compute_dtype`, its
    outputs come out in `output_dtype` (jmp's `Policy`). Each is a dtype or its name
    ("bfloat16", "bf16"); all float32 by default. Equal policies compare and hash alike.

    `cast_to_param`, `cast_to_compute` and `cast_to_output` cast every floating leaf of a pytree
    (other leaves are kept); `str(policy)` is a string that `get_policy` reads back.
    """

    param_dtype: Any = jnp.float32
    compute_dtype: Any = jnp.float32
    output_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = _dtype(getattr(self, field.name), field.name, "Policy")
            object.__setattr__(self, field.name, value)

    def cast_to_param(self, tree: Any) -> Any:
        """The floating leaves of `tree` in `param_dtype`."""
        return _cast(tree, self.param_dtype)

    def cast_to_compute(self, tree: Any) -> Any:
        """The floating leaves of `tree` in `compute_dtype`."""
        return _cast(tree, self.compute_dtype)

    def cast_to_output(self, tree: Any) -> Any:
        """The floating leaves of `tree` in `output_dtype`."""
        return _cast(tree, self.output_dtype)

    def __str__(self) -> str:
        return (f"params={self.param_dtype.name},compute={self.compute_dtype.name},"
                f"output={self.output_dtype.name}")


def get_policy(name: str) -> Policy:
    """A `Policy` from jmp's string grammar: `"params=float32,compute=bfloat16,output=float32"`
    (keys `params`/`p`, `compute`/`c`, `output`/`o`; dtypes by name or jmp's short names bf16,
    f16, f32/full, f64). Missing entries follow jmp: params float32, compute as params, output
    as compute (`"c=bf16"` is params float32, compute and output bfloat16). A bare dtype
    (`"bf16"`) sets all three.

    Args:
      name: the policy string.

    Returns:
      A `Policy`.
    """
    if not isinstance(name, str):
        raise TypeError(f"get_policy: name must be a string such as "
                        f"'params=float32,compute=bfloat16,output=float32', got {name!r}")
    if "=" not in name:
        dtype = _dtype(name.strip(), "name", "get_policy")
        return Policy(dtype, dtype, dtype)
    keys = {"p": "params", "params": "params", "c": "compute", "compute": "compute",
            "o": "output", "output": "output"}
    given: dict[str, np.dtype] = {}
    for part in name.split(","):
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in keys:
            raise ValueError(f"get_policy: name must use the keys params (p), compute (c) and "
                             f"output (o), got {key!r} in {name!r}")
        given[keys[key]] = _dtype(value.strip(), keys[key], "get_policy")
    params = given.get("params", np.dtype(np.float32))
    compute = given.get("compute", params)
    return Policy(params, compute, given.get("output", compute))


@by_value
def mixed(model: Layer, policy: Policy | str) -> Layer:
    """`model` under a precision `policy` (a `Policy` or a `get_policy` string).

    init: the model's params cast to `param_dtype` (its state as the model makes it). apply:
    `y = cast_to_output(model.apply(cast_to_compute(params), state, cast_to_compute(x)))`; the
    new state is cast back to the dtype of the state given (batch-norm statistics stay float32).
    Integer inputs are not cast. The params keep the model's keys, so `frozen=` names the
    model's layers ("0_conv2d") and a checkpoint of a mixed run holds the model's tree.

    Args:
      model: the layer to run in `compute_dtype`.
      policy: the dtypes.

    Returns:
      A `Layer` named "mixed". x: (batch, ...) in any dtype -> y in `output_dtype`.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"mixed: model must be a Layer, got {model!r}")
    if isinstance(policy, str):
        policy = get_policy(policy)
    if not isinstance(policy, Policy):
        raise TypeError(f"mixed: policy must be a Policy or a string such as "
                        f"'params=float32,compute=bfloat16,output=float32', got {policy!r}")

    def init(key, input_shape):
        params, state, out = model.init(key, input_shape)
        return policy.cast_to_param(params), state, out

    def apply(params, state, x, *, key=None, train=False):
        y, new_state = model.apply(policy.cast_to_compute(params), state,
                                   policy.cast_to_compute(x), key=key, train=train)
        new_state = jax.tree.map(lambda new, old: jnp.asarray(new).astype(jnp.asarray(old).dtype),
                                 new_state, state)
        return policy.cast_to_output(y), new_state

    return Layer(init, apply, "mixed")


__all__ = ["Policy", "get_policy", "mixed"]
