"""Weight initialisation: per-layer activations and gradients of a deep tanh / sigmoid / ReLU net
under each scheme, the symmetry trap of zero and constant weights, sparse init, and the variance
rules Var(W) = 1/M and 2/(M+N) checked on a linear layer."""

import functools
from typing import Callable

import jax
import matplotlib
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, run, sem

from jaxdl import initializers as ini
from jaxdl import optim, plot
from jaxdl.activations import Relu, Sigmoid, Tanh, relu, sigmoid, tanh
from jaxdl.core import Layer, serial, sublayers
from jaxdl.data import digits, two_curves
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.sweep import vmap_fit


def fast(ex: Experiment, f):
    """`f` jitted in quick mode, where one compile replaces the one per eager op (about 35 ms
    each); the full run keeps the eager computation its numbers come from."""
    return jax.jit(f) if ex.quick else f


def main(quick: bool) -> Experiment:
    ex = Experiment("init", "weight initialisation: vanishing, saturation, explosion, symmetry",
                    "000 section 3.8 (3.8.1-3.8.5); 002 'weight initialization' (random, Xavier, "
                    "He); 003 'Xavier' (Var(W) = 1/M, 2/(M+N))", quick=quick)
    deep_nets(ex)
    symmetry(ex)
    variance_rules(ex)
    trained_on_digits(ex)
    printed_formulas(ex)
    return ex.finish()


