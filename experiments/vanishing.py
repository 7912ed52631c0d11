"""Vanishing and exploding gradients: gradient norm per layer against depth for sigmoid, tanh and
ReLU, plain / with batch norm / with residual connections, and an exploding net with and without
gradient-norm clipping."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, run, sem

from jaxdl import optim, plot
from jaxdl.activations import Elu, LeakyRelu, Relu, Sigmoid, Tanh
from jaxdl.core import residual, serial
from jaxdl.initializers import glorot_normal, he_normal, variance_scaling
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.nn.normalization import BatchNorm


def main(quick: bool) -> Experiment:
    ex = Experiment("vanishing", "vanishing and exploding gradients, and their remedies",
                    "000 section 3.1.5; 002 (vanishing/exploding gradients and remedies)",
                    quick=quick)
    WIDTH, BATCH = 64, 256
    DEPTHS = ex.pick((5, 10, 20, 30, 50), (5, 20))
    ACTS = {"sigmoid": (Sigmoid, glorot_normal()), "tanh": (Tanh, glorot_normal()),
            "relu": (Relu, he_normal())}
    VARIANTS = ("plain", "batchnorm", "residual")
    ex.setting(width=WIDTH, batch=BATCH, depths=DEPTHS,
               init="Xavier normal for sigmoid/tanh, He for ReLU",
               loss="softmax cross-entropy on random labels, random N(0,1) inputs")

    x = jax.random.normal(jax.random.key(0), (BATCH, WIDTH))
    labels = jax.random.randint(jax.random.key(1), (BATCH,), 0, 10)


    def block(act, w_init, variant):
        if variant == "batchnorm":
            return serial(Dense(WIDTH, w_init=w_init), BatchNorm(), act())
        body = serial(Dense(WIDTH, w_init=w_init), act())
        return residual(body) if variant == "residual" else body


    def layer_grad_norms(model, params, state):
        """||dL/dW|| of each hidden block's Dense kernel, first block first."""

        def loss(p):
            logits, _ = model.apply(p, state, x, train=True)
            return softmax_cross_entropy(logits, labels)

        grads = jax.grad(loss)(params)
        blocks = sorted(grads, key=lambda k: int(k.split("_")[0]))[:-1]  # drop the output layer
        norms = []
        for k in blocks:
            ws = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(grads[k])
                  if getattr(path[-1], "key", None) == "w"]
            norms.append(float(jnp.linalg.norm(ws[0])))
        return np.array(norms)


    results = {}
    for act_name, (act, w_init) in ACTS.items():
        for variant in VARIANTS:
            for depth in DEPTHS:
                model = serial(*[block(act, w_init, variant) for _ in range(depth)], Dense(10))
                params, state, _ = model.init(jax.random.key(depth), (WIDTH,))
                norms = layer_grad_norms(model, params, state)
                results[(act_name, variant, depth)] = norms

    # 002's other remedies (Leaky ReLU, ELU), plain blocks with He init
    EXTRA = {"leaky_relu": LeakyRelu, "elu": Elu}
    for act_name, act in EXTRA.items():
        for depth in DEPTHS:
            model = serial(*[block(act, he_normal(), "plain") for _ in range(depth)], Dense(10))
            params, state, _ = model.init(jax.random.key(depth), (WIDTH,))
            results[(act_name, "plain", depth)] = layer_grad_norms(model, params, state)

    deep = DEPTHS[-1]
    rows = []
    for act_name in ACTS:
        for variant in VARIANTS:
            n = results[(act_name, variant, deep)]
            rows.append([act_name, variant, n[0], n[-1], n[0] / n[-1]])
    for act_name in EXTRA:
        n = results[(act_name, "plain", deep)]
        rows.append([act_name, "plain (He init)", n[0], n[-1], n[0] / n[-1]])
    ex.table(f"Gradient norms at depth {deep}: first vs last hidden layer",
             ["activation", "variant", "||dL/dW_1||", "||dL/dW_last||", "first / last"], rows)
    ex.metrics["grad_norms"] = {f"{a}/{v}/{d}": n for (a, v, d), n in results.items()}

    JUDGED = 20  # at 50 layers plain sigmoid's first-layer gradient underflows to 0 in float32
    ratio = {(a, v): results[(a, v, JUDGED)][0] / results[(a, v, JUDGED)][-1]
             for a in ACTS for v in VARIANTS}
    ratio |= {(a, "plain"): results[(a, "plain", JUDGED)][0] / results[(a, "plain", JUDGED)][-1]
              for a in EXTRA}
    base = ratio[("sigmoid", "plain")]
    ex.verdict("Plain sigmoid gradients vanish with depth (first/last layer < 1e-3 at depth "
               f"{JUDGED})",
               base < 1e-3, f"first/last = {base:.1e} at depth {JUDGED}; at depth {deep} "
               f"||dL/dW_1|| = {results[('sigmoid', 'plain', deep)][0]:.1e}")
    for remedy, key in (("ReLU (He init)", ("relu", "plain")),
                        ("Leaky ReLU (He init)", ("leaky_relu", "plain")),
                        ("ELU (He init)", ("elu", "plain")),
                        ("batch norm", ("sigmoid", "batchnorm")),
                        ("residual connections", ("sigmoid", "residual"))):
        r = ratio[key]
        ex.verdict(f"{remedy} keeps early-layer gradients alive (first/last >= 100x plain "
                   "sigmoid's)",
                   r >= 100 * base,
                   f"first/last = {r:.2e} vs {base:.1e} for plain sigmoid at depth {JUDGED} "
                   f"({r / base:.0e}x)")

    relu_res = results[("relu", "residual", deep)][0]
    ex.text("Note: residual connections without normalization keep gradients from vanishing but "
            f"not from exploding: with ReLU at depth {deep}, ||dL/dW_1|| = {relu_res:.1e} (each "
            "block adds its output to the signal, so the variance grows with depth). Batch norm "
            "inside the block, "
            "or a scaled residual branch, is what keeps deep residual nets stable.")
    fig, axes = plot.figure(3)
    for ax, act_name in zip(axes[0], ACTS):
        for variant, style in zip(VARIANTS, ("-", "--", ":")):
            n = results[(act_name, variant, deep)]
            ax.semilogy(np.arange(1, len(n) + 1), n, style, label=variant)
        plot.label(ax, f"{act_name}, depth {deep}", "hidden layer (1 = nearest the input)",
                   "||dL/dW|| (log)", legend=True)
    ex.figure(fig, "grad_norm_per_layer.png",
              "Gradient norm of each layer's weights, one panel per activation")

    fig, axes = plot.figure(1, width=5.5)
    for act_name in ACTS:
        for variant, style in zip(VARIANTS, ("-o", "--s", ":^")):
            axes[0, 0].semilogy(DEPTHS, [results[(act_name, variant, d)][0] for d in DEPTHS], style,
                                label=f"{act_name} {variant}", ms=3)
    plot.label(axes[0, 0], "first-layer gradient vs depth", "depth (hidden layers)",
               "||dL/dW_1|| (log)")
    axes[0, 0].legend(fontsize=7, ncol=3, loc="lower left")
    ex.figure(fig, "first_layer_grad_vs_depth.png", "First-layer gradient norm against depth")

    jacobian_degeneracy(ex)

    # Exploding: ReLU with Var(W) = 4/fan_in (2x He) grows the signal sqrt(2)x a layer; clip the
    # gradient norm.
    depth, steps = 20, ex.pick(40, 10)
    model = serial(*[serial(Dense(WIDTH, w_init=variance_scaling(4.0, "fan_in", "normal")), Relu())
                     for _ in range(depth)], Dense(10))
    params0, state, _ = model.init(jax.random.key(7), (WIDTH,))


    def train(opt):
        def loss(p):
            return softmax_cross_entropy(model.apply(p, state, x)[0], labels)

        def step(carry, _):
            p, s = carry
            value, g = jax.value_and_grad(loss)(p)
            u, s = opt.update(g, s, p)
            gnorm = jnp.sqrt(sum(jnp.sum(a**2) for a in jax.tree.leaves(g)))
            return (optim.apply_updates(p, u), s), (value, gnorm)

        (_, _), (losses, gnorms) = jax.jit(
            lambda p: jax.lax.scan(step, (p, opt.init(p)), None, length=steps))(params0)
        return np.asarray(losses), np.asarray(gnorms)


    loss_plain, g_plain = train(optim.sgd(1e-3))
    loss_clip, g_clip = train(optim.chain(optim.clip_by_global_norm(1.0), optim.sgd(1e-3)))
    ex.metrics["exploding"] = {"initial_grad_norm": float(g_plain[0]), "loss_plain": loss_plain,
                               "loss_clipped": loss_clip}
    ex.table("Exploding gradients (ReLU, Var(W) = 4/fan_in, depth 20, SGD lr 1e-3)",
             ["run", "initial ||g||", "final loss", "finite"],
             [["no clipping", g_plain[0], loss_plain[-1], bool(np.isfinite(loss_plain).all())],
              ["clip_by_global_norm(1.0)", g_clip[0], loss_clip[-1],
               bool(np.isfinite(loss_clip).all())]])
    clip_ok = np.isfinite(loss_clip).all() and loss_clip[-1] < loss_clip[0]
    plain_bad = (not np.isfinite(loss_plain).all()) or loss_plain[-1] > loss_plain[0]
    ex.verdict("Gradient-norm clipping keeps an exploding network's training finite and "
               "descending, "
               "where plain SGD diverges",
               clip_ok and plain_bad,
               f"initial ||g|| = {g_plain[0]:.1e}; final loss {loss_plain[-1]:.3g} "
               f"without vs {loss_clip[-1]:.3g} with clipping (start {loss_clip[0]:.3g})")
    fig, axes = plot.figure(1)
    axes[0, 0].semilogy(np.where(np.isfinite(loss_plain), loss_plain, np.nan), label="no clipping")
    axes[0, 0].semilogy(loss_clip, label="clip_by_global_norm(1.0)")
    plot.label(axes[0, 0], "exploding ReLU net (depth 20)", "step", "training loss (log)",
               legend=True)
    ex.figure(fig, "exploding_clipping.png", "Training loss with and without gradient clipping")
    return ex.finish()


