"""jaxdl.optim building blocks: schedules in the state, interop with optax, vmap sweeps, clipping,
max-norm, masking/freezing, apply_if_finite, rprop (NumPy reference and optax's lag), bad input.
The aliases against optax over 100 steps are in test_optim_vs_optax*.py."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import standard_promotion

import jaxdl.optim as jo


def _tree(key, dtype=jnp.float32):
    k = jax.random.split(key, 3)
    return {"w": jax.random.normal(k[0], (3, 4), dtype), "b": jax.random.normal(k[1], (4,), dtype),
            "conv": jax.random.normal(k[2], (2, 2, 1, 3), dtype)}


def _grads(key, steps, like):
    leaves, treedef = jax.tree.flatten(like)
    keys = jax.random.split(key, len(leaves))
    return treedef.unflatten([jax.random.normal(k, (steps, *x.shape), x.dtype)
                              for k, x in zip(keys, leaves)])


def _run(opt, params, grads, apply=jo.apply_updates):
    """Scan `opt` over a stacked gradient sequence; returns (final params, state, all updates)."""

    def body(carry, g):
        p, s = carry
        u, s = opt.update(g, s, p)
        return (apply(p, u), s), u

    (p, s), us = jax.lax.scan(body, (params, opt.init(params)), grads)
    return p, s, us


def _close(a, b, rtol=1e-6, atol=0.0):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


# --- schedules in the state ---------------------------------------------------------------------

def test_scheduled_learning_rate_uses_step_0_first_and_counts_in_state():
    lr = lambda count: 0.1 * (count.astype(jnp.float32) + 1.0)  # noqa: E731
    opt = jo.scale_by_learning_rate(lr)
    g = {"a": jnp.array([1.0, -2.0])}
    state = opt.init(g)
    u1, state = jax.jit(opt.update)(g, state)
    u2, state = jax.jit(opt.update)(g, state)
    np.testing.assert_allclose(u1["a"], [-0.1, 0.2], rtol=1e-6)  # lr(0) = 0.1
    np.testing.assert_allclose(u2["a"], [-0.2, 0.4], rtol=1e-6)  # lr(1) = 0.2
    assert int(state.count) == 2 and state.count.dtype == jnp.int32
    with standard_promotion():
        ref = optax.scale_by_learning_rate(lr)
        s = ref.init(g)
        r1, s = ref.update(g, s)
        r2, s = ref.update(g, s)
    _close((u1, u2, state), (r1, r2, s))


def test_optax_schedule_object_works_as_learning_rate():
    with standard_promotion():
        sched = optax.exponential_decay(0.1, transition_steps=5, decay_rate=0.5)
        p, g = _tree(jax.random.key(0)), _grads(jax.random.key(1), 20, _tree(jax.random.key(0)))
        ours = jax.jit(lambda: _run(jo.adam(sched), p, g)[0])()
        ref = jax.jit(lambda: _run(optax.adam(sched), p, g, optax.apply_updates)[0])()
    _close(ours, ref)


# --- interop ------------------------------------------------------------------------------------

def test_jaxdl_transform_inside_optax_chain_equals_optax_adam(key):
    p, g = _tree(key), _grads(jax.random.fold_in(key, 1), 30, _tree(key))
    with standard_promotion():
        mixed = optax.chain(jo.scale_by_adam(b1=0.8), optax.scale_by_learning_rate(0.01))
        ours = jax.jit(lambda: _run(mixed, p, g, optax.apply_updates))()
        ref = jax.jit(lambda: _run(optax.adam(0.01, b1=0.8), p, g, optax.apply_updates))()
    _close(ours[0], ref[0])
    _close(ours[1], ref[1])  # the states, leaf by leaf


def test_optax_transform_inside_jaxdl_chain_equals_jaxdl_and_optax_adam(key):
    p, g = _tree(key), _grads(jax.random.fold_in(key, 1), 30, _tree(key))
    with standard_promotion():  # the optax part needs it
        mixed = jo.chain(optax.scale_by_adam(b1=0.8), jo.scale_by_learning_rate(0.01))
        ours = jax.jit(lambda: _run(mixed, p, g))()
        ref = jax.jit(lambda: _run(optax.adam(0.01, b1=0.8), p, g, optax.apply_updates))()
    _close(ours[0], ref[0])
    assert isinstance(ours[1], tuple) and isinstance(ours[1][0], optax.ScaleByAdamState)


def test_chain_state_is_a_tuple_of_the_inner_states(key):
    opt = jo.chain(jo.clip(1.0), jo.scale_by_adam(), jo.scale_by_learning_rate(0.1))
    state = opt.init(_tree(key))
    assert isinstance(state, tuple) and len(state) == 3
    assert isinstance(state[1], jo.ScaleByAdamState) and state[1]._fields == ("count", "mu", "nu")


# --- hyperparameters as arrays: vmap sweeps -----------------------------------------------------

@pytest.mark.parametrize("make", [lambda lr: jo.sgd(lr, momentum=0.9),
                                  lambda lr: jo.adam(lr, b1=0.85)], ids=["momentum", "adam"])
def test_vmap_over_8_learning_rates_equals_8_separate_runs(key, make):
    p, g = _tree(key), _grads(jax.random.fold_in(key, 1), 50, _tree(key))
    lrs = jnp.asarray(np.geomspace(1e-3, 1e-1, 8), jnp.float32)
    run = lambda lr: _run(make(lr), p, g)[0]  # noqa: E731
    swept = jax.jit(jax.vmap(run))(lrs)
    single = jax.jit(run)
    for i in range(8):
        _close(jax.tree.map(lambda x: x[i], swept), single(lrs[i]))  # noqa: B023


def test_vmap_over_decay_rates_of_rmsprop_matches_optax(key):
    p, g = _tree(key), _grads(jax.random.fold_in(key, 1), 50, _tree(key))
    decays = jnp.linspace(0.5, 0.99, 8, dtype=jnp.float32)
    ours = jax.jit(jax.vmap(lambda d: _run(jo.rmsprop(0.01, decay=d), p, g)[0]))(decays)
    with standard_promotion():
        ref = jax.jit(jax.vmap(
            lambda d: _run(optax.rmsprop(0.01, decay=d), p, g, optax.apply_updates)[0]))(decays)
    _close(ours, ref)


# --- clipping -----------------------------------------------------------------------------------

def test_clip_and_clip_by_global_norm_match_optax(key):
    p, g = _tree(key), _grads(jax.random.fold_in(key, 1), 10, _tree(key))
    for ours, ref in [(jo.clip(0.5), optax.clip(0.5)),
                      (jo.clip_by_global_norm(1.0), optax.clip_by_global_norm(1.0)),
                      (jo.clip_by_global_norm(100.0), optax.clip_by_global_norm(100.0))]:
        u = jax.jit(lambda: _run(ours, p, g)[2])()  # noqa: B023
        with standard_promotion():
            r = jax.jit(lambda: _run(ref, p, g, optax.apply_updates)[2])()  # noqa: B023
        _close(u, r)


def test_clip_by_global_norm_keeps_the_norm_below_max_norm(key):
    g = jax.tree.map(lambda x: 10.0 * x, _tree(key))
    u, _ = jax.jit(jo.clip_by_global_norm(2.0).update)(g, jo.EmptyState())
    norm = np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(u)))
    assert norm == pytest.approx(2.0, rel=1e-6)


def test_clip_by_global_norm_is_finite_when_norm_and_max_norm_are_zero():
    zeros = {"a": jnp.zeros((3,)), "b": jnp.zeros((2, 2))}
    u, _ = jax.jit(jo.clip_by_global_norm(0.0).update)(zeros, jo.EmptyState())
    assert all(np.all(np.asarray(x) == 0.0) for x in jax.tree.leaves(u))
    grad = jax.grad(lambda z: jnp.sum(jo.clip_by_global_norm(0.0).update(z, ())[0]["a"]))(zeros)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(grad))
    with standard_promotion():  # optax divides 0 by 0 here: the reason jaxdl differs
        r, _ = optax.clip_by_global_norm(0.0).update(zeros, optax.EmptyState())
    assert np.all(np.isnan(np.asarray(r["a"])))


# --- max-norm -----------------------------------------------------------------------------------

def _unit_norms(w, axes):
    return np.sqrt(np.sum(np.asarray(w, np.float64) ** 2, axis=axes))


def test_max_norm_leaves_every_column_norm_at_most_max_value(key):
    k1, k2, k3 = jax.random.split(key, 3)
    params = {"w": jax.random.normal(k1, (6, 5)) * jnp.asarray([0.1, 1.0, 3.0, 0.2, 5.0])[None],
              "b": jnp.full((5,), 10.0), "conv": 2.0 * jax.random.normal(k2, (3, 3, 2, 4))}
    grads = _grads(k3, 20, params)
    opt = jo.chain(jo.sgd(0.5), jo.max_norm(1.5))
    p, _, _ = jax.jit(lambda: _run(opt, params, grads))()
    assert np.all(_unit_norms(p["w"], 0) <= 1.5 * (1 + 1e-6))
    assert np.all(_unit_norms(p["conv"], (0, 1, 2)) <= 1.5 * (1 + 1e-6))
    assert np.any(_unit_norms(p["w"], 0) > 1.4)  # the constraint was active
    # the bias is untouched by max_norm: it moved by sgd alone
    np.testing.assert_allclose(p["b"], 10.0 - 0.5 * np.sum(np.asarray(grads["b"]), 0), rtol=1e-5)


def test_max_norm_update_equals_numpy_renormalization(key):
    k1, k2 = jax.random.split(key)
    w = np.asarray(jax.random.normal(k1, (4, 3)), np.float64) * np.array([[0.1, 1.0, 4.0]])
    u = np.asarray(jax.random.normal(k2, (4, 3)), np.float64) * 0.1
    for axis, max_value in [(0, 1.0), (1, 0.5)]:
        new = w + u
        norms = np.sqrt(np.sum(new ** 2, axis=axis, keepdims=True))
        expected = np.where(norms > max_value, new * max_value / norms, new)
        out, _ = jax.jit(jo.max_norm(max_value, axis=axis).update)(
            jnp.asarray(u, jnp.float32), jo.EmptyState(), jnp.asarray(w, jnp.float32))
        np.testing.assert_allclose(np.asarray(w, np.float32) + out, expected, rtol=1e-5, atol=1e-6)


def test_max_norm_works_in_float64(x64):
    w = jnp.asarray([[3.0, 0.1], [4.0, 0.1]], jnp.float64)
    out, _ = jo.max_norm(1.0).update(jnp.zeros_like(w), jo.EmptyState(), w)
    assert out.dtype == jnp.float64
    np.testing.assert_allclose(w + out, [[0.6, 0.1], [0.8, 0.1]], rtol=1e-12)


# --- masking and freezing -----------------------------------------------------------------------

def test_masked_matches_optax_masked_with_tree_callable_and_prefix_masks(key):
    p, g = _tree(key), _grads(jax.random.fold_in(key, 1), 20, _tree(key))
    masks = [{"w": True, "b": False, "conv": True}, lambda t: jax.tree.map(lambda x: x.ndim > 1, t),
             {"w": False, "b": True, "conv": False}]
    for mask in masks:
        ours = jax.jit(lambda: _run(jo.chain(jo.masked(jo.scale_by_adam(), mask),  # noqa: B023
                                             jo.scale_by_learning_rate(0.1)), p, g))()
        with standard_promotion():
            ref = jax.jit(lambda: _run(optax.chain(optax.masked(optax.scale_by_adam(),  # noqa
                                                                mask), optax.sgd(0.1)),
                                       p, g, optax.apply_updates))()
        _close(ours[2], ref[2])
        _close(ours[1], ref[1])  # masked leaves hold no state, as in optax
    # with the last mask, w is not selected: it passes through adam unchanged, so u = -0.1 g
    np.testing.assert_allclose(ours[2]["w"], -0.1 * np.asarray(g["w"]), rtol=1e-6)


def test_freeze_zeros_frozen_leaves_like_optax_freeze(key):
    p, g = _tree(key), _grads(jax.random.fold_in(key, 1), 10, _tree(key))
    mask = {"w": True, "b": False, "conv": True}
    opt = jo.chain(jo.adam(0.1), jo.freeze(mask))
    new, _, us = jax.jit(lambda: _run(opt, p, g))()
    np.testing.assert_array_equal(new["w"], p["w"])
    np.testing.assert_array_equal(new["conv"], p["conv"])
    assert not np.allclose(new["b"], p["b"])
    with standard_promotion():
        ref = jax.jit(lambda: _run(optax.chain(optax.adam(0.1), optax.freeze(mask)), p, g,
                                   optax.apply_updates))()
    _close(us, ref[2])
    everything, _ = jo.freeze(True).update(p, jo.freeze(True).init(p))  # one bool for the tree
    assert all(np.all(np.asarray(x) == 0.0) for x in jax.tree.leaves(everything))


def test_add_decayed_weights_with_schedule_and_mask_matches_optax(key):
    p, g = _tree(key), _grads(jax.random.fold_in(key, 1), 20, _tree(key))
    wd = lambda count: 0.1 / (1.0 + count.astype(jnp.float32))  # noqa: E731
    mask = lambda t: jax.tree.map(lambda x: x.ndim > 1, t)  # noqa: E731
    ours = jax.jit(lambda: _run(jo.chain(jo.add_decayed_weights(wd, mask), jo.sgd(0.1)), p, g))()
    with standard_promotion():
        ref = jax.jit(lambda: _run(optax.chain(optax.add_decayed_weights(wd, mask),
                                               optax.sgd(0.1)), p, g, optax.apply_updates))()
    _close(ours[2], ref[2])
    _close(ours[1], ref[1])


# --- apply_if_finite ----------------------------------------------------------------------------

def test_apply_if_finite_skips_and_counts_like_optax(key):
    p = _tree(key)
    g = _grads(jax.random.fold_in(key, 1), 12, p)
    bad_steps = [2, 5, 6, 8, 9, 10]  # 8, 9, 10: three in a row, more than max_consecutive_errors=2
    g["w"] = g["w"].at[jnp.asarray(bad_steps), 0, 0].set(jnp.nan)

    def run(opt, apply):
        def body(carry, gi):
            pi, s = carry
            u, s = opt.update(gi, s, pi)
            return (apply(pi, u), s), (u, s.notfinite_count, s.last_finite, s.total_notfinite)
        return jax.lax.scan(body, (p, opt.init(p)), g)

    (_, state), (us, nf, last, total) = jax.jit(
        lambda: run(jo.apply_if_finite(jo.adam(0.1), 2), jo.apply_updates))()
    np.testing.assert_array_equal(nf, [0, 0, 1, 0, 0, 1, 2, 0, 1, 2, 3, 0])
    np.testing.assert_array_equal(total, [0, 0, 1, 1, 1, 2, 3, 3, 4, 5, 6, 6])
    np.testing.assert_array_equal(~last, np.isin(np.arange(12), bad_steps))
    for t in [2, 5, 6, 8, 9]:  # skipped: zero updates
        assert all(np.all(np.asarray(x[t]) == 0) for x in jax.tree.leaves(us))
    assert np.isnan(np.asarray(us["w"][10])).any()  # the third in a row is applied
    assert int(state.inner_state[0].count) == 12 - 5  # skipped updates left the inner state alone
    with standard_promotion():
        (_, ref_state), ref = jax.jit(
            lambda: run(optax.apply_if_finite(optax.adam(0.1), 2), optax.apply_updates))()
    np.testing.assert_array_equal(nf, ref[1])
    np.testing.assert_array_equal(total, ref[3])
    for a, b in zip(jax.tree.leaves(us), jax.tree.leaves(ref[0])):
        np.testing.assert_allclose(np.asarray(a)[:10], np.asarray(b)[:10], rtol=1e-6)


# --- rprop --------------------------------------------------------------------------------------

def _rprop_numpy(w0, grad_fn, steps, lr, eta_minus, eta_plus, lo, hi):
    """iRprop- as torch.optim.Rprop, in float64: per step the parameters, the update and where
    the gradient flipped sign."""
    w = np.array(w0, np.float64)
    step = np.full_like(w, lr)
    prev = np.zeros_like(w)
    ws, us, flips = [], [], []
    for t in range(steps):
        g = grad_fn(w, t)
        s = np.sign(g * prev)
        step = np.clip(step * np.where(s > 0, eta_plus, np.where(s < 0, eta_minus, 1.0)), lo, hi)
        g = np.where(s < 0, 0.0, g)
        u = -np.sign(g) * step
        w = w + u
        prev = g
        ws.append(w.copy())
        us.append(u)
        flips.append(s < 0)
    return np.stack(ws), np.stack(us), np.stack(flips)


def test_rprop_matches_numpy_irprop_minus_on_random_gradients():
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(60, 7)) + 0.3  # mostly positive, with sign flips
    ref, _, flips = _rprop_numpy(np.zeros(7), lambda w, t: grads[t], 60, 0.05, 0.4, 1.3, 1e-3,
                                 0.2)
    assert flips.sum() > 20  # the data exercises the sign-change branch
    opt = jo.rprop(0.05, eta_minus=0.4, eta_plus=1.3, min_step_size=1e-3, max_step_size=0.2)

    def body(carry, g):
        w, s = carry
        u, s = opt.update(g, s, w)
        w = jo.apply_updates(w, u)
        return (w, s), w

    _, traj = jax.jit(lambda: jax.lax.scan(body, (jnp.zeros(7), opt.init(jnp.zeros(7))),
                                           jnp.asarray(grads, jnp.float32)))()
    np.testing.assert_allclose(traj, ref, rtol=1e-6, atol=1e-7)


def test_rprop_matches_numpy_on_a_quadratic_loss_in_float64(x64):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(8, 5))
    b = rng.normal(size=8)
    grad_np = lambda w, t: a.T @ (a @ w - b)  # noqa: E731  of 0.5 ||A w - b||^2
    ref, _, flips = _rprop_numpy(np.ones(5), grad_np, 100, 0.1, 0.5, 1.2, 1e-6, 50.0)
    assert flips.any()
    aj, bj = jnp.asarray(a), jnp.asarray(b)
    opt = jo.rprop(0.1)

    def body(carry, _):
        w, s = carry
        u, s = opt.update(aj.T @ (aj @ w - bj), s, w)
        w = jo.apply_updates(w, u)
        return (w, s), w

    w0 = jnp.ones(5, jnp.float64)
    _, traj = jax.jit(lambda: jax.lax.scan(body, (w0, opt.init(w0)), None, length=100))()
    assert traj.dtype == jnp.float64
    np.testing.assert_allclose(traj, ref, rtol=1e-12, atol=1e-13)


def test_optax_rprop_lags_one_step_behind_the_rule():
    """optax 0.2.8 (PR #1725) emits at step t the rule's update of step t-1 (zeroed where the
    gradient flips at t), so its first update is zero; jaxdl emits the rule's update of step t."""
    rng = np.random.default_rng(2)
    grads = rng.normal(size=(30, 6)) + 0.2
    _, ref_u, flips = _rprop_numpy(np.zeros(6), lambda w, t: grads[t], 30, 0.01, 0.5, 1.2, 1e-6,
                                   50.0)
    w0 = jnp.zeros(6)

    def run(opt):
        def body(s, g):
            u, s = opt.update(g, s, w0)
            return s, u
        return jax.lax.scan(body, opt.init(w0), jnp.asarray(grads, jnp.float32))

    state, ours = jax.jit(lambda: run(jo.rprop(0.01)))()
    with standard_promotion():
        optax_state, optax_u = jax.jit(lambda: run(optax.rprop(0.01)))()
    np.testing.assert_allclose(ours, ref_u, rtol=1e-6)
    assert np.all(np.asarray(optax_u[0]) == 0.0) and np.all(np.asarray(ours[0]) != 0.0)
    np.testing.assert_allclose(optax_u[1:], np.where(flips[1:], 0.0, ref_u[:-1]), rtol=1e-6)
    assert not np.allclose(optax_u, ref_u)
    _close(state, optax_state)  # same step sizes and stored updates: only the emission lags