def deep_nets(ex: Experiment) -> None:
    """Activations and gradients of deep tanh / sigmoid / ReLU nets under each initialisation."""
    # quick: 10 units (every weight matrix 10 x 10: one eager init program per initialiser)
    LAYERS, UNITS, BATCH = ex.pick((10, 500, 1000), (2, 10, 128))
    ex.setting(layers=LAYERS, units=UNITS, batch=BATCH, inputs="N(0, 1)", biases="zeros",
               loss="softmax cross-entropy of a 10-way output layer (same init) on random labels")
    INITS = {"N(0, 0.01)": ini.normal(0.01), "N(0, 0.1)": ini.normal(0.1),
             "N(0, 1)": ini.normal(1.0), "1/sqrt(n) (LeCun)": ini.lecun_normal(),
             "Xavier normal": ini.glorot_normal(), "Xavier uniform": ini.glorot_uniform(),
             "He normal": ini.he_normal(),
             "sparse 10, N(0, 0.01)": ini.sparse(10, 0.01),
             "sparse 10, N(0, 1/10)": ini.sparse(10, 0.1 ** 0.5)}
    INITS = ex.pick(INITS, {n: w for n, w in INITS.items()  # quick: those the verdicts name
                            if n not in ("N(0, 0.1)", "1/sqrt(n) (LeCun)")})
    ACTS = {"tanh": (Tanh, tanh), "sigmoid": (Sigmoid, sigmoid), "ReLU": (Relu, relu)}
    x = jax.random.normal(jax.random.key(0), (BATCH, UNITS))
    labels = jax.random.randint(jax.random.key(1), (BATCH,), 0, 10)
    dense = Dense(UNITS)  # apply does not depend on the initializer

    def deep_net(act_layer, w_init):
        hidden = [layer for _ in range(LAYERS)
                  for layer in (Dense(UNITS, w_init=w_init), act_layer())]
        return serial(*hidden, Dense(10, w_init=w_init))

    @functools.partial(jax.jit, static_argnums=0)
    def measure(act, params):
        """Per-layer activations (first 200 examples) and ||dL/dW_l|| of each hidden layer."""
        act_layer, f = ACTS[act]
        model = deep_net(act_layer, None)
        h, hs = x, []
        for i in range(LAYERS):
            h = f(dense.apply(params[f"{2 * i}_dense"], {}, h)[0])
            hs.append(h)
        hs = jnp.stack(hs)

        def loss(p):
            return softmax_cross_entropy(model.apply(p, {k: {} for k in p}, x)[0], labels)

        grads = jax.grad(loss)(params)
        norms = jnp.stack([jnp.linalg.norm(grads[f"{2 * i}_dense"]["w"]) for i in range(LAYERS)])
        return hs[:, :200], jnp.std(hs, axis=(1, 2)), norms

    # the weights do not depend on the activation (a parameter-free layer between the Dense
    # ones): each initialiser's are drawn once, and each net's params name its activation layers
    weights = {name: deep_net(Tanh, w_init).init(jax.random.key(2), (UNITS,))[0]
               for name, w_init in INITS.items()}
    res = {}
    for act, (act_layer, _) in ACTS.items():
        keys = [k for k, _ in sublayers(deep_net(act_layer, None))]  # "1_tanh" -> "1_relu"
        for name in INITS:
            params = dict(zip(keys, weights[name].values()))
            hs, std, gn = jax.device_get(measure(act, params))
            a = np.abs(hs[-1] - (0.5 if act == "sigmoid" else 0.0))
            saturated = float(np.mean(a > 0.49)) if act == "sigmoid" else (
                float(np.mean(a > 0.99)) if act == "tanh" else float(np.mean(hs[-1] == 0)))
            res[(act, name)] = dict(hs=hs, std=std, grad=gn, saturated=saturated)

    rows = [[act, name, r["std"][0], r["std"][-1], r["std"][-1] / r["std"][0], r["saturated"],
             r["grad"][0], r["grad"][-1], r["grad"][0] / r["grad"][-1]]
            for (act, name), r in res.items()]
    ex.table(f"{LAYERS}-layer, {UNITS}-unit nets on N(0, 1) inputs: activation std and gradient "
             "norm per layer (first and last hidden layer)",
             ["activation", "init", "std h_1", f"std h_{LAYERS}", "std ratio last/first",
              "saturated in last layer", "||dL/dW_1||", f"||dL/dW_{LAYERS}||",
              "grad ratio first/last"],
             rows, note="Saturated: |tanh| > 0.99; sigmoid within 0.01 of 0 or 1; for ReLU the "
                        "fraction of exact zeros (inactive units). With M = N, Xavier's 2/(M+N) "
                        "equals LeCun's 1/M, so those hidden layers match. Every per-layer value "
                        "is in metrics.json.")
    ex.metrics["deep"] = {f"{a}/{n}": {"std": r["std"], "grad_norm": r["grad"],
                                       "saturated_last": r["saturated"]}
                          for (a, n), r in res.items()}

    def flat(r, lo=0.1, hi=10.0):
        """Neither vanishing nor exploding: the last/first ratios of stds and grads lie in
        [lo, hi]."""
        s, g = r["std"][-1] / r["std"][0], r["grad"][0] / r["grad"][-1]
        return lo <= s <= hi and lo <= g <= hi

    t_small, s_small = res[("tanh", "N(0, 0.01)")], res[("sigmoid", "N(0, 0.01)")]
    ex.verdict("Small N(0, 0.01) weights make tanh activations vanish with depth "
               "(last/first std < 1e-3)", t_small["std"][-1] / t_small["std"][0] < 1e-3,
               f"tanh std {t_small['std'][0]:.2e} -> {t_small['std'][-1]:.2e} over {LAYERS} "
               "layers; "
               f"every weight gradient ~{np.median(t_small['grad']):.0e} (Xavier: "
               f"~{np.median(res[('tanh', 'Xavier normal')]['grad']):.0e})")
    ex.verdict("Small N(0, 0.01) weights make sigmoid gradients vanish toward the input "
               "(||dL/dW_1|| / ||dL/dW_last|| < 1e-3)",
               s_small["grad"][0] / s_small["grad"][-1] < 1e-3,
               f"sigmoid grad norm {s_small['grad'][-1]:.2e} (last) -> {s_small['grad'][0]:.2e} "
               "(first)")
    t_big, s_big = res[("tanh", "N(0, 1)")], res[("sigmoid", "N(0, 1)")]
    ex.verdict("N(0, 1) weights saturate tanh (> 50% of last-layer units at |h| > 0.99) and "
               "sigmoid",
               t_big["saturated"] > 0.5 and s_big["saturated"] > 0.5,
               f"saturated: tanh {t_big['saturated']:.0%}, sigmoid {s_big['saturated']:.0%} "
               f"(Xavier tanh: {res[('tanh', 'Xavier normal')]['saturated']:.0%})")
    r_big = res[("ReLU", "N(0, 1)")]
    explode = t_big["grad"][0] / t_big["grad"][-1]
    ex.verdict("N(0, 1) weights make gradients explode toward the input (first/last > 10)",
               explode > 10,
               f"first/last grad ratio: tanh {explode:.1f}; ReLU activations grow "
               f"{r_big['std'][-1] / r_big['std'][0]:.1e}x over {LAYERS} layers")
    xav = [res[("tanh", n)] for n in ("Xavier normal", "Xavier uniform")]
    sx = res[("sigmoid", "Xavier normal")]
    ex.verdict("Xavier suits tanh: stds and grads stay within 10x across layers, < 5% saturated",
               all(flat(r) and r["saturated"] < 0.05 for r in xav),
               "std last/first " + ", ".join(f"{r['std'][-1] / r['std'][0]:.2f}" for r in xav)
               + "; grad first/last "
               + ", ".join(f"{r['grad'][0] / r['grad'][-1]:.2f}" for r in xav)
               + " (it does not rescue sigmoid: grad first/last "
               + f"{sx['grad'][0] / sx['grad'][-1]:.1e})")
    he, xr = res[("ReLU", "He normal")], res[("ReLU", "Xavier normal")]
    he_s, xr_s = he["std"][-1] / he["std"][0], xr["std"][-1] / xr["std"][0]
    ex.verdict("He suits ReLU: std kept within [0.5, 2] over the layers, closer to 1 than Xavier's",
               0.5 <= he_s <= 2 and abs(np.log(he_s)) < abs(np.log(xr_s)) and flat(he),
               f"ReLU std last/first: He {he_s:.2f}, Xavier {xr_s:.3f}; He grad first/last "
               f"{he['grad'][0] / he['grad'][-1]:.2f}")
    sp = res[("tanh", "sparse 10, N(0, 1/10)")]
    ex.verdict("Sparse init (10 inputs per unit, weight variance 1/10) keeps tanh's variance like "
               "1/sqrt(n)",
               flat(sp) and sp["saturated"] < 0.05,
               f"std last/first {sp['std'][-1] / sp['std'][0]:.2f}; with N(0, 0.01) weights: "
               f"{res[('tanh', 'sparse 10, N(0, 0.01)')]['std'][-1]:.1e} in the last layer")

    # --- figures: histograms, std and gradient norm per layer -------------------------------------
    show = [n for n in INITS if not n.startswith("sparse")] + ["sparse 10, N(0, 1/10)"]
    # quick: tanh's figures only, one initialisation (a log-scale panel takes ~0.2 s to draw)
    show = ex.pick(show, ["Xavier normal"])
    drawn = ex.pick(list(ACTS), ["tanh"])
    for act in drawn:
        fig, axes = plot.figure(-(-len(show) // 2), min(len(show), 2), width=3.3,
                                height=2.6)  # full: 4 x 2
        rng = {"tanh": (-1, 1), "sigmoid": (0, 1), "ReLU": (0, 3)}[act]
        for ax, name in zip(axes.ravel(), show):
            hs = res[(act, name)]["hs"]
            for i in range(LAYERS):
                ax.hist(np.clip(hs[i].ravel(), *rng), bins=60, range=rng, histtype="step",
                        color=matplotlib.colormaps["viridis"](i / max(LAYERS - 1, 1)),
                        label=f"layer {i + 1}")
            ax.set_yscale("log")
            plot.label(ax, f"{act}, {name}", "activation (clipped to range)", "count (log)")
        axes[0, 0].legend(fontsize=6, ncol=2)
        ex.figure(fig, f"hist_{act.lower()}.png", f"{act}: per-layer activation histograms "
                  "(layer 1 purple -> last layer yellow) under each initialisation")
    fig, axes = plot.figure(len(drawn), 2, width=4.4, height=3.4)
    layers = np.arange(1, LAYERS + 1)
    for j, act in enumerate(drawn):
        for k, name in enumerate(show):
            r, style = res[(act, name)], "-" if k < 7 else ":"
            axes[0, j].semilogy(layers, r["std"], style, marker=".", color=f"C{k}", label=name)
            axes[1, j].semilogy(layers, r["grad"], style, marker=".", color=f"C{k}", label=name)
        plot.label(axes[0, j], f"{act}: activation std per layer", "hidden layer", "std (log)")
        plot.label(axes[1, j], f"{act}: gradient norm per layer", "hidden layer", "||dL/dW|| (log)")
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.0))
    ex.figure(fig, "std_and_grads.png", "Activation std (top) and weight-gradient norm (bottom) "
              "per hidden layer, for each initialisation")


