"""Optimizers: compositions of transforms with no maths of their own (fundamentals 002, the path
GD -> SGD -> momentum -> AdaGrad -> RMSProp -> Adam).

Each returns a `GradientTransformation` whose updates are the descent step, ready for
`apply_updates(params, updates)`. Argument names and defaults are optax's (optax 0.2.8), and so
is the state, leaf by leaf; `learning_rate` is a number, a jax array (a `vmap`-ed sweep) or a
schedule `step -> lr` (the first update uses step 0). w is a parameter, g its gradient, lr_t the
learning rate of update t = 1, 2, ...

Each alias checks its own arguments first, so a bad one is reported under the name and the
parameter the user wrote (`sgd: momentum must be ...`, `momentum: beta must be ...`), never under
a building block's.
"""

from __future__ import annotations

from typing import Any

from jax.typing import ArrayLike

from jaxdl import checks
from jaxdl.optim._math import _flag
from jaxdl.optim.adam_scaling import check_adam, scale_by_adam
from jaxdl.optim.base import GradientTransformation, Mask, ScalarOrSchedule, chain, identity
from jaxdl.optim.constraints import add_decayed_weights, check_weight_decay
from jaxdl.optim.resilient import check_rprop, rprop_transform
from jaxdl.optim.scaling import (
    check_rms, check_rss, scale, scale_by_learning_rate, scale_by_rms, scale_by_rss,
    scale_by_stddev, trace)
from jaxdl.spec import by_value


def _lr(learning_rate: ScalarOrSchedule, owner: str) -> ScalarOrSchedule:
    if not callable(learning_rate):
        checks.in_range(learning_rate, "learning_rate", owner, 0.0)
    return learning_rate


def _momentum(momentum: ArrayLike | None, owner: str, name: str = "momentum") -> None:
    """mu in [0, 1): at mu >= 1 the trace sum_k mu^k g_{t-k} never forgets and grows without
    bound (the effective step lr / (1 - mu) is infinite)."""
    if momentum is not None:
        checks.in_range(momentum, name, owner, 0.0, 1.0, high_open=True)