def jacobian_degeneracy(ex: Experiment) -> None:
    """000 3.1.5 (Duvenaud et al. 2014): the product of the layers' matrices degenerates with
    depth, faster with a hard-saturating non-linearity (ReLU). Measured by the effective rank
    exp(entropy of sigma_i^2 / sum sigma^2) of the input-output Jacobian of random deep nets
    (width 64; He init for ReLU, Xavier for tanh), one random input per seed."""
    WIDTH, SEEDS = 64, ex.pick(5, 2)
    DEPTHS = ex.pick((1, 2, 4, 8, 16, 32), (1, 4, 16))
    ex.setting(jacobian=f"width {WIDTH}, depths {DEPTHS}, {SEEDS} seeds")

    def effective_rank(jac):
        s2 = np.linalg.svd(np.asarray(jac, np.float64), compute_uv=False) ** 2
        p = s2 / s2.sum()
        return float(np.exp(-np.sum(p * np.log(np.where(p > 0, p, 1.0)))))

    ranks = {}
    for act_name, act, w_init in (("relu", Relu, he_normal()), ("tanh", Tanh, glorot_normal())):
        for depth in DEPTHS:
            net = serial(*[serial(Dense(WIDTH, w_init=w_init), act()) for _ in range(depth)])
            jac = jax.jit(jax.jacfwd(lambda v, p, s: net.apply(p, s, v[None])[0][0]))
            values = []
            for seed in range(SEEDS):
                p, s, _ = net.init(jax.random.key(seed), (WIDTH,))
                v = jax.random.normal(jax.random.key(100 + seed), (WIDTH,))
                values.append(effective_rank(jac(v, p, s)))
            ranks[(act_name, depth)] = np.array(values)
    ex.metrics["jacobian_effective_rank"] = {f"{a}/{d}": v for (a, d), v in ranks.items()}
    ex.table("Effective rank of the input-output Jacobian (of 64) by depth: mean +- standard "
             f"error over {SEEDS} seeds",
             ["depth", "ReLU (He)", "tanh (Xavier)"],
             [[d, f"{ranks[('relu', d)].mean():.1f} +- {sem(ranks[('relu', d)]):.1f}",
               f"{ranks[('tanh', d)].mean():.1f} +- {sem(ranks[('tanh', d)]):.1f}"]
              for d in DEPTHS])
    means = {a: np.array([ranks[(a, d)].mean() for d in DEPTHS]) for a in ("relu", "tanh")}
    falls = all(np.all(np.diff(m) < 0) for m in means.values())
    gaps = {d: (ranks[("tanh", d)].mean() - ranks[("relu", d)].mean(),
                2 * np.hypot(sem(ranks[("tanh", d)]), sem(ranks[("relu", d)])))
            for d in DEPTHS[1:]}
    faster = all(g > two_se for g, two_se in gaps.values())
    ex.verdict("The input-output Jacobian degenerates with depth, faster in ReLU networks "
               "(000 3.1.5)", falls and faster,
               f"effective rank falls at every depth step: {falls} (ReLU {means['relu'][0]:.1f} "
               f"-> {means['relu'][-1]:.1f}, tanh {means['tanh'][0]:.1f} -> "
               f"{means['tanh'][-1]:.1f}); ReLU below tanh by more than 2 SE at every depth >= "
               f"{DEPTHS[1]}: {faster} ({SEEDS} seeds)")


if __name__ == "__main__":
    run(main)