def symmetry(ex: Experiment) -> None:
    """The symmetry trap: zeros and a constant, trained briefly."""
    SH, EPOCHS = 16, ex.pick(30, 3)
    (cx, cy), _ = two_curves(200, 0.1, jax.random.key(3))

    def small_net(c, s):
        """Each weight = c + s * (LeCun-normal draw): zeros (0, 0), constant (0.5, 0), random
        (0, 1)."""
        def w_init(key, shape, dtype=jnp.float32):
            return c + s * ini.lecun_normal()(key, shape, dtype)
        return serial(Dense(SH, w_init=w_init), Tanh(), Dense(SH, w_init=w_init), Tanh(),
                      Dense(2, w_init=w_init))

    cases = {"zeros": (0.0, 0.0), "constant 0.5": (0.5, 0.0), "LeCun normal (control)": (0.0, 1.0)}
    hp = {"c": np.array([v[0] for v in cases.values()], np.float32),
          "s": np.array([v[1] for v in cases.values()], np.float32)}
    key = jax.random.key(4)
    ts, hist = vmap_fit(small_net, softmax_cross_entropy, lambda: optim.sgd(0.5), (cx, cy),
                        keys=key,
                        model_hparams=hp, epochs=EPOCHS, batch_size=20)
    rows, sym = [], {}
    for i, name in enumerate(cases):
        spread, moved = 0.0, 0.0
        for layer in ("0_dense", "2_dense"):  # in NumPy: float32 differences, abs and max are
            # exact, as in jnp, with no program to compile per shape
            w, b = (np.asarray(ts.params[layer][v])[i] for v in "wb")  # columns = hidden units
            spread = max(spread, float(np.max(np.abs(w - w[:, :1]))),
                         float(np.max(np.abs(b - b[0]))))
            moved = max(moved, float(np.max(np.abs(w - hp["c"][i]))))  # initial W = c when s = 0
        acc = float(hist.train_accuracy[i, -1])
        moved = moved if hp["s"][i] == 0 else None  # only a constant start is known exactly
        sym[name] = {"unit_spread": spread, "hidden_weight_change": moved, "train_accuracy": acc}
        rows.append([name, spread, "n/a (random start)" if moved is None else moved, acc])
    ex.table(f"Symmetry trap: 2-{SH}-{SH}-2 tanh net, SGD lr 0.5, {EPOCHS} epochs on two curves",
             ["init", "max |unit j - unit 1| over hidden weights and biases",
              "max |W_after - W_before|",
              "train accuracy (last epoch)"], rows)
    ex.metrics["symmetry"] = sym
    z, c, r = sym["zeros"], sym["constant 0.5"], sym["LeCun normal (control)"]
    ex.verdict("Zero or constant weights keep all hidden units identical through training "
               "(000 3.8.1-2)",
               z["unit_spread"] < 1e-6 and c["unit_spread"] < 1e-6
               and c["hidden_weight_change"] > 1e-3
               and r["unit_spread"] > 0.1,
               f"unit spread after training: zeros {z['unit_spread']:.1e} (weights moved "
               f"{z['hidden_weight_change']:.1e}), constant {c['unit_spread']:.1e} (moved "
               f"{c['hidden_weight_change']:.2f}), random {r['unit_spread']:.2f}")


