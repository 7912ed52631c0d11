"""Mixed precision (issue 18): `jaxdl.precision` policies, loss scaling, and the float32 places.

References: jmp (`get_policy`, `Policy` casts, `DynamicLossScale.adjust`), float64 NumPy (batch
norm statistics, losses, Adam on float16 params), `jax.grad` of the unscaled loss, and the
float32 run of the same model (accuracy, bit-exact resume, `fit` per member of `vmap_fit`).
The digits CNN has no conv bias before its batch norm (a bias there has a zero gradient up to
rounding, which Adam turns into full-size steps that the running mean lags behind) and a batch
norm momentum of 0.9, so that eval mode is settled after a few epochs.
"""

import jax
import jax.numpy as jnp
import jmp
import numpy as np
import pytest
from conftest import standard_promotion

from jaxdl import checkpoint, losses, optim
from jaxdl.data import digits
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn import BatchNorm, Conv2D, Dense, Flatten, LayerNorm, MaxPool2D, Relu, serial
from jaxdl.precision import Policy, get_policy, mixed
from jaxdl.sweep import vmap_fit
from jaxdl.train import evaluate, fit, init_state, make_train_step, predict

(X, Y), (XT, YT) = digits()
CNN = serial(Conv2D(8, 3, padding="SAME", use_bias=False), BatchNorm(0.9), Relu(), MaxPool2D(2),
             Flatten(), Dense(10))
BF16 = mixed(CNN, "params=float32,compute=bfloat16,output=float32")
F16 = mixed(CNN, "params=float32,compute=float16,output=float32")
RUN = dict(batch_size=32, verbose=0, metrics=())


def make_adam(learning_rate):  # module level: vmap_fit compiles once for it
    return optim.adam(learning_rate)


def tiny_loss(outputs, labels):
    """Cross-entropy weighted 1e-7: its gradients (~3e-9) lie below float16's smallest
    subnormal (6e-8), as do many activation gradients of real networks (Micikevicius et al.)."""
    return 1e-7 * softmax_cross_entropy(outputs, labels)


def _dtypes(tree):
    return {a.dtype for a in jax.tree.leaves(tree) if jnp.issubdtype(a.dtype, jnp.floating)}


# --- the policy ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["params=float32,compute=bfloat16,output=float32", "c=bf16",
                                  "p=f16,c=bf16", "c=f16,o=f32", "bf16", "full"])
def test_get_policy_reads_jmps_grammar_like_jmp(name):
    ours, ref = get_policy(name), jmp.get_policy(name)
    assert (ours.param_dtype, ours.compute_dtype, ours.output_dtype) == (
        ref.param_dtype, ref.compute_dtype, ref.output_dtype)
    assert get_policy(str(ours)) == ours and hash(get_policy(str(ours))) == hash(ours)
    tree = {"w": jnp.ones(2, jnp.float32), "i": jnp.arange(2), "h": jnp.ones(2, jnp.bfloat16)}
    for cast in ("cast_to_param", "cast_to_compute", "cast_to_output"):
        a, b = getattr(ours, cast)(tree), getattr(ref, cast)(tree)
        assert jax.tree.map(lambda x: x.dtype, a) == jax.tree.map(lambda x: x.dtype, b)


def test_policy_and_mixed_reject_what_is_not_a_floating_dtype_or_a_layer():
    with pytest.raises(ValueError, match=r"^Policy: compute_dtype must be a floating dtype.*int32"):
        Policy("float32", "int32", "float32")
    with pytest.raises(TypeError, match=r"^get_policy: compute must be a floating dtype.*'bf17'"):
        get_policy("c=bf17")
    with pytest.raises(ValueError, match=r"^get_policy: name must use the keys .*'q'"):
        get_policy("q=f32")
    with pytest.raises(ValueError, match=r"'half'.*bfloat16 on TPU"):
        get_policy("half")
    with pytest.raises(TypeError, match=r"^mixed: model must be a Layer"):
        mixed(Dense(2)._replace, "c=bf16")
    with pytest.raises(TypeError, match=r"^mixed: policy must be a Policy"):
        mixed(Dense(2), 16)


