"""Every jaxdl optimizer against its optax namesake: 100 steps, random hyperparameter draws,
on (a) a pytree of mixed shapes fed random gradients and (b) a tiny MLP regression, each with a
constant and a scheduled learning rate (one per dtype); float32 (rel <= 1e-6) and float64
(rel <= 1e-12).

One jit per (optimizer, dtype, library): the hyperparameter draws are `vmap`-ed, the 100 steps are
a `lax.scan`. The jaxdl side is traced under strict dtype promotion, the optax side under the
standard one (optax needs it).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import standard_promotion

import jaxdl.optim as jo

STEPS = 100
DRAWS = 3


def _weights(p):
    return jax.tree.map(lambda x: x.ndim > 1, p)


def _lo_hi(lo, hi):
    return lambda rng: rng.uniform(lo, hi)


def _log(lo, hi):
    return lambda rng: float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


# name: (jaxdl factory, optax factory, hyperparameter samplers besides lr and the schedule's rate)
CASES = {
    "gd": (lambda lr, h: jo.gd(lr), lambda lr, h: optax.sgd(lr), {}),
    "sgd": (lambda lr, h: jo.sgd(lr), lambda lr, h: optax.sgd(lr), {}),
    "sgd_nesterov": (lambda lr, h: jo.sgd(lr, h["mu"], nesterov=True),
                     lambda lr, h: optax.sgd(lr, h["mu"], nesterov=True), {"mu": _lo_hi(.5, .95)}),
    "momentum": (lambda lr, h: jo.momentum(lr, h["mu"]),
                 lambda lr, h: optax.sgd(lr, momentum=h["mu"]), {"mu": _lo_hi(.5, .95)}),
    "nesterov": (lambda lr, h: jo.nesterov(lr, h["mu"]),
                 lambda lr, h: optax.sgd(lr, momentum=h["mu"], nesterov=True),
                 {"mu": _lo_hi(.5, .95)}),
    "adagrad": (lambda lr, h: jo.adagrad(lr, h["acc"], h["eps"]),
                lambda lr, h: optax.adagrad(lr, h["acc"], h["eps"]),
                {"acc": _lo_hi(0.0, 0.5), "eps": _log(1e-8, 1e-4)}),
    "rmsprop": (lambda lr, h: jo.rmsprop(lr, h["decay"], h["eps"]),
                lambda lr, h: optax.rmsprop(lr, h["decay"], h["eps"]),
                {"decay": _lo_hi(.8, .99), "eps": _log(1e-8, 1e-4)}),
    "rmsprop_torch_bias": (
        lambda lr, h: jo.rmsprop(lr, h["decay"], h["eps"], eps_in_sqrt=False,
                                 bias_correction=True),
        lambda lr, h: optax.rmsprop(lr, h["decay"], h["eps"], eps_in_sqrt=False,
                                    bias_correction=True),
        {"decay": _lo_hi(.8, .99), "eps": _log(1e-8, 1e-4)}),
    "rmsprop_nesterov_tf1": (
        lambda lr, h: jo.rmsprop(lr, h["decay"], h["eps"], initial_scale=h["s0"],
                                 momentum=h["mu"], nesterov=True),
        lambda lr, h: optax.rmsprop(lr, h["decay"], h["eps"], initial_scale=h["s0"],
                                    momentum=h["mu"], nesterov=True),
        {"decay": _lo_hi(.8, .99), "eps": _log(1e-8, 1e-4), "s0": _lo_hi(0.5, 1.0),
         "mu": _lo_hi(.5, .9)}),
    "rmsprop_centered": (
        lambda lr, h: jo.rmsprop(lr, h["decay"], h["eps"], initial_scale=h["s0"], centered=True,
                                 momentum=h["mu"]),
        lambda lr, h: optax.rmsprop(lr, h["decay"], h["eps"], initial_scale=h["s0"],
                                    centered=True, momentum=h["mu"]),
        {"decay": _lo_hi(.8, .99), "eps": _log(1e-6, 1e-4), "s0": _lo_hi(0.5, 1.0),
         "mu": _lo_hi(.5, .9)}),
    "rmsprop_centered_bias": (
        lambda lr, h: jo.rmsprop(lr, h["decay"], h["eps"], centered=True, bias_correction=True),
        lambda lr, h: optax.rmsprop(lr, h["decay"], h["eps"], centered=True,
                                    bias_correction=True),
        {"decay": _lo_hi(.8, .99), "eps": _log(1e-4, 1e-2)}),
    "adam": (lambda lr, h: jo.adam(lr, h["b1"], h["b2"], h["eps"], h["eps_root"]),
             lambda lr, h: optax.adam(lr, h["b1"], h["b2"], h["eps"], h["eps_root"]),
             {"b1": _lo_hi(.7, .95), "b2": _lo_hi(.9, .999), "eps": _log(1e-8, 1e-4),
              "eps_root": _log(1e-12, 1e-6)}),
    "adam_nesterov": (
        lambda lr, h: jo.adam(lr, h["b1"], h["b2"], h["eps"], nesterov=True),
        lambda lr, h: optax.adam(lr, h["b1"], h["b2"], h["eps"], nesterov=True),
        {"b1": _lo_hi(.7, .95), "b2": _lo_hi(.9, .999), "eps": _log(1e-8, 1e-4)}),
    "adamw": (
        lambda lr, h: jo.adamw(lr, h["b1"], h["b2"], h["eps"], weight_decay=h["wd"],
                               mask=_weights),
        lambda lr, h: optax.adamw(lr, h["b1"], h["b2"], h["eps"], weight_decay=h["wd"],
                                  mask=_weights),
        {"b1": _lo_hi(.7, .95), "b2": _lo_hi(.9, .999), "eps": _log(1e-8, 1e-4),
         "wd": _lo_hi(0.0, 0.1)}),
    "adam_mu_bfloat16": (
        lambda lr, h: jo.adam(lr, h["b1"], h["b2"], h["eps"], mu_dtype=jnp.bfloat16),
        lambda lr, h: optax.adam(lr, h["b1"], h["b2"], h["eps"], mu_dtype=jnp.bfloat16),
        {"b1": _lo_hi(.7, .95), "b2": _lo_hi(.9, .999), "eps": _log(1e-8, 1e-4)}),
    "adamw_mu_bfloat16_nesterov": (
        lambda lr, h: jo.adamw(lr, h["b1"], h["b2"], mu_dtype="bfloat16", weight_decay=h["wd"],
                               nesterov=True),
        lambda lr, h: optax.adamw(lr, h["b1"], h["b2"], mu_dtype="bfloat16",
                                  weight_decay=h["wd"], nesterov=True),
        {"b1": _lo_hi(.7, .95), "b2": _lo_hi(.9, .999), "wd": _lo_hi(0.0, 0.1)}),
    "adamw_nesterov": (
        lambda lr, h: jo.adamw(lr, h["b1"], h["b2"], weight_decay=h["wd"], nesterov=True),
        lambda lr, h: optax.adamw(lr, h["b1"], h["b2"], weight_decay=h["wd"], nesterov=True),
        {"b1": _lo_hi(.7, .95), "b2": _lo_hi(.9, .999), "wd": _lo_hi(0.0, 0.1)}),
}


def _draws(name, dtype):
    rng = np.random.default_rng(sum(map(ord, name)))
    samplers = {"lr": _log(1e-3, 3e-2), "rate": _lo_hi(0.3, 0.9), **CASES[name][2]}
    return {k: jnp.asarray([f(rng) for _ in range(DRAWS)], dtype) for k, f in samplers.items()}


def _schedule(h):
    # exponential decay lr * rate^(step / 25), written strict-safe (the count is int32)
    return lambda count: h["lr"] * h["rate"] ** (count.astype(h["lr"].dtype) / 25.0)


def _problems(dtype):
    """(a) mixed-shape params with a fixed sequence of random gradients; (b) a 3-4-1 tanh MLP."""
    k = jax.random.split(jax.random.key(42), 8)
    pa = {"w": jax.random.normal(k[0], (3, 4), dtype), "b": jnp.ones((4,), dtype),
          "conv": {"k": jax.random.normal(k[1], (2, 2, 1, 3), dtype)}, "s": jnp.asarray(2.0, dtype)}
    ga = jax.tree.map(lambda p, i: jax.random.normal(jax.random.fold_in(k[2], i),
                                                     (STEPS, *p.shape), dtype),
                      pa, {"w": 0, "b": 1, "conv": {"k": 2}, "s": 3})
    ga["b"] = ga["b"] * 1e-3  # a leaf with tiny gradients, where adaptive scaling matters
    pb = {"w1": jax.random.normal(k[3], (3, 4), dtype), "b1": jnp.zeros((4,), dtype),
          "w2": jax.random.normal(k[4], (4, 1), dtype), "b2": jnp.zeros((1,), dtype)}
    x = jax.random.normal(k[5], (16, 3), dtype)
    y = jnp.sin(jnp.sum(x, axis=1, keepdims=True))

    def loss(p):
        h = jnp.tanh(x @ p["w1"] + p["b1"][None])
        return jnp.mean((h @ p["w2"] + p["b2"][None] - y) ** 2)

    return pa, ga, pb, jax.grad(loss)


def _train(opt, apply, params, grad_fn, xs):
    def body(carry, x):
        p, s = carry
        u, s = opt.update(grad_fn(p, x), s, p)
        return (apply(p, u), s), None

    (p, s), _ = jax.lax.scan(body, (params, opt.init(params)), xs, length=STEPS)
    return p, s


def _run(factory, apply, draws, dtype, scheduled):
    """Problem (a) then (b); `scheduled` says which of the two gets the schedule (the other a
    constant lr), so each pairing is covered across the two dtypes at half the compile time."""
    pa, ga, pb, grad_b = _problems(dtype)

    def per_draw(h):
        lr_a, lr_b = (_schedule(h), h["lr"]) if scheduled == "a" else (h["lr"], _schedule(h))
        return [_train(factory(lr_a, h), apply, pa, lambda p, g: g, ga),
                _train(factory(lr_b, h), apply, pb, lambda p, _: grad_b(p), None)]

    return jax.jit(jax.vmap(per_draw))(draws)


def max_rel(a, b, floor=0.1):
    """max |a - b| / max(|b|, floor * max|b|) over all leaves, elementwise, in float64: relative
    to each element, or to `floor` times the leaf's largest entry for elements smaller than that
    (an entry near zero has no meaningful relative error)."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    worst = 0.0
    for x, y in zip(la, lb):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        assert x.shape == y.shape
        if y.size == 0:
            continue
        assert np.all(np.isfinite(x)) and np.all(np.isfinite(y))
        den = np.maximum(np.abs(y), floor * np.max(np.abs(y)))
        diff = np.abs(x - y)
        worst = max(worst, float(np.max(np.where(diff == 0, 0.0, diff / np.maximum(den, 1e-300)))))
    return worst


