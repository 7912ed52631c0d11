"""The perceptron: a weighted vote, the NAND gate, XOR from perceptron units, the learning rule,
and what hidden layers add: two interleaved curves no line separates become separable in the
hidden space."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, run

from jaxdl import optim, plot
from jaxdl.core import parallel, serial
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn import Dense, Tanh
from jaxdl.nn.dense import Perceptron, perceptron_epoch
from jaxdl.sweep import vmap_fit


def main(quick: bool) -> Experiment:
    ex = Experiment("perceptron", "the perceptron as a weighted vote, a logic gate and a learner",
                    "000 section 3.1.1; 002 'from the process' (layers as "
                    "transformations)", quick=quick)
    unit = Perceptron(1)

    # 1. The weighted vote: three judges score 4, 1, -3 with weights 1, 3, 2; the threshold is 3.
    vote = {"w": jnp.array([[1.0], [3.0], [2.0]]), "b": jnp.array([-3.0])}  # b = -threshold
    scores = jnp.array([[4.0, 1.0, -3.0]])
    total = float((scores @ vote["w"])[0, 0])
    verdict_out = float(unit.apply(vote, {}, scores)[0][0, 0])
    ex.metrics["vote"] = {"weighted_sum": total, "threshold": 3.0, "output": verdict_out}
    ex.verdict("The singer scoring 4, 1, -3 (weights 1, 3, 2) is rejected at threshold 3",
               total == 1.0 and verdict_out == 0.0,
               f"4*1 + 1*3 + (-3)*2 = {total:g} <= 3 -> output {verdict_out:g}")

    # 2. NAND with w = (-2, -2), b = 3, and XOR = AND(NAND, OR) built from perceptron units.
    inputs = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    nand = {"w": jnp.array([[-2.0], [-2.0]]), "b": jnp.array([3.0])}
    nand_out = np.asarray(unit.apply(nand, {}, inputs)[0][:, 0])
    xor_net = serial(parallel(Perceptron(1), Perceptron(1), concat_axis=-1), Perceptron(1))
    xor_params = {
        "0_parallel": {"0_perceptron": nand,  # NAND, then OR
                       "1_perceptron": {"w": jnp.array([[1.0], [1.0]]), "b": jnp.array([-0.5])}},
        "1_perceptron": {"w": jnp.array([[1.0], [1.0]]), "b": jnp.array([-1.5])},  # AND
    }
    _, xor_state, _ = xor_net.init(jax.random.key(0), (2,))
    xor_out = np.asarray(xor_net.apply(xor_params, xor_state, inputs)[0][:, 0])
    ex.table("Logic gates from perceptron units",
             ["x1", "x2", "NAND (w=-2,-2, b=3)", "XOR = AND(NAND, OR)"],
             [[int(a), int(b), int(n), int(x)]
              for (a, b), n, x in zip(np.asarray(inputs), nand_out, xor_out)])
    ex.metrics["nand"] = nand_out.tolist()
    ex.metrics["xor"] = xor_out.tolist()
    ex.verdict("w = (-2, -2), b = 3 computes NAND", nand_out.tolist() == [1, 1, 1, 0],
               f"outputs {nand_out.astype(int).tolist()} for 00, 01, 10, 11")
    ex.verdict("Two layers of perceptrons compute XOR (one unit cannot)",
               xor_out.tolist() == [0, 1, 1, 0],
               f"outputs {xor_out.astype(int).tolist()}")

    # 3. The learning rule on a linearly separable 2-D set.
    n = ex.pick(200, 60)
    k1, k2 = jax.random.split(jax.random.key(1))
    x = jax.random.uniform(k1, (n, 2), minval=-1.0, maxval=1.0)
    true_w, true_b = jnp.array([1.5, -1.0]), 0.2
    margin = x @ true_w + true_b
    keep = jnp.abs(margin) > 0.1  # leave a margin so the set is separable with room to spare
    x, t = x[keep], (margin[keep] > 0).astype(jnp.float32)[:, None]
    params, _, _ = unit.init(k2, (2,))
    epoch = jax.jit(perceptron_epoch)
    mistakes = []
    for _ in range(100):
        params, m = epoch(params, x, t)
        mistakes.append(int(m))
        if m == 0:
            break
    acc = float(jnp.mean(unit.apply(params, {}, x)[0] == t))
    ex.metrics["learning_rule"] = {"examples": int(x.shape[0]), "epochs": len(mistakes),
                                   "mistakes_per_epoch": mistakes, "final_accuracy": acc}
    ex.verdict("The perceptron rule converges on linearly separable data",
               mistakes[-1] == 0 and acc == 1.0,
               f"{len(mistakes)} passes, mistakes per pass {mistakes}, accuracy {acc:.0%}")

    hidden = two_curves(ex)

    fig, axes = plot.figure(3)
    plot.decision_boundary(axes[0, 0], lambda g: unit.apply(params, {}, jnp.asarray(g))[0][:, 0],
                           np.asarray(x), np.asarray(t[:, 0]),
                           title="perceptron rule: learned boundary")
    plot.decision_boundary(axes[0, 1],
                           lambda g: xor_net.apply(xor_params, xor_state, jnp.asarray(g))[0][:, 0],
                           np.asarray(inputs), np.array([0, 1, 1, 0]),
                           title="XOR from 3 perceptron units")
    axes[0, 2].bar(np.arange(1, len(mistakes) + 1), mistakes)
    plot.label(axes[0, 2], "mistakes per pass", "pass over the data", "mistakes")
    ex.figure(fig, "perceptron.png",
              "Left: boundary learned by the rule; middle: XOR; right: mistakes per pass")
    hidden()
    return ex.finish()


def two_curves(ex: Experiment):
    """002: each hidden layer transforms the data; two interleaved curves that no line separates
    become separable by the output layer's line in the last (2-D) hidden space. Returns the
    function that draws the figure."""
    SEEDS, EPOCHS = ex.pick(5, 2), ex.pick(400, 20)
    t = np.linspace(-1.0, 1.0, 100, dtype=np.float32)
    x = np.concatenate([np.stack([t, 0.6 * np.sin(3 * t) + 0.15], 1),
                        np.stack([t, 0.6 * np.sin(3 * t) - 0.15], 1)]).astype(np.float32)
    y = np.repeat(np.arange(2, dtype=np.int32), 100)
    keys = jax.random.split(jax.random.key(5), SEEDS)
    body = serial(Dense(16), Tanh(), Dense(2), Tanh())
    nets = {"linear (no hidden layer)": serial(Dense(2)),
            "hidden 16 tanh -> 2 tanh": serial(Dense(16), Tanh(), Dense(2), Tanh(), Dense(2))}
    acc = {}
    states = {}
    for name, net in nets.items():
        ts, hist = vmap_fit(net, softmax_cross_entropy, lambda: optim.adam(0.02),
                            (jnp.asarray(x), jnp.asarray(y)), keys=keys, epochs=EPOCHS,
                            batch_size=200)
        acc[name] = np.asarray(hist.train_accuracy)[:, -1]
        states[name] = ts
    ex.setting(curves=f"2 x 100 points on 0.6 sin(3t) +- 0.15, adam 0.02 full batch, {EPOCHS} "
               f"epochs, {SEEDS} seeds")
    lin, deep = acc["linear (no hidden layer)"], acc["hidden 16 tanh -> 2 tanh"]
    ex.table("Two interleaved curves: training accuracy after training, per seed",
             ["model", *[f"seed {i}" for i in range(SEEDS)]],
             [[name, *[float(a) for a in v]] for name, v in acc.items()])
    ex.metrics["two_curves"] = {k: v for k, v in acc.items()}
    separated = int(np.sum(deep == 1.0))
    ex.verdict("Hidden layers transform two interleaved curves until a line separates them (002)",
               separated > SEEDS / 2 and lin.max() < 1.0,
               f"the output layer's line separates all 200 points in the 2-D hidden space in "
               f"{separated}/{SEEDS} seeds; the best line in the input space reaches "
               f"{lin.max():.3f}")

    def draw():
        ts = states["hidden 16 tanh -> 2 tanh"]
        best = int(np.argmax(deep))
        params = jax.tree.map(lambda a: a[best], ts.params)
        h, _ = body.apply({k: params[k] for k in ("0_dense", "1_tanh", "2_dense", "3_tanh")},
                          {k: {} for k in ("0_dense", "1_tanh", "2_dense", "3_tanh")},
                          jnp.asarray(x))
        h = np.asarray(h)
        fig, axes = plot.figure(2, width=4.0, height=3.6)
        for ax, pts, title, lab in ((axes[0, 0], x, f"input space: the best line gets "
                                     f"{lin.max():.0%}", ("x1", "x2")),
                                    (axes[0, 1], h, f"2-D hidden space (seed {best}): the output "
                                     f"line gets {deep[best]:.0%}",
                                     ("hidden unit 1", "hidden unit 2"))):
            for c, color in ((0, "tab:blue"), (1, "tab:orange")):
                ax.scatter(pts[y == c, 0], pts[y == c, 1], s=6, color=color, label=f"curve {c}")
            plot.label(ax, title, *lab, legend=True)
        w, b = params["4_dense"]["w"], params["4_dense"]["b"]
        d = np.asarray(w[:, 1] - w[:, 0])  # the boundary: h . d + (b1 - b0) = 0
        xs = np.linspace(h[:, 0].min(), h[:, 0].max(), 2)
        if abs(d[1]) > 1e-6:
            axes[0, 1].plot(xs, -(d[0] * xs + float(b[1] - b[0])) / d[1], "k--", lw=1)
            axes[0, 1].set_ylim(h[:, 1].min() - 0.1, h[:, 1].max() + 0.1)
        ex.figure(fig, "two_curves.png", "Two interleaved curves before and after the hidden "
                  "layers; dashed: the output layer's boundary")

    return draw


if __name__ == "__main__":
    run(main)
