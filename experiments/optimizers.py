"""Optimizers GD -> SGD -> momentum -> AdaGrad -> RMSProp -> Adam (+ Nesterov, Rprop): paths on a
ravine and on Rosenbrock, loss curves on mnist1d, AdaGrad's vanishing step, Adam then SGD."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, exceeds, run, sem

from jaxdl import optim, plot, schedules
from jaxdl.data import mnist1d, split
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn import Dense, Relu, serial
from jaxdl.sweep import vmap_fit
from jaxdl.train import evaluate, fit


MAKE = {"GD": optim.gd, "SGD": optim.sgd, "momentum": optim.momentum, "Nesterov": optim.nesterov,
        "AdaGrad": optim.adagrad, "RMSProp": optim.rmsprop, "Adam": optim.adam,
        "Rprop": optim.rprop}


def ravine(x, y):
    return 0.05 * x**2 + 2.5 * y**2  # curvatures 0.1 and 5: condition number 50


def rosenbrock(x, y):
    return (1 - x) ** 2 + 100.0 * (y - x**2) ** 2


def run_2d(make, f, w0, steps, noise, lrs):
    """Paths (lrs, steps + 1, 2), losses and per-coordinate |update| / |gradient| for each lr."""
    grad = jax.grad(lambda w: f(w[0], w[1]))

    def one(lr):
        opt = make(lr)

        def body(carry, k):
            w, s = carry
            g = grad(w) + noise * jax.random.normal(k, (2,))
            u, s = opt.update(g, s, w)
            w = optim.apply_updates(w, u)
            return (w, s), (w, jnp.abs(u) / (jnp.abs(g) + 1e-30))

        w = jnp.asarray(w0, jnp.float32)
        noise_keys = jax.random.split(jax.random.key(0), steps)
        _, (path, ratio) = jax.lax.scan(body, (w, opt.init(w)), noise_keys)
        path = jnp.concatenate([w[None], path])
        return path, f(path[:, 0], path[:, 1]), ratio

    return jax.jit(jax.vmap(one))(jnp.asarray(lrs, jnp.float32))


def member(tree, i):
    """Member i of a vmapped pytree, sliced in NumPy (the same values as `a[i]`, without an eager
    program compiled per leaf shape); PRNG key leaves are sliced by JAX."""
    return jax.tree.map(lambda a: a[i] if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key)
                        else np.asarray(a)[i], tree)


def steps_to(losses, tol):
    """The first step from which f stays below tol (None if it never settles)."""
    above = np.nonzero(~(np.asarray(losses) < tol))[0]
    last = int(above[-1]) + 1 if above.size else 0
    return last if last < len(losses) else None


def accumulator(opt_state, kind):
    """The mean over all weights of AdaGrad's sum of g^2 (or RMSProp's moving average nu)."""
    node = jax.tree.leaves(opt_state, is_leaf=lambda n: isinstance(n, kind))[0]
    acc = node.sum_of_squares if kind is optim.ScaleByRssState else node.nu
    return float(np.mean(np.concatenate([np.ravel(a) for a in jax.tree.leaves(acc)])))


def rprop_minibatch(ex, model, make, train, lrs, losses, keys, batch, epochs, full_epochs):
    """Rprop on mini-batches (the same lr grid) against its full-batch run (000 3.5.1); `make`:
    lr -> Rprop, the function of the full-batch run."""
    seeds = len(keys)
    _, hist = vmap_fit(model, softmax_cross_entropy, make, train,
                       hparams={"lr": np.repeat(np.asarray(lrs, np.float32), seeds)},
                       keys=keys if len(lrs) == 1 else keys[np.tile(np.arange(seeds), len(lrs))],
                       epochs=epochs, batch_size=batch)
    mini = np.asarray(hist.train_loss).reshape(len(lrs), seeds, -1)[:, :, -1]
    full = losses["Rprop"][:, :, -1]
    bm = int(np.argmin(np.nan_to_num(mini, nan=np.inf).mean(1)))
    bf = int(np.argmin(np.nan_to_num(full, nan=np.inf).mean(1)))
    m, f = mini[bm], full[bf]
    ex.metrics["rprop"] = {"minibatch_final_loss": mini, "fullbatch_final_loss": full}
    ex.verdict("Rprop works full-batch but fails with mini-batches (000 3.5.1): at its best lr, "
               f"mini-batch Rprop ({epochs} epochs of batch {batch}, many more updates) ends with "
               "a "
               f"training loss above full-batch Rprop's ({full_epochs} steps) by 2 SE",
               exceeds(m, f),
               f"final training loss: mini-batch {m.mean():.3f} ± {sem(m):.3f} (lr {lrs[bm]}), "
               f"full batch {f.mean():.3f} ± {sem(f):.3f} (lr {lrs[bf]}), {seeds} seeds")


def adam_counterexample(ex: Experiment) -> None:
    """Reddi, Kale and Kumar (2018), section 3: f_t(x) = C x every third step, -x otherwise, on
    [-1, 1]. The optimum is x = -1 (C > 2); Adam with beta1 = 0, beta2 = 1 / (1 + C^2) drifts to
    +1, projected SGD does not."""
    C, T = 3.0, ex.pick(30_000, 300)
    grads = np.where(np.arange(T) % 3 == 0, C, -1.0).astype(np.float32)  # NumPy: no eager compile

    def run_opt(opt):
        def body(carry, g_t):
            x, s, t = carry
            u, s = opt.update(jnp.full((1,), g_t), s, x)
            x = jnp.clip(x + u * jax.lax.rsqrt(t), -1.0, 1.0)  # step alpha / sqrt(t), projected
            return (x, s, t + 1.0), x[0]
        x0 = np.zeros((1,), np.float32)
        return jax.jit(lambda: jax.lax.scan(body, (x0, opt.init(x0), 1.0), grads)[1])()

    xa = np.asarray(run_opt(optim.adam(0.5, b1=0.0, b2=1 / (1 + C ** 2))))
    xs = np.asarray(run_opt(optim.sgd(0.5)))
    regret = lambda xs_: float(np.mean(np.where(np.arange(T) % 3 == 0, C, -1.0)  # noqa: E731
                                       * (xs_ - (-1.0))))
    ex.metrics["adam_counterexample"] = {
        "adam_final_x": float(xa[-1]), "sgd_final_x": float(xs[-1]),
        "adam_avg_regret": regret(xa), "sgd_avg_regret": regret(xs)}
    ex.verdict("Adam may fail to converge (002; Reddi et al. 2018): on their online problem Adam "
               "(beta1 0, beta2 1/(1+C^2)) ends far from the optimum x = -1 while projected SGD "
               "reaches it", xa[-1] > 0.0 and abs(xs[-1] + 1.0) < 0.05,
               f"C = {C:g}, {T} steps of lr 0.5/sqrt(t): Adam ends at x = {xa[-1]:.3f}, SGD at "
               f"{xs[-1]:.3f}; average regret per step Adam {regret(xa):.3f}, SGD {regret(xs):.3f}")


def main(quick: bool) -> Experiment:
    ex = Experiment("optimizers",
                    "GD, SGD, momentum, Nesterov, AdaGrad, RMSProp, Adam and Rprop compared",
                    "002 优化器 (optimizers); 调整优化器和学习速率 (Adam, then SGD)", quick=quick)
    # quick: only the optimizers the verdicts name (compiles dominate)
    names = ex.pick(list(MAKE), ["GD", "SGD", "momentum", "AdaGrad", "RMSProp", "Adam", "Rprop"])
    opts = {n: MAKE[n] for n in names}
    # quick: the 2-D paths of GD, SGD, momentum and Adam only (one compile each; the adaptive
    # methods' claim is judged on Adam)
    opts_2d = ex.pick(opts, {n: opts[n] for n in ("GD", "SGD", "momentum", "Adam")})
    adaptive = [n for n in ("AdaGrad", "RMSProp", "Adam", "Rprop") if n in opts_2d]
    full_batch = [n for n in ("GD", "Rprop") if n in opts]  # the others are mini-batch
    plain = [n for n in ("GD", "SGD", "momentum", "Nesterov") if n in opts]  # 1st panel of paths
    paths_2d(ex, opts_2d, adaptive, plain)
    on_mnist1d(ex, opts, full_batch)
    adam_counterexample(ex)
    return ex.finish()


def paths_2d(ex: Experiment, opts: dict, adaptive: list, plain: list) -> None:
    """Paths on a ravine and on Rosenbrock, each optimizer at its best learning rate of a grid."""
    # each optimizer run by lax.scan, vmapped over a learning-rate grid
    FUNCS = {"ravine": (ravine, (-9.0, 1.5), ex.pick(500, 300), (-10, 2, -2.2, 2.2)),
             "rosenbrock": (rosenbrock, (-1.2, 1.0), ex.pick(3000, 600), (-1.6, 1.4, -0.6, 1.8))}
    FUNCS = ex.pick(FUNCS, {"ravine": FUNCS["ravine"]})  # quick: one compile per optimizer
    LRS_2D = np.logspace(-4, 0, ex.pick(17, 9))
    NOISE, TOL = 1.0, 1e-3  # SGD on a 2-D function: the true gradient + N(0, NOISE^2) per coord.
    ex.setting(ravine="0.05 x^2 + 2.5 y^2 from (-9, 1.5)",
               rosenbrock="(1-x)^2 + 100 (y-x^2)^2 from (-1.2, 1)",
               lr_grid_2d=f"{len(LRS_2D)} log-spaced in [1e-4, 1], best = fewest steps until f "
                          f"stays < {TOL}",
               sgd_noise_2d=NOISE, momentum_beta=0.9)

    best2d, rows2d, every = {}, [], {}
    for fname, (f, w0, steps, _) in FUNCS.items():
        for name, make in opts.items():
            out = run_2d(make, f, w0, steps, NOISE * (name == "SGD"), LRS_2D)
            paths, losses, ratio = (np.asarray(a) for a in out)
            losses = np.where(np.isfinite(losses), losses, np.inf)
            hits = [steps_to(f_lr, TOL) for f_lr in losses]  # per learning rate
            score = [(h if h is not None else steps + 1, f_lr[-1])
                     for h, f_lr in zip(hits, losses)]
            i = min(range(len(score)), key=lambda j: score[j])
            tail = float(np.mean(losses[i, -50:]))
            dy = np.diff(paths[i, :, 1])
            zigzag = float(np.sum(np.abs(dy)) / abs(w0[1]))  # y-path length / y-distance needed
            best2d[(fname, name)] = dict(lr=float(LRS_2D[i]), steps_to_tol=hits[i],
                                         final=float(losses[i, -1]),
                                         tail_mean=tail, y_path_ratio=zigzag,
                                         y_reversals=int(np.sum(np.sign(dy[1:] * dy[:-1]) < 0)),
                                         first_step_ratio=float(
                                             abs(paths[i, 1, 0] - w0[0])
                                             / max(abs(paths[i, 1, 1] - w0[1]), 1e-30)),
                                         path=paths[i], losses=losses[i], eff=ratio[i])
            every[(fname, name)] = (paths, losses)
            b = best2d[(fname, name)]
            rows2d.append([fname, name, b["lr"], b["steps_to_tol"] or f"> {steps}", b["final"],
                           tail,
                           zigzag if fname == "ravine" else "",
                           b["y_reversals"] if fname == "ravine" else ""])
    ex.table("2-D test functions, each optimizer at its best learning rate of the grid",
             ["function", "optimizer", "lr", f"steps until f stays < {TOL}", "final f",
              "mean f, last 50 steps",
              "ravine: sum|dy| / |y0|", "ravine: y reversals"], rows2d,
             note="sum|dy| / |y0| = 1 means no overshoot across the ravine; SGD gets gradient "
                  "noise.")
    ex.metrics["two_d"] = {f"{k[0]}/{k[1]}": {n: v for n, v in d.items()
                                              if n not in ("path", "losses", "eff")}
                           for k, d in best2d.items()}

    R = {n: best2d[("ravine", n)] for n in opts}
    (gp, gl), (mp, ml) = every[("ravine", "GD")], every[("ravine", "momentum")]
    y0 = abs(FUNCS["ravine"][1][1])
    ratio = lambda p: np.sum(np.abs(np.diff(p[:, 1]))) / y0  # noqa: E731
    # the same lr for both, wherever GD zig-zags (>= 3 reversals across the ravine) and converges
    zig = [i for i in range(len(LRS_2D)) if np.isfinite(gl[i, -1]) and gl[i, -1] < gl[i, 0]
           and np.sum(np.sign(np.diff(gp[i, :, 1])[1:] * np.diff(gp[i, :, 1])[:-1]) < 0) >= 3]
    cases = {f"{LRS_2D[i]:.3g}": bool(np.isfinite(ml[i, -1]) and ratio(mp[i]) < ratio(gp[i]))
             for i in zig}
    ex.verdict_cases("Momentum damps the oscillation across a ravine (002: SGDM '避免震荡'): at "
                     "the same lr, a shorter path across the ravine than GD's, at every lr where "
                     "GD zig-zags", cases,
                     "sum|dy|/|y0| at the same lr: " + ", ".join(
                         f"lr {LRS_2D[i]:.3g}: momentum {ratio(mp[i]):.1f} vs GD "
                         f"{ratio(gp[i]):.1f}" for i in zig) + " (deterministic: no seeds)",
                     subject="the learning rate", ordered=True)
    ex.metrics["momentum_same_lr"] = {k: bool(v) for k, v in cases.items()}
    sb = {fn: {n: best2d[(fn, n)]["steps_to_tol"] or FUNCS[fn][2] + 1 for n in opts}
          for fn in FUNCS}
    ex.verdict("Momentum speeds up descent (002: SGDM '加快训练速度')",
               all(sb[fn]["momentum"] < sb[fn]["GD"] for fn in FUNCS),
               "; ".join(f"{fn}: {sb[fn]['momentum']} vs GD {sb[fn]['GD']} steps" for fn in FUNCS))
    ex.verdict_cases("Adaptive methods handle badly scaled dimensions (per-coordinate step sizes)",
                     {n: sb["ravine"][n] < sb["ravine"]["GD"] for n in adaptive},
                     f"first step |dx|/|dy|: GD {R['GD']['first_step_ratio']:.3f}, "
                     + ", ".join(f"{n} {R[n]['first_step_ratio']:.2f}" for n in adaptive)
                     + f"; steps to tol on the ravine: GD {sb['ravine']['GD']}, "
                     + ", ".join(f"{n} {sb['ravine'][n]}" for n in adaptive),
                     subject="the optimizer")
    ex.verdict("SGD oscillates: it keeps bouncing around the minimum without lr decay "
               "(002: SGD '存在震荡')",
               R["SGD"]["tail_mean"] > 10 * R["GD"]["tail_mean"],
               f"ravine, mean f over the last 50 steps: SGD {R['SGD']['tail_mean']:.2e} vs GD "
               f"{R['GD']['tail_mean']:.2e}")

    fig, axes = plot.figure(2, len(FUNCS), width=5.2, height=4.0)
    for r, (fname, (f, w0, steps, bounds)) in enumerate(FUNCS.items()):
        for c, group in enumerate((plain, adaptive)):
            plot.contour_path(axes[r, c], lambda x, y: f(x, y),
                              {n: best2d[(fname, n)]["path"] for n in group},
                              bounds, title=f"{fname}: " + ", ".join(group))
    ex.figure(fig, "trajectories.png",
              "Paths on the contours, each optimizer at its best lr of the grid")
    fig, axes = plot.figure(len(FUNCS), width=5.0)
    for c, fname in enumerate(FUNCS):
        for n in opts:
            axes[0, c].semilogy(best2d[(fname, n)]["losses"] + 1e-12, label=n, lw=1)
        plot.label(axes[0, c], f"{fname}: f along the path", "step", "f (log)", legend=True)
    ex.figure(fig, "loss_2d.png", "Objective per step on the 2-D functions")


def on_mnist1d(ex: Experiment, opts: dict, full_batch: list) -> None:
    """The mnist1d MLP: loss curves, AdaGrad's vanishing step, Adam then SGD."""
    # every optimizer, its lr picked from a grid of 3, 3 seeds each
    (xall, yall), test = mnist1d()
    take, take_test = ex.pick((None, None), (800, 300))  # None: all
    # sliced in NumPy (split takes NumPy arrays; the same values, no eager slice programs)
    xall, yall = np.asarray(xall)[:take], np.asarray(yall)[:take]
    test = jax.device_put((np.asarray(test[0])[:take_test], np.asarray(test[1])[:take_test]))
    train, val, _ = split(xall, yall, val=0.125, test=0.0, key=jax.random.key(7))
    hidden = ex.pick([100, 100], [])  # quick: no hidden layer (a smaller program compiles faster)
    model = serial(*[layer for h in hidden for layer in (Dense(h), Relu())], Dense(10))
    BATCH, EPOCHS, SEEDS = 100, ex.pick(20, 2), ex.pick(5, 2)
    FULL_EPOCHS = ex.pick(100, 3)
    LRS = {"GD": [0.3, 1.0, 3.0], "SGD": [0.03, 0.1, 0.3], "momentum": [0.01, 0.03, 0.1],
           "Nesterov": [0.01, 0.03, 0.1], "AdaGrad": [0.01, 0.03, 0.1],
           "RMSProp": [3e-4, 1e-3, 3e-3], "Adam": [1e-3, 3e-3, 1e-2], "Rprop": [1e-4, 1e-3, 1e-2]}
    LRS = ex.pick(LRS, {n: v[1:2] for n, v in LRS.items()})  # quick: the middle lr only
    # quick: AdaGrad and RMSProp only in the accumulator runs below (at the middle lr); every
    # claim on the mnist1d curves names the others
    grid = ex.pick(list(opts), [n for n in opts if n not in ("AdaGrad", "RMSProp")])
    # one lr -> optimizer function per optimizer, reused by every run of it: one compiled program
    by_lr = {n: (lambda lr, m=make: m(lr)) for n, make in opts.items()}
    ntr = int(train[0].shape[0])
    ex.setting(mlp="-".join(map(str, [40, *hidden, 10])) + " ReLU",
               data=f"mnist1d, {ntr} train / {val[0].shape[0]} val / {test[0].shape[0]} test",
               minibatch=f"batch {BATCH}, {EPOCHS} epochs",
               full_batch=f"GD and Rprop: batch {ntr}, {FULL_EPOCHS} epochs "
                          f"({FULL_EPOCHS // EPOCHS}x the passes)",
               lr_grids=LRS, seeds=SEEDS, lr_choice="lowest mean final training loss")
    keys = jax.random.split(jax.random.key(0), SEEDS)
    curves, mn, rows, test_acc, losses = {}, {}, [], {}, {}
    for name in grid:
        full, nlr = name in full_batch, len(LRS[name])
        lr = np.repeat(np.asarray(LRS[name], np.float32), SEEDS)
        ts, hist = vmap_fit(model, softmax_cross_entropy, by_lr[name], train,
                            hparams={"lr": lr},
                            keys=keys if nlr == 1 else keys[np.tile(np.arange(SEEDS), nlr)],
                            epochs=FULL_EPOCHS if full else EPOCHS,
                            batch_size=ntr if full else BATCH)
        loss = np.asarray(hist.train_loss).reshape(nlr, SEEDS, -1)
        final = np.where(np.isfinite(loss[:, :, -1]), loss[:, :, -1], np.inf).mean(1)
        j = int(np.argmin(final))
        members = [member(ts, j * SEEDS + s) for s in range(SEEDS)]
        acc = np.array([evaluate(model, m, test)["accuracy"] for m in members])
        curves[name], test_acc[name], losses[name] = loss[j].mean(0), acc, loss
        mn[name] = dict(lr=LRS[name][j], final_train_loss=float(final[j]),
                        loss_epoch2=float(loss[j, :, 1].mean()),
                        test_acc_mean=float(acc.mean()), test_acc_std=float(acc.std()),
                        seconds=float(np.sum(hist.seconds[0])), params=members)
        rows.append([name, "full" if full else BATCH, LRS[name][j], mn[name]["loss_epoch2"],
                     mn[name]["final_train_loss"], f"{acc.mean():.3f} +- {acc.std():.3f}",
                     mn[name]["seconds"]])
    ex.table("mnist1d MLP, each optimizer at its best lr",
             ["optimizer", "batch", "lr", "train loss after 2 epochs",
             "final train loss", "test accuracy", "seconds (all lrs x seeds)"], rows,
             note=f"Mini-batch: {EPOCHS} epochs; GD and Rprop full batch: {FULL_EPOCHS} epochs.")
    ex.metrics["mnist1d"] = {n: {k: v for k, v in d.items() if k != "params"}
                             for n, d in mn.items()}
    mini = [n for n in grid if n not in full_batch]
    ex.verdict("GD is very slow: one update per pass over the whole data (002: GD)",
               mn["GD"]["final_train_loss"] > mn["SGD"]["final_train_loss"],
               f"train loss: GD {mn['GD']['final_train_loss']:.3f} after {FULL_EPOCHS} passes vs "
               "SGD "
               f"{mn['SGD']['final_train_loss']:.3f} after {EPOCHS}")
    ex.verdict("SGD descends slowly compared with momentum and Adam (002: SGD '下降速度慢')",
               mn["SGD"]["final_train_loss"]
               > max(mn["momentum"]["final_train_loss"], mn["Adam"]["final_train_loss"]),
               ", ".join(f"{n} {mn[n]['final_train_loss']:.3f}"
                         for n in ("SGD", "momentum", "Adam")))
    # early speed: each optimizer at the lr of its grid best after 2 epochs (chosen for this claim)
    early = {n: losses[n][int(np.argmin(np.nan_to_num(losses[n][:, :, 1], nan=np.inf).mean(1))),
                          :, 1] for n in mini}
    lead = {n: early[n].mean() - early["Adam"].mean() - 2 * np.hypot(sem(early[n]),
                                                                     sem(early["Adam"]))
            for n in mini if n != "Adam"}
    ex.verdict("Adam converges fastest early (002: Adam '收敛速度快'): each optimizer at its best "
               f"lr for the loss after 2 epochs, Adam's is lowest by 2 SE ({SEEDS} seeds)",
               all(v > 0 for v in lead.values()),
               "train loss after 2 epochs (mean ± SE): " + ", ".join(
                   f"{n} {early[n].mean():.3f} ± {sem(early[n]):.3f}" for n in mini))
    # quick: batch ntr, the full-batch run's compiled program again
    rprop_minibatch(ex, model, by_lr["Rprop"], train, LRS["Rprop"], losses, keys,
                    ex.pick(BATCH, ntr), EPOCHS, FULL_EPOCHS)

    # AdaGrad's vanishing step vs RMSProp: effective step after each epoch
    eff, accs, eff_lr = {}, {}, {}
    for name, kind in (("AdaGrad", optim.ScaleByRssState), ("RMSProp", optim.ScaleByRmsState)):
        lr, trace = mn[name]["lr"] if name in mn else LRS[name][0], []  # quick: not in the grid
        eff_lr[name] = lr
        fit(model, softmax_cross_entropy, opts[name](lr), train, epochs=EPOCHS, batch_size=BATCH,
            key=keys[0], verbose=0,
            callbacks=[lambda e, ts, logs, t=trace, k=kind: t.append(accumulator(ts.opt_state, k))])
        accs[name] = np.array(trace)
        eff[name] = lr / np.sqrt(accs[name])  # the step per unit gradient of a typical weight
        ex.metrics[f"effective_step_{name}"] = eff[name].tolist()
    a, r, s_ada = eff["AdaGrad"], eff["RMSProp"], accs["AdaGrad"]
    w = max(1, len(s_ada) // 4)
    growth_early = (s_ada[w] - s_ada[0]) / w if len(s_ada) > w else 0.0
    growth_late = (s_ada[-1] - s_ada[-1 - w]) / w if len(s_ada) > w else 0.0
    halve = ((4 * s_ada[0] - s_ada[-1]) / growth_late + len(s_ada) if growth_late > 0
             else float("inf"))
    ex.metrics["adagrad_accumulator"] = {"per_epoch": s_ada.tolist(), "growth_early": growth_early,
                                         "growth_late": growth_late, "epochs_to_halve_step": halve}
    ex.verdict("AdaGrad's step decreases monotonically to 0 (002: '学习速率会单调递减至0')",
               bool(np.all(np.diff(a) <= 0)) and growth_late >= 0.5 * growth_early > 0,
               f"lr/sqrt(mean s) never rises ({a[0]:.3f} after epoch 1 -> {a[-1]:.3f} after "
               f"{len(a)}, x{a[-1] / a[0]:.2f}); s keeps growing ({growth_early:.2e}/epoch early, "
               f"{growth_late:.2e} late), so the step -> 0 like 1/sqrt(t), halving by epoch "
               f"~{halve:.0f} (initial accumulator 0.1 dominates early)")
    rises = int(np.sum(np.diff(r) > 0))
    ex.verdict("RMSProp forgets old gradients, so its step is not bound to shrink (002: RMSProp)",
               rises > 0 and not np.any(np.diff(a) > 0),
               f"epochs in which the step rose: RMSProp {rises} of {len(r) - 1}, AdaGrad "
               f"{int(np.sum(np.diff(a) > 0))}")

    # Adam vs SGD at the end, and Adam first then SGD (002 调整优化器和学习速率): a budget long
    # enough to converge, each rate cosine-decayed to 0 (the setting those claims assume)
    LONG, steps_per = ex.pick(40, 2), ntr // BATCH
    half = LONG // 2
    lr_a, lr_s = mn["Adam"]["lr"], mn["SGD"]["lr"]

    def cos(lr, epochs):
        return schedules.cosine_decay(lr, epochs * steps_per)

    if ex.quick:  # quick: a constant lr, so the grid's compiled programs run again
        def long_fit(name, lr, epochs):
            return vmap_fit(model, softmax_cross_entropy, by_lr[name], train,
                            hparams={"lr": np.full(SEEDS, lr, np.float32)}, keys=keys,
                            epochs=epochs, batch_size=BATCH)

        ts_adam, h_adam = long_fit("Adam", lr_a, LONG)
        ts_sgd, h_sgd = long_fit("SGD", lr_s, LONG)
        ts_a, h_first = long_fit("Adam", lr_a, half)
    else:
        ts_adam, h_adam = vmap_fit(model, softmax_cross_entropy,
                                   lambda: optim.adam(cos(lr_a, LONG)),
                                   train, keys=keys, epochs=LONG, batch_size=BATCH)
        ts_sgd, h_sgd = vmap_fit(model, softmax_cross_entropy, lambda: optim.sgd(cos(lr_s, LONG)),
                                 train, keys=keys, epochs=LONG, batch_size=BATCH)
        ts_a, h_first = vmap_fit(model, softmax_cross_entropy,
                                 lambda: optim.adam(cos(lr_a, half)),
                                 train, keys=keys, epochs=half, batch_size=BATCH)
    then = [fit(model, softmax_cross_entropy, optim.sgd(cos(lr_s, LONG - half)), train,
                epochs=LONG - half, batch_size=BATCH, key=keys[s], verbose=0,
                init=member((ts_a.params, ts_a.state), s))
            for s in range(SEEDS)]

    def test_of(ts):
        return np.array([evaluate(model, member(ts, s), test)["accuracy"] for s in range(SEEDS)])

    runs = {"Adam": test_of(ts_adam), "SGD": test_of(ts_sgd),
            "Adam then SGD": np.array([evaluate(model, ts, test)["accuracy"] for ts, _ in then])}
    acc = {n: (float(a.mean()), float(sem(a))) for n, a in runs.items()}
    ex.table(f"Adam, SGD and Adam then SGD: {LONG} epochs, cosine decay to 0",
             ["schedule", f"test accuracy (mean ± SE, {SEEDS} seeds)"],
             [[f"Adam {LONG} epochs", f"{acc['Adam'][0]:.3f} ± {acc['Adam'][1]:.3f}"],
              [f"SGD {LONG} epochs", f"{acc['SGD'][0]:.3f} ± {acc['SGD'][1]:.3f}"],
              [f"Adam {half} + SGD {LONG - half} epochs",
               f"{acc['Adam then SGD'][0]:.3f} ± {acc['Adam then SGD'][1]:.3f}"]],
             note=f"Same seeds; Adam lr {lr_a}, SGD lr {lr_s} (their best on the grid), each "
                  "cosine-decayed to 0 over its own phase.")
    ex.metrics["adam_then_sgd"] = {k: {"mean": v[0], "se": v[1]} for k, v in acc.items()}

    def beats(a, b):
        """Run a's mean exceeds run b's by more than 2 standard errors of the difference."""
        return exceeds(runs[a], runs[b])

    ex.verdict(f"SGD usually ends with a better result than Adam (002: '优化器选择'): after {LONG} "
               "epochs with cosine decay, higher test accuracy by 2 SE", beats("SGD", "Adam"),
               f"test accuracy SGD {acc['SGD'][0]:.3f} ± {acc['SGD'][1]:.3f} vs Adam "
               f"{acc['Adam'][0]:.3f} ± {acc['Adam'][1]:.3f} ({SEEDS} seeds)")
    sw = runs["Adam then SGD"]
    ex.verdict("Adam first, then SGD beats either alone (002: '先用Adam...再换成SGD')",
               beats("Adam then SGD", "Adam") and beats("Adam then SGD", "SGD"),
               f"test accuracy {sw.mean():.3f} ± {sem(sw):.3f} vs Adam {acc['Adam'][0]:.3f}, SGD "
               f"{acc['SGD'][0]:.3f} (must win by > 2 standard errors over {SEEDS} seeds)")
    switch_curves = np.stack([h.train_loss for _, h in then])
    long_curves = {"Adam": h_adam.train_loss.mean(0), "SGD": h_sgd.train_loss.mean(0),
                   "first": h_first.train_loss.mean(0)}

    fig, axes = plot.figure(3, width=4.8)
    for n, c in curves.items():
        axes[0, 0].semilogx(np.arange(1, len(c) + 1), c,
                            label=f"{n} ({'full' if n in full_batch else BATCH})")
    plot.label(axes[0, 0], "mnist1d MLP: training loss", "epoch (passes over the data, log)",
               "train loss",
               legend=True)
    for n, e in eff.items():
        axes[0, 1].semilogy(np.arange(1, len(e) + 1), e / e[0], "-o", ms=3,
                            label=f"{n} (lr {eff_lr[n]})")
    plot.label(axes[0, 1], "effective step lr / sqrt(mean accumulator)", "epoch",
               "relative to epoch 1 (log)",
               legend=True)
    axes[0, 2].plot(np.arange(1, LONG + 1), long_curves["Adam"], label="Adam")
    axes[0, 2].plot(np.arange(1, LONG + 1), long_curves["SGD"], label="SGD")
    axes[0, 2].plot(np.arange(1, LONG + 1), np.concatenate(
        [long_curves["first"], np.mean(switch_curves, 0)]), label="Adam, then SGD")
    axes[0, 2].set_yscale("log")
    plot.label(axes[0, 2], f"{LONG} epochs, cosine decay", "epoch", "train loss (seed mean, log)",
               legend=True)
    ex.figure(fig, "mnist1d.png",
              "Left: loss curves; middle: AdaGrad's vanishing step; right: Adam then SGD")


if __name__ == "__main__":
    run(main)
