"""The rest of optax's contract in jaxdl.optim: errors name the user's call (one row per public
constructor and checked parameter), complex parameters (|g|^2 moments, against optax), extra
keyword arguments of `update` and `None` leaves (against optax), and `inject_hyperparams`
(against `optax.inject_hyperparams`, leaf by leaf)."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import standard_promotion

import jaxdl.optim as jo
from jaxdl import schedules
from jaxdl.train import learning_rate

V, T = ValueError, TypeError
NOT_CONSTRUCTORS = {"apply_updates", "global_norm", "init_empty_state"}


def _constructors():
    return sorted(n for n in jo.__all__ if inspect.isfunction(getattr(jo, n))
                  and n not in NOT_CONSTRUCTORS)


# --- errors name the function the user called ---------------------------------------------------

# (constructor, its parameter, the bad call, error, value shown); the message must start with
# "<constructor>: <parameter> must be" and show the value.
ERRORS = [
    ("sgd", "learning_rate", lambda: jo.sgd(-0.5), V, "-0.5"),
    ("sgd", "momentum", lambda: jo.sgd(0.1, momentum=-0.5), V, "-0.5"),
    ("sgd", "momentum", lambda: jo.sgd(0.1, momentum=1.0), V, "1.0"),
    ("sgd", "nesterov", lambda: jo.sgd(0.1, 0.9, nesterov="yes"), T, "'yes'"),
    ("gd", "learning_rate", lambda: jo.gd(-1.0), V, "-1.0"),
    ("momentum", "learning_rate", lambda: jo.momentum(-0.1), V, "-0.1"),
    ("momentum", "beta", lambda: jo.momentum(0.1, beta=-0.5), V, "-0.5"),
    ("momentum", "beta", lambda: jo.momentum(0.1, beta=1.5), V, "1.5"),
    ("nesterov", "learning_rate", lambda: jo.nesterov(-0.1), V, "-0.1"),
    ("nesterov", "beta", lambda: jo.nesterov(0.1, beta=1.0), V, "1.0"),
    ("adagrad", "learning_rate", lambda: jo.adagrad(-0.1), V, "-0.1"),
    ("adagrad", "initial_accumulator_value", lambda: jo.adagrad(0.1, -1.0), V, "-1.0"),
    ("adagrad", "eps", lambda: jo.adagrad(0.1, eps=-1e-7), V, "-1e-07"),
    ("rmsprop", "learning_rate", lambda: jo.rmsprop(-0.1), V, "-0.1"),
    ("rmsprop", "decay", lambda: jo.rmsprop(0.1, decay=1.5), V, "1.5"),
    ("rmsprop", "decay", lambda: jo.rmsprop(0.1, decay=-1.0, centered=True), V, "-1.0"),
    ("rmsprop", "eps", lambda: jo.rmsprop(0.1, eps=-1.0), V, "-1.0"),
    ("rmsprop", "initial_scale", lambda: jo.rmsprop(0.1, initial_scale=-1.0), V, "-1.0"),
    ("rmsprop", "eps_in_sqrt", lambda: jo.rmsprop(0.1, eps_in_sqrt=1), T, "1"),
    ("rmsprop", "centered", lambda: jo.rmsprop(0.1, centered="no"), T, "'no'"),
    ("rmsprop", "momentum", lambda: jo.rmsprop(0.1, momentum=1.2), V, "1.2"),
    ("rmsprop", "nesterov", lambda: jo.rmsprop(0.1, momentum=0.9, nesterov=None), T, "None"),
    ("rmsprop", "bias_correction", lambda: jo.rmsprop(0.1, bias_correction=0), T, "0"),
    ("adam", "learning_rate", lambda: jo.adam(-1e-3), V, "-0.001"),
    ("adam", "b1", lambda: jo.adam(0.1, b1=1.0), V, "1.0"),
    ("adam", "b2", lambda: jo.adam(0.1, b2=-0.1), V, "-0.1"),
    ("adam", "eps", lambda: jo.adam(0.1, eps=-1e-8), V, "-1e-08"),
    ("adam", "eps_root", lambda: jo.adam(0.1, eps_root=-1.0), V, "-1.0"),
    ("adam", "mu_dtype", lambda: jo.adam(0.1, mu_dtype=jnp.int32), V, "int32"),
    ("adam", "nesterov", lambda: jo.adam(0.1, nesterov=1), T, "1"),
    ("adamw", "learning_rate", lambda: jo.adamw(-1e-3), V, "-0.001"),
    ("adamw", "b1", lambda: jo.adamw(0.1, b1=1.5), V, "1.5"),
    ("adamw", "b2", lambda: jo.adamw(0.1, b2=1.0), V, "1.0"),
    ("adamw", "eps", lambda: jo.adamw(0.1, eps=-1.0), V, "-1.0"),
    ("adamw", "eps_root", lambda: jo.adamw(0.1, eps_root=-1.0), V, "-1.0"),
    ("adamw", "mu_dtype", lambda: jo.adamw(0.1, mu_dtype="bf17"), T, "'bf17'"),
    ("adamw", "weight_decay", lambda: jo.adamw(0.1, weight_decay=-1e-4), V, "-0.0001"),
    ("adamw", "mask", lambda: jo.adamw(0.1, mask={"w": 1.0}), T, "{'w': 1.0}"),
    ("adamw", "nesterov", lambda: jo.adamw(0.1, nesterov="yes"), T, "'yes'"),
    ("rprop", "learning_rate", lambda: jo.rprop(-0.1), V, "-0.1"),
    ("rprop", "learning_rate", lambda: jo.rprop(schedules.constant(0.1)), T, "constant"),
    ("rprop", "eta_minus", lambda: jo.rprop(0.1, eta_minus=1.5), V, "1.5"),
    ("rprop", "eta_plus", lambda: jo.rprop(0.1, eta_plus=0.9), V, "0.9"),
    ("rprop", "min_step_size", lambda: jo.rprop(0.1, min_step_size=-1.0), V, "-1.0"),
    ("rprop", "max_step_size", lambda: jo.rprop(0.1, max_step_size=-1.0), V, "-1.0"),
    ("rprop", "max_step_size", lambda: jo.rprop(0.1, min_step_size=1.0, max_step_size=0.5), V,
     "0.5"),
    ("scale", "step_size", lambda: jo.scale(float("nan")), V, "nan"),
    ("scale", "step_size", lambda: jo.scale("0.1"), T, "'0.1'"),
    ("scale_by_learning_rate", "learning_rate", lambda: jo.scale_by_learning_rate(-1.0), V,
     "-1.0"),
    ("trace", "decay", lambda: jo.trace(-0.9), V, "-0.9"),
    ("trace", "nesterov", lambda: jo.trace(0.9, nesterov="yes"), T, "'yes'"),
    ("scale_by_rss", "initial_accumulator_value", lambda: jo.scale_by_rss(-1.0), V, "-1.0"),
    ("scale_by_rss", "eps", lambda: jo.scale_by_rss(eps=-1.0), V, "-1.0"),
    ("scale_by_rms", "decay", lambda: jo.scale_by_rms(1.5), V, "1.5"),
    ("scale_by_rms", "eps", lambda: jo.scale_by_rms(eps=-1.0), V, "-1.0"),
    ("scale_by_rms", "initial_scale", lambda: jo.scale_by_rms(initial_scale=-1.0), V, "-1.0"),
    ("scale_by_rms", "eps_in_sqrt", lambda: jo.scale_by_rms(eps_in_sqrt="no"), T, "'no'"),
    ("scale_by_rms", "bias_correction", lambda: jo.scale_by_rms(bias_correction=1), T, "1"),
    ("scale_by_stddev", "decay", lambda: jo.scale_by_stddev(-1.0), V, "-1.0"),
    ("scale_by_stddev", "eps", lambda: jo.scale_by_stddev(eps=-1.0), V, "-1.0"),
    ("scale_by_stddev", "initial_scale", lambda: jo.scale_by_stddev(initial_scale=-1.0), V,
     "-1.0"),
    ("scale_by_stddev", "eps_in_sqrt", lambda: jo.scale_by_stddev(eps_in_sqrt=0), T, "0"),
    ("scale_by_stddev", "bias_correction", lambda: jo.scale_by_stddev(bias_correction="y"), T,
     "'y'"),
    ("scale_by_adam", "b1", lambda: jo.scale_by_adam(b1=1.0), V, "1.0"),
    ("scale_by_adam", "b2", lambda: jo.scale_by_adam(b2=1.5), V, "1.5"),
    ("scale_by_adam", "eps", lambda: jo.scale_by_adam(eps=-1.0), V, "-1.0"),
    ("scale_by_adam", "eps_root", lambda: jo.scale_by_adam(eps_root=-1.0), V, "-1.0"),
    ("scale_by_adam", "nesterov", lambda: jo.scale_by_adam(nesterov=1), T, "1"),
    ("scale_by_adam", "mu_dtype", lambda: jo.scale_by_adam(mu_dtype="int8"), V, "int8"),
    ("loss_scale", "transform", lambda: jo.loss_scale(jo.adam), T, "function adam"),
    ("loss_scale", "initial_scale", lambda: jo.loss_scale(jo.sgd(0.1), 0.0), V, "0.0"),
    ("loss_scale", "initial_scale", lambda: jo.loss_scale(jo.sgd(0.1), float("inf")), V, "inf"),
    ("loss_scale", "dynamic", lambda: jo.loss_scale(jo.sgd(0.1), dynamic="yes"), T, "'yes'"),
    ("loss_scale", "period", lambda: jo.loss_scale(jo.sgd(0.1), period=0), V, "0"),
    ("loss_scale", "factor", lambda: jo.loss_scale(jo.sgd(0.1), factor=1.0), V, "1.0"),
    ("loss_scale", "min_loss_scale", lambda: jo.loss_scale(jo.sgd(0.1), 8.0, min_loss_scale=16.0),
     V, "16.0"),
    ("scale_by_rprop", "learning_rate", lambda: jo.scale_by_rprop(-0.1), V, "-0.1"),
    ("scale_by_rprop", "eta_minus", lambda: jo.scale_by_rprop(0.1, eta_minus=0.0), V, "0.0"),
    ("scale_by_rprop", "eta_plus", lambda: jo.scale_by_rprop(0.1, eta_plus=1.0), V, "1.0"),
    ("scale_by_rprop", "min_step_size", lambda: jo.scale_by_rprop(0.1, min_step_size=-1.0), V,
     "-1.0"),
    ("scale_by_rprop", "max_step_size", lambda: jo.scale_by_rprop(0.1, max_step_size=-1.0), V,
     "-1.0"),
    ("clip", "max_delta", lambda: jo.clip(-1.0), V, "-1.0"),
    ("clip_by_global_norm", "max_norm", lambda: jo.clip_by_global_norm(-1.0), V, "-1.0"),
    ("add_decayed_weights", "weight_decay", lambda: jo.add_decayed_weights(-1.0), V, "-1.0"),
    ("add_decayed_weights", "mask", lambda: jo.add_decayed_weights(0.1, mask="w"), T, "'w'"),
    ("max_norm", "max_value", lambda: jo.max_norm(0.0), V, "0.0"),
    ("max_norm", "axis", lambda: jo.max_norm(1.0, axis=2), V, "2"),
    ("max_norm", "axis", lambda: jo.max_norm(1.0, axis=0.0), V, "0.0"),
    ("masked", "transform", lambda: jo.masked(jo.adam, {"w": True}), T, "function adam"),
    ("masked", "mask", lambda: jo.masked(jo.sgd(0.1), {"w": "yes"}), T, "'yes'"),
    ("freeze", "mask", lambda: jo.freeze({"w": 0.5}), T, "0.5"),
    ("chain", "transforms", lambda: jo.chain(jo.clip(1.0), jo.adam), T, "function adam"),
    ("apply_if_finite", "transform", lambda: jo.apply_if_finite(jo.sgd, 1), T, "function sgd"),
    ("apply_if_finite", "max_consecutive_errors", lambda: jo.apply_if_finite(jo.sgd(0.1), -1), V,
     "-1"),
    ("with_extra_args_support", "transform", lambda: jo.with_extra_args_support(0.1), T, "0.1"),
    ("inject_hyperparams", "inner_factory", lambda: jo.inject_hyperparams(jo.adam(0.1)), T,
     "adam(learning_rate=0.1)"),
    ("inject_hyperparams", "static_args", lambda: jo.inject_hyperparams(jo.adamw, "msk"), V,
     "'msk'"),
    ("inject_hyperparams", "static_args", lambda: jo.inject_hyperparams(jo.adamw, 3), T, "3"),
    ("inject_hyperparams", "hyperparam_dtype",
     lambda: jo.inject_hyperparams(jo.adam, hyperparam_dtype=jnp.int32), V, "int32"),
]
PREFIX = {("chain", "transforms"): "chain: argument 1 must be"}  # *transforms: the i-th argument
UNCHECKED = {"identity": set(), "set_to_zero": set()}  # no parameters


@pytest.mark.parametrize("owner, param, call, error, shown", ERRORS,
                         ids=[f"{o}-{p}-{i}" for i, (o, p, *_) in enumerate(ERRORS)])
def test_a_bad_argument_names_the_function_called_its_parameter_and_the_value(
        owner, param, call, error, shown):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert type(info.value) is error
    assert message.startswith(PREFIX.get((owner, param), f"{owner}: {param} must be")), message
    assert shown in message, message


def test_the_error_table_covers_every_parameter_of_every_public_constructor():
    covered = {(o, p) for o, p, *_ in ERRORS}
    missing = [(name, p) for name in _constructors()
               for p in inspect.signature(getattr(jo, name)).parameters
               if (name, p) not in covered and p not in UNCHECKED.get(name, ())]
    assert not missing


def test_injected_hyperparameters_are_checked_under_the_inner_factory_name():
    with pytest.raises(ValueError, match=r"^adam: learning_rate must be .*-1.0"):
        jo.inject_hyperparams(jo.adam)(learning_rate=-1.0)
    with pytest.raises(ValueError, match=r"^momentum: beta must be .*1.5"):
        jo.inject_hyperparams(jo.momentum)(0.1, beta=schedules.constant(1.5))
    with pytest.raises(TypeError, match=r"^inject_hyperparams\(adam\): .*'lr'"):
        jo.inject_hyperparams(jo.adam)(0.1, lr=0.1)


# --- complex parameters -------------------------------------------------------------------------

def _complex_problem():
    k = jax.random.split(jax.random.key(3), 4)

    def c(key, shape):
        re, im = jax.random.normal(key, (2, *shape))
        return jax.lax.complex(re, im)

    p = {"w": c(k[0], (3, 2)), "r": jax.random.normal(k[1], (4,))}
    gs = {"w": c(k[2], (5, 3, 2)), "r": jax.random.normal(k[3], (5, 4))}  # 5 steps
    return p, gs


COMPLEX = [  # (jaxdl, optax): 5 steps on complex64 params
    (lambda: jo.sgd(0.1, momentum=0.9), lambda: optax.sgd(0.1, momentum=0.9)),
    (lambda: jo.nesterov(0.1, 0.8), lambda: optax.sgd(0.1, 0.8, nesterov=True)),
    (lambda: jo.adagrad(0.1), lambda: optax.adagrad(0.1)),
    (lambda: jo.rmsprop(0.1, momentum=0.5), lambda: optax.rmsprop(0.1, momentum=0.5)),
    (lambda: jo.rmsprop(0.1, centered=True, initial_scale=1.0),
     lambda: optax.rmsprop(0.1, centered=True, initial_scale=1.0)),
    (lambda: jo.rmsprop(0.1, eps_in_sqrt=False, bias_correction=True),
     lambda: optax.rmsprop(0.1, eps_in_sqrt=False, bias_correction=True)),
    (lambda: jo.rmsprop(0.1, 0.9, 0.1, centered=True, bias_correction=True),  # eps: centered
     lambda: optax.rmsprop(0.1, 0.9, 0.1, centered=True, bias_correction=True)),  # nu 0 at t=1
    (lambda: jo.adam(0.1, eps_root=1e-8), lambda: optax.adam(0.1, eps_root=1e-8)),
    (lambda: jo.adam(0.1, nesterov=True), lambda: optax.nadam(0.1)),
    (lambda: jo.adamw(0.1, weight_decay=0.1), lambda: optax.adamw(0.1, weight_decay=0.1)),
    (lambda: jo.chain(jo.clip_by_global_norm(1.0), jo.adam(0.1)),
     lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.1))),
    (lambda: jo.apply_if_finite(jo.adam(0.1), 2),
     lambda: optax.apply_if_finite(optax.adam(0.1), 2)),
]


def _steps(opt, apply, p, gs):
    """Scan the 5 steps; returns the final params and every step's (updates, state)."""

    def body(carry, g):
        q, s = carry
        u, s = opt.update(g, s, q)
        return (apply(q, u), s), (u, s)

    (p, _), out = jax.lax.scan(body, (p, opt.init(p)), gs)
    return p, out


