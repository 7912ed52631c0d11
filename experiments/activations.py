"""Activation functions: every one and its derivative plotted and tabulated (the printed
tanh' = -(tanh)^2 checked), then the same MLP trained on two curves with each activation."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, exceeds, run, sem

from jaxdl import data, optim, plot
from jaxdl.activations import (
    Elu, LeakyRelu, Maxout, PReLU, Relu, RReLU, Sigmoid, Tanh, elu, elu_grad, leaky_relu,
    leaky_relu_grad, prelu, relu, relu_grad, sigmoid, sigmoid_grad, softmax, softplus,
    softplus_grad, tanh, tanh_grad)
from jaxdl.core import serial
from jaxdl.data import two_curves
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.sweep import vmap_fit


def main(quick: bool) -> Experiment:
    ex = Experiment("activations",
                    "activation functions, their derivatives, and how fast each trains",
                    "000 sections 3.4.2, 3.4.3, 3.4.10, 3.4.12; 002 'activation functions' "
                    "(sigmoid, tanh, ReLU, ELU, PReLU, RReLU, Maxout on two curves)", quick=quick)
    derivatives(ex)
    training(ex)
    digits_training(ex)
    return ex.finish()


def one_program(ex: Experiment, f):
    """`f` as it is in the full run; jitted in quick mode, where it then compiles once instead of
    once per eager op (quick numbers may differ in the last bits: they mean nothing)."""
    return jax.jit(f) if ex.quick else f


def derivatives(ex: Experiment) -> None:
    """Every activation and its derivative: closed form (*_grad) vs jax.grad."""
    xs = jnp.linspace(-10.0, 10.0, 2001)  # step 0.01: contains -10, 0 and 10 exactly (to rounding)
    rrelu_mean = RReLU()  # eval mode: the mean slope (1/8 + 1/3) / 2
    CURVES = {  # name: (f, closed-form f' or None)
        "sigmoid": (sigmoid, sigmoid_grad), "tanh": (tanh, tanh_grad), "ReLU": (relu, relu_grad),
        "leaky ReLU (a=0.5)": (lambda x: leaky_relu(x, 0.5), lambda x: leaky_relu_grad(x, 0.5)),
        "softplus": (softplus, softplus_grad), "ELU (alpha=1)": (elu, elu_grad),
        "PReLU (a=0.25, its init)": (lambda x: prelu(x, 0.25), None),
        "RReLU (eval: mean slope)": (lambda x: rrelu_mean.apply({}, {}, x)[0], None),
    }
    derivs = {}
    fig, axes = plot.figure(3, 3, width=3.8, height=3.2)
    curves = jax.device_get(jax.jit(lambda v: {  # one compile: f, closed-form f', jax.grad f'
        n: (f(v), None if fp is None else fp(v), jax.vmap(jax.grad(f))(v))
        for n, (f, fp) in CURVES.items()})(xs))
    for ax, (name, (fx, fpx, auto)) in zip(axes.ravel(), curves.items()):
        derivs[name] = auto
        ax.plot(xs, fx, color="C0", label="f(x)")
        if fpx is not None:
            ax.plot(xs, fpx, color="C1", label="f'(x) closed form", lw=2.5, alpha=0.5)
        ax.plot(xs, auto, "--", color="C2", label="f'(x) jax.grad")
        if name == "tanh":
            ax.plot(xs, -fx ** 2, ":", color="k", label="printed -(tanh x)^2")
        ax.set_xlim(-4, 4)
        ax.set_ylim(-1.6, 3.0)
        plot.label(ax, name, "x", "value", legend=True)
    z3 = jnp.array([3.0, 1.0, -3.0])
    p3, jac, p3_in_01, p3_sum = one_program(ex, lambda z: (
        lambda p: (p, jax.jacobian(softmax)(z), jnp.all((p > 0) & (p < 1)), p.sum()))(
        softmax(z)))(z3)
    ax = axes[2, 2]
    ax.bar(np.arange(3) - 0.2, np.asarray(z3), 0.4, label="input z")
    ax.bar(np.arange(3) + 0.2, np.asarray(p3), 0.4, label="softmax(z)")
    for i, v in enumerate(np.asarray(p3)):
        ax.text(i + 0.2, v + 0.1, f"{v:.3f}", ha="center", fontsize=8)
    ax.set_xticks(range(3))
    plot.label(ax, "softmax of [3, 1, -3]", "component j", "value", legend=True)
    ex.figure(fig, "activations.png", "Each activation (blue), its closed-form derivative (wide) "
              "and jax.grad (dashed); the tanh panel adds the printed -(tanh)^2 (dotted)")

    g = {name: np.asarray(d) for name, d in derivs.items()}
    i0, i10, im10 = 1000, 2000, 0
    xs_np = np.asarray(xs)
    printed_tanh = -curves["tanh"][0] ** 2
    tanh_err = float(np.max(np.abs(printed_tanh - g["tanh"])))
    relu_pts = jnp.array([-1.0, -1e-3, 0.0, 1e-3, 1.0])
    at = jax.device_get(one_program(ex, lambda pts: {  # the closed forms at single points
        "sigmoid 0": sigmoid_grad(0.0), "sigmoid 10": sigmoid_grad(10.0),
        "tanh 0": tanh_grad(0.0), "tanh 10": tanh_grad(10.0),
        "ReLU": [relu_grad(v) for v in pts], "ReLU jax.grad": jax.vmap(jax.grad(relu))(pts)})(
        relu_pts))
    relu_auto = np.asarray(at["ReLU jax.grad"])
    rows = [
        ["sigmoid'", "0", float(at["sigmoid 0"]), g["sigmoid"][i0], "0.25 (max)"],
        ["sigmoid'", "argmax on [-10, 10]", xs_np[np.argmax(g["sigmoid"])], "", "0"],
        ["sigmoid'", "+-10", float(at["sigmoid 10"]), g["sigmoid"][im10], "~0"],
        ["tanh'", "0", float(at["tanh 0"]), g["tanh"][i0], "1 (max)"],
        ["tanh'", "argmax on [-10, 10]", xs_np[np.argmax(g["tanh"])], "", "0"],
        ["tanh'", "+-10", float(at["tanh 10"]), g["tanh"][i10], "~0"],
        ["printed -(tanh)^2", "0", printed_tanh[i0], g["tanh"][i0], "should be 1"],
        ["printed -(tanh)^2", "max over [-10, 10]", printed_tanh.max(), g["tanh"].max(),
         "never > 0"],
    ] + [["ReLU'", fmt_x, float(v), a, "step: 0 below, 1 above, 0 or 1 at 0"]
         for fmt_x, v, a in zip(["-1", "-0.001", "0", "0.001", "1"], at["ReLU"], relu_auto)]
    ex.table("Derivative table (000 section 3.4.3): closed form vs jax.grad",
             ["derivative", "x", "closed form", "jax.grad", "the text says"], rows,
             note=f"The printed tanh' = -(tanh x)^2 differs from jax.grad by exactly 1 everywhere "
                  f"(max |diff| = {tanh_err:.6f}); section 3.4.12 prints the right 1 - tanh^2.")
    grad_agree = max(float(np.max(np.abs(c[1] - g[n])))
                     for n, c in curves.items() if c[1] is not None and n != "ReLU")
    ex.metrics["derivatives"] = {
        "sigmoid_grad_at_0": float(at["sigmoid 0"]), "sigmoid_grad_max": g["sigmoid"].max(),
        "sigmoid_grad_at_10": float(at["sigmoid 10"]), "tanh_grad_at_0": float(at["tanh 0"]),
        "tanh_grad_max": g["tanh"].max(), "tanh_grad_at_10": float(at["tanh 10"]),
        "printed_tanh_grad_at_0": printed_tanh[i0], "printed_tanh_max_abs_error": tanh_err,
        "relu_grad_points": relu_pts, "relu_grad_jax": relu_auto,
        "closed_form_vs_jax_grad_max_diff": grad_agree, "softmax_3_1_m3": p3,
        "softmax_jacobian": jac}
    ex.verdict("Closed-form derivatives (*_grad) equal jax.grad", grad_agree < 1e-6,
               f"max |diff| = {grad_agree:.1e} over x in [-10, 10], 6 activations")
    s = ex.metrics["derivatives"]
    ex.verdict("sigmoid' is at most 0.25 (at 0) and ~0 at +-10",
               abs(s["sigmoid_grad_max"] - 0.25) < 1e-7 and s["sigmoid_grad_at_10"] < 1e-4,
               f"max {s['sigmoid_grad_max']:.6f} at x={xs_np[np.argmax(g['sigmoid'])]:.2f}; "
               f"sigmoid'(10) = {s['sigmoid_grad_at_10']:.2e}")
    ex.verdict("tanh' = 1 - tanh^2 is at most 1 (at 0) and ~0 at +-10",
               abs(s["tanh_grad_max"] - 1) < 1e-7 and s["tanh_grad_at_10"] < 1e-6,
               f"max {s['tanh_grad_max']:.6f}; tanh'(10) = {s['tanh_grad_at_10']:.1e}")
    ex.verdict("The printed tanh' = -(tanh x)^2 is correct", tanh_err < 1e-3,
               f"it gives {abs(printed_tanh[i0]):.1f} at 0 (true 1) and is off by {tanh_err:.4f} "
               "everywhere")
    with jax.enable_x64(True):  # float64: sigmoid(15) and tanh(15) are still below 1
        v = jnp.linspace(-15.0, 15.0, 3001, dtype=jnp.float64)
        fns = (("sigmoid", sigmoid), ("tanh", tanh), ("ReLU", relu),
               ("leaky ReLU", lambda u: leaky_relu(u, 0.01)), ("softplus", softplus))
        lo_hi = jax.device_get(one_program(ex, lambda v: {n: (f(v).min(), f(v).max())
                                                          for n, f in fns})(v))
        r = {n: (float(lo_hi[n][0]), float(lo_hi[n][1])) for n, _ in fns}
    ranges_ok = (0 < r["sigmoid"][0] and r["sigmoid"][1] < 1 and -1 < r["tanh"][0]
                 and r["tanh"][1] < 1 and r["ReLU"][0] == 0 and r["ReLU"][1] == 15
                 and r["leaky ReLU"][0] == -0.15 and r["leaky ReLU"][1] == 15
                 and 0 < r["softplus"][0] and r["softplus"][1] >= 15)
    ex.verdict("The printed ranges hold: sigmoid (0, 1), tanh (-1, 1), ReLU [0, inf), leaky ReLU "
               "and softplus unbounded above (000 3.4.2)", ranges_ok,
               "min, max over x in [-15, 15] (float64): " + "; ".join(
                   f"{n} [{lo:.3g}, {hi:.6g}]" for n, (lo, hi) in r.items()))
    ex.verdict("ReLU' is a step (0 below 0, 1 above)",
               list(relu_auto[[0, 1, 3, 4]]) == [0, 0, 1, 1],
               f"jax.grad at -1, -0.001, 0, 0.001, 1: {relu_auto.tolist()}")
    ex.verdict("softmax maps [3, 1, -3] to probabilities (in (0, 1), sum 1, order kept)",
               bool(p3_in_01) and abs(float(p3_sum) - 1) < 1e-6
               and list(np.argsort(-np.asarray(p3))) == [0, 1, 2],
               f"softmax = [{', '.join(f'{v:.4f}' for v in np.asarray(p3))}]")


def training(ex: Experiment) -> None:
    """The same MLP on two curves with each activation: epochs and seconds to 100%."""
    N, H, SEEDS, LR, BATCH = ex.pick((200, 8, 5, 0.5, 20), (100, 8, 3, 0.5, 20))
    EPOCHS = ex.pick(300, 3)
    DEPTH = ex.pick(2, 1)  # H-unit layers below the bottleneck
    NOISE = 0.1
    ex.setting(two_curves_n=N, noise=NOISE,
               hidden="-".join(["2", *[str(H)] * DEPTH, "2(bottleneck)", "2"]), seeds=SEEDS,
               optimizer=f"SGD lr={LR}", batch=BATCH, epochs=EPOCHS,
               leaky_slope=0.01, maxout_pieces=2, prelu_init=0.25)
    (x, y), _ = one_program(ex, lambda k: two_curves(N, NOISE, k))(jax.random.key(0))
    ACTS = {"sigmoid": Sigmoid, "tanh": Tanh, "ReLU": Relu, "leaky ReLU": lambda: LeakyRelu(0.01),
            "ELU": Elu, "PReLU": PReLU}


    def body(act):
        """Input -> H -> H (DEPTH layers of H) -> 2-unit bottleneck; the linear output layer sits
        on top."""
        if act == "Maxout":
            return serial(*[Maxout(H, 2) for _ in range(DEPTH)], Maxout(2, 2))
        a = ACTS[act]
        return serial(*[layer for _ in range(DEPTH) for layer in (Dense(H), a())], Dense(2), a())


    runs = {}
    keys = jax.random.split(jax.random.key(1), SEEDS)
    for act in ex.pick([*ACTS, "Maxout"], ["sigmoid", "tanh", "ReLU"]):
        model = serial(body(act), Dense(2))
        ts, hist = vmap_fit(model, softmax_cross_entropy, lambda: optim.sgd(LR), (x, y), keys=keys,
                            val=(x, y), epochs=EPOCHS, batch_size=BATCH)
        acc, loss = np.asarray(hist.val_accuracy), np.asarray(hist.val_loss)  # full train set, eval
        full = acc >= 1.0
        first = np.where(full.any(1), full.argmax(1) + 1, -1)  # epochs to 100% (-1: never)
        per_epoch = float(np.min(hist.seconds[0, 1:])) if EPOCHS > 1 else float(hist.seconds[0, 0])
        rel_drop = np.zeros_like(loss[:, :0]) if EPOCHS <= 10 else 1 - loss[:, 10:] / loss[:, :-10]
        plateau = [int(np.sum(rel_drop[i, :(f if f > 0 else EPOCHS) - 10] < 0.05)) for i, f in
                   enumerate(first)]
        runs[act] = dict(model=model, ts=ts, acc=acc, loss=loss, first=first,
                         sec_per_epoch=per_epoch, plateau=np.array(plateau))

    def dead_units(act, ts):
        """Bottleneck units that output exactly 0 on every training example, per seed."""
        b = body(act)
        h = one_program(ex, jax.vmap(lambda p, s: b.apply(p["0_serial"], s["0_serial"], x)[0]))(
            ts.params, ts.state)
        return np.sum(np.all(np.asarray(h) == 0, axis=1), axis=-1)


    rows, summary = [], {}
    for act, r in runs.items():
        r["dead"] = dead_units(act, r["ts"])
        div = int(np.sum(~np.isfinite(r["loss"][:, -1])))  # loss overflowed to NaN/inf
        ok = r["first"] > 0
        med = float(np.median(r["first"][ok])) if ok.any() else float("nan")
        frac = float(np.median(r["plateau"][ok] / r["first"][ok])) if ok.any() else float("nan")
        summary[act] = {"epochs_to_100": r["first"], "reached": int(ok.sum()), "median_epochs": med,
                        "seconds_per_epoch": r["sec_per_epoch"],
                        "median_seconds": med * r["sec_per_epoch"],
                        "plateau_epochs": r["plateau"], "plateau_fraction": frac,
                        "final_loss": r["loss"][:, -1], "loss_curves": r["loss"], "diverged": div,
                        "dead_bottleneck_units": r["dead"]}
        rows.append([act, f"{ok.sum()}/{SEEDS}", " ".join(str(v) for v in r["first"]), med,
                     med * r["sec_per_epoch"], float(np.nanmedian(r["loss"][:, -1])), div,
                     " ".join(str(v) for v in r["plateau"]), frac,
                     " ".join(str(v) for v in r["dead"])])
    ex.table("Time to 100% training accuracy (full training set, eval mode, after each epoch)",
             ["activation", "seeds reaching 100%", "epochs per seed (-1 never)", "median epochs",
              "median seconds", "median final loss (finite)", "seeds diverged",
              "plateau epochs per seed", "plateau fraction",
              "dead bottleneck units per seed (of 2)"],
             rows, note="Seconds = epochs x the fastest measured epoch (min, as the machine is "
                        "shared; the seeds run together under vmap, so this is the time of the "
                        "whole seed batch). A plateau epoch: before 100% accuracy, the loss fell "
                        "by < 5% over the previous 10 epochs.")
    ex.metrics["training"] = summary

    sg, th, re = summary["sigmoid"], summary["tanh"], summary["ReLU"]
    ex.verdict("tanh converges faster than sigmoid (000 3.4.12, 002)",
               th["median_epochs"] < sg["median_epochs"] and th["reached"] >= sg["reached"],
               f"median epochs to 100%: tanh {th['median_epochs']:g} ({th['reached']}/{SEEDS} "
               f"seeds) vs "
               f"sigmoid {sg['median_epochs']:g} ({sg['reached']}/{SEEDS})")
    ratio = re["median_epochs"] / th["median_epochs"]
    sec_ratio = re["median_seconds"] / th["median_seconds"]
    ex.metrics["relu_over_tanh_epochs"], ex.metrics["relu_over_tanh_seconds"] = ratio, sec_ratio
    dead_one = int(np.sum(runs["ReLU"]["dead"] >= 1))
    ex.text(f"With the 2-unit bottleneck, ReLU/tanh median epochs to 100% = "
            f"{re['median_epochs']:g}/{th['median_epochs']:g} = {ratio:.2f} (seconds ratio "
            f"{sec_ratio:.2f}), but {dead_one} ReLU seed(s) end with a dead bottleneck unit: "
            "the bottleneck, not the activation, decides there, so the 75 % claim is judged "
            "on the digits MLP below.")
    others = [a for a in summary if a != "sigmoid"]
    most = all(np.median(sg["plateau_epochs"]) > np.median(summary[a]["plateau_epochs"])
               for a in others)
    ex.verdict("sigmoid spends long on plateaus (002): most plateau epochs of all 7, and >= "
               "25% of its epochs to 100%", most and sg["plateau_fraction"] >= 0.25,
               "median plateau epochs: " + ", ".join(
                   f"{a} {np.median(summary[a]['plateau_epochs']):g}" for a in summary)
               + f"; sigmoid plateau fraction {sg['plateau_fraction']:.2f}")

    colors = {act: f"C{i}" for i, act in enumerate(runs)}
    fig, axes = plot.figure(2, width=5.2, height=3.8)
    for act, r in runs.items():
        ep = np.arange(1, EPOCHS + 1)
        fin = np.where(np.isfinite(r["loss"]), r["loss"], np.nan)  # a diverged seed drops out
        axes[0, 0].semilogy(ep, np.nanmedian(fin, 0), color=colors[act], label=act)
        axes[0, 0].fill_between(ep, np.nanmin(fin, 0), np.nanmax(fin, 0), color=colors[act],
                                alpha=0.07)
        axes[0, 1].plot(ep, np.median(r["acc"], 0), color=colors[act], label=act)
    plot.label(axes[0, 0], f"training loss (median, band = min..max of {SEEDS} seeds)", "epoch",
               "cross-entropy (log)", legend=True)
    axes[0, 1].set_xscale("log")
    plot.label(axes[0, 1], "training accuracy (median over seeds)", "epoch (log)", "accuracy",
               legend=True)
    ex.figure(fig, "training.png", "Loss and accuracy on the full training set after each epoch")

    xn, yn = np.asarray(x), np.asarray(y)
    lo, hi = xn.min(0) - 0.5, xn.max(0) + 0.5
    lines = ([np.stack([np.full(200, v), np.linspace(lo[1], hi[1], 200)], 1)
              for v in np.linspace(lo[0], hi[0], 13)]
             + [np.stack([np.linspace(lo[0], hi[0], 200), np.full(200, v)], 1)
                for v in np.linspace(lo[1], hi[1], 9)])  # a grid of lines over the input plane
    # quick: one activation drawn (fewer panels to lay out)
    fig, axes = plot.figure(*ex.pick((4, 2), (2, 1)), width=3.6, height=3.2)
    fig2, axes2 = plot.figure(*ex.pick((4, 2), (1, 1)), width=3.6, height=3.2)
    drawn = list(runs.items())[:ex.pick(len(runs), 1)]
    for j, (act, r) in enumerate(drawn):
        i = int(np.argmax(r["first"] > 0)) if (r["first"] > 0).any() else 0  # first at 100%
        p, st = jax.tree.map(lambda a: np.asarray(a)[i], (r["ts"].params, r["ts"].state))
        net, bottleneck = r["model"], body(act)
        plot.decision_boundary(axes.ravel()[j], one_program(
            ex, lambda gr: jnp.argmax(net.apply(p, st, jnp.asarray(gr))[0], -1)),
                               xn, yn, title=f"{act} (seed {i})")
        hidden = one_program(ex, lambda pts: bottleneck.apply(p["0_serial"], st["0_serial"],
                                                              jnp.asarray(pts, jnp.float32))[0])

        def hid(pts):
            return np.asarray(hidden(pts))

        ax = axes2.ravel()[j]
        for hl in np.split(hid(np.concatenate(lines)), len(lines)):  # one call for all grid lines
            ax.plot(hl[:, 0], hl[:, 1], color="0.6", lw=0.5)
        hx = hid(xn)
        ax.scatter(hx[:, 0], hx[:, 1], c=yn, cmap="coolwarm", s=8, edgecolors="k", linewidths=0.2)
        w, b = np.asarray(p["1_dense"]["w"]), np.asarray(p["1_dense"]["b"])
        dw, db = w[:, 1] - w[:, 0], b[1] - b[0]  # the output layer's boundary: dw . h + db = 0
        pad = 0.15 * np.ptp(hx, 0) + 0.05
        lo_h, hi_h = hx.min(0) - pad, hx.max(0) + pad
        u = np.linspace(lo_h[0], hi_h[0], 50)
        if abs(dw[1]) > 1e-8:
            ax.plot(u, -(dw[0] * u + db) / dw[1], "k--", lw=1, label="output boundary")
        ax.set_xlim(lo_h[0], hi_h[0])
        ax.set_ylim(lo_h[1], hi_h[1])
        plot.label(ax, f"{act}: 2-unit hidden space", "$h_1$", "$h_2$")
    ax = axes.ravel()[-1]
    for j, (act, r) in enumerate(runs.items()):
        ok = r["first"] > 0
        ax.scatter(np.full(ok.sum(), j), r["first"][ok], color=f"C{j}", s=18)
        ax.scatter(np.full((~ok).sum(), j), np.full((~ok).sum(), EPOCHS), marker="x", color="k",
                   s=25)
    ax.set_xticks(range(len(runs)), list(runs), rotation=45, fontsize=7)
    ax.set_yscale("log")
    plot.label(ax, f"epochs to 100% (x: never, in {EPOCHS})", "activation", "epochs (log)")
    axes2.ravel()[0].legend(fontsize=7)
    for a in list(axes2.ravel()[len(runs):]):
        a.axis("off")
    ex.figure(fig, "boundaries.png", "Decision boundaries learned in input space by each "
              "activation; last panel: epochs to 100% training accuracy per seed")
    ex.figure(fig2, "transformation.png", "The input grid (grey) and points mapped into the "
              "2-unit bottleneck: there the classes become linearly separable by the output layer "
              "(dashed)")


def digits_training(ex: Experiment) -> None:
    """Every activation in the same 64-H-H-H-10 MLP on the digits (no bottleneck), SGD at a grid
    of learning rates, several seeds per rate, all in one vmap_fit per activation: speed, dead
    units, sparsity and the largest stable rate; then RReLU vs its mean-slope leaky ReLU on a
    small training set (the regularizer claim)."""
    SEEDS, EPOCHS, GRID_EPOCHS, H = ex.pick(5, 2), ex.pick(45, 2), ex.pick(5, 2), ex.pick(64, 8)
    DEPTH = ex.pick(3, 1)  # hidden layers
    mlp = "-".join(["64", *[str(H)] * DEPTH, "10"])
    LRS = ex.pick([0.03, 0.1, 0.3, 1.0, 3.0], [0.1, 0.3])  # quick: no member diverges (no re-run)
    BASE, HIGH, BATCH, AT = 0.1, ex.pick(1.0, 0.3), 32, ex.pick(10, 1)
    N_SMALL, EPOCHS_SMALL = ex.pick(150, 40), ex.pick(200, 2)
    (x_img, y), (xt_img, yt) = data.digits()
    take = ex.pick(None, 256)  # None: all; quick: a smaller training set, a cheaper program
    x_img, y = np.asarray(x_img)[:take], np.asarray(y)[:take]  # NumPy: no eager slice
    x, xt = x_img.reshape(len(y), -1), xt_img.reshape(len(yt), -1)
    ex.setting(digits_mlp=mlp, digits_seeds=SEEDS,
               digits_base=f"SGD lr {BASE}, {EPOCHS} epochs", digits_batch=BATCH,
               digits_lr_grid=f"{LRS}, {GRID_EPOCHS} epochs (stability; dead units at {HIGH})",
               rrelu_small_train=N_SMALL, rrelu_epochs=EPOCHS_SMALL)
    mean_slope = (1 / 8 + 1 / 3) / 2
    acts = {"sigmoid": Sigmoid, "tanh": Tanh, "ReLU": Relu, "leaky ReLU": lambda: LeakyRelu(0.01),
            "ELU": Elu, "PReLU": PReLU, "Maxout": None}

    def body(act):
        if act == "Maxout":
            return serial(*[Maxout(H, 2) for _ in range(DEPTH)])
        a = acts[act]
        return serial(*[layer for _ in range(DEPTH) for layer in (Dense(H), a())])

    def make_opt(learning_rate):
        return optim.sgd(learning_rate)

    def train(act, lrs, epochs):
        """One program per activation: every learning rate x seed under vmap; arrays
        (len(lrs), SEEDS, ...)."""
        b = body(act)
        model = serial(b, Dense(10))
        ts, hist = vmap_fit(model, softmax_cross_entropy, make_opt, (x, y), val=(x, y),
                            hparams={"learning_rate": jnp.repeat(jnp.asarray(lrs, jnp.float32),
                                                                 SEEDS)},
                            keys=jnp.concatenate([jax.random.split(jax.random.key(7), SEEDS)]
                                                 * len(lrs)), epochs=epochs, batch_size=BATCH)
        shape = (len(lrs), SEEDS)
        loss = np.asarray(hist.val_loss).reshape(*shape, epochs)  # eval mode, whole training set
        acc = np.asarray(hist.val_accuracy).reshape(*shape, epochs)
        h, logits = one_program(ex, jax.vmap(lambda p, s: (
            b.apply(p["0_serial"], s["0_serial"], x)[0], model.apply(p, s, xt)[0])))(
            ts.params, ts.state)
        h = np.asarray(h).reshape(*shape, *h.shape[1:])  # the last hidden layer, training set
        with np.errstate(invalid="ignore", over="ignore"):  # a diverged member: NaN, not dead
            spread = np.nan_to_num(h.std(axis=2), nan=np.inf)
        full = acc >= 1.0
        # stable: every seed's loss finite and lower after the last epoch than after the first
        stable = np.all(np.isfinite(loss[..., -1]) & (np.nan_to_num(
            loss[..., -1], nan=9e9) < loss[..., 0]), axis=1)
        return dict(loss=loss, acc=acc, dead=(spread < 1e-6).sum(-1),
                    zeros=(h == 0).mean(axis=(2, 3)), stable=stable,
                    first=np.where(full.any(-1), full.argmax(-1) + 1, epochs + 1),
                    test_acc=np.asarray(jnp.mean(jnp.argmax(logits, -1) == yt[None],
                                                 -1)).reshape(shape))

    grid = {act: train(act, LRS, GRID_EPOCHS) for act in acts}
    if ex.quick:  # the grid's base-lr slice: half the programs to compile
        res = {act: {k: v[[LRS.index(BASE)]] for k, v in grid[act].items()} for act in acts}
    else:
        res = {act: train(act, [BASE], EPOCHS) for act in acts}
    rows = []
    i0, ih = 0, LRS.index(HIGH)
    for act, r in res.items():
        stable_lrs = [lr for lr, s in zip(LRS, grid[act]["stable"]) if s]
        at = r["loss"][i0, :, AT - 1]
        rows.append([act, f"{at.mean():.4f} ± {sem(at):.4f}",
                     " ".join(str(v) for v in r["first"][i0]), f"{r['test_acc'][i0].mean():.3f}",
                     f"{r['zeros'][i0].mean():.3f}",
                     " ".join(str(v) for v in grid[act]["dead"][ih]),
                     max(stable_lrs) if stable_lrs else "none"])
    ex.table(f"Digits MLP {mlp}, SGD, {SEEDS} seeds (mean ± SE): loss after "
             f"{AT} epochs and epochs to 100% at lr {BASE}; dead units at lr {HIGH}",
             ["activation", f"training loss after {AT} epochs", "epochs to 100% train acc per "
              f"seed ({EPOCHS + 1}: never)", "test acc", "share of last-hidden outputs exactly 0",
              f"dead last-hidden units per seed at lr {HIGH} after {GRID_EPOCHS} epochs (of {H})",
              "largest stable lr (all seeds: loss finite and below its epoch-1 value)"], rows,
             note="Loss and accuracy on the whole training set in eval mode after each epoch. "
                  "A dead unit outputs the same value (std < 1e-6) for every training example.")
    ex.metrics["digits"] = {a: {"base_lr": r, "lr_grid": grid[a]} for a, r in res.items()}

    def faster(a, b):  # a's loss after AT epochs below b's by 2 SE
        la, lb = res[a]["loss"][i0, :, AT - 1], res[b]["loss"][i0, :, AT - 1]
        return exceeds(lb, la), \
            f"{a} {la.mean():.4f} ± {sem(la):.4f} vs {b} {lb.mean():.4f} ± {sem(lb):.4f}"

    rs, ts_ = faster("ReLU", "sigmoid"), faster("ReLU", "tanh")
    ex.verdict("ReLU converges faster than sigmoid and tanh (000 3.4.6): training loss after "
               f"{AT} epochs at the same lr lower by 2 SE", rs[0] and ts_[0],
               f"loss after {AT} epochs at lr {BASE}, {SEEDS} seeds: {rs[1]}; {ts_[1]}")
    fr, ft = res["ReLU"]["first"][i0], res["tanh"]["first"][i0]
    reached = (fr <= EPOCHS).sum(), (ft <= EPOCHS).sum()
    ratio = float(np.median(fr) / np.median(ft))
    ex.metrics["digits_relu_over_tanh_epochs"] = ratio
    ex.verdict("ReLU reaches full accuracy in about 75% of tanh's time, without a bottleneck "
               "(002): median epochs ratio in 0.60-0.90, both reaching 100% in most seeds",
               0.60 <= ratio <= 0.90 and 2 * min(reached) > SEEDS,
               f"digits MLP at lr {BASE}: median epochs to 100% training accuracy ReLU "
               f"{np.median(fr):g} / tanh {np.median(ft):g} = {ratio:.2f}; reached by ReLU in "
               f"{reached[0]}/{SEEDS} seeds, tanh in {reached[1]}/{SEEDS}")
    e1, e2, p1 = faster("ELU", "ReLU"), faster("ELU", "PReLU"), faster("PReLU", "ReLU")
    ex.verdict("ELU converges faster than ReLU and PReLU (002): training loss after "
               f"{AT} epochs lower by 2 SE", e1[0] and e2[0], f"{e1[1]}; {e2[1]}")
    ex.verdict(f"PReLU converges faster than ReLU (002): training loss after {AT} epochs lower "
               "by 2 SE", p1[0], p1[1])
    z = res["ReLU"]["zeros"][i0]
    others = max(float(res[a]["zeros"][i0].mean()) for a in ("sigmoid", "tanh", "ELU"))
    ex.verdict("ReLU gives sparse activations (000 3.4.8): most (> 50 %) last-hidden outputs "
               "exactly 0, where sigmoid, tanh and ELU give (almost) none",
               z.mean() - 2 * sem(z) > 0.5 and others < 0.01,
               f"share of exact zeros on the training set: ReLU {z.mean():.3f} ± {sem(z):.3f}; "
               f"max of sigmoid/tanh/ELU {others:.4f}")
    dr, dl, dm = (grid[a]["dead"][ih].astype(float) for a in ("ReLU", "leaky ReLU", "Maxout"))
    ex.verdict(f"ReLU leaves dead units (002): at lr {HIGH} its last hidden layer has units that "
               "output the same value for every training example (mean > 2 SE above 0)",
               dr.mean() > 2 * sem(dr) and dr.mean() > 0,
               f"dead units per seed (of {H}): {dr.astype(int).tolist()}")
    for act, d, key in (("leaky ReLU", dl, "Leaky ReLU avoids the dead units (000 3.4.5)"),
                        ("Maxout", dm, "Maxout avoids dead units (002)")):
        ex.verdict(f"{key}: fewer dead units than ReLU at lr {HIGH} by 2 SE",
                   exceeds(dr, d),
                   f"dead units per seed (of {H}): {act} {d.astype(int).tolist()}, ReLU "
                   f"{dr.astype(int).tolist()}")
    top = {a: max([lr for lr, s in zip(LRS, grid[a]["stable"]) if s], default=0.0) for a in grid}
    bounded, unbounded = ("sigmoid", "tanh"), ("ReLU", "leaky ReLU", "ELU", "PReLU")
    ex.verdict("Unbounded activations need a smaller learning rate than bounded ones (000 3.4.4): "
               "every unbounded one's largest stable lr is below every bounded one's",
               max(top[a] for a in unbounded) < min(top[a] for a in bounded),
               "largest stable lr (grid " + ", ".join(f"{v:g}" for v in LRS) + "): "
               + ", ".join(f"{a} {top[a]:g}" for a in (*bounded, *unbounded)))

    # RReLU as a regularizer: a small training set, RReLU vs leaky ReLU at its eval slope
    sub = np.concatenate([np.where(np.asarray(y) == c)[0][:N_SMALL // 10] for c in range(10)])
    xs, ys = np.asarray(x)[sub], np.asarray(y)[sub]  # NumPy: no eager gather to compile
    gaps = {}
    for name, a in (("RReLU", RReLU), ("leaky", lambda: LeakyRelu(mean_slope))):
        model = serial(*[layer for _ in range(ex.pick(2, 1)) for layer in (Dense(H), a())],
                       Dense(10))
        tsr, _ = vmap_fit(model, softmax_cross_entropy, lambda: optim.sgd(BASE), (xs, ys),
                          keys=jax.random.split(jax.random.key(8), SEEDS), epochs=EPOCHS_SMALL,
                          batch_size=BATCH, metrics=ex.pick(None, ()))  # quick: none unused
        accs = [np.asarray(one_program(ex, jax.vmap(lambda p, s, xx=xx, yy=yy, m=model: jnp.mean(
            jnp.argmax(m.apply(p, s, xx)[0], -1) == yy)))(tsr.params, tsr.state))
            for xx, yy in ((xs, ys), (xt, yt))]
        gaps[name] = (accs[0] - accs[1], accs[1])
    (ga, ta), (gb, tb) = gaps.values()
    ex.verdict(f"RReLU's random slope regularizes (002): on {len(ys)} training examples its "
               "train-test accuracy gap is smaller than leaky ReLU's at RReLU's mean slope by 2 SE",
               exceeds(gb, ga),
               f"gap RReLU {ga.mean():.3f} ± {sem(ga):.3f} (test {ta.mean():.3f}) vs leaky "
               f"{gb.mean():.3f} ± {sem(gb):.3f} (test {tb.mean():.3f}), {SEEDS} seeds")

    fig, axes = plot.figure(2, width=5.2, height=3.8)
    for j, (act, r) in enumerate(res.items()):
        ep = np.arange(1, EPOCHS + 1)
        axes[0, 0].semilogy(ep, r["loss"][i0].mean(0), color=f"C{j}", label=act)
        g = grid[act]["loss"][:, :, -1]  # a point only where some seed stayed finite
        axes[0, 1].semilogx(LRS, [np.median(v[np.isfinite(v)]) if np.isfinite(v).any()
                                  else np.nan for v in g], "o-", color=f"C{j}", label=act)
    axes[0, 1].set_yscale("log")
    axes[0, 1].set_ylim(None, 30)  # a diverging run's loss runs off the top
    axes[0, 1].axhline(np.log(10), color="k", ls=":", lw=1)
    plot.label(axes[0, 0], f"training loss at lr {BASE} (mean of {SEEDS} seeds)", "epoch",
               "cross-entropy (log)", legend=True)
    plot.label(axes[0, 1], f"training loss after {GRID_EPOCHS} epochs vs lr (median; dotted: "
               "ln 10)", "lr (log)",
               "cross-entropy (log)")
    ex.figure(fig, "digits.png", "The same digits MLP with each activation: training loss per "
              "epoch, and the final loss across learning rates (a missing point: every seed "
              "diverged)")


if __name__ == "__main__":
    run(main)