def variance_rules(ex: Experiment) -> None:
    """Var(W) = 1/M on a linear layer; 2/(M+N) as the forward/backward compromise."""
    E, DRAWS = ex.pick((2000, 10), (500, 2))
    SHAPES = ex.pick([(10, 10), (100, 100), (200, 800), (800, 200)], [(40, 160)])
    RULES = {"1/M (fan_in, LeCun)": ini.lecun_normal(),
             "1/N (fan_out)": ini.variance_scaling(1.0, "fan_out", "normal"),
             "2/(M+N) (Xavier)": ini.glorot_normal()}
    xv = 2.0 * jax.random.normal(jax.random.key(5), (E, max(m for m, _ in SHAPES)))  # Var(X) = 4

    def ratios(w, xin, g):
        """Var(Z)/Var(X) forward and Var(dL/dX)/Var(dL/dZ) backward for Z = X W."""
        z, vjp = jax.vjp(lambda a: Dense(w.shape[1], use_bias=False).apply({"w": w}, {}, a)[0], xin)
        return jnp.var(z) / jnp.var(xin), jnp.var(vjp(g)[0]) / jnp.var(g)

    rows, var_rule, ratios = [], {}, fast(ex, ratios)
    for m, n in SHAPES:
        xin, g = xv[:, :m], jax.random.normal(jax.random.key(6), (E, n))
        for rule, w_init in RULES.items():
            out = [ratios(w_init(k, (m, n)), xin, g)
                   for k in jax.random.split(jax.random.key(m + n), DRAWS)]
            f, b = (float(np.mean([o[j] for o in out])) for j in (0, 1))
            var_w = float(jnp.var(w_init(jax.random.key(7), (m, n))))
            var_rule[f"{m}x{n} {rule}"] = {"forward": f, "backward": b, "var_w": var_w}
            rows.append([m, n, rule, var_w, f, b])
    ex.table("Linear layer Z = X W, Var(X) = 4: measured variance ratios (mean of draws)",
             ["M (in)", "N (out)", "Var(W) rule", "measured Var(W)", "Var(Z)/Var(X)",
              "Var(dL/dX)/Var(dL/dZ)"], rows,
             note="Theory: forward = M Var(W), backward = N Var(W). 1/M gives forward 1, "
                  "backward N/M; 2/(M+N) gives 2M/(M+N) and 2N/(M+N), between the two extremes.")
    ex.metrics["linear_layer"] = var_rule
    fwd = [v["forward"] for k, v in var_rule.items() if "1/M" in k]
    ex.verdict("Var(W) = 1/M keeps a linear layer's output variance equal to its input variance "
               "(003)",
               all(abs(f - 1) < 0.1 for f in fwd),
               "Var(Z)/Var(X) = " + ", ".join(f"{f:.3f}" for f in fwd)
               + f" for (M, N) in {SHAPES}")
    worst = {}
    for rule in RULES:
        worst[rule] = max(abs(np.log(var_rule[f"{m}x{n} {rule}"][d]))
                          for m, n in SHAPES if m != n for d in ("forward", "backward"))
    ok = worst["2/(M+N) (Xavier)"] < min(worst["1/M (fan_in, LeCun)"], worst["1/N (fan_out)"])
    ex.verdict("2/(M+N) is the forward/backward compromise: when M != N its worst ratio is closer "
               "to 1 than with 1/M or 1/N", ok,
               "worst max(|log fwd|, |log bwd|): " + ", ".join(f"{k.split(' ')[0]} {np.exp(v):.2f}x"
                                                               for k, v in worst.items()))