def test_mixed_computes_in_bfloat16_keeps_float32_params_state_and_output():
    model = serial(Dense(16), BatchNorm(), Relu(), Dense(3))
    low = mixed(model, "params=float32,compute=bfloat16,output=float32")
    x = jax.random.normal(jax.random.key(1), (8, 5), jnp.float32)
    params, state, out = low.init(jax.random.key(0), (5,))
    ref_params, ref_state, _ = model.init(jax.random.key(0), (5,))
    assert out == (3,) and _dtypes(params) == _dtypes(state) == {jnp.dtype("float32")}
    y, new_state = jax.jit(lambda p, s, a: low.apply(p, s, a, train=True))(params, state, x)
    ref_y, ref_new = model.apply(ref_params, ref_state, x, train=True)
    assert y.dtype == jnp.float32 and _dtypes(new_state) == {jnp.dtype("float32")}
    np.testing.assert_allclose(y, ref_y, rtol=0.05, atol=0.05)  # bfloat16 has 8 bits
    assert not np.array_equal(y, ref_y)  # ... and they were used
    jaxpr = str(jax.make_jaxpr(lambda p, a: low.apply(p, state, a)[0])(params, x))
    assert "dot_general" in jaxpr and all(
        "bf16[" in line.split("dot_general")[0] for line in jaxpr.splitlines()
        if "dot_general" in line)  # every matmul's result is bfloat16


# --- float32 where half precision fails ----------------------------------------------------------

@pytest.mark.parametrize("dtype, scale", [("bfloat16", 1.0), ("float16", 300.0)])
def test_batch_and_layer_norm_statistics_of_half_inputs_are_float32_and_exact(dtype, scale):
    """Around 300 float16 numbers are 0.25 apart: a float16 mean is off by up to 0.125, which
    moves a unit variance by about 1.6 %; bfloat16 (8 bits) is coarser still."""
    x = jnp.asarray(np.random.default_rng(0).normal(scale, 1.0, (64, 3, 4)), dtype)
    bn = BatchNorm(momentum=0.5)
    params, state, _ = bn.init(None, (3, 4))
    y, new = jax.jit(lambda s, a: bn.apply(params, s, a, train=True))(state, x)
    xf = np.asarray(x, np.float64).reshape(-1, 4)
    mean, var = xf.mean(0), xf.var(0)
    assert y.dtype == x.dtype and _dtypes(new) == {jnp.dtype("float32")}
    np.testing.assert_allclose(new["mean"], 0.5 * mean, rtol=2e-6)
    np.testing.assert_allclose(new["var"], 0.5 + 0.5 * var * len(xf) / (len(xf) - 1), rtol=2e-6)
    ref = (xf - mean) / np.sqrt(var + 1e-5)  # rounded once, to x's dtype
    tol = dict(rtol=2 * float(jnp.finfo(dtype).eps), atol=1e-3)
    np.testing.assert_allclose(np.asarray(y, np.float64).reshape(-1, 4), ref, **tol)
    ln = LayerNorm()  # per example, over all its axes
    y = jax.jit(lambda a: ln.apply(ln.init(None, (3, 4))[0], {}, a)[0])(x)
    xe = np.asarray(x, np.float64).reshape(64, -1)
    ref = (xe - xe.mean(1, keepdims=True)) / np.sqrt(xe.var(1, keepdims=True) + 1e-5)
    assert y.dtype == x.dtype
    np.testing.assert_allclose(np.asarray(y, np.float64).reshape(64, -1), ref, **tol)


