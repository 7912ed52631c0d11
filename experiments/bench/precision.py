"""1b. Precision (issue 18): the jitted Adam train step with bfloat16 compute against the same step
in float32, for the MLP 784-2048x3-10 and the digits CNN of section 1.

The bfloat16 model is `jaxdl.precision.mixed(model, "params=float32,compute=bfloat16,
output=float32")`: float32 params, Adam moments and loss, bfloat16 matmuls and convolutions. The
target (bfloat16 no slower than float32) is an accelerator's: a CPU without bfloat16 matmul units
converts to float32 and back, so there the row is expected to miss, and is reported as measured.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from experiments.bench import peers
from experiments.bench.util import fmt_s, paired
from jaxdl import optim
from jaxdl.losses import softmax_cross_entropy
from jaxdl.precision import mixed
from jaxdl.train import init_state, make_train_step

POLICY = "params=float32,compute=bfloat16,output=float32"


def _stepper(model, shape: tuple[int, ...], x: jax.Array, y: jax.Array, inner: int):
    """`run()`: `inner` jitted Adam steps of `model` on one batch, the state carried over."""
    opt = optim.adam(1e-3)
    step = jax.jit(make_train_step(model, softmax_cross_entropy, opt))
    box = [init_state(model, opt, shape, jax.random.key(0))]

    def run():
        for _ in range(inner):
            box[0], _m = step(box[0], x, y)
        return box[0].params

    return run


def section(b: Any) -> None:
    """Add one row per model: bfloat16-compute step time / float32 step time."""
    b.log("1b. precision: bfloat16 compute vs float32")
    W, batch = b.ex.pick((2048, 256), (64, 32))
    cases = [(f"MLP 784-{W}x3-10, batch {batch}", f"bf16 vs f32: MLP 784-{W}x3-10",
              peers.mlp([W, W, W]), (784,), batch, 2)]
    if not b.quick:  # quick: the MLP alone, tiny (same code path)
        cases.append(("CNN 8x8x1 digits (conv16-pool-conv32-pool-dense10), batch 128",
                      "bf16 vs f32: CNN 8x8x1", peers.cnn(), (8, 8, 1), 128, 20))
    found = {}
    for name, short, model, shape, batch, inner in cases:
        x = jax.random.normal(jax.random.key(0), (batch, *shape), jnp.float32)
        y = jax.random.randint(jax.random.key(1), (batch,), 0, 10)
        low = _stepper(mixed(model, POLICY), shape, x, y, inner)
        full = _stepper(model, shape, x, y, inner)
        p = paired(low, full, b.ex.pick(9, b.reps), warm=2)
        found[short] = {"bfloat16_s": p.a / inner, "float32_s": p.b / inner, "ratio": p.ratio}
        b.add(f"precision: Adam train step, {name}: bfloat16 compute (float32 params) / float32",
              short, p.a / inner, p.b / inner, "float32", p, 1.0,
              values={"float32": fmt_s(p.b / inner)})
    b.ex.metrics["precision"] = found
    b.columns.append("float32")