@functools.lru_cache(maxsize=None)  # one make_model per shape: vmap_fit compiles once per shape
def digits_mlp(hidden: tuple) -> Callable:
    """make_model(s, f, u, b, r), a 64-hidden-10 MLP: weights (s + f / sqrt(fan_in)) x a unit-
    variance draw, Gaussian (u = 0) or uniform (u = 1); hidden biases b; tanh (r = 0) or ReLU."""
    def make(s, f, u, b, r):
        def w_init(key, shape, dtype=jnp.float32):
            kn, ku = jax.random.split(key)
            lim, normal = 3 ** 0.5, jax.random.normal(kn, shape, dtype)
            return (s + f / shape[0] ** 0.5) * (u * jax.random.uniform(ku, shape, dtype, -lim, lim)
                                                + (1 - u) * normal)
        act = Layer(lambda key, shape: ({}, {}, tuple(shape)),
                    lambda p, st, x, **_: (r * relu(x) + (1 - r) * tanh(x), st), "tanh_or_relu")
        b_init = lambda key, shape, dtype=jnp.float32: jnp.full(shape, b, dtype)  # noqa: E731
        return serial(*[la for h in hidden for la in (Dense(h, w_init=w_init, b_init=b_init), act)],
                      Dense(10, w_init=w_init))
    return make


_sgd = functools.partial(optim.sgd, 0.1)  # module level: a second vmap_fit compiles nothing


