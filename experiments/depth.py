"""Depth vs width: ReLU MLPs of 1 to 8 hidden layers at (about) the same parameter count on
`spirals` and `mnist1d`, several seeds each via `vmap_fit`; and the collapse of a purely linear deep
network to one layer (product of its weight matrices, composed bias) against logistic regression."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, exceeds, run, sem


from jaxdl import data, optim, plot
from jaxdl.core import count_params, serial
from jaxdl.initializers import he_normal
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn import Dense, Relu
from jaxdl.sweep import vmap_fit


def n_params(d, w, depth, k):
    return d * w + w + (depth - 1) * (w * w + w) + w * k + k


def width_for(d, depth, k, budget):
    return min(range(1, 4 * budget), key=lambda w: abs(n_params(d, w, depth, k) - budget))


def mlp(width, depth, k, act=True):
    hidden = [[Dense(width, w_init=he_normal()), Relu()] if act else [Dense(width)]
              for _ in range(depth)]
    return serial(*[layer for h in hidden for layer in h], Dense(k))


def dynamics(ex, model, ts, tr, train_xy, test_xy, keys, train, where):
    """Different seeds, different minima (the loss barrier on the straight line between two
    solutions); depth against the number of training samples; fitting a small subset. `where`:
    (data set, hidden layers) of `model`."""
    seeds = len(keys)
    x, y = jnp.asarray(tr[0]), jnp.asarray(tr[1])

    def loss_at(p, s):
        return softmax_cross_entropy(model.apply(p, s, x)[0], y)

    def pair(ts, i, j):  # the two end points' losses and the midpoint's
        member = lambda i: jax.tree.map(lambda a: a[i], ts)  # noqa: E731
        a, b = member(i), member(j)
        mid = jax.tree.map(lambda u, v: (u + v) / 2, a.params, b.params)
        return loss_at(a.params, a.state), loss_at(b.params, b.state), loss_at(mid, a.state)

    # quick: one jitted program instead of an eager one per operation and shape
    pair = ex.pick(pair, jax.jit(pair, static_argnums=(1, 2)))
    barriers, ends = [], []
    for i in range(seeds):
        for j in range(i + 1, seeds):
            la, lb, lm = pair(ts, i, j)
            end = (float(la) + float(lb)) / 2
            barriers.append(float(lm) - end)
            ends.append(end)
    barriers = np.array(barriers)
    ex.metrics["loss_barriers"] = barriers
    ex.verdict("Different starts end in different minima (002): on the straight line between two "
               "seeds' solutions the training loss rises (barrier > 0 in every pair, mean > 2 SE)",
               bool(np.all(barriers > 0)) and barriers.mean() > 2 * sem(barriers),
               f"{where[0]}, {where[1]} hidden layers, {len(barriers)} seed pairs: loss at the "
               f"midpoint minus the endpoints' mean = {barriers.mean():.3f} ± "
               f"{sem(barriers):.3f} (min {barriers.min():.3f}; endpoint losses "
               f"{np.mean(ends):.3f})")

    # depth against samples: 1 vs 4 hidden layers at ~10k params, few vs all training samples
    # (quick: 1 vs 2, the nets of section 1 in quick mode, whose programs run again)
    (mx, my), SIZES, STEPS = train_xy, ex.pick((400, 4000), (100, 300)), ex.pick(1200, 6)
    DEEP = ex.pick(4, 2)
    adv = {}
    for n in SIZES:
        accs = {}
        for depth in (1, DEEP):
            m = mlp(width_for(mx.shape[1], depth, 10, 10_000), depth, 10)
            _, h = train(m, (mx[:n], my[:n]), test_xy, max(1, STEPS * 100 // n), 100)
            accs[depth] = (h["val_accuracy"][:, -1], h["train_accuracy"][:, -1])
        adv[n] = accs
    d_small, d_large = (adv[n][DEEP][0] - adv[n][1][0] for n in SIZES)
    rows = [[n, d, f"{adv[n][d][1].mean():.3f}", f"{adv[n][d][0].mean():.3f} ± "
             f"{sem(adv[n][d][0]):.3f}"] for n in SIZES for d in (1, DEEP)]
    ex.table(f"mnist1d, ~10k params, {STEPS} steps of batch 100 at every training-set size",
             ["training examples", "hidden layers", "train acc", "test acc (mean ± SE)"], rows)
    ex.metrics["depth_vs_samples"] = {str(n): {str(d): v for d, v in a.items()}
                                      for n, a in adv.items()}
    ex.verdict(f"Deeper networks need more samples (000 3.7.1): {DEEP} hidden layers' lead over 1 "
               f"at {SIZES[-1]} examples exceeds its lead at {SIZES[0]} by 2 SE",
               exceeds(d_large, d_small),
               f"test accuracy of {DEEP} layers minus 1 layer: {SIZES[0]} examples "
               f"{d_small.mean():+.3f} ± {sem(d_small):.3f}, {SIZES[-1]} examples "
               f"{d_large.mean():+.3f} ± {sem(d_large):.3f} ({seeds} seeds)")

    SUB, EP = 50, ex.pick(300, 3)
    _, h = train(mlp(width_for(mx.shape[1], DEEP, 10, 10_000), DEEP, 10), (mx[:SUB], my[:SUB]),
                 (mx[:SUB], my[:SUB]), EP, 10)
    fitted = h["val_accuracy"][:, -1]
    ex.verdict(f"A network fits a small subset (002 capacity check): the {DEEP}-layer net reaches "
               f"100% training accuracy on {SUB} examples in every seed",
               bool(np.all(fitted == 1.0)),
               f"training accuracy (eval mode) after {EP} epochs per seed: "
               + ", ".join(f"{v:.2f}" for v in fitted))


def main(quick: bool) -> Experiment:
    ex = Experiment("depth",
                    "deeper vs wider networks; a deep linear network collapses to one layer",
                    "000 sections 3.1.4 and 3.2.6 (why deep: more capacity, within a range); 002 "
                    "(under-fitting: 'increasing depth beats increasing width'); 001 section 2(1) "
                    "(without activations a multi-layer network equals a single layer)",
                    quick=quick)
    SEEDS = ex.pick(5, 2)
    # quick: mnist1d alone, depths 1 and 2: the networks that sections 2 and 3 train on mnist1d
    # in quick mode, so their compiled programs run again there
    DEPTHS = ex.pick((1, 2, 4, 8), (1, 2))
    MINIMA = ex.pick(("spirals", 2), ("mnist1d", 2))  # (data set, depth) of the barrier test
    LR = 3e-3
    keys = jax.random.split(jax.random.key(0), SEEDS)
    if not ex.quick:
        (sx, sy), (sx_t, sy_t) = data.spirals(900, 3, 0.02, jax.random.key(1), n_test=900)
    (mx, my), (mx_t, my_t) = data.mnist1d()
    take = ex.pick(None, 300)  # None: all
    mx, my, mx_t, my_t = mx[:take], my[:take], mx_t[:take], my_t[:take]
    SETS = {  # name: (train, test, classes, parameter budget, epochs, batch)
        "mnist1d": ((mx, my), (mx_t, my_t), 10, 10_000, ex.pick(60, 3), 100),
    }
    if not ex.quick:
        SETS = {"spirals": ((sx, sy), (sx_t, sy_t), 3, 300, 120, 30), **SETS}
    ex.setting(seeds=SEEDS, depths=DEPTHS, optimizer=f"adam {LR}",
               activation="ReLU, He normal init",
               spirals="3 arms, noise 0.02, 900 train / 900 test, budget ~300 params",
               mnist1d="4000 train / 1000 test, budget ~10000 params",
               test_accuracy="after the last epoch (no model selection on the test split)")

    def adam():  # one function for every run: equal models and shapes reuse a compiled program
        return optim.adam(LR)

    def train(model, train_xy, test_xy, epochs, batch):
        ts, hist = vmap_fit(model, softmax_cross_entropy, adam, train_xy,
                            keys=keys, val=test_xy, epochs=epochs, batch_size=batch)
        return ts, hist.values

    # --- 1. deeper vs wider at equal parameter count ---------------------------------------------
    rows, dm, curves = [], {}, {}
    for name, (tr, te, k, budget, epochs, batch) in SETS.items():
        d = tr[0].shape[1]
        for depth in DEPTHS:
            w = width_for(d, depth, k, budget)
            model = mlp(w, depth, k)
            ts, h = train(model, tr, te, epochs, batch)
            p = count_params(jax.tree.map(lambda a: np.asarray(a)[0], ts.params))
            assert p == n_params(d, w, depth, k)
            acc, tr_acc = h["val_accuracy"][:, -1], h["train_accuracy"][:, -1]
            dm[f"{name}/{depth}"] = {"width": w, "params": p, "test_accuracy": acc,
                                     "train_accuracy": tr_acc}
            curves[(name, depth)] = (w, h["val_accuracy"])
            if (name, depth) == MINIMA:
                minima = (model, ts, tr)
            rows.append([name, depth, w, p, f"{tr_acc.mean():.3f} +- {tr_acc.std():.3f}",
                         f"{acc.mean():.3f} +- {acc.std():.3f}"])
    ex.table(f"Deeper vs wider at ~equal parameter count ({SEEDS} seeds, mean +- std)",
             ["data", "hidden layers", "width", "params", "train acc", "test acc"], rows)
    ex.metrics["depth_vs_width"] = dm

    wins = {}
    for name in SETS:
        wide = dm[f"{name}/1"]["test_accuracy"]
        deep = max(DEPTHS[1:], key=lambda L: dm[f"{name}/{L}"]["test_accuracy"].mean())
        best = dm[f"{name}/{deep}"]["test_accuracy"]
        noise = 2 * np.hypot(sem(wide), sem(best))
        wins[name] = (best.mean() - wide.mean() > noise, deep, best.mean(), wide.mean(), noise)
    ex.metrics["deeper_beats_wider"] = {
        n: {"beats": bool(v[0]), "best_depth": v[1], "best_deep_acc": v[2], "one_layer_acc": v[3],
            "noise_2se": v[4]} for n, v in wins.items()}
    ex.verdict_cases("At equal parameter count a deeper network beats a wider (1 hidden layer) "
                     "one", {n: v[0] for n, v in wins.items()},
                     "; ".join(f"{n}: {v[1]} layers {v[2]:.3f} vs 1 layer {v[3]:.3f} (2 SE = "
                               f"{v[4]:.3f})" for n, v in wins.items()), subject="the data set")
    deepest = DEPTHS[-1]
    drops = {n: dm[f"{n}/{wins[n][1]}"]["test_accuracy"].mean()
             - dm[f"{n}/{deepest}"]["test_accuracy"].mean() for n in SETS}
    ex.verdict_cases(f"Depth helps only within a range: the deepest net ({deepest} layers) is not "
                     "the best", {n: wins[n][1] != deepest for n in SETS},
                     "; ".join(f"{n}: best {wins[n][1]} layers, {deepest} layers "
                               f"{drops[n]:+.3f} behind" for n in SETS), subject="the data set")

    fig, axes = plot.figure(len(SETS), width=4.8)
    for i, name in enumerate(SETS):
        for depth in DEPTHS:
            w, va = curves[(name, depth)]
            axes[0, i].plot(np.arange(1, va.shape[1] + 1), va.mean(0), label=f"{depth} x {w}")
        plot.label(axes[0, i], f"{name}: ~{SETS[name][3]} params", "epoch",
                   "test accuracy (seed mean)", legend=True)
    ex.figure(fig, "depth_vs_width.png", "Test accuracy per epoch; legend: hidden layers x width")

    dynamics(ex, *minima, (mx, my), (mx_t, my_t), keys, train, MINIMA)

    # --- 2. a deep linear network is one linear layer --------------------------------------------
    # quick: the ReLU net of the same shape is section 1's 2-layer one (its program runs again)
    LIN_DEPTH, LIN_W = ex.pick((4, 64), (2, width_for(mx.shape[1], 2, 10, 10_000)))
    LIN_EPOCHS = ex.pick(60, 3)
    tr, te = (mx, my), (mx_t, my_t)
    lin = mlp(LIN_W, LIN_DEPTH, 10, act=False)
    ts_lin, h_lin = train(lin, tr, te, LIN_EPOCHS, 100)
    ts_lr, h_lr = train(serial(Dense(10)), tr, te, LIN_EPOCHS, 100)
    ts_relu, h_relu = train(mlp(LIN_W, LIN_DEPTH, 10), tr, te, LIN_EPOCHS, 100)
    xt = np.asarray(mx_t, np.float64)
    apply = ex.pick(lin.apply, jax.jit(lin.apply))  # quick: one program, not one per operation
    errs, agree, acc_collapsed = [], [], []
    for s in range(SEEDS):
        order = sorted(ts_lin.params, key=lambda q: int(q.split("_")[0]))
        layers = [ts_lin.params[name] for name in order]
        w_eff, b_eff = np.eye(xt.shape[1]), np.zeros(xt.shape[1])
        for layer in layers:  # y = (x W_eff + b_eff) W + b  =>  W_eff W, b_eff W + b
            w_l, b_l = np.asarray(layer["w"], np.float64)[s], np.asarray(layer["b"], np.float64)[s]
            w_eff, b_eff = w_eff @ w_l, b_eff @ w_l + b_l
        params, state = jax.tree.map(lambda a, s=s: np.asarray(a)[s], (ts_lin.params, ts_lin.state))
        out = np.asarray(apply(params, state, jnp.asarray(mx_t))[0], np.float64)
        one = xt @ w_eff + b_eff
        errs.append(float(np.max(np.abs(out - one)) / np.max(np.abs(out))))
        agree.append(float(np.mean(out.argmax(1) == one.argmax(1))))
        acc_collapsed.append(float(np.mean(one.argmax(1) == np.asarray(my_t))))
    a_lin, a_lr, a_relu = (h["val_accuracy"][:, -1] for h in (h_lin, h_lr, h_relu))
    lm = {"deep_linear_test_accuracy": a_lin, "collapsed_one_layer_test_accuracy": acc_collapsed,
          "logistic_regression_test_accuracy": a_lr, "same_shape_relu_test_accuracy": a_relu,
          "max_relative_output_error": errs, "argmax_agreement": agree,
          "rank_of_product": int(np.linalg.matrix_rank(w_eff))}
    ex.metrics["linear_collapse"] = lm
    ex.table(f"{LIN_DEPTH} hidden linear layers of width {LIN_W} on mnist1d ({SEEDS} seeds)",
             ["model", "test acc (mean +- std)", "note"],
             [["deep linear (no activations)", f"{a_lin.mean():.3f} +- {a_lin.std():.3f}", ""],
              ["its collapse x W_eff + b_eff", f"{np.mean(acc_collapsed):.3f}",
               f"max rel. output error {max(errs):.1e}, argmax agreement {min(agree):.4f}"],
              ["logistic regression (one Dense)", f"{a_lr.mean():.3f} +- {a_lr.std():.3f}", ""],
              ["same shape with ReLU", f"{a_relu.mean():.3f} +- {a_relu.std():.3f}",
               "non-linearity added"]])
    ex.verdict("The product of the weight matrices (with the composed bias) reproduces the deep "
               "linear network", max(errs) < 1e-4 and min(agree) == 1.0,
               f"W_eff = W1 W2 ... W{LIN_DEPTH + 1}, b_eff = (..(b1 W2 + b2)..) W{LIN_DEPTH + 1} + "
               f"b{LIN_DEPTH + 1}: max relative output error {max(errs):.1e} (float32 rounding), "
               f"same argmax on {min(agree):.2%} of test signals")
    noise = 2 * max(a_lin.std(), a_lr.std(), 0.005)
    ex.verdict("A deep linear network is no more accurate than one linear layer (logistic "
               "regression)",
               abs(a_lin.mean() - a_lr.mean()) <= noise,
               f"{a_lin.mean():.3f} vs {a_lr.mean():.3f} (abs diff "
               f"{abs(a_lin.mean() - a_lr.mean()):.3f}, noise 2 x max seed std = {noise:.3f}); "
               "with "
               f"ReLU the same shape gets {a_relu.mean():.3f}")

    fig, axes = plot.figure(1)
    for name, h in (("deep linear", h_lin), ("logistic regression", h_lr),
                    ("same shape + ReLU", h_relu)):
        axes[0, 0].plot(np.arange(1, LIN_EPOCHS + 1), h["val_accuracy"].mean(0), label=name)
    plot.label(axes[0, 0], f"mnist1d: {LIN_DEPTH} linear hidden layers vs one layer", "epoch",
               "test accuracy (seed mean)", legend=True)
    ex.figure(fig, "linear_collapse.png",
              "A deep linear network learns what one linear layer learns")
    return ex.finish()


if __name__ == "__main__":
    run(main)