def test_losses_of_bfloat16_inputs_are_computed_in_float32_and_rounded_once():
    """The float64 value rounded to bfloat16: what a float32 computation gives (bfloat16
    arithmetic would round every step; for the squared error it then misses 28% of them)."""
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.normal(size=(4096, 10)) * 3, jnp.bfloat16)
    t = jnp.asarray(rng.normal(size=(4096, 10)), jnp.bfloat16)
    y = rng.integers(0, 10, 4096)
    zf, tf = np.asarray(z, np.float64), np.asarray(t, np.float64)
    lse = np.log(np.exp(zf - zf.max(1, keepdims=True)).sum(1)) + zf.max(1)
    cases = [(losses.softmax_cross_entropy(z, jnp.asarray(y), reduction="none"),
              lse - zf[np.arange(len(y)), y]),
             (losses.mse(z, t, reduction="none"), 0.5 * ((tf - zf) ** 2).sum(1)),
             (losses.binary_cross_entropy_with_logits(z, jax.nn.sigmoid(t), reduction="none"),
              (np.maximum(zf, 0) - zf * np.asarray(jax.nn.sigmoid(t), np.float64)
               + np.log1p(np.exp(-np.abs(zf)))).sum(1))]
    for got, ref in cases:
        want = np.asarray(jnp.asarray(ref, jnp.bfloat16), np.float64)
        got = np.asarray(got, np.float64)
        assert np.mean(got == want) >= 0.999
        np.testing.assert_allclose(got, want, rtol=2**-7)


def test_adam_on_float16_params_matches_float64_adam_where_float16_underflows():
    """g ~ 1e-4: (1 - b2) g^2 ~ 1e-11 and eps = 1e-8 are 0 in float16 (the old NaN/inf)."""
    rng = np.random.default_rng(1)
    gs = rng.normal(size=(5, 6)) * 1e-4
    gs[:, 0] = 0.0  # a weight without gradient: 0 / (0 + eps)
    gs = np.asarray(jnp.asarray(gs, jnp.float16), np.float64)  # the gradients float16 can hold
    opt = optim.scale_by_adam()
    p = jnp.zeros(6, jnp.float16)
    state = opt.init(p)
    assert state.mu.dtype == state.nu.dtype == jnp.float32
    step = jax.jit(opt.update)
    m = v = np.zeros(6)
    for t, g in enumerate(gs, 1):
        u, state = step(jnp.asarray(g, jnp.float16), state)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        ref = m / (1 - 0.9**t) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        assert u.dtype == jnp.float16
        np.testing.assert_allclose(np.asarray(u, np.float64), ref, rtol=2**-10, atol=1e-7)
    np.testing.assert_allclose(state.nu, v, rtol=1e-5)


# --- loss scaling --------------------------------------------------------------------------------

def _scan_updates(opt, finite):
    """Run `opt` on params {"w": (3,)} for the steps of `finite` (a NaN gradient where False);
    every step's (loss_scale, counter, updates) and the last state."""
    g = jax.random.normal(jax.random.key(0), (len(finite), 3))
    g = jnp.where(jnp.asarray(finite)[:, None], g, jnp.nan)
    p = {"w": jnp.ones(3)}

    def body(s, gi):
        u, s = opt.update({"w": gi}, s, p)
        return s, (s.loss_scale, s.counter, u["w"])

    return g, jax.jit(lambda: jax.lax.scan(body, opt.init(p), g))()


@pytest.mark.parametrize("start, period, factor", [(8.0, 3, 2.0), (2.0**126, 1, 4.0)])
def test_dynamic_loss_scale_follows_jmps_dynamic_loss_scale_step_by_step(start, period, factor):
    """Same finite/non-finite sequence; the second case grows past float32's maximum (kept)."""
    finite = np.random.default_rng(2).random(40) > 0.3
    finite[10:20] = True  # a run long enough to grow
    finite[25:31] = False  # enough to reach min_loss_scale from 8
    opt = optim.loss_scale(optim.sgd(0.1), start, period=period, factor=factor,
                           min_loss_scale=1.0)
    g, (last, (scales, counters, updates)) = _scan_updates(opt, finite)
    ref = jmp.DynamicLossScale(jnp.asarray(start, jnp.float32), period=period, factor=factor,
                               min_loss_scale=jnp.asarray(1.0, jnp.float32))
    with standard_promotion():  # jmp multiplies its int32 counter by a bool
        adjust = jax.jit(lambda r, ok: r.adjust(ok))
    for i, ok in enumerate(finite):
        before = float(ref.loss_scale)
        with standard_promotion():
            ref = adjust(ref, jnp.asarray(ok))
        assert (float(scales[i]), int(counters[i])) == (float(ref.loss_scale), int(ref.counter)), i
        want = -0.1 * np.asarray(g[i]) / before if ok else np.zeros(3)  # sgd on g / S, or skipped
        np.testing.assert_allclose(updates[i], want, rtol=1e-6, atol=1e-37)  # XLA flushes
    assert int(last.inner_state.total_notfinite) == int(np.sum(~finite))
    if start == 8.0:
        assert min(scales) == 1.0  # reached min_loss_scale
    else:
        assert max(scales) == 2.0**126  # 2^128 is inf in float32: kept


