"""Cost functions: quadratic cost's sigma'(z) slowdown vs cross-entropy on one saturated sigmoid
neuron, softmax + log-likelihood on 3 spiral arms (dC/dz = softmax - onehot), and center loss on a
2-D feature layer trained on `digits` (intra- vs inter-class distances per lambda); the printed
formulas (cross-entropy's sign and zero, center loss's gradient and center update) and the convexity
of a single sigmoid unit's cost."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, run

from jaxdl import data, optim, plot
from jaxdl.activations import sigmoid_grad
from jaxdl.core import serial
from jaxdl.data import batch_indices
from jaxdl.losses import (
    accuracy,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    center_loss,
    mse,
    softmax_cross_entropy,
    update_centers,
)
from jaxdl.nn import Dense, Flatten, Relu, Sigmoid, Softmax
from jaxdl.sweep import vmap_fit
from jaxdl.train import TrainState, make_train_step


def fast(ex: Experiment, f):
    """`f` jitted in quick mode, where one compile replaces the one per eager op of a check
    (about 35 ms each); the full run keeps the eager computation its numbers come from."""
    return jax.jit(f) if ex.quick else f


def main(quick: bool) -> Experiment:
    ex = Experiment("losses",
                    "quadratic cost vs cross-entropy, softmax + log-likelihood, center loss",
                    "001 section 3 (quadratic cost, slowdown, cross-entropy, softmax + "
                    "log-likelihood); 000 sections 3.4.4 (convexity), 3.4.11 (cross-entropy) and "
                    "3.4.13 (center loss)",
                    quick=quick)
    one_neuron(ex)
    softmax_spirals(ex)
    centers_on_digits(ex)
    formulas(ex)
    return ex.finish()


def one_neuron(ex: Experiment) -> None:
    """One sigmoid neuron: quadratic cost vs cross-entropy (the sigma'(z) slowdown)."""
    LR, STEPS, TARGET = 0.15, ex.pick(2000, 400), 0.1
    ex.setting(neuron=f"x=1, target 0, sgd lr {LR}, {STEPS} steps",
               neuron_target=f"output < {TARGET}")
    neuron = serial(Dense(1), Sigmoid())
    _, n_state = fast(ex, lambda k: neuron.init(k, (1,))[:2])(jax.random.key(0))
    x1, y1 = jnp.ones((1, 1)), jnp.zeros((1, 1))
    costs = {"quadratic": mse, "cross-entropy": binary_cross_entropy}

    def params_at(w, b):
        return {"0_dense": {"w": jnp.full((1, 1), w), "b": jnp.full((1,), b)}, "1_sigmoid": {}}

    def run_neuron(cost, starts):
        """Plain gradient descent with jaxdl.train's step from each (w, b) start (vmapped);
        returns the output a before each step, (starts, STEPS)."""
        opt = optim.sgd(LR)
        step = make_train_step(neuron, cost, opt)

        def run(w, b):
            p = params_at(w, b)
            ts = TrainState(jnp.array(0, jnp.int32), p, n_state, opt.init(p), jax.random.key(0))

            def body(ts, _):
                a = neuron.apply(ts.params, ts.state, x1)[0][0, 0]
                return step(ts, x1, y1)[0], a

            return jax.lax.scan(body, ts, None, length=STEPS)[1]

        w, b = jnp.array([s[0] for s in starts]), jnp.array([s[1] for s in starts])
        return np.asarray(jax.jit(jax.vmap(run))(w, b))

    def grads(cost, w, b):
        p = params_at(w, b)
        g = jax.grad(lambda p: cost(neuron.apply(p, n_state, x1)[0], y1))(p)["0_dense"]
        return g["w"][0, 0], g["b"][0]

    grad_fns = {cname: fast(ex, lambda w, b, cost=cost: grads(cost, w, b))
                for cname, cost in costs.items()}

    def grads_at(cname, w, b):
        gw, gb = grad_fns[cname](w, b)
        return float(gw), float(gb)

    starts = {"saturated (w=b=2)": (2.0, 2.0), "unsaturated (w=0.6, b=0.9)": (0.6, 0.9)}
    curves, rows, neuron_m = {}, [], {}
    outs = {cname: run_neuron(cost, list(starts.values())) for cname, cost in costs.items()}
    for j, (sname, (w, b)) in enumerate(starts.items()):
        for cname, cost in costs.items():
            a = outs[cname][j]
            below, moved = np.nonzero(a < TARGET)[0], np.nonzero(a < a[0] - 0.1)[0]
            n_steps = int(below[0]) if below.size else None
            n_move = int(moved[0]) if moved.size else None
            gw, gb = grads_at(cname, w, b)
            curves[(sname, cname)] = a
            neuron_m[f"{sname}/{cname}"] = {"steps_to_output_below_0.1": n_steps,
                                            "dC_dw_at_start": gw,
                                            "steps_to_move_0.1_from_start": n_move,
                                            "dC_db_at_start": gb, "output_at_start": float(a[0]),
                                            "output_after_300_steps": float(a[min(300, STEPS - 1)])}
            rows.append([sname, cname, float(a[0]), gw, float(a[min(300, STEPS - 1)]),
                         n_move if n_move is not None else f"> {STEPS}",
                         n_steps if n_steps is not None else f"> {STEPS}"])
    ex.table("One sigmoid neuron (x = 1, target 0), plain gradient descent",
             ["start", "cost", "a at start", "dC/dw at start", "a after 300 steps",
              "steps to move a by 0.1", "steps to a < 0.1"], rows,
             note="Near a = 0 the quadratic cost saturates again (sigma'(z) -> 0 as a -> 0), so "
                  "its last stretch to a < 0.1 is slow from any start; the plateau at the start "
                  "is what saturation adds.")
    ex.metrics["neuron"] = neuron_m
    sat = "saturated (w=b=2)"

    def closed_forms():
        return (jax.nn.sigmoid(4.0), sigmoid_grad(4.0), jax.grad(
            lambda w: binary_cross_entropy_with_logits(jnp.array([[w + 2.0]]), y1))(2.0))
    a0, sigma_prime_4, g_logits = (float(v) for v in fast(ex, closed_forms)())
    closed = {"quadratic": (a0 - 0) * sigma_prime_4, "cross-entropy": a0 - 0}
    g_q = neuron_m[f"{sat}/quadratic"]["dC_dw_at_start"]
    g_ce = neuron_m[f"{sat}/cross-entropy"]["dC_dw_at_start"]
    formula_err = max(abs(g_q - closed["quadratic"]), abs(g_ce - closed["cross-entropy"]),
                      abs(g_logits - g_ce))
    ex.metrics["neuron_gradient_check"] = {"closed_form": closed, "with_logits_dC_dw": g_logits,
                                           "max_abs_err": formula_err,
                                           "sigma_prime_4": sigma_prime_4}
    ex.verdict("dC/dw = (a - y) sigma'(z) x for the quadratic cost and (a - y) x for cross-entropy "
               "(sigma'(z) cancels)", formula_err < 1e-5,
               f"max abs err {formula_err:.1e}; at z = 4: quadratic {g_q:.5f}, cross-entropy "
               f"{g_ce:.5f} (with_logits {g_logits:.5f}); "
               f"ratio {g_q / g_ce:.5f} = sigma'(4) = {sigma_prime_4:.5f}")
    steps = {(s, c): neuron_m[f"{s}/{c}"]["steps_to_output_below_0.1"] for (s, c) in curves}
    slow = {s: (steps[(s, "quadratic")] or 10 * STEPS) / steps[(s, "cross-entropy")]
            for s in starts}
    ex.metrics["neuron_slowdown"] = {s: v for s, v in slow.items()}
    ex.verdict("Quadratic cost learns slowly from a saturated start; cross-entropy escapes at once",
               slow[sat] > 5, f"steps to a < 0.1 from w=b=2: quadratic "
               f"{steps[(sat, 'quadratic')] or f'> {STEPS}'} vs cross-entropy "
               f"{steps[(sat, 'cross-entropy')]} ({slow[sat]:.1f}x)")
    uns = "unsaturated (w=0.6, b=0.9)"
    move = {(s, c): neuron_m[f"{s}/{c}"]["steps_to_move_0.1_from_start"] or 10 * STEPS
            for (s, c) in curves}
    plateau = {s: move[(s, "quadratic")] / move[(s, "cross-entropy")] for s in starts}
    ex.metrics["neuron_plateau_ratio"] = plateau
    ex.verdict("The initial slowdown comes from saturation (sigma'(z) ~ 0 at the start)",
               plateau[sat] > 2 * plateau[uns], "quadratic / cross-entropy steps to move a by 0.1: "
               f"{plateau[sat]:.1f}x from w=b=2 (sigma'(4) = 0.018) vs {plateau[uns]:.1f}x from "
               f"w=0.6, b=0.9 (sigma'(1.5) = 0.149); to a < 0.1: {slow[sat]:.1f}x vs "
               f"{slow[uns]:.1f}x")

    fig, axes = plot.figure(2)
    for i, sname in enumerate(starts):
        for cname in costs:
            axes[0, i].plot(curves[(sname, cname)], label=cname)
        axes[0, i].axhline(TARGET, color="k", ls=":", lw=0.8, label="a = 0.1")
        plot.label(axes[0, i], f"one neuron, {sname}", "gradient step", "output a (target 0)",
                   legend=True)
    ex.figure(fig, "neuron.png",
              "Output of one sigmoid neuron under quadratic cost vs cross-entropy")


def softmax_spirals(ex: Experiment) -> None:
    """Softmax + log-likelihood vs softmax + quadratic cost on 3 spiral arms."""
    N, SEEDS, EPOCHS_S = ex.pick((600, 3, 60), (90, 2, 4))
    (xs, ys), (xs_t, ys_t) = data.spirals(N, 3, 0.05, jax.random.key(1), n_test=N)
    H = ex.pick(64, 16)
    mlp = [Dense(H), Relu(), Dense(H), Relu(), Dense(3)]
    model_ll, model_q = serial(*mlp), serial(*mlp, Softmax())

    def quadratic_on_softmax(probs, labels):
        return mse(probs, jax.nn.one_hot(labels, 3, dtype=probs.dtype))

    keys = jax.random.split(jax.random.key(2), SEEDS)
    runs = {}
    for name, model, loss in (("softmax + log-likelihood", model_ll, softmax_cross_entropy),
                              ("softmax + quadratic", model_q, quadratic_on_softmax)):
        ts_s, hist = vmap_fit(model, loss, lambda: optim.sgd(0.5), (xs, ys), keys=keys,
                              val=(xs_t, ys_t), epochs=EPOCHS_S, batch_size=30)
        runs[name] = (ts_s, hist.values["train_accuracy"], hist.values["val_accuracy"])
    # gradient check on the trained log-likelihood model (seed 0) and at init
    ts_ll = runs["softmax + log-likelihood"][0]
    params0, state0 = fast(ex, lambda t: jax.tree.map(lambda a: a[0], t))(
        (ts_ll.params, ts_ll.state))

    def grad_err_at(p):
        z = model_ll.apply(p, state0, xs)[0]
        g = jax.grad(lambda z: softmax_cross_entropy(z, ys, reduction="sum"))(z)
        expected = jax.nn.softmax(z) - jax.nn.one_hot(ys, 3)
        return jnp.max(jnp.abs(g - expected))
    grad_err, err_at = 0.0, fast(ex, grad_err_at)
    for p in (params0, fast(ex, lambda k: model_ll.init(k, (2,))[0])(jax.random.key(3))):
        grad_err = max(grad_err, float(err_at(p)))

    def saturated_grads():
        z_sat = jnp.array([[10.0, 0.0, -10.0]])  # confidently wrong: label 2
        label2 = jnp.array([2])
        return (jnp.linalg.norm(jax.grad(lambda z: softmax_cross_entropy(z, label2))(z_sat)),
                jnp.linalg.norm(jax.grad(
                    lambda z: quadratic_on_softmax(jax.nn.softmax(z), label2))(z_sat)))
    g_sat_ll, g_sat_q = (float(v) for v in fast(ex, saturated_grads)())
    ex.verdict("Softmax + log-likelihood has dC/dz = softmax(z) - onehot(y)", grad_err < 1e-5,
               f"max abs(jax.grad - (softmax - onehot)) = {grad_err:.1e} over {N} spiral points, "
               "at init and trained")
    srows, sm = [], {}
    for name, (_, tr, va) in runs.items():
        hit = [int(np.nonzero(r >= 0.9)[0][0]) + 1 if (r >= 0.9).any() else None for r in tr]
        sm[name] = {"final_train_acc": tr[:, -1], "final_test_acc": va[:, -1],
                    "epochs_to_90pct_train": hit}
        srows.append([name, f"{tr[:, -1].mean():.3f} +- {tr[:, -1].std():.3f}",
                      f"{va[:, -1].mean():.3f} +- {va[:, -1].std():.3f}", str(hit)])
    srows.append(["norm of dC/dz at z=(10,0,-10), label 2", f"log-lik {g_sat_ll:.3f}",
                  f"quadratic {g_sat_q:.1e}", ""])
    ex.table(f"3 spiral arms, MLP 2-{H}-{H}-3, sgd 0.5, {EPOCHS_S} epochs, {SEEDS} seeds",
             ["cost", "train acc", "test acc", "epochs to 90% train (per seed)"], srows)
    sm["grad_norm_confidently_wrong"] = {"log_likelihood": g_sat_ll,
                                         "quadratic_on_softmax": g_sat_q}
    ex.metrics["softmax"] = sm
    fig, axes = plot.figure(1)
    for (name, (_, tr, va)), color in zip(runs.items(), ("C0", "C1")):
        for s in range(SEEDS):
            axes[0, 0].plot(np.arange(1, EPOCHS_S + 1), tr[s], color=color, lw=1,
                            label=name if s == 0 else None)
    plot.label(axes[0, 0], "3 spiral arms: training accuracy per seed", "epoch", "train accuracy",
               legend=True)
    ex.figure(fig, "softmax_spirals.png", "Softmax + log-likelihood vs softmax + quadratic cost")
    e_ll, e_q = ([e if e is not None else 10 * EPOCHS_S for e in sm[n]["epochs_to_90pct_train"]]
                 for n in ("softmax + log-likelihood", "softmax + quadratic"))
    ex.verdict("Softmax + log-likelihood does not learn slowly (vs softmax + quadratic cost)",
               np.mean(e_ll) < np.mean(e_q) and g_sat_ll > 100 * g_sat_q,
               f"mean epochs to 90% train {np.mean(e_ll):.1f} vs {np.mean(e_q):.1f}; gradient when "
               f"confidently wrong {g_sat_ll:.2f} vs {g_sat_q:.1e}")


def centers_on_digits(ex: Experiment) -> None:
    """Center loss on a 2-D feature layer trained on digits."""
    (xd, yd), (xd_t, yd_t) = data.digits()
    take = ex.pick(None, 192)  # None: all
    xd, yd = xd[:take], yd[:take]
    LAMS, ALPHA, BATCH = ex.pick((0.0, 0.01, 0.1, 1.0), (0.0, 1.0)), 0.5, 64
    C_SEEDS, C_EPOCHS = ex.pick((3, 60), (2, 3))
    ex.setting(center_loss=f"lambdas {LAMS}, alpha {ALPHA}, adam 1e-3, {C_EPOCHS} epochs, batch "
               f"{BATCH}, {C_SEEDS} seeds, features 64-128-64-2 -> Dense(10)")
    body = serial(Flatten(), Dense(128), Relu(), Dense(64), Relu(), Dense(2))
    head = Dense(10)
    opt = optim.adam(1e-3)

    def objective(params, state, centers, lam, x, y):
        f, _ = body.apply(params["body"], state, x)
        logits, _ = head.apply(params["head"], {}, f)
        return softmax_cross_entropy(logits, y) + lam * center_loss(f, y, centers), f

    def train_center(key, lam):
        """Centers are extra state outside the params: moved by update_centers after each step."""
        pb, st, _ = body.init(jax.random.fold_in(key, 0), (8, 8, 1))
        params = {"body": pb, "head": head.init(jax.random.fold_in(key, 1), (2,))[0]}

        def epoch(carry, e):
            idx, _ = batch_indices(jax.random.fold_in(key, e + 2), xd.shape[0], BATCH)

            def step(carry, i):
                params, opt_state, centers = carry
                (value, f), g = jax.value_and_grad(objective, has_aux=True)(
                    params, st, centers, lam, xd[i], yd[i])
                updates, opt_state = opt.update(g, opt_state, params)
                return (optim.apply_updates(params, updates), opt_state,
                        update_centers(centers, f, yd[i], ALPHA)), value

            return jax.lax.scan(step, carry, idx)

        carry = (params, opt.init(params), jnp.zeros((10, 2), jnp.float32))
        (params, _, _), _ = jax.lax.scan(epoch, carry, jnp.arange(C_EPOCHS))
        feats = body.apply(params["body"], st, xd_t)[0]
        return feats, accuracy(head.apply(params["head"], {}, feats)[0], yd_t)

    lam_grid = jnp.repeat(jnp.array(LAMS, jnp.float32), C_SEEDS)
    seed_keys = jnp.tile(jax.random.split(jax.random.key(4), C_SEEDS), (len(LAMS),))
    feats, accs = jax.jit(jax.vmap(train_center))(seed_keys, lam_grid)
    feats = np.asarray(feats).reshape(len(LAMS), C_SEEDS, -1, 2)
    accs = np.asarray(accs).reshape(len(LAMS), C_SEEDS)
    yt = np.asarray(yd_t)

    def distances(f):
        mu = np.stack([f[yt == c].mean(0) for c in range(10)])
        intra = float(np.mean(np.linalg.norm(f - mu[yt], axis=1)))
        pairs = [(i, j) for i in range(10) for j in range(i + 1, 10)]
        inter = float(np.mean([np.linalg.norm(mu[i] - mu[j]) for i, j in pairs]))
        return intra, inter

    crows, cm = [], {}
    for i, lam in enumerate(LAMS):
        d = np.array([distances(feats[i, s]) for s in range(C_SEEDS)])
        ratio = d[:, 0] / d[:, 1]
        cm[str(lam)] = {"intra": d[:, 0], "inter": d[:, 1], "intra_over_inter": ratio,
                        "test_accuracy": accs[i]}
        crows.append([lam, d[:, 0].mean(), d[:, 1].mean(),
                      f"{ratio.mean():.3f} +- {ratio.std():.3f}",
                      f"{accs[i].mean():.3f} +- {accs[i].std():.3f}"])
    ex.table("Center loss: test-set 2-D features (mean over seeds)",
             ["lambda", "intra-class dist", "inter-class dist", "intra / inter", "test acc"], crows,
             note="intra: mean distance of a feature to its class mean; inter: mean distance "
                  "between class means. The ratio is scale-free (center loss can also just shrink "
                  "all features).")
    ex.metrics["center_loss"] = cm
    r = [cm[str(lam)]["intra_over_inter"].mean() for lam in LAMS]
    a = [cm[str(lam)]["test_accuracy"].mean() for lam in LAMS]
    best = int(np.argmin(r[1:])) + 1
    ex.verdict("Softmax + lambda * center loss makes classes compact (lower intra/inter ratio) at "
               "no accuracy cost", r[best] < 0.7 * r[0] and a[best] >= a[0] - 0.02,
               f"intra/inter {r[0]:.3f} (softmax only) -> {r[best]:.3f} (lambda {LAMS[best]}); "
               "test acc "
               f"{a[0]:.3f} -> {a[best]:.3f}")

    fig, axes = plot.figure(len(LAMS), width=4.3, height=4.0)
    for i, lam in enumerate(LAMS):
        ax = axes[0, i]
        sc = ax.scatter(feats[i, 0, :, 0], feats[i, 0, :, 1], c=yt, cmap="tab10", s=6,
                        vmin=-0.5, vmax=9.5)
        plot.label(ax, f"lambda = {lam}\nintra/inter {r[i]:.2f}, test acc {a[i]:.2f}", "feature 1",
                   "feature 2" if i == 0 else "")
    fig.colorbar(sc, ax=axes[0, :].tolist(), ticks=range(10), label="digit class")
    ex.figure(fig, "center_loss_features.png", "2-D test features of digits per lambda (seed 0)")


def formulas(ex: Experiment) -> None:
    """The printed formulas, checked against closed forms in float64: cross-entropy >= 0 and ~0
    near the target; center loss's gradient and center update; the Hessian of a single sigmoid
    unit's cost (convex or not) at random parameters."""
    # Cross-entropy on a grid of outputs a in (0, 1) and both targets.
    def ce_grid():
        a = jnp.linspace(1e-4, 1 - 1e-4, 2001)
        return a, {y: binary_cross_entropy(a[:, None], jnp.full((a.size, 1), float(y)),
                                           reduction="none") for y in (0, 1)}
    a, ce = fast(ex, ce_grid)()
    ce = {y: np.asarray(v) for y, v in ce.items()}
    gap = {y: np.abs(np.asarray(a) - y) for y in (0, 1)}
    near = max(float(ce[y][gap[y] <= 0.01].max()) for y in (0, 1))
    monotone = all(np.all(np.diff(ce[y][np.argsort(gap[y])]) >= -1e-6) for y in (0, 1))
    lowest = min(float(ce[y].min()) for y in (0, 1))
    ex.metrics["cross_entropy_grid"] = {"min": lowest, "max_within_0.01": near,
                                        "grows_with_error": monotone}
    ex.verdict("Cross-entropy is non-negative and near 0 when the output is near the target "
               "(000 3.4.11)", lowest >= 0 and near <= -np.log(0.99) + 1e-5 and monotone,
               f"on 2001 outputs x 2 targets: min C = {lowest:.2e}, C <= {near:.4f} within 0.01 "
               f"of the target (-ln 0.99 = {-np.log(0.99):.4f}), C grows with |a - y|: {monotone}")

    # Center loss: dL_C/dx_i = x_i - c_{y_i}; the printed Delta c_j, summed by hand in float64.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)).astype(np.float32)
    y = rng.integers(0, 4, size=12).astype(np.int32)
    y[0] = 3  # class 3 present; class 2 may be absent: its center must not move
    c = rng.normal(size=(5, 3)).astype(np.float32)  # class 4 is never in the batch

    def center_checks(x, y, c):
        return (jax.grad(lambda f: center_loss(f, y, c, reduction="sum"))(x),
                update_centers(c, x, y, 1.0))
    grad, updated = (np.asarray(v) for v in fast(ex, center_checks)(
        jnp.asarray(x), jnp.asarray(y), jnp.asarray(c)))
    grad_err = float(np.abs(grad - (x - c[y])).max())
    delta = np.stack([((y == j)[:, None] * (c[j] - x)).astype(np.float64).sum(0)
                      / (1 + (y == j).sum()) for j in range(5)])
    moved = c - updated
    delta_err = float(np.abs(moved - delta).max())
    ex.verdict("Center loss has the printed gradient and center update: dL_C/dx_i = x_i - c_yi, "
               "Delta c_j = sum_i [y_i = j] (c_j - x_i) / (1 + sum_i [y_i = j]) (000 3.4.13)",
               grad_err < 1e-5 and delta_err < 1e-5,
               f"max |grad - (x - c_y)| = {grad_err:.1e}; max |Delta c - printed| = "
               f"{delta_err:.1e} (12 features, 5 centers, one class absent)")

    # Convexity of a single sigmoid unit's cost in (w, b): the Hessian's smallest eigenvalue at
    # random parameters, on a fixed small data set (float64).
    n_points = ex.pick(300, 40)
    with jax.enable_x64(True):
        xs = jnp.asarray(rng.normal(size=(20, 2)))
        ys = jnp.asarray((rng.random(20) < 0.5).astype(np.float64))

        def cost(theta, kind):
            z = xs @ theta[:2] + theta[2]
            if kind == "quadratic cost, identity":
                return 0.5 * jnp.mean((z - ys) ** 2)
            s_ = jax.nn.sigmoid(z)
            if kind == "quadratic cost, sigmoid":
                return 0.5 * jnp.mean((s_ - ys) ** 2)
            return jnp.mean(jax.nn.softplus(z) - ys * z)  # cross-entropy of sigmoid(z)

        thetas = jnp.asarray(rng.normal(scale=3.0, size=(n_points, 3)))
        kinds = ("cross-entropy, sigmoid", "quadratic cost, identity", "quadratic cost, sigmoid")
        lowest_eig = {}
        for kind in kinds:
            h = fast(ex, jax.vmap(jax.hessian(lambda t, k=kind: cost(t, k))))(thetas)
            eig = np.linalg.eigvalsh(np.asarray(h))
            lowest_eig[kind] = float((eig[:, 0] / np.abs(eig).max(axis=1)).min())
    ex.metrics["hessian_min_eig_over_max"] = lowest_eig
    ex.verdict_cases("A monotone activation makes a single-layer network's cost convex (000 "
                     "3.4.4)", {k: v > -1e-9 for k, v in lowest_eig.items()},
                     f"smallest Hessian eigenvalue / largest |eigenvalue| over {n_points} random "
                     "(w, b) on 20 points: " + ", ".join(f"{k} {v:.2e}"
                                                         for k, v in lowest_eig.items()),
                     subject="the cost")


if __name__ == "__main__":
    run(main)