def trained_on_digits(ex: Experiment) -> None:
    """Symmetry breaking, uniform vs Gaussian, 1/sqrt(n), ReLU bias 0.01, seeds, on digits."""
    SEEDS, EP1, EP2, DEEP = ex.pick((5, 10, 5, (64,) * 4), (2, 2, 1, (32,)))  # quick: 1 compile
    (xtr, ytr), (xte, yte) = digits()
    train, test = (xtr.reshape(len(xtr), -1), ytr), (xte.reshape(len(xte), -1), yte)
    nets = {"64-32-10": ((32,), EP1), f"64-({DEEP[0]}x{len(DEEP)})-10": (DEEP, EP2)}
    ex.setting(digits=f"SGD lr 0.1, batch 32, {SEEDS} seeds per case, "
               + ", ".join(f"{n} for {e} epochs" for n, (_, e) in nets.items()))
    cases = [{"tanh, zeros": (0, 0, 0, 0, 0), "tanh, 0.01 N(0, 1)": (0.01, 0, 0, 0, 0),  # (s, f,
              "tanh, U(+-0.01 sqrt 3) (std 0.01)": (0.01, 0, 1, 0, 0),  # u, b, r): digits_mlp
              "tanh, LeCun normal (control)": (0, 1, 0, 0, 0)}, {"tanh, N(0, 1)": (1, 0, 0, 0, 0),
             "tanh, N(0, 1)/sqrt(fan_in)": (0, 1, 0, 0, 0), "ReLU, He normal, bias 0":
             (0, 2 ** 0.5, 0, 0, 1), "ReLU, He normal, bias 0.01": (0, 2 ** 0.5, 0, 0.01, 1)}]
    res, rows, runs = {}, [], []
    for i, (net, (hidden, epochs)) in enumerate(nets.items()):  # (first-layer weights sliced
        # in NumPy: copies of the same values, with no program per shape)
        hp = {n: np.repeat(np.array([c[j] for c in cases[i].values()], np.float32), SEEDS)
              for j, n in enumerate("sfubr")}
        runs.append(functools.partial(
            vmap_fit, digits_mlp(hidden), softmax_cross_entropy, _sgd, train, val=test,
            keys=jax.random.split(jax.random.key(20 + i), len(hp["s"])), model_hparams=hp,
            epochs=epochs, batch_size=32))
        ts, hist = out = runs[-1]()
        if i == 0:
            first = out  # the reproducibility check calls this sweep again
        for j, case in enumerate(cases[i]):
            sl = slice(j * SEEDS, (j + 1) * SEEDS)
            r = res[case] = {"acc": hist.val_accuracy[sl, -1], "loss": hist.val_loss[sl, -1],
                             "train": hist.train_loss[sl, -1],
                             "w": np.asarray(ts.params["0_dense"]["w"])[sl],
                             "b": np.asarray(ts.params["0_dense"]["b"])[sl],
                             "curve": hist.values[("val_accuracy", "train_loss")[i]][sl].mean(0)}
            rows.append([net, case] + [f(r[m]) for m in ("acc", "loss", "train")
                                       for f in (np.mean, sem)])
    ex.table(f"Digits MLPs after a fixed budget (mean and SE over {SEEDS} seeds)", ["net", "init",
             "test accuracy", "SE", "test loss", "SE", "train loss (last epoch)", "SE"], rows)
    ex.metrics["digits"] = {c: {m: r[m] for m in ("acc", "loss", "train")} for c, r in res.items()}
    m = {c: {k: float(np.mean(v)) for k, v in r.items() if k != "curve"} for c, r in res.items()}

    def gap(a, b, k):  # mean(a) - mean(b) of measure k, and 2 SE of the difference
        return m[a][k] - m[b][k], 2 * float(np.hypot(sem(res[a][k]), sem(res[b][k])))

    def units(r):  # over seeds: min distance between hidden units (weights + bias), min distinct
        v = [np.concatenate([w.T, b[:, None]], 1) for w, b in zip(np.asarray(r["w"]), r["b"])]
        return (min(np.linalg.norm(u[:, None] - u[None], axis=-1)[np.triu_indices(len(u), 1)]
                    .min() for u in v), min(len(np.unique(u, axis=0)) for u in v))

    z, s, un, _ = cases[0]
    (dz, nz), (ds, ns), (d, se) = units(res[z]), units(res[s]), gap(s, z, "acc")
    ex.verdict("Small random weights break the symmetry: with 0.01 N(0, 1) weights the 32 hidden "
               "units all differ after training and the net learns (000 3.8.3)",
               ds > 1e-6 and ns == 32 and d > max(se, 0.2),
               f"min distance between hidden units {ds:.3f}, {ns}/32 distinct (zeros: {dz:.0e}, "
               f"{nz} distinct); test accuracy {m[s]['acc']:.3f} vs zeros {m[z]['acc']:.3f} "
               f"(diff {d:.3f}; needs > 0.2 and > 2 SE = {se:.3f})")
    (d, se), (dl, sel) = gap(un, s, "acc"), gap(un, s, "loss")
    ex.verdict("Uniform and Gaussian weights of the same variance (std 0.01) reach the same test "
               "accuracy: holds when |diff| <= 2 SE and |diff| < 1 accuracy point (000 3.8.3)",
               abs(d) <= se and abs(d) < 0.01,
               f"test accuracy uniform {m[un]['acc']:.4f}, Gaussian {m[s]['acc']:.4f}: diff "
               f"{d:+.4f}, 2 SE {se:.4f}; test loss diff {dl:+.4f} (2 SE {sel:.4f})")
    (n1, ln, b0, b1), (d, se) = cases[1], gap(*list(cases[1])[:2], "train")
    ex.verdict(f"1/sqrt(n) scaling improves convergence: a {len(DEEP)}-hidden-layer tanh net's "
               f"training loss after {EP2} epochs is lower than with N(0, 1) by > 2 SE (000 3.8.4)",
               d > se, f"train loss N(0, 1) {m[n1]['train']:.3f}, 1/sqrt(n) {m[ln]['train']:.3f} "
               f"(diff {d:.3f}, 2 SE {se:.3f}); test accuracy {m[n1]['acc']:.3f} vs "
               f"{m[ln]['acc']:.3f}")
    (da, sea), (dl, sel) = gap(b1, b0, "acc"), gap(b0, b1, "train")
    ex.verdict(f"A small positive bias (0.01) for ReLU units gives no clear benefit over 0 (He "
               f"init, {len(DEEP)} hidden layers): not better by > 2 SE in test accuracy or "
               "training loss (000 3.8.6)", not (da > sea or dl > sel),
               f"test accuracy 0.01: {m[b1]['acc']:.4f}, 0: {m[b0]['acc']:.4f} (diff {da:+.4f}, "
               f"2 SE {sea:.4f}); train loss 0.01: {m[b1]['train']:.4f}, 0: {m[b0]['train']:.4f} "
               f"(lower by {dl:+.4f}, 2 SE {sel:.4f})")
    w, acc, loss = np.asarray(res[s]["w"]), res[s]["acc"], res[s]["loss"]  # the 0.01 N(0, 1) net
    differ = all(not np.array_equal(w[i], w[j]) for i in range(SEEDS) for j in range(i + 1, SEEDS))
    ex.verdict(f"The seed changes the result: {SEEDS} seeds (init and shuffling) of the 64-32-10 "
               "tanh net (0.01 N(0, 1)) give different weights and test losses (003)",
               differ and np.ptp(loss) > 0,
               f"hidden weights differ between every pair of seeds: {differ}; test accuracy "
               f"{np.mean(acc):.4f} +- {np.std(acc, ddof=1):.4f} (std over seeds), range "
               f"{np.ptp(acc):.4f}; test loss range {np.ptp(loss):.4f}")
    ts2, hist2 = runs[0]()  # a second, separate call with the same keys
    leaves = list(zip(jax.tree.leaves(first[0].params), jax.tree.leaves(ts2.params)))
    same_p = all(np.array_equal(a, b) for a, b in leaves)  # bit for bit
    same_h = all(np.array_equal(v, hist2.values[k], equal_nan=True)
                 for k, v in first[1].values.items() if k != "seconds")
    ex.verdict("The same seed reproduces: two separate vmap_fit calls with the same keys give "
               "bit-identical weights and history (003)", same_p and same_h,
               f"all {len(leaves)} parameter arrays ({len(leaves[0][0])} runs each) equal: "
               f"{same_p}; history ({len(hist2.values) - 1} series, not timing) equal: {same_h}")
    fig, axes = plot.figure(2, 1, width=4.6, height=3.4)
    for i, net in enumerate(nets):
        for case in cases[i]:
            axes[0, i].plot(np.arange(1, nets[net][1] + 1), res[case]["curve"], ".-", label=case)
        axes[0, i].set_xticks(np.arange(1, nets[net][1] + 1))
        plot.label(axes[0, i], f"{net} net on digits", "epoch",
                   ("test accuracy", "train loss")[i] + " (mean of seeds)", legend=True)
    ex.figure(fig, "digits_training.png", "Digits: test accuracy of the one-hidden-layer net "
              "(left), training loss of the deeper net (right), per initialisation")