def test_complex_params_match_optax_leaf_by_leaf_for_five_steps():
    p, gs = _complex_problem()
    ours = jax.jit(lambda: [_steps(a(), jo.apply_updates, p, gs) for a, _ in COMPLEX])()
    with standard_promotion():
        ref = jax.jit(lambda: [_steps(b(), optax.apply_updates, p, gs) for _, b in COMPLEX])()
    for i, (a, b) in enumerate(zip(ours, ref)):
        la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
        assert len(la) == len(lb), i
        for x, y in zip(la, lb):
            assert x.dtype == y.dtype, (i, x.dtype, y.dtype)  # nu complex64, as optax's
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=2e-5, atol=1e-6,
                                       err_msg=str(i))
    adam_state = ours[7][1][1][0]  # every step's ScaleByAdamState
    nu = np.asarray(adam_state.nu["w"])
    assert np.all(nu.imag == 0) and np.all(nu.real > 0)  # sum of |g|^2: real and positive


def test_second_moment_of_a_complex_gradient_is_abs_squared_not_squared():
    g = {"w": jnp.asarray([1j, 1 + 1j], jnp.complex64)}  # g^2 = [-1, 2j]; |g|^2 = [1, 2]
    s = jo.scale_by_rss(0.0).update(g, jo.scale_by_rss(0.0).init(g))[1]
    np.testing.assert_allclose(np.asarray(s.sum_of_squares["w"]), [1, 2])
    np.testing.assert_allclose(float(jo.global_norm(g)), np.sqrt(3.0), rtol=1e-6)