# --- apply_updates and dtypes -------------------------------------------------------------------

def test_apply_updates_keeps_each_param_dtype():
    p = {"a": jnp.ones(3, jnp.bfloat16), "b": jnp.ones(2, jnp.float32)}
    u = {"a": jnp.full(3, 0.5, jnp.float32), "b": jnp.full(2, 0.25, jnp.float32)}
    new = jax.jit(jo.apply_updates)(p, u)
    assert new["a"].dtype == jnp.bfloat16 and new["b"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(new["a"], np.float32), 1.5)


def test_optimizer_keeps_float64_and_int32_count_under_x64(x64):
    p = {"w": jnp.ones((2, 2), jnp.float64)}
    opt = jo.adamw(jnp.asarray(0.1, jnp.float32), b1=jnp.asarray(0.9, jnp.float32))
    state = opt.init(p)
    u, state = jax.jit(opt.update)(p, state, p)
    assert u["w"].dtype == jnp.float64 and state[0].count.dtype == jnp.int32
    assert state[0].mu["w"].dtype == jnp.float64


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sgd", "gd", "momentum", "nesterov", "adagrad", "rmsprop",
                                  "adam", "adamw", "rprop"])
def test_negative_learning_rate_names_the_optimizer_parameter_and_value(name):
    with pytest.raises(ValueError, match=rf"^{name}: learning_rate must be .*-0\.5"):
        getattr(jo, name)(-0.5)


