"""The pure pieces every program is made of: one gradient step, and metrics over a data set.

`make_train_step` returns `step(ts, x, y, key=None) -> (ts, metrics)`; `batched_means` evaluates a
model over all of `(x, y)` in batches, in eval mode. Neither compiles anything: the programs that
use them (`jaxdl.train.epoch`, `jaxdl.train.evaluate`) are jitted by their callers.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxdl import optim
from jaxdl.core import Layer, Params, State
from jaxdl.metrics import is_count_metric as counted
from jaxdl.optim.base import GradientTransformation
from jaxdl.train.state import Loss, Metric, TrainState, metric_name

Penalty = Callable[[Params], jax.Array]


def all_finite(tree) -> jax.Array:
    """True when every leaf of `tree` is finite (True for a tree without leaves)."""
    leaves = [jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def make_train_step(
    model: Layer, loss: Loss, optimizer: GradientTransformation, *,
    penalty: Penalty | None = None, metrics: Sequence[Metric] = (), frozen: Sequence[str] = (),
    check_grads: bool = False,
) -> Callable[..., tuple[TrainState, dict[str, jax.Array]]]:
    """A pure step `step(ts, x, y, key=None) -> (ts, metrics)`: one gradient update.

    `L(theta) = loss(apply(theta, x), y) + penalty(theta)`; grads by `value_and_grad(has_aux=True)`
    (the aux is `(new_state, outputs)`); `theta <- theta + optimizer.update(grads)`. `key` defaults
    to `fold_in(ts.key, ts.step)` (dead code, removed by XLA, when no layer is random). Model state
    of the top-level layers named in `frozen` is kept; their params get zero gradients
    (stop_gradient): pair with `optim.freeze`.
    Metrics: "loss", each metric on the batch outputs (a count metric's counts, see
    `jaxdl.metrics`), and "finite": `isfinite(loss)` (a scalar,
    free); with `check_grads` also every gradient finite, and a non-finite loss turns the grads
    into NaN so that `apply_if_finite` skips that update too (one more pass over the gradients).

    Loss scaling: when the optimizer state holds an `optim.loss_scale` state (found through
    `chain`, `freeze` and `apply_if_finite`), the grads are those of S * L (in at least float32),
    "loss" is L, and S is adjusted from whether the grads are finite, also when a wrapper outside
    `loss_scale` skipped the update (fit's `skip_nonfinite`). A skipped overflow is not a
    failure: with `check_grads`, "finite" is then `isfinite(L)` and every update finite.
    """
    from jaxdl.optim.loss_scaling import adjust, find_loss_scale, replace_loss_scale

    frozen = tuple(frozen)

    def objective(params, state, x, y, key, scale):
        if frozen:  # no gradient flows into frozen layers, so XLA drops their backward pass
            params = {k: jax.lax.stop_gradient(v) if k in frozen else v for k, v in params.items()}
        outputs, new_state = model.apply(params, state, x, key=key, train=True)
        value = loss(outputs, y)
        if penalty is not None:
            value = value + penalty(params)
        if scale is None:
            return value, (new_state, outputs, value)
        wide = jnp.float32 if jnp.finfo(value.dtype).bits < 32 else value.dtype
        return value.astype(wide) * scale.astype(wide), (new_state, outputs, value)

    def step(ts: TrainState, x: jax.Array, y: jax.Array, key: jax.Array | None = None):
        key = jax.random.fold_in(ts.key, ts.step) if key is None else key
        scaling = find_loss_scale(ts.opt_state, "make_train_step")
        scale = None if scaling is None else scaling.loss_scale
        (_, (new_state, outputs, value)), grads = jax.value_and_grad(objective, has_aux=True)(
            ts.params, ts.state, x, y, key, scale)
        finite = jnp.isfinite(value)
        if check_grads:
            grads = jax.tree.map(lambda g: jnp.where(finite, g, jnp.full_like(g, jnp.nan)), grads)
            if scaling is None:
                finite = all_finite(grads)
        if frozen:
            new_state = {k: ts.state[k] if k in frozen else v for k, v in new_state.items()}
        updates, opt_state = optimizer.update(grads, ts.opt_state, ts.params)
        if scaling is not None:
            moved = adjust(scaling, all_finite(grads))
            opt_state = replace_loss_scale(opt_state, find_loss_scale(opt_state, "")._replace(
                loss_scale=moved.loss_scale, counter=moved.counter))
            if check_grads:
                finite = finite & all_finite(updates)
        params = optim.apply_updates(ts.params, updates)
        out = {"loss": value, **{metric_name(m): m.counts(outputs, y) if counted(m) else
                                 m(outputs, y) for m in metrics}, "finite": finite}
        return TrainState(ts.step + 1, params, new_state, opt_state, ts.key), out

    return step


def batched_means(model: Layer, loss: Loss | None, metrics: Sequence[Metric], batch: int,
                  params: Params, state: State, x: jax.Array, y: jax.Array
                  ) -> dict[str, jax.Array]:
    """{"loss" (when `loss`), metric name: mean over all n examples of (x, y)}, eval mode.

    The n examples go through the model in `n // batch` full batches (one `lax.map`) and one
    tail batch of `n % batch` (shapes are static, so nothing is padded); each batch's mean is
    weighted by its size: exact for losses and metrics that are means over the batch. A counted
    metric (precision, recall, F1) sums its counts over the batches instead: exact as well.
    """
    fns = ({"loss": loss} if loss is not None else {}) | {metric_name(m): m for m in metrics}

    def sums(xb, yb):
        outputs, _ = model.apply(params, state, xb, train=False)
        return {k: f.counts(outputs, yb) if counted(f) else
                f(outputs, yb).astype(jnp.float32) * yb.shape[0] for k, f in fns.items()}

    n = y.shape[0]
    chunks, tail = divmod(n, batch)
    part = lambda a, lo, hi: jax.tree.map(lambda v: v[lo:hi], a)  # noqa: E731
    parts = []
    if chunks == 1:
        parts.append(sums(part(x, 0, batch), y[:batch]))
    elif chunks > 1:
        xs, ys = jax.tree.map(lambda v: v[:chunks * batch].reshape(chunks, batch, *v.shape[1:]),
                              (x, y))
        per = jax.lax.map(lambda xy: sums(*xy), (xs, ys))
        parts.append({k: jnp.sum(v, axis=0) for k, v in per.items()})
    if tail:
        parts.append(sums(part(x, chunks * batch, n), y[chunks * batch:]))
    totals = {k: sum(p[k] for p in parts) for k in fns}
    return {k: fns[k].from_counts(v) if counted(fns[k]) else v / n for k, v in totals.items()}


__all__ = ["make_train_step", "batched_means", "all_finite", "Penalty"]