def test_max_norm_renormalizes_complex_columns_like_numpy():
    p, _ = _complex_problem()
    w, u = p["w"], p["w"] * 0.5
    out = jo.max_norm(1.0).update({"w": u}, jo.EmptyState(), {"w": w})[0]["w"]
    new = np.asarray(w + u, np.complex128)
    norm = np.sqrt(np.sum(np.abs(new) ** 2, axis=0, keepdims=True))
    np.testing.assert_allclose(np.asarray(w + out), new * np.minimum(1, 1 / norm), rtol=1e-5)


def test_complex_leaves_are_rejected_where_there_is_no_order():
    p, _ = _complex_problem()
    with pytest.raises(ValueError, match=r"^rprop: params must be real .*complex64 .*\['w'\]"):
        jo.rprop(0.1).init(p)
    with pytest.raises(ValueError, match=r"^scale_by_rprop: updates must be real"):
        opt = jo.scale_by_rprop(0.1)
        opt.update(p, opt.init({"w": jnp.zeros((3, 2)), "r": p["r"]}))
    with pytest.raises(ValueError, match=r"^clip: updates must be real .*complex64"):
        jo.clip(1.0).update(p, jo.EmptyState())


# --- extra args and None leaves -----------------------------------------------------------------

def _probe():
    """A transform that needs the extra arg `value`: u = value * g (a KeyError without it)."""

    def update(updates, state, params=None, **extra_args):
        return jax.tree.map(lambda g: extra_args["value"] * g, updates), state

    return jo.GradientTransformation(jo.init_empty_state, update)


