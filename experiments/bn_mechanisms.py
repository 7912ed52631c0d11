"""BN mechanisms: nine claims of the batch-normalization chapter measured on digits MLPs: internal
covariate shift and saturation per layer of a deep tanh net (with and without BN), shuffled vs
class-sorted batches, overfitting on 150 examples (BN vs dropout + L2), BN's inference statistics
(mean of the batch means, unbiased variance) vs the moving averages vs small test batches,
mini-batch gradient noise of weight norm vs BN, all-positive vs centred inputs, outlier samples.
Every comparison: per-seed values, mean +- SE, the 2-standard-error rule."""

import functools
import time
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, exceeds, run, sem
from jax.flatten_util import ravel_pytree

from jaxdl import data, optim, plot
from jaxdl.losses import l2_penalty
from jaxdl.losses import softmax_cross_entropy as sce
from jaxdl.nn import BatchNorm, Dense, Dropout, Relu, Tanh, WeightNorm, serial
from jaxdl.train import TrainState, make_train_step


def st(a):
    """'mean +- SE' of per-seed values."""
    return f"{np.mean(a):.3g} +- {sem(a):.2g}"




def mlp(widths, act=Relu, bn=False, wn=False, rate=None, momentum=0.99, listed=False):
    """Dense(w) [in WeightNorm] [-> BatchNorm] -> act [-> Dropout(rate)] per width, Dense(10)."""
    layers = []
    for w in widths:
        layers += [WeightNorm(Dense(w)) if wn else Dense(w)] + [BatchNorm(momentum)] * bn
        layers += [act()] + ([] if rate is None else [Dropout(rate)])
    layers.append(Dense(10))
    return layers if listed else serial(*layers)


def arch(widths):
    """'64-128-128-10': the MLP's layer sizes."""
    return "-".join(str(w) for w in (64, *widths, 10))


def fast(ex, f):
    """`f` jitted in quick mode, where one compile replaces the one per eager op (about 35 ms
    each); the full run keeps the eager computation its numbers come from."""
    return jax.jit(f) if ex.quick else f


def init(c, model, copies=1):
    """(params, state) per key of c.keys, stacked, the S keys `copies` times over (eager: no
    random-init program to compile). Each model's inits are computed once (c.inits) and
    stacked in NumPy: the same float32 arrays, without a stacking (or jnp.asarray) program per
    leaf shape."""
    if model not in c.inits:
        c.inits[model] = [model.init(k, (64,))[:2] for k in c.keys]
    return jax.tree.map(lambda *a: jax.device_put(np.stack(a)), *(c.inits[model] * copies))


def part(ts, lo, hi):
    """Members lo..hi-1 of stacked TrainStates: their params and state, what is read of them
    (sliced in NumPy: copies of the same float32 values, with no program per leaf shape)."""
    return TrainState(None, *jax.tree.map(lambda v: np.asarray(v)[lo:hi], (ts.params, ts.state)),
                      None, None)


def train(build, start, x, y, idx, hp, probe=None):
    """K members in one compiled, vmapped lax.scan of make_train_step: member k starts from
    start[k], builds (model, optimizer, penalty) = build(**hp[k]), takes the batches idx[k] (T, B)
    of x, y (one per member when x has 3 axes); returns TrainStates, per step (loss, probe)."""
    def one(p, s, key, order, h, x, y):
        model, opt, pen = build(**h)
        step = make_train_step(model, sce, opt, penalty=pen)

        def body(ts, i):
            ts, m = step(ts, x[i], y[i])
            return ts, (m["loss"], probe(ts.params, ts.state) if probe else ())
        return jax.lax.scan(body, TrainState(jnp.int32(0), p, s, opt.init(p), key), order)
    ax = 0 if x.ndim == 3 else None
    keys = jax.random.split(jax.random.key(7), len(idx))
    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, 0, ax, ax)))(
        *start, keys, idx, hp, x, y)