def _compare(name, dtype, tol, scheduled):
    jaxdl_factory, optax_factory, _ = CASES[name]
    draws = _draws(name, dtype)
    ours = _run(jaxdl_factory, jo.apply_updates, draws, dtype, scheduled)
    with standard_promotion():
        ref = _run(optax_factory, optax.apply_updates, draws, dtype, scheduled)
    for (p, s), (p_ref, s_ref) in zip(ours, ref):
        assert jax.tree.leaves(p)[0].dtype == dtype
        assert max_rel(p, p_ref) <= tol, (name, max_rel(p, p_ref))
        # states: same leaves in the same order (optax's field names)
        assert max_rel(s, s_ref) <= tol, (name, max_rel(s, s_ref))


@pytest.mark.parametrize("name", sorted(CASES))
def test_optimizer_matches_optax_for_100_steps_float32(name):
    _compare(name, jnp.float32, 1e-6, scheduled="b")


def test_aliases_with_default_python_float_hyperparameters_match_optax():
    pa, ga, _, _ = _problems(jnp.float32)
    pairs = [(jo.gd(0.01), optax.sgd(0.01)), (jo.momentum(0.01), optax.sgd(0.01, 0.9)),
             (jo.nesterov(0.01), optax.sgd(0.01, 0.9, nesterov=True)),
             (jo.adagrad(0.01), optax.adagrad(0.01)), (jo.rmsprop(0.01), optax.rmsprop(0.01)),
             (jo.adam(0.01), optax.adam(0.01)), (jo.adamw(0.01), optax.adamw(0.01))]

    def run(opts, apply):
        return [_train(o, apply, pa, lambda p, g: g, ga)[0] for o in opts]

    ours = jax.jit(lambda: run([a for a, _ in pairs], jo.apply_updates))()
    with standard_promotion():
        ref = jax.jit(lambda: run([b for _, b in pairs], optax.apply_updates))()
    for i, (p, q) in enumerate(zip(ours, ref)):
        assert max_rel(p, q) <= 1e-6, (i, max_rel(p, q))