def _every_constructor_built():
    return {
        "sgd": jo.sgd(0.1, 0.9), "gd": jo.gd(0.1), "momentum": jo.momentum(0.1),
        "nesterov": jo.nesterov(0.1), "adagrad": jo.adagrad(0.1), "rmsprop": jo.rmsprop(0.1),
        "adam": jo.adam(0.1), "adamw": jo.adamw(0.1), "rprop": jo.rprop(0.1),
        "scale": jo.scale(0.5), "scale_by_learning_rate": jo.scale_by_learning_rate(
            schedules.constant(0.1)), "trace": jo.trace(0.9), "scale_by_rss": jo.scale_by_rss(),
        "scale_by_rms": jo.scale_by_rms(bias_correction=True), "scale_by_stddev":
            jo.scale_by_stddev(), "scale_by_adam": jo.scale_by_adam(),
        "scale_by_rprop": jo.scale_by_rprop(0.1), "clip": jo.clip(0.1),
        "clip_by_global_norm": jo.clip_by_global_norm(0.1),
        "add_decayed_weights": jo.add_decayed_weights(schedules.constant(0.1)),
        "max_norm": jo.max_norm(1.0), "masked": jo.masked(jo.adam(0.1), {"w": True, "b": False}),
        "freeze": jo.freeze({"w": False, "b": True}), "chain": jo.chain(jo.clip(1.0)),
        "apply_if_finite": jo.apply_if_finite(jo.adam(0.1), 1), "identity": jo.identity(),
        "set_to_zero": jo.set_to_zero(), "with_extra_args_support": jo.with_extra_args_support(
            optax.scale(2.0)), "inject_hyperparams": jo.inject_hyperparams(jo.adam)(0.1),
        "loss_scale": jo.loss_scale(jo.adam(0.1)),
    }