def test_traced_negative_learning_rate_passes_through_under_vmap():
    out = jax.vmap(lambda lr: jo.sgd(lr).update({"a": jnp.ones(2)}, jo.sgd(lr).init(None))[0]["a"]
                   )(jnp.asarray([-1.0, 1.0]))
    np.testing.assert_allclose(out, [[1.0, 1.0], [-1.0, -1.0]])


# every public constructor's bad arguments: the table in test_optim_contract.py


def test_transforms_that_need_params_say_so():
    g = {"a": jnp.ones((2, 2))}
    with pytest.raises(ValueError, match=r"add_decayed_weights: params must be passed"):
        jo.add_decayed_weights(0.1).update(g, jo.EmptyState())
    with pytest.raises(ValueError, match=r"max_norm: params must be passed"):
        jo.max_norm(1.0).update(g, jo.EmptyState())


def test_chain_rejects_an_uncalled_constructor_and_a_wrong_state():
    with pytest.raises(TypeError, match=r"chain: argument 1 .*forget to call"):
        jo.chain(jo.clip(1.0), jo.adam)
    with pytest.raises(ValueError, match=r"chain: state must hold one entry per transform \(2\)"):
        jo.chain(jo.clip(1.0), jo.sgd(0.1)).update({"a": jnp.ones(2)}, (jo.EmptyState(),))