def test_static_loss_scale_keeps_its_scale_and_skips_nonfinite_steps():
    finite = np.array([True, False, True, True, False, False, True])
    opt = optim.loss_scale(optim.sgd(0.1), 1024.0, dynamic=False)
    g, (_, (scales, _, updates)) = _scan_updates(opt, finite)
    assert np.all(np.asarray(scales) == 1024.0)
    want = np.where(finite[:, None], -0.1 * np.asarray(jnp.nan_to_num(g)) / 1024.0, 0.0)
    np.testing.assert_allclose(updates, want, rtol=1e-6)


def test_train_step_differentiates_the_scaled_loss_and_reports_the_unscaled_one():
    model = serial(Flatten(), Dense(10))
    opt = optim.loss_scale(optim.sgd(0.5), 2.0**12)
    ts = init_state(model, opt, (8, 8, 1), jax.random.key(0))
    x, y = jnp.asarray(X[:64]), jnp.asarray(Y[:64])
    new, m = jax.jit(make_train_step(model, softmax_cross_entropy, opt))(ts, x, y)

    def plain(p):
        return softmax_cross_entropy(model.apply(p, ts.state, x)[0], y)

    value, grads = jax.jit(jax.value_and_grad(plain))(ts.params)
    np.testing.assert_allclose(m["loss"], value, rtol=1e-6)
    jax.tree.map(lambda a, p, g: np.testing.assert_allclose(a, p - 0.5 * g, rtol=1e-5, atol=1e-7),
                 new.params, ts.params, grads)
    assert float(new.opt_state.loss_scale) == 2.0**12 and int(new.opt_state.counter) == 1


def test_loss_scale_shrinks_through_freeze_and_apply_if_finite_when_float16_overflows():
    """fit's frozen= and skip_nonfinite= wrap the optimizer: chain(., freeze) inside
    apply_if_finite, which skips the overflowing step before loss_scale sees it; the train step
    still halves the scale."""
    model = mixed(serial(Flatten(), Dense(16), Relu(), Dense(10)), "c=f16,o=f32")
    inner = optim.loss_scale(optim.adam(1e-3), 2.0**40)
    mask = {"0_flatten": False, "1_dense": True, "2_relu": False, "3_dense": False}
    opt = optim.apply_if_finite(optim.chain(inner, optim.freeze(mask)), 2**31 - 1)
    ts = init_state(model, opt, (8, 8, 1), jax.random.key(0))
    step = jax.jit(make_train_step(model, softmax_cross_entropy, opt, check_grads=True))
    new, m = step(ts, jnp.asarray(X[:64]), jnp.asarray(Y[:64]))
    found = new.opt_state.inner_state[0]
    assert float(found.loss_scale) == 2.0**39 and int(found.counter) == 0
    assert int(new.opt_state.total_notfinite) == 1 and bool(m["finite"])  # skipped, not failed
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), new.params, ts.params))
    with pytest.raises(ValueError, match="loss_scale must wrap the whole optimizer"):
        bad = optim.chain(optim.clip(1.0), inner)
        make_train_step(model, softmax_cross_entropy, bad)(
            init_state(model, bad, (8, 8, 1), jax.random.key(0)), X[:8], Y[:8])


# --- training ------------------------------------------------------------------------------------