def test_every_public_transform_accepts_and_ignores_unused_extra_args():
    built = _every_constructor_built()
    assert sorted(built) == _constructors()
    p = {"w": jnp.ones((2, 3)), "b": jnp.full((3,), 0.5)}
    g = jax.tree.map(lambda x: 0.3 * x - 0.1, p)

    def both():
        out = []
        for t in built.values():
            s = t.init(p)
            out.append((t.update(g, s, p), t.update(g, s, p, value=jnp.float32(2.0), other=1)))
        return out

    with standard_promotion():  # optax.scale inside with_extra_args_support
        for plain, extra in jax.jit(both)():
            for x, y in zip(jax.tree.leaves(plain), jax.tree.leaves(extra), strict=True):
                np.testing.assert_allclose(x, y, rtol=1e-6)  # one program, fused its own way


def test_combinators_pass_extra_args_to_their_members():
    p = {"w": jnp.ones(2), "b": jnp.ones(2)}
    g = {"w": jnp.full(2, 0.5), "b": jnp.full(2, 0.25)}
    for t, want in [(jo.chain(optax.scale(2.0), _probe()), {"w": 3.0, "b": 1.5}),
                    (jo.masked(_probe(), {"w": True, "b": False}), {"w": 1.5, "b": 0.25}),
                    (jo.apply_if_finite(_probe(), 1), {"w": 1.5, "b": 0.75}),
                    (jo.inject_hyperparams(lambda c: jo.chain(jo.scale(c), _probe()))(c=1.0),
                     {"w": 1.5, "b": 0.75})]:
        with standard_promotion():
            u, _ = jax.jit(lambda g, s: t.update(g, s, p, value=3.0))(g, t.init(p))  # noqa: B023
        np.testing.assert_allclose([u["w"][0], u["b"][0]], [want["w"], want["b"]], rtol=1e-6)