def printed_formulas(ex: Experiment) -> None:
    """Xavier's printed 'variance'; tanh vs sigmoid / ReLU on small Xavier pre-activations."""
    M, N = ex.pick((1000, 500), (400, 200))
    k, nn_ini, got = jax.random.key(30), jax.nn.initializers, {}
    for name, mine, ref, v in (("Xavier", ini.glorot_normal(), nn_ini.glorot_normal(), 2 / (M + N)),
                               ("He", ini.he_normal(), nn_ini.he_normal(), 2 / M)):
        w = np.asarray(mine(k, (M, N)), np.float64)
        got[name] = {"var": w.var(), "printed": v ** 0.5, "std": w.std(),
                     "jax_std": np.asarray(ref(k, (M, N))).std()}
    ex.metrics["printed_variance"] = got
    ex.verdict("The printed Xavier variance sqrt(2/(fan_in+fan_out)) is the variance of Xavier "
               "normal (and sqrt(2/fan_in) of He normal) (002); decided at relative error < 5 %",
               all(abs(g["var"] / g["printed"] - 1) < 0.05 for g in got.values()), "; ".join(
                   f"{n} normal {M}x{N}: sample Var {g['var']:.2e} vs printed {g['printed']:.2e} "
                   f"({g['printed'] / g['var']:.0f}x too large); sample std {g['std']:.4f} = "
                   f"printed formula {g['printed']:.4f} ({g['std'] / g['printed'] - 1:+.1%}; "
                   f"jax.nn.initializers: {g['jax_std']:.4f})" for n, g in got.items()))
    x = np.random.default_rng(0).normal(size=(ex.pick(2000, 500), M)) / (2 * M / (M + N)) ** 0.5
    z0 = x @ np.asarray(ini.glorot_normal()(jax.random.key(31), (M, N)))  # std(z) ~ 1
    acts, rows, small = jax.jit(lambda z: (tanh(z), sigmoid(z), relu(z))), [], {}
    for sd in (0.1, 0.3, 1.0):
        for act, a in zip(("tanh", "sigmoid", "ReLU"), acts(sd * z0)):
            z, a = sd * z0, np.asarray(a, np.float64)
            rows.append([act, z.std(), a.std() / z.std(), (a.mean() - z.mean()) / z.std()])
            small[act] = small.get(act, abs(rows[-1][2] - 1) < 0.05 and abs(rows[-1][3]) < 0.05)
    ex.table(f"Activations of Xavier pre-activations z = x W (W {M}x{N}): std ratio and mean shift",
             ["activation", "std z", "std f(z) / std z", "(mean f(z) - mean z) / std z"], rows)
    ex.metrics["activation_on_small_input"] = rows
    ex.verdict("An activation through 0 with slope 1 (tanh) leaves a small input's distribution "
               "unchanged; sigmoid and ReLU do not (003 Xavier): std ratio within 5 % of 1 and "
               "mean shift < 0.05 std at std z = 0.1",
               small["tanh"] and not small["sigmoid"] and not small["ReLU"],
               f"std ratio / mean shift at std z = {rows[0][1]:.2f}: " + ", ".join(
                   f"{r[0]} {r[2]:.3f} / {r[3]:+.2f}" for r in rows[:3])
               + f"; at std z = {rows[6][1]:.2f}, tanh {rows[6][2]:.3f}")


if __name__ == "__main__":
    run(main)