@by_value
def sgd(learning_rate: ScalarOrSchedule, momentum: ArrayLike | None = None,
        nesterov: bool = False) -> GradientTransformation:
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Plain: w <- w - lr_t g_t. With momentum mu: m_t = g_t + mu m_{t-1}, then
    w <- w - lr_t m_t, or w <- w - lr_t (g_t + mu m_t) with `nesterov` (Sutskever et al. 2013).
    = chain(trace(momentum, nesterov) or identity(), scale_by_learning_rate(lr)), as optax.sgd.

    Args:
      learning_rate: lr >= 0, a number, a jax array (traced in a sweep) or a schedule.
      momentum: mu in [0, 1), or None for plain SGD.
      nesterov: use the Nesterov form (only with momentum).

    Returns:
      A `GradientTransformation`; its updates are added to the params by `apply_updates`.
    """
    _lr(learning_rate, "sgd")
    _momentum(momentum, "sgd")
    _flag(nesterov, "nesterov", "sgd")
    first = identity() if momentum is None else trace(momentum, nesterov)
    return chain(first, scale_by_learning_rate(learning_rate))


@by_value
def gd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """Full-batch gradient descent: w <- w - lr_t dL/dw on the whole training set.

    The same update as `sgd`; only the data you feed differs (all examples at once).

    Args:
      learning_rate: lr >= 0, a number, a jax array (traced in a sweep) or a schedule.

    Returns:
      A `GradientTransformation`; its updates are added to the params by `apply_updates`.
    """
    _lr(learning_rate, "gd")
    return sgd(learning_rate)


@by_value
def momentum(learning_rate: ScalarOrSchedule, beta: ArrayLike = 0.9) -> GradientTransformation:
    """Heavy-ball momentum (Polyak 1964): m_t = g_t + beta m_{t-1}; w <- w - lr_t m_t.

    = sgd(learning_rate, momentum=beta).

    Args:
      learning_rate: lr >= 0, a number, a jax array (traced in a sweep) or a schedule.
      beta: momentum decay in [0, 1).

    Returns:
      A `GradientTransformation`; its updates are added to the params by `apply_updates`.
    """
    _lr(learning_rate, "momentum")
    _momentum(beta, "momentum", "beta")
    return sgd(learning_rate, momentum=beta)


@by_value
def nesterov(learning_rate: ScalarOrSchedule, beta: ArrayLike = 0.9) -> GradientTransformation:
    """Nesterov momentum (Sutskever et al. 2013 form): m_t = g_t + beta m_{t-1};
    w <- w - lr_t (g_t + beta m_t). = sgd(learning_rate, momentum=beta, nesterov=True).

    Args:
      learning_rate: lr >= 0, a number, a jax array (traced in a sweep) or a schedule.
      beta: momentum decay in [0, 1).

    Returns:
      A `GradientTransformation`; its updates are added to the params by `apply_updates`.
    """
    _lr(learning_rate, "nesterov")
    _momentum(beta, "nesterov", "beta")
    return sgd(learning_rate, momentum=beta, nesterov=True)


@by_value
def adagrad(learning_rate: ScalarOrSchedule, initial_accumulator_value: ArrayLike = 0.1,
            eps: ArrayLike = 1e-7) -> GradientTransformation:
    """AdaGrad (Duchi et al. 2011): s_t = s_{t-1} + |g_t|^2 (s_0 = initial_accumulator_value);
    w <- w - lr_t g_t / sqrt(s_t + eps). The accumulated sum only grows, so the effective step
    keeps shrinking. = chain(scale_by_rss(...), scale_by_learning_rate(lr)), as optax.adagrad.

    Args:
      learning_rate: lr >= 0, a number, a jax array (traced in a sweep) or a schedule.
      initial_accumulator_value: s_0 >= 0.
      eps: >= 0, inside the square root.

    Returns:
      A `GradientTransformation`; its updates are added to the params by `apply_updates`.
    """
    _lr(learning_rate, "adagrad")
    check_rss("adagrad", initial_accumulator_value, eps)
    return chain(scale_by_rss(initial_accumulator_value, eps),
                 scale_by_learning_rate(learning_rate))


@by_value
def rmsprop(learning_rate: ScalarOrSchedule, decay: ArrayLike = 0.9, eps: ArrayLike = 1e-8,
            initial_scale: ArrayLike = 0.0, eps_in_sqrt: bool = True, centered: bool = False,
            momentum: ArrayLike | None = None, nesterov: bool = False,
            bias_correction: bool = False) -> GradientTransformation:
    """RMSProp (Hinton 2012): nu_t = decay nu_{t-1} + (1 - decay) |g_t|^2 (nu_0 = initial_scale);
    v_t = -lr_t g_t / sqrt(nu_t + eps) (or / (sqrt(nu_t) + eps) when not `eps_in_sqrt`, as
    PyTorch); with `centered`, nu_t - mu_t^2 replaces nu_t (mu_t the EMA of g); with
    `bias_correction`, the EMAs are divided by 1 - decay^t. With `momentum` mu the step is
    m_t = v_t + mu m_{t-1} (or v_t + mu m_t with `nesterov`), applied after the learning rate.
    = chain(scale_by_rms or scale_by_stddev, scale_by_learning_rate(lr), trace or identity()),
    as optax.rmsprop.

    Args:
      learning_rate: lr >= 0, a number, a jax array (traced in a sweep) or a schedule.
      decay: EMA decay in [0, 1].
      eps: >= 0.
      initial_scale: nu_0 >= 0 (PyTorch 0, TF1 1).
      eps_in_sqrt: the variant above.
      centered: the variant above.
      bias_correction: the variant above.
      momentum: mu in [0, 1) or None.
      nesterov: Nesterov form of the momentum.

    Returns:
      A `GradientTransformation`; its updates are added to the params by `apply_updates`.
    """
    _lr(learning_rate, "rmsprop")
    check_rms("rmsprop", decay, eps, initial_scale, eps_in_sqrt, bias_correction)
    _flag(centered, "centered", "rmsprop")
    _momentum(momentum, "rmsprop")
    _flag(nesterov, "nesterov", "rmsprop")
    scaling = scale_by_stddev if centered else scale_by_rms
    return chain(
        scaling(decay, eps, initial_scale, eps_in_sqrt, bias_correction),
        scale_by_learning_rate(learning_rate),
        identity() if momentum is None else trace(momentum, nesterov),
    )


@by_value
def adam(learning_rate: ScalarOrSchedule, b1: ArrayLike = 0.9, b2: ArrayLike = 0.999,
         eps: ArrayLike = 1e-8, eps_root: ArrayLike = 0.0, mu_dtype: Any = None, *,
         nesterov: bool = False) -> GradientTransformation:
    """Adam (Kingma & Ba 2015): mu_t = b1 mu_{t-1} + (1 - b1) g_t, nu_t = b2 nu_{t-1} +
    (1 - b2) |g_t|^2, w <- w - lr_t mu_hat / (sqrt(nu_hat + eps_root) + eps) with
    mu_hat = mu_t / (1 - b1^t), nu_hat = nu_t / (1 - b2^t) (`nesterov`: NAdam, see
    `scale_by_adam`). = chain(scale_by_adam(...), scale_by_learning_rate(lr)), as optax.adam.
    A bfloat16/float16 param gets float32 moments (see `scale_by_adam`; optax keeps them in half
    precision).

    Args:
      learning_rate: lr >= 0, a number, a jax array (traced in a sweep) or a schedule.
      b1: EMA decay in [0, 1).
      b2: EMA decay in [0, 1).
      eps: >= 0, outside the root.
      eps_root: >= 0, inside.
      mu_dtype: dtype of the first moment (optax's), or None: the param's (float32 for a
        half-precision param).
      nesterov: NAdam.

    Returns:
      A `GradientTransformation`; its updates are added to the params by `apply_updates`.
    """
    _lr(learning_rate, "adam")
    check_adam("adam", b1, b2, eps, eps_root, nesterov, mu_dtype)
    return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 scale_by_learning_rate(learning_rate))


@by_value
def adamw(learning_rate: ScalarOrSchedule, b1: ArrayLike = 0.9, b2: ArrayLike = 0.999,
          eps: ArrayLike = 1e-8, eps_root: ArrayLike = 0.0, mu_dtype: Any = None,
          weight_decay: ScalarOrSchedule = 1e-4, mask: Mask | None = None, *,
          nesterov: bool = False) -> GradientTransformation:
    """AdamW (Loshchilov & Hutter 2019): w <- w - lr_t (adam_direction + weight_decay w), the
    decay decoupled from the adaptive scaling and multiplied by lr_t (as optax and PyTorch);
    `mask` selects the leaves to decay. = chain(scale_by_adam(...),
    add_decayed_weights(weight_decay, mask), scale_by_learning_rate(lr)), as optax.adamw.

    Args:
      learning_rate: lr >= 0, a number, a jax array (traced in a sweep) or a schedule.
      b1: as `adam`.
      b2: as `adam`.
      eps: as `adam`.
      eps_root: as `adam`.
      mu_dtype: as `adam`.
      nesterov: as `adam`.
      weight_decay: lambda >= 0 (or a schedule).
      mask: pytree of bools (or params -> bools), True where to decay; None decays every leaf.

    Returns:
      A `GradientTransformation`; its updates are added to the params by `apply_updates`.
    """
    _lr(learning_rate, "adamw")
    check_adam("adamw", b1, b2, eps, eps_root, nesterov, mu_dtype)
    check_weight_decay("adamw", weight_decay, mask)
    return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))


@by_value
def rprop(learning_rate: ArrayLike, eta_minus: ArrayLike = 0.5, eta_plus: ArrayLike = 1.2,
          min_step_size: ArrayLike = 1e-6, max_step_size: ArrayLike = 50.0
          ) -> GradientTransformation:
    """Rprop, iRprop- as PyTorch (Riedmiller & Braun 1993): per weight, a step size that grows by
    eta_plus while the gradient keeps its sign and shrinks by eta_minus when it flips (that
    update is then zero); w <- w - step_t sign(g_t). `learning_rate` is the initial step size.
    = chain(scale_by_rprop(...), scale(-1)). Complex params are a ValueError (see
    `scale_by_rprop`).

    Differs from optax.rprop 0.2.8 on purpose: optax emits each update one step late (its first
    update is zero; optax PR #1725); jaxdl emits the current one (see `scale_by_rprop`).

    Args:
      learning_rate: initial step size >= 0 (a number or array, not a schedule).
      eta_minus: shrink factor in (0, 1).
      eta_plus: growth factor > 1.
      min_step_size: lower bound of the step size, 0 <= min <= max.
      max_step_size: upper bound of the step size, 0 <= min <= max.

    Returns:
      A `GradientTransformation`; its updates are added to the params by `apply_updates`.
    """
    check_rprop("rprop", learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)
    return chain(
        rprop_transform("rprop", learning_rate, eta_minus, eta_plus, min_step_size, max_step_size),
        scale(-1.0))


__all__ = ["sgd", "gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "rprop"]