def test_an_optax_transform_that_needs_value_works_inside_jaxdl_chain():
    """optax.contrib.reduce_on_plateau reads the loss from `value`; with jaxdl's Adam in front of
    it, jaxdl's chain equals optax's (updates and states, leaf by leaf); and jaxdl's Adam inside
    optax.chain takes the extra args too."""
    p = {"w": jnp.asarray([1.0, -2.0, 3.0])}
    losses = [1.0, 0.9, 0.95, 0.97, 0.99, 1.2, 1.3]  # stops improving: the scale halves

    def plateau():
        return optax.contrib.reduce_on_plateau(factor=0.5, patience=1, cooldown=0,
                                               accumulation_size=1)

    def run(opt):
        s, out = opt.init(p), []
        for i, loss in enumerate(losses):
            g = {"w": jnp.asarray([0.5, -0.25, 1.0]) * (i + 1)}
            u, s = opt.update(g, s, p, value=jnp.asarray(loss))
            out.append((u, s))
        return out

    with standard_promotion():
        ours = jax.jit(lambda: run(jo.chain(jo.adam(0.1), plateau())))()
        mixed = jax.jit(lambda: run(optax.chain(jo.adam(0.1), plateau())))()
        ref = jax.jit(lambda: run(optax.chain(optax.adam(0.1), plateau())))()
    assert float(ref[-1][1][1].scale) < 1.0  # the plateau was seen
    for got in (ours, mixed):
        for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6)


