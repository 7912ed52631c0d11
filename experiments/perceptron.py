"""The perceptron: a weighted vote, the NAND gate, XOR from perceptron units, and the learning
rule."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, run

from jaxdl import plot
from jaxdl.core import parallel, serial
from jaxdl.nn.dense import Perceptron, perceptron_epoch


def main(quick: bool) -> Experiment:
    ex = Experiment("perceptron", "the perceptron as a weighted vote, a logic gate and a learner",
                    "000 section 3.1.1", quick=quick)
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
    return ex.finish()


if __name__ == "__main__":
    run(main)