def test_bfloat16_compute_digits_cnn_reaches_the_float32_accuracy_within_one_point():
    ref, _ = fit(CNN, softmax_cross_entropy, optim.adam(3e-3), (X, Y), epochs=3,
                 key=jax.random.key(0), **RUN)
    ts, history = fit(BF16, softmax_cross_entropy, optim.adam(3e-3), (X, Y), epochs=3,
                      key=jax.random.key(0), **RUN)
    f32, low = evaluate(CNN, ref, (XT, YT))["accuracy"], evaluate(BF16, ts, (XT, YT))["accuracy"]
    assert f32 >= 0.9 and low >= f32 - 0.01, (f32, low)
    assert np.all(np.isfinite(history.train_loss))
    assert _dtypes((ts.params, ts.state, ts.opt_state)) == {jnp.dtype("float32")}
    assert predict(BF16, ts, XT[:4]).dtype == jnp.float32


def test_float16_with_dynamic_loss_scaling_trains_where_plain_float16_gradients_underflow():
    run = dict(epochs=3, key=jax.random.key(0), **RUN)
    ref, _ = fit(CNN, tiny_loss, optim.adam(3e-3), (X, Y), **run)
    plain, _ = fit(F16, tiny_loss, optim.adam(3e-3), (X, Y), **run)
    start = init_state(F16, optim.adam(3e-3), (8, 8, 1), jax.random.key(0))
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), plain.params,
                                     start.params))  # every float16 gradient was 0
    scaled, history = fit(F16, tiny_loss, optim.loss_scale(optim.adam(3e-3), 2.0**45), (X, Y),
                          **run)
    assert np.all(np.isfinite(history.train_loss))
    assert all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree.leaves(scaled.params))
    skipped = int(scaled.opt_state.inner_state.total_notfinite)
    assert skipped > 0 and float(scaled.opt_state.loss_scale) == 2.0 ** (45 - skipped)
    f32 = evaluate(CNN, ref, (XT, YT))["accuracy"]
    low = evaluate(F16, scaled, (XT, YT))["accuracy"]
    assert evaluate(F16, plain, (XT, YT))["accuracy"] < 0.2 and low >= f32 - 0.01, (f32, low)


def test_policy_composes_with_frozen_skip_nonfinite_and_a_checkpoint_resume(tmp_path):
    x, y = X[:512], Y[:512]
    run = dict(key=jax.random.key(0), frozen=["0_conv2d"], skip_nonfinite=True, **RUN)
    opt = optim.loss_scale(optim.adam(3e-3))
    whole, _ = fit(BF16, softmax_cross_entropy, opt, (x, y), epochs=2, **run)
    first, _ = fit(BF16, softmax_cross_entropy, opt, (x, y), epochs=1, **run)
    checkpoint.save(tmp_path, first)
    like = checkpoint.abstract_state(BF16, opt, (8, 8, 1), frozen=["0_conv2d"],
                                     skip_nonfinite=True)
    resumed, _ = fit(BF16, softmax_cross_entropy, opt, (x, y), epochs=2,
                     init=checkpoint.restore(tmp_path, like), **run)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), resumed, whole))
    start = init_state(BF16, opt, (8, 8, 1), jax.random.key(0))
    np.testing.assert_array_equal(whole.params["0_conv2d"]["w"], start.params["0_conv2d"]["w"])
    assert not np.array_equal(whole.params["5_dense"]["w"], start.params["5_dense"]["w"])
    assert _dtypes((whole.params, whole.state)) == {jnp.dtype("float32")}


def test_policy_composes_with_vmap_fit_each_member_as_its_own_fit():
    x, y = X[:512], Y[:512]
    lrs = np.array([1e-3, 3e-3], np.float32)
    many, hist = vmap_fit(BF16, softmax_cross_entropy, make_adam, (x, y),
                          hparams={"learning_rate": lrs}, keys=jax.random.key(0), epochs=1,
                          batch_size=32, metrics=())
    assert _dtypes(many.params) == {jnp.dtype("float32")}
    one, h = fit(BF16, softmax_cross_entropy, make_adam(float(lrs[1])), (x, y), epochs=1,
                 key=jax.random.key(0), **RUN)  # member 1 (one compile: member 0 is alike)
    np.testing.assert_allclose(hist.train_loss[1], h.train_loss, rtol=2e-3)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[1], b, atol=2e-2), many.params,
                 one.params)
    assert not np.allclose(hist.train_loss[0], hist.train_loss[1])