def test_with_extra_args_support_drops_them_for_a_plain_optax_transform():
    t = jo.with_extra_args_support(optax.scale(2.0))
    with standard_promotion():
        u, _ = t.update({"w": jnp.ones(2)}, t.init(None), None, value=1.0)
    np.testing.assert_allclose(u["w"], [2.0, 2.0])


NONE_LEAF = [(lambda: jo.sgd(0.1, 0.9), lambda: optax.sgd(0.1, 0.9)),
             (lambda: jo.adagrad(0.1), lambda: optax.adagrad(0.1)),
             (lambda: jo.rmsprop(0.1, centered=True), lambda: optax.rmsprop(0.1, centered=True)),
             (lambda: jo.adam(0.1), lambda: optax.adam(0.1)),
             (lambda: jo.adamw(0.1, weight_decay=0.1), lambda: optax.adamw(0.1, weight_decay=0.1)),
             (lambda: jo.chain(jo.clip(0.1), jo.clip_by_global_norm(0.2), jo.sgd(0.1)),
              lambda: optax.chain(optax.clip(0.1), optax.clip_by_global_norm(0.2),
                                  optax.sgd(0.1))),
             (lambda: jo.apply_if_finite(jo.adam(0.1), 1),
              lambda: optax.apply_if_finite(optax.adam(0.1), 1)),
             (lambda: jo.inject_hyperparams(jo.adam)(0.1),
              lambda: optax.inject_hyperparams(optax.adam)(0.1))]


def test_none_leaves_pass_through_every_transform_as_in_optax():
    p = {"w": jnp.asarray([1.0, -2.0]), "frozen": None}
    g = {"w": jnp.asarray([0.5, 0.25]), "frozen": None}

    def run(opt, apply):
        s, q, out = opt.init(p), p, []
        for _ in range(3):
            u, s = opt.update(g, s, q)
            q = apply(q, u)
            out.append((u, s, q))
        return out

    ours = jax.jit(lambda: [run(a(), jo.apply_updates) for a, _ in NONE_LEAF])()
    with standard_promotion():
        ref = jax.jit(lambda: [run(b(), optax.apply_updates) for _, b in NONE_LEAF])()
    for a, b in zip(ours, ref):
        assert a[-1][0]["frozen"] is None and a[-1][2]["frozen"] is None
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6)


def test_apply_updates_keeps_none_params_and_params_with_none_updates():
    p = {"a": jnp.ones(2), "b": None, "c": jnp.full(2, 3.0)}
    u = {"a": jnp.ones(2), "b": jnp.ones(2), "c": None}
    new = jo.apply_updates(p, u)
    assert new["b"] is None and new["c"] is p["c"]
    np.testing.assert_array_equal(new["a"], [2.0, 2.0])
    with standard_promotion():
        assert optax.apply_updates(p, {**u, "c": jnp.zeros(2)})["b"] is None  # optax's rule


# --- inject_hyperparams -------------------------------------------------------------------------

P = {"w": jnp.asarray([1.0, -2.0, 3.0]), "b": jnp.asarray(0.5)}
G = {"w": jnp.asarray([0.5, 0.5, -1.0]), "b": jnp.asarray(0.1)}
SCHED = schedules.exponential_decay(0.1, 2, 0.5)  # both libraries call the same function


def _four_steps(opt):
    s, out = opt.init(P), [opt.init(P)]
    for i in range(4):
        u, s = opt.update(jax.tree.map(lambda g: g * (i + 1), G), s, P)  # noqa: B023
        out.append((u, s))
    return out


@pytest.mark.parametrize("ours, ref", [
    (lambda: jo.inject_hyperparams(jo.adam)(learning_rate=1e-2, b1=0.8),
     lambda: optax.inject_hyperparams(optax.adam)(learning_rate=1e-2, b1=0.8)),
    (lambda: jo.inject_hyperparams(jo.sgd)(learning_rate=SCHED, momentum=0.9),
     lambda: optax.inject_hyperparams(optax.sgd)(learning_rate=SCHED, momentum=0.9)),
], ids=["float", "schedule"])
def test_inject_hyperparams_equals_optax_leaf_by_leaf(ours, ref):
    a = jax.jit(lambda: _four_steps(ours()))()
    with standard_promotion():
        b = jax.jit(lambda: _four_steps(ref()))()
    assert type(a[-1][1])._fields == type(b[-1][1])._fields == (
        "count", "hyperparams", "hyperparams_states", "inner_state")
    states = a[-1][1].hyperparams_states, b[-1][1].hyperparams_states
    assert [(k, type(v)._fields) for k, v in states[0].items()] == [
        (k, type(v)._fields) for k, v in states[1].items()]
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6)