@functools.partial(jax.jit, static_argnums=0)
def _score(model, params, state, x, y):
    def one(p, s):
        out = model.apply(p, s, x)[0]
        return jnp.argmax(out, -1) == y, sce(out, y, reduction="none")
    return jax.vmap(one)(params, state)


def score(model, ts, x, y, n=None):
    """Per-member eval-mode (accuracy, loss) on (x, y), or the accuracy on x[:n] and x[n:]."""
    right, loss = (np.asarray(v, np.float64) for v in _score(model, ts.params, ts.state, x, y))
    return (right.mean(1), loss.mean(1)) if n is None else (right[:, :n].mean(1),
                                                            right[:, n:].mean(1))


def orders(rng, n, b, steps, k, sort=None):
    """k batch orders, `steps` batches of b: a new permutation of range(n) each epoch, or the
    fixed order `sort` every epoch."""
    per = n // b
    return np.stack([np.concatenate([(rng.permutation(n) if sort is None else sort)[:per * b]
                                     .reshape(per, b) for _ in range(-(-steps // per))])[:steps]
                     for _ in range(k)])


def bars(ax, groups, title, ylabel, colors=0, log=False):
    """Grouped bars {group: {series: per-seed values}}, mean +- 1 SE."""
    names = list(next(iter(groups.values())))
    w = 0.8 / len(names)
    for i, g in enumerate(groups.values()):
        for j, (name, a) in enumerate(g.items()):
            ax.bar(i + w * j, np.mean(a), w * 0.95, yerr=sem(a), capsize=3,
                   color=f"C{colors + j}", label=name if i == 0 and len(names) > 1 else None)
    ax.set_xticks(np.arange(len(groups)) + w * (len(names) - 1) / 2, list(groups))
    ax.set_yscale("log" if log else "linear")
    plot.label(ax, title, "", ylabel, legend=len(names) > 1)


def lines(ax, curves, title, xlabel, ylabel, log=False):
    """Curves {name: (x, per-seed values (S, len(x)))}, mean +- 1 SE."""
    for name, (xv, v) in curves.items():
        ax.errorbar(xv, np.nanmean(v, 0), [sem(c[np.isfinite(c)]) for c in v.T], marker="o",
                    ms=3, capsize=2, label=name)
    ax.set_yscale("log" if log else "linear")
    plot.label(ax, title, xlabel, ylabel, legend=True)


def main(quick: bool) -> Experiment:
    ex = Experiment("bn_mechanisms", "batch normalization: the mechanisms the text names",
                    "000 sections 3.6.1 (positive inputs, outliers), 3.6.9-3.6.10 (BN effects, "
                    "inference statistics), 3.6.12 (WN vs BN noise), 3.6.13 (shuffle), 3.14 "
                    "(internal covariate shift)", quick=quick)
    (xi, y), (xti, yt) = data.digits()
    n = ex.pick(len(y), 400)

    def standardize(xi, xti, y):
        x, xt = xi.reshape(len(y), -1), xti.reshape(len(yt), -1)  # pixels in [0, 1]: all >= 0
        mu, sd = x.mean(0, keepdims=True), x.std(0, keepdims=True)
        sd = jnp.where(sd > 0, sd, 1.0)
        z, zt = (x - mu) / sd, (xt - mu) / sd  # z-scored with the train statistics
        return x[:n], y[:n], z[:n], zt, mu
    x, y, z, zt, mu = fast(ex, standardize)(xi, xti, y)
    # quick: one hidden layer (of 64 units in claims 3, 6 and 7) where the full run has two
    c = SimpleNamespace(ex=ex, S=ex.pick(6, 2), x=x, y=y, z=z, zt=zt, yt=yt, mu=mu,
                        hidden=lambda w: [w] * ex.pick(2, 1), H=ex.pick(128, 64))
    c.keys, c.inits = jax.random.split(jax.random.key(0), c.S), {}
    ex.setting(seeds=c.S, data=f"sklearn digits flattened to 64, train {n}, test {len(yt)}",
               rule="A beats B when mean(A) - mean(B) > 2 * hypot(SE(A), SE(B)), SE over seeds")
    fig, ax = plot.figure(4, 2, width=4.1, height=3.3)
    secs, t = ex.metrics.setdefault("seconds_per_part", {}), time.perf_counter()
    for fn, axes in ((covariate_shift, ax[0, :2]), (shuffling_and_inference, ax[0, 2:]),
                     (overfitting, ax[1, :1]), (gradient_noise, ax[1, 1:2]), (inputs, ax[1, 2:])):
        fn(c, *axes)
        secs[fn.__name__], t = time.perf_counter() - t, time.perf_counter()
    ex.figure(fig, "bn_mechanisms.png", "Top: per-layer input shift and saturation of a deep "
              "tanh net, shuffled vs class-sorted batches, BN's inference statistics. Bottom: "
              "150 training examples, gradient noise WN vs BN, all-positive vs centred inputs, "
              "outliers. Error bars: 1 SE over seeds.")
    return ex.finish()


def covariate_shift(c, ax_shift, ax_sat):
    """Claims 1-2: a deep tanh MLP, SGD; after every step, the per-unit mean and std of every
    tanh's input over a fixed probe batch (BN net: BN's output in train mode, what tanh sees)."""
    ex, S, z, y = c.ex, c.S, c.z, c.y
    DEPTH, W, LR, B = ex.pick(8, 2), 64, 0.5, 32
    EPOCHS, EARLY, SAT = ex.pick(6, 1), ex.pick(3, 1), 2.7  # tanh'(2.7) = 0.018 = sigmoid'(4)
    steps = len(y) // B
    idx = orders(np.random.default_rng(1), len(y), B, EPOCHS * steps, S)
    res = {}
    for name in ("plain", "BN"):
        layers = mlp([W] * DEPTH, Tanh, bn=name == "BN", listed=True)

        def probe(params, state, layers=layers):
            h, zs = z[:256], []
            for i, layer in enumerate(layers):
                zs += [h] if layer.name == "tanh" else []
                h, _ = layer.apply(params[f"{i}_{layer.name}"], state[f"{i}_{layer.name}"], h,
                                   train=True)
            zs = jnp.stack(zs)  # (DEPTH, probe, W): every tanh's input
            return zs.mean(1), zs.std(1), jnp.mean(jnp.abs(zs) > SAT, axis=(1, 2))
        model = serial(*layers)
        ts, (_, (m, s, sat)) = train(lambda: (model, optim.sgd(LR), None), init(c, model),
                                     z, y, idx, {}, probe)
        m, s, sat = np.asarray(m), np.asarray(s), np.asarray(sat)  # (S, T, DEPTH[, W])
        scale = np.sqrt(m ** 2 + s ** 2).mean(-1)  # (S, T, DEPTH): RMS of the layer's input
        rel = (np.abs(np.diff(m, axis=1)).mean(-1) + np.abs(np.diff(s, axis=1)).mean(-1)) \
            / scale[:, :-1]  # relative change of the input distribution per SGD step
        shift = rel[:, :EARLY * steps].mean(1)  # (S, DEPTH), averaged over early training
        ranks = np.argsort(np.argsort(shift, axis=1), axis=1)
        rho = np.array([np.corrcoef(np.arange(DEPTH), r)[0, 1] for r in ranks])  # Spearman
        res[name] = dict(shift=shift, rho=rho, sat=sat[:, -1], acc=score(model, ts, z, y)[0])
    p, b = res["plain"], res["BN"]
    ex.metrics["covariate_shift"] = res
    ex.setting(deep_net=f"{DEPTH} x (Dense {W} [-> BN] -> tanh) -> Dense 10, LeCun init, SGD lr "
               f"{LR}, batch {B}, {EPOCHS} epochs; shift: per SGD step, (mean_j |d mu_j| + mean_j "
               "|d sigma_j|) / mean_j sqrt(mu_j^2 + sigma_j^2) of each tanh's input over 256 fixed "
               f"train examples, mean over the first {EARLY} epochs; saturated: |z| > {SAT} "
               "(tanh' < 0.018, as sigmoid' at |z| > 4) after the last step")
    first, last = p["shift"][:, 0], p["shift"][:, -1]
    ex.verdict("Internal covariate shift grows with depth (000 3.14); rule: last layer's shift > "
               "first layer's by 2 SE and depth-rank correlation > 0 in most seeds",
               exceeds(last, first) and np.mean(p["rho"] > 0) > 0.5,
               f"plain, shift per step: layer 1 {st(first)}, layer {DEPTH} {st(last)}; Spearman "
               f"rho(depth, shift) {st(p['rho'])}, > 0 in {int((p['rho'] > 0).sum())}/{S} seeds; "
               f"with BN: layer 1 {st(b['shift'][:, 0])}, layer {DEPTH} {st(b['shift'][:, -1])}, "
               f"mean over layers {st(b['shift'].mean(1))} vs plain {st(p['shift'].mean(1))}; "
               f"{S} seeds")
    up, low, up_bn = (r["sat"][:, sl].mean(1) for r, sl in (
        (p, slice(DEPTH // 2, None)), (p, slice(None, DEPTH // 2)), (b, slice(DEPTH // 2, None))))
    ex.verdict("Covariate shift pushes upper layers into saturation (000 3.14); rule: upper half's "
               "saturated share > lower half's and > the BN net's upper half, by 2 SE",
               exceeds(up, low) and exceeds(up, up_bn),
               f"after {EPOCHS} epochs, share |z| > {SAT}: plain upper {st(up)}, lower {st(low)}, "
               f"BN upper {st(up_bn)}; train acc plain {st(p['acc'])}, BN {st(b['acc'])}; "
               f"{S} seeds")
    d = np.arange(1, DEPTH + 1)
    lines(ax_shift, {k: (d, r["shift"]) for k, r in res.items()},
          "1: input shift per SGD step (early)", "tanh layer (depth)", "relative change (log)",
          log=True)
    lines(ax_sat, {f"{k}, after {EPOCHS} epochs": (d, r["sat"]) for k, r in res.items()},
          f"2: saturated share |z| > {SAT}", "tanh layer (depth)", "share")


def shuffling_and_inference(c, ax_shuf, ax_inf):
    """Claims 3 and 6: a BN MLP (and a plain control) on shuffled vs class-sorted batches; then
    the shuffled BN nets' inference statistics three ways."""
    ex, S, z, y = c.ex, c.S, c.z, c.y
    B, EPOCHS, LR = 64, ex.pick(10, 1), 0.05
    steps, n4 = EPOCHS * (len(y) // B), len(c.yt) // 4 * 4
    # the test set in whole batches of 4 (claim 6); sliced in NumPy, a copy of the same values
    x4, y4 = np.asarray(c.zt)[:n4], np.asarray(c.yt)[:n4]
    rng = np.random.default_rng(2)
    idx = np.concatenate([orders(rng, len(y), B, steps, S),
                          orders(rng, len(y), B, steps, S, sort=np.argsort(y, kind="stable"))])
    acc = {}
    for name in ("BN", "no BN"):
        model = mlp(c.hidden(c.H), bn=name == "BN")
        ts, _ = train(lambda: (model, optim.sgd(LR, 0.9), None),
                      init(c, model, 2), z, y, idx, {})
        a = score(model, ts, x4, y4)[0]
        acc[name] = {"shuffled": a[:S], "class-sorted": a[S:]}
        c.bn_run = (model, part(ts, 0, S)) if name == "BN" else c.bn_run
    ex.metrics["shuffling"] = acc
    ex.setting(shuffle_net=f"{arch(c.hidden(c.H))} ReLU MLP, with / without BN (momentum 0.99), "
               f"SGD momentum 0.9 lr {LR}, batch {B}, {EPOCHS} epochs; class-sorted: sorted by "
               "label, the same batches (1-2 classes each) in the same order every epoch")
    ex.table("3: shuffled vs class-sorted batches (test accuracy, mean +- SE)",
             ["net", "shuffled", "class-sorted"],
             [[k, st(v["shuffled"]), st(v["class-sorted"])] for k, v in acc.items()])
    bn, ctl = acc["BN"], acc["no BN"]
    worse = exceeds(bn["shuffled"] - bn["class-sorted"], ctl["shuffled"] - ctl["class-sorted"])
    ex.verdict("BN needs shuffled batches (000 3.6.13); rule: shuffled beats class-sorted test "
               "accuracy by 2 SE", exceeds(bn["shuffled"], bn["class-sorted"]),
               f"BN: shuffled {st(bn['shuffled'])} vs class-sorted {st(bn['class-sorted'])}; "
               f"control without BN: shuffled {st(ctl['shuffled'])} vs {st(ctl['class-sorted'])}"
               f"; BN's drop {'exceeds' if worse else 'does not exceed'} the control's by 2 SE; "
               f"{S} seeds")
    bars(ax_shuf, acc, "3: shuffled vs class-sorted batches", "test accuracy")
    ax_shuf.set_ylim(0, 1.2)

    # claim 6, the text: mean of the per-batch means, m/(m-1) x mean of the per-batch variances
    # (BatchNorm(momentum 0) in train mode returns exactly one batch's mean and unbiased var)
    model, ts = c.bn_run
    stats = mlp(c.hidden(c.H), bn=True, momentum=0.0)
    per = len(y) // B
    xb = np.asarray(z)[np.random.default_rng(3).permutation(len(y))[:per * B]].reshape(per, B, -1)
    text_state = jax.jit(jax.vmap(lambda p, s: jax.tree.map(lambda a: a.mean(0), jax.vmap(
        lambda b: stats.apply(p, s, b, train=True)[1])(xb))))(ts.params, ts.state)
    small = jax.jit(jax.vmap(lambda p, s: jnp.mean(jnp.argmax(jax.vmap(
        lambda b: model.apply(p, s, b, train=True)[0])(x4.reshape(-1, 4, 64)), -1)
        == y4.reshape(-1, 4))))
    inf = {"text: mean of\nbatch stats": score(model, ts._replace(state=text_state), x4, y4)[0],
           "moving\naverages": score(model, ts, x4, y4)[0],
           "own stats,\nbatch of 4": np.asarray(small(ts.params, ts.state))}
    t, mov, sm = inf.values()
    ex.metrics["inference"] = inf
    ex.verdict("At inference BN uses the mean of the batch means (000 3.6.10); rule: the text's "
               "estimate is within 2 SE of the moving averages and both beat the statistics of "
               "test batches of 4 by 2 SE",
               abs(t.mean() - mov.mean()) <= 2 * np.hypot(sem(t), sem(mov)) and exceeds(t, sm)
               and exceeds(mov, sm),
               f"test accuracy ({n4} test examples, {S} seeds): text's estimate over {per} train "
               f"batches of {B} {st(t)}, moving averages (momentum 0.99) {st(mov)}, each test "
               f"batch of 4's own statistics {st(sm)}")
    bars(ax_inf, {k: {"": v} for k, v in inf.items()}, "6: BN statistics at inference",
         "test accuracy")
    ax_inf.set_ylim(min(a.mean() for a in inf.values()) - 0.05, 1.0)


def overfitting(c, ax):
    """Claims 4-5: 150 training examples, a wide MLP: plain, dropout 0.5 + L2, BN alone."""
    ex, S = c.ex, c.S
    W, B, EPOCHS, LAM = ex.pick(256, 64), 30, ex.pick(40, 2), 0.3  # quick: the other nets' shapes
    sel = np.concatenate([np.flatnonzero(np.asarray(c.y) == k)[:15] for k in range(10)])
    xs, ys, n = np.asarray(c.z)[sel], np.asarray(c.y)[sel], len(sel)  # NumPy: exact copies
    idx = orders(np.random.default_rng(4), n, B, EPOCHS * (n // B), 2 * S)
    drop, bn = mlp(c.hidden(W), rate=0.5), mlp(c.hidden(W), bn=True)

    def build(rate, lam):
        return mlp(c.hidden(W), rate=rate), optim.adam(1e-3), lambda p: l2_penalty(p, lam, n)
    hp = {"rate": np.repeat([0.0, 0.5], S).astype(np.float32),
          "lam": np.repeat([0.0, LAM], S).astype(np.float32)}
    ts, _ = train(build, init(c, drop, 2), xs, ys, idx, hp)
    ts_bn, _ = train(lambda: (bn, optim.adam(1e-3), None), init(c, bn), xs, ys, idx[:S], {})
    res, x_all, y_all = {}, np.concatenate([xs, c.zt]), np.concatenate([ys, c.yt])
    for name, model, t in (("plain", drop, part(ts, 0, S)), ("dropout 0.5 + L2", drop,
                           part(ts, S, 2 * S)), ("BN alone", bn, ts_bn)):
        tr, te = score(model, t, x_all, y_all, n)
        res[name] = {"train": tr, "test": te, "gap": tr - te}
    ex.metrics["overfitting"] = res
    ex.setting(small_set=f"{n} train examples (15 per class), {arch(c.hidden(W))} ReLU MLP, Adam "
               f"1e-3, batch {B}, {EPOCHS} epochs; L2: lambda/(2n) sum w^2, lambda {LAM}; eval "
               "mode")
    ex.table(f"4-5: {n} training examples (accuracy, mean +- SE over {S} seeds)",
             ["net", "train", "test", "gap (train - test)"],
             [[k, st(v["train"]), st(v["test"]), st(v["gap"])] for k, v in res.items()])
    p, d, b = res.values()
    ex.verdict("BN reduces overfitting (000 3.6.9); rule: BN's train-test gap smaller than the "
               "plain net's by 2 SE", exceeds(p["gap"], b["gap"]),
               f"gap plain {st(p['gap'])}, BN {st(b['gap'])}; test plain {st(p['test'])}, BN "
               f"{st(b['test'])}; {n} examples, {S} seeds")
    ex.verdict("BN can replace dropout and L2 (000 3.6.9); rule: BN alone's test accuracy is not "
               "below dropout + L2's by more than 2 SE", not exceeds(d["test"], b["test"]),
               f"test BN alone {st(b['test'])}, plain + dropout 0.5 + L2 {st(d['test'])}, plain "
               f"{st(p['test'])}; gaps {st(b['gap'])} / {st(d['gap'])}; {S} seeds")
    bars(ax, {k: {s: v[s] for s in ("train", "test")} for k, v in res.items()},
         f"4-5: {n} training examples", "accuracy (eval mode)")
    ax.set_ylim(min(v["test"].mean() for v in res.values()) - 0.1, 1.05)


def gradient_noise(c, ax):
    """Claim 7: mini-batch gradient variance relative to the full-batch gradient, WN vs BN nets of
    the same shape, at init and after the claim-3 recipe (BN: claim 3's shuffled nets)."""
    ex, S, z, y = c.ex, c.S, c.z, c.y
    B, EPOCHS, M = 64, ex.pick(10, 1), len(y) // 32
    wn = mlp(c.hidden(c.H), wn=True)
    idx = orders(np.random.default_rng(2), len(y), B, EPOCHS * (len(y) // B), S)  # claim 3's
    ts_wn, _ = train(lambda: (wn, optim.sgd(0.05, 0.9), None), init(c, wn), z, y, idx, {})
    bidx = jax.device_put(np.random.default_rng(5).permutation(len(y))[:M * 32].reshape(M, 32))

    def noise(model):
        def one(p, s):
            def g(xb, yb):
                return ravel_pytree(jax.grad(lambda q: sce(model.apply(
                    q, s, xb, train=True)[0], yb))(p))[0]
            full, gb = g(z, y), jax.vmap(lambda i: g(z[i], y[i]))(bidx)
            return jnp.mean(jnp.sum((gb - full[None]) ** 2, -1)) / jnp.sum(full ** 2)
        return lambda p, s, f=jax.jit(jax.vmap(one)): np.asarray(f(p, s))
    bn, ts_bn = c.bn_run
    fw, fb = noise(wn), noise(bn)
    res = {"at init": {"WN": fw(*init(c, wn)), "BN": fb(*init(c, bn))},
           f"trained {EPOCHS} epochs": {"WN": fw(ts_wn.params, ts_wn.state),
                                        "BN": fb(ts_bn.params, ts_bn.state)}}
    ex.metrics["gradient_noise"] = res
    ex.setting(gradient_noise=f"E ||g_32 - g_full||^2 / ||g_full||^2 over {M} batches of 32 "
               "(train mode: BN normalises with each batch's statistics, g_full with the whole "
               f"train set's); {arch(c.hidden(c.H))} ReLU MLP, WeightNorm on every Dense vs BN "
               f"after each hidden one; trained as in claim 3 (SGD momentum 0.9 lr 0.05, {EPOCHS} "
               "epochs)")
    ex.verdict_cases("Weight norm adds less gradient noise (000 3.6.12); rule: WN's relative "
                     "mini-batch gradient variance below BN's by 2 SE",
                     {k: exceeds(v["BN"], v["WN"]) for k, v in res.items()},
                     "; ".join(f"{k}: WN {st(v['WN'])} vs BN {st(v['BN'])}"
                               for k, v in res.items()) + f"; {S} seeds", subject="the net")
    bars(ax, res, "7: mini-batch gradient noise", "E|g_b - g|^2 / |g|^2 (log)", 2, log=True)


def inputs(c, ax_pos, ax_out):
    """Claims 8-9 in one compiled run of 5 groups x S seeds (same MLP, SGD, number of steps):
    inputs in [0, 1] vs centred (as is, and rescaled to the same RMS); z-scored + 2 % copies
    scaled by 20 vs the same copies unscaled."""
    ex, S, x, z, y = c.ex, c.S, c.x, c.z, c.y
    B, LR, EPOCHS, FACTOR = 32, 0.05, ex.pick(5, 1), 20.0
    n = len(y)
    k = max(2, round(0.02 * n))
    extra = np.random.default_rng(6).choice(n, k, replace=False)
    steps = EPOCHS * (n // B)

    def groups(x, z, y, mu):
        """The 5 groups' inputs and labels, and each repeated for its S members."""
        pad, cen = jnp.zeros((k, 64)), x - mu
        rms = jnp.sqrt(jnp.mean(x ** 2) / jnp.mean(cen ** 2))
        xs = jnp.stack([jnp.concatenate([x, pad]), jnp.concatenate([cen, pad]),
                        jnp.concatenate([rms * cen, pad]), jnp.concatenate([z, z[extra]]),
                        jnp.concatenate([z, FACTOR * z[extra]])])
        ys = jnp.concatenate([y, y[extra]])
        return rms, xs, jnp.repeat(xs, S, 0), jnp.stack([ys] * 5 * S)
    rms, xs, x_members, y_members = fast(ex, groups)(x, z, y, c.mu)
    rms, xs, y_np = float(rms), np.asarray(xs), np.asarray(y)  # NumPy slices below: exact copies
    rng = np.random.default_rng(7)
    idx = np.concatenate([orders(rng, n, B, steps, 3 * S), orders(rng, n + k, B, steps, 2 * S)])
    model = mlp(c.hidden(64))
    start = init(c, model, 5)
    ts, (loss, _) = train(lambda: (model, optim.sgd(LR), None), start, x_members, y_members,
                          idx, {})
    clean = [score(model, part(ts, g * S, g * S + S), xs[g][:n], y)[1] for g in range(5)]
    loss = np.asarray(loss)
    curves = loss.reshape(5 * S, EPOCHS, -1).mean(-1)
    nan = [int((~np.isfinite(loss[g * S:g * S + S])).any(1).sum()) for g in range(5)]

    @jax.jit
    def agree(p, s, xb, yb):  # sign agreement of each live unit's incoming-weight gradients
        sg = jnp.sign(jax.grad(lambda q: sce(model.apply(q, s, xb)[0], yb))(p)["0_dense"]["w"])
        live = jnp.abs(sg).sum(0)  # inputs with a non-zero gradient (0: a dead ReLU unit)
        return jnp.sum(jnp.abs(sg.sum(0)) / jnp.maximum(live, 1.0)) / jnp.maximum(
            jnp.sum(live > 0).astype(jnp.float32), 1.0)

    def agreement(p0, s0, xb, yb):  # one example at a time, and a batch of B
        return (jax.vmap(lambda p, s: jax.vmap(lambda u, v: agree(
            p, s, u[None], v[None]))(xb, yb).mean())(p0, s0),
            jax.vmap(lambda p, s: agree(p, s, xb, yb))(p0, s0))
    ag, agreement = {}, fast(ex, agreement)
    for g in (0, 1):  # at init: group g's members start from init(c, model) (start is 5 copies)
        ag[g] = tuple(np.asarray(v) for v in agreement(*init(c, model), xs[g][:B], y_np[:B]))
    ex.metrics["inputs"] = {"clean_loss": clean, "nonfinite_runs": nan, "sign_agreement": ag}
    ex.setting(inputs=f"{arch(c.hidden(64))} ReLU MLP, SGD lr {LR}, batch {B}, {steps} steps; 8: "
               f"pixels in [0, 1] vs minus the train mean (as is, and x {rms:.2f} to the same "
               f"RMS); 9: z-scored train set + {k} (2 %) copies of train examples x {FACTOR:g}, "
               "labels kept, vs the same copies unscaled; loss: on the original train examples, "
               "eval mode")
    pos, cen_loss, cen_rms, cl, out = clean
    ex.verdict_cases("All-positive inputs slow the first layer (000 3.6.1); rule: centred inputs' "
                     f"training loss after {steps} SGD steps below all-positive's by 2 SE",
                     {"not rescaled": exceeds(pos, cen_loss),
                      "rescaled to the same RMS": exceeds(pos, cen_rms)},
                     f"train loss: [0, 1] inputs {st(pos)}, centred {st(cen_loss)}, centred at "
                     f"the same RMS {st(cen_rms)}; first-layer gradient sign agreement per live "
                     f"unit at init, one example: {st(ag[0][0])} vs {st(ag[1][0])}, batch of "
                     f"{B}: {st(ag[0][1])} vs {st(ag[1][1])}; {S} seeds",
                     subject="the centred input")
    ok = np.isfinite(out)
    ex.verdict("Outlier samples slow convergence (000 3.6.1); rule: clean-example loss with "
               "outliers above without by 2 SE, or most outlier runs non-finite",
               (nan[4] > S / 2 and nan[3] == 0) or (ok.sum() >= 2 and exceeds(out[ok], cl)),
               f"loss on the {n} clean examples after {steps} steps: with {k} outliers "
               f"{st(out[ok]) if ok.any() else 'nan'} (non-finite runs {nan[4]}/{S}), without "
               f"{st(cl)} (non-finite {nan[3]}/{S}); same lr {LR}; {S} seeds")
    ep, g = np.arange(1, EPOCHS + 1), lambda i: (ep, curves[i * S:i * S + S])  # noqa: E731
    lines(ax_pos, {"inputs in [0, 1]": g(0), "centred": g(1), "centred, same RMS": g(2)},
          "8: all-positive vs centred inputs", "epoch", "mean mini-batch loss (log)", log=True)
    lines(ax_out, {"z-scored": g(3), f"+ {k} outliers x {FACTOR:g}": g(4)},
          "9: outlier samples", "epoch", "mean mini-batch loss (log)", log=True)


if __name__ == "__main__":
    run(main)
