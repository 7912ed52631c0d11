"""Adam scaling (Kingma & Ba 2015; fundamentals 002, the last step of GD -> SGD -> momentum ->
AdaGrad -> RMSProp -> Adam), and the dtypes its moments keep.

Notation as in `scaling.py`: g is the incoming update, u the outgoing one, t = 1, 2, ... the step.
Every hyperparameter may be a jax array (traced under `jit`/`vmap`). The state is optax's
`ScaleByAdamState(count, mu, nu)`. Mixed precision (see `jaxdl.precision`): `mu_dtype` sets the
first moment's dtype, as optax's; a bfloat16/float16 param gets float32 moments and float32 maths
(optax keeps them in half precision, where Adam underflows), its update cast back to its dtype.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl import checks
from jaxdl.optim._math import _c, _flag, _inc, _zero_count
from jaxdl.optim.base import GradientTransformation, Updates
from jaxdl.optim.scaling import _debias, _ema
from jaxdl.spec import by_value


def _wide(dtype: Any) -> np.dtype:
    """float32 for a half-precision float dtype (bfloat16, float16), else `dtype`."""
    dtype = jnp.dtype(dtype)
    half = jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32
    return jnp.dtype(jnp.float32) if half else dtype


def _wider(a: Any, b: Any) -> np.dtype:
    """The more precise of two float (or complex) dtypes; float32 for bfloat16 with float16."""
    a, b = jnp.dtype(a), jnp.dtype(b)
    if a == b:
        return a
    bits = max(jnp.finfo(a).bits, jnp.finfo(b).bits, 32)
    complex_ = jnp.issubdtype(a, jnp.complexfloating) or jnp.issubdtype(b, jnp.complexfloating)
    return jnp.dtype(f"complex{2 * bits}" if complex_ else f"float{bits}")


def _lift(g: jax.Array, m: jax.Array) -> tuple[jax.Array, jax.Array]:
    """g and the moment m in the dtype their EMA runs in: the wider of m's and g's (float32 for
    a half-precision g)."""
    w = _wider(_wide(g.dtype), m.dtype)
    return g.astype(w), m.astype(w)


def check_adam(owner: str, b1: ArrayLike, b2: ArrayLike, eps: ArrayLike, eps_root: ArrayLike,
               nesterov: bool, mu_dtype: Any = None) -> np.dtype | None:
    """The hyperparameters of `scale_by_adam`: b1, b2 in [0, 1), eps, eps_root >= 0, mu_dtype
    None or a floating dtype; returns mu_dtype canonicalized (as optax: float64 is float32
    unless x64 is on)."""
    checks.in_range(b1, "b1", owner, 0.0, 1.0, high_open=True)
    checks.in_range(b2, "b2", owner, 0.0, 1.0, high_open=True)
    checks.in_range(eps, "eps", owner, 0.0)
    checks.in_range(eps_root, "eps_root", owner, 0.0)
    _flag(nesterov, "nesterov", owner)
    if mu_dtype is None:
        return None
    try:
        dtype = jnp.dtype(mu_dtype)
    except TypeError:
        raise TypeError(f"{owner}: mu_dtype must be None or a floating dtype such as "
                        f"jnp.bfloat16, got {mu_dtype!r}") from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{owner}: mu_dtype must be None or a floating dtype such as "
                         f"jnp.bfloat16, got {dtype}")
    return jax.dtypes.canonicalize_dtype(dtype)


class ScaleByAdamState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: t, for the bias correction
    mu: Updates  # first moment, EMA of g, shaped like the params (dtype: see scale_by_adam)
    nu: Updates  # second moment, EMA of g^2, shaped like the params (float32 for half params)


@by_value
def scale_by_adam(b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-8,
                  eps_root: ArrayLike = 0.0, mu_dtype: Any = None, *, nesterov: bool = False
                  ) -> GradientTransformation:
    """Adam scaling (Kingma & Ba 2015).

    mu_t = b1 mu_{t-1} + (1 - b1) g_t,  nu_t = b2 nu_{t-1} + (1 - b2) |g_t|^2,
    mu_hat = mu_t / (1 - b1^t),  nu_hat = nu_t / (1 - b2^t),
    u = mu_hat / (sqrt(nu_hat + eps_root) + eps).
    With `nesterov` (NAdam, Dozat 2016, as optax):
    mu_hat = b1 mu_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t).
    State `ScaleByAdamState(count, mu, nu)`.

    Dtypes: the EMAs run in the wider of g's and the moment's dtype, u is computed from the
    unrounded mu_t and nu_t (as optax) and returned in g's dtype; mu is stored in `mu_dtype`
    (optax's semantics), nu in the param's dtype. For a bfloat16/float16 param both moments are
    float32 (mu unless `mu_dtype` says otherwise) and the maths runs in float32: in float16,
    eps = 1e-8 and (1 - b2) g^2 underflow to 0 (u = 0/0 or m/0), and in bfloat16 b2 = 0.999
    rounds to 1. This differs from optax on purpose, which keeps half-precision moments.

    Args:
      b1: EMA decay of the first moment, in [0, 1).
      b2: EMA decay of the second moment, in [0, 1).
      eps: >= 0, outside the root.
      eps_root: >= 0, inside the root.
      mu_dtype: the dtype of mu (e.g. jnp.bfloat16 to halve its memory), or None: the param's
        dtype (float32 for a half-precision param).
      nesterov: NAdam.

    Returns:
      A `GradientTransformation`.
    """
    mu_dtype = check_adam("scale_by_adam", b1, b2, eps, eps_root, nesterov, mu_dtype)

    def init(params):
        mu = jax.tree.map(
            lambda p: jnp.zeros_like(p, _wide(p.dtype) if mu_dtype is None else mu_dtype), params)
        nu = jax.tree.map(lambda p: jnp.zeros_like(p, _wide(p.dtype)), params)
        return ScaleByAdamState(_zero_count(), mu, nu)

    def direction(m, v, g):
        w = _wider(m.dtype, v.dtype)
        m, v = m.astype(w), v.astype(w)
        return (m / (jnp.sqrt(v + _c(eps_root, v)) + _c(eps, v))).astype(g.dtype)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        mu = jax.tree.map(lambda g, m: _ema(*_lift(g, m), b1, 1), updates, state.mu)
        nu = jax.tree.map(lambda g, n: _ema(*_lift(g, n), b2, 2), updates, state.nu)
        count = _inc(state.count)
        if nesterov:
            mu_hat = jax.tree.map(
                lambda m, g: _c(b1, m) * _debias(m, b1, _inc(count))
                + _c(1 - b1, m) * _debias(g.astype(m.dtype), b1, count), mu, updates)
        else:
            mu_hat = jax.tree.map(lambda m: _debias(m, b1, count), mu)
        nu_hat = jax.tree.map(lambda n: _debias(n, b2, count), nu)
        updates = jax.tree.map(direction, mu_hat, nu_hat, updates)
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        nu = jax.tree.map(lambda n, old: n.astype(old.dtype), nu, state.nu)
        return updates, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(init, update)


__all__ = ["ScaleByAdamState", "check_adam", "scale_by_adam"]