def test_a_schedule_is_evaluated_at_the_count_and_its_value_stored():
    opt = jo.inject_hyperparams(jo.sgd)(learning_rate=SCHED)
    s = opt.init(P)
    lrs = [float(s.hyperparams["learning_rate"])]
    for _ in range(3):
        u, s = opt.update(G, s, P)
        lrs.append(float(s.hyperparams["learning_rate"]))
        np.testing.assert_allclose(float(u["b"]), -lrs[-1] * 0.1, rtol=1e-6)
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.1 * 0.5**0.5, 0.05], rtol=1e-6)
    assert int(s.count) == 3 and int(s.hyperparams_states["learning_rate"].count) == 3


def test_changing_the_stored_learning_rate_changes_the_next_update_under_jit():
    opt = jo.inject_hyperparams(jo.sgd)(learning_rate=0.1)
    update = jax.jit(opt.update)
    u, s = update(G, opt.init(P), P)
    np.testing.assert_allclose(u["w"], [-0.05, -0.05, 0.1], rtol=1e-6)
    s.hyperparams["learning_rate"] = jnp.asarray(0.5)  # as optax's docs do
    u, s = update(G, s, P)
    np.testing.assert_allclose(u["w"], [-0.25, -0.25, 0.5], rtol=1e-6)
    assert float(learning_rate(s)) == 0.5  # jaxdl.train reads it from the state


def test_inject_hyperparams_is_by_value_and_compiles_once():
    a = jo.inject_hyperparams(jo.adam)(learning_rate=1e-3)
    assert a == jo.inject_hyperparams(jo.adam)(1e-3, b1=0.9)
    assert hash(a) == hash(jo.inject_hyperparams(jo.adam)(learning_rate=1e-3))
    assert a != jo.inject_hyperparams(jo.adam)(learning_rate=2e-3)
    assert a != jo.inject_hyperparams(jo.sgd)(learning_rate=1e-3)
    assert a != jo.inject_hyperparams(jo.adam, hyperparam_dtype=jnp.float32)(learning_rate=1e-3)
    assert a != jo.adam(1e-3)
    assert repr(a) == "inject_hyperparams(adam)(learning_rate=0.001)"
    assert jo.inject_hyperparams(jo.adam) == jo.inject_hyperparams(jo.adam)
    lr = jnp.asarray(1e-3)  # an array argument: compares by identity
    b = jo.inject_hyperparams(jo.adam)(lr)
    assert b.spec is None and b == b and b != jo.inject_hyperparams(jo.adam)(lr)  # noqa: PLR0124
    traces = []

    def step(opt, g, s):
        traces.append(1)
        return opt.update(g, s, P)

    step = jax.jit(step, static_argnums=0)
    s = a.init(P)
    for opt in (a, jo.inject_hyperparams(jo.adam)(learning_rate=1e-3)):
        step(opt, G, s)
    assert len(traces) == 1


def test_hyperparam_dtype_and_the_params_dtype_like_optax(x64):
    p = {"w": jnp.ones(2, jnp.float64), "i": jnp.ones(2, jnp.int32)}
    s = jo.inject_hyperparams(jo.sgd)(learning_rate=0.1).init(p)
    with standard_promotion():
        r = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1).init(p)
    assert s.hyperparams["learning_rate"].dtype == r.hyperparams["learning_rate"].dtype == (
        jnp.float64)
    s = jo.inject_hyperparams(jo.sgd, hyperparam_dtype=jnp.bfloat16)(0.1).init(p)
    assert s.hyperparams["learning_rate"].dtype == jnp.bfloat16
    c = jo.inject_hyperparams(jo.sgd)(0.1).init({"z": jnp.ones(2, jnp.complex64)})
    assert c.hyperparams["learning_rate"].dtype == jnp.float32  # optax's would be complex64
