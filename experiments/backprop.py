"""Backprop by hand: the 2-2-2 sigmoid network of the fundamentals, the four equations BP1-BP4
written out against `jax.grad`, one gradient step, 10000 steps, and forward- vs reverse-mode
cost."""

import time

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, run

from jaxdl import plot
from jaxdl.activations import Sigmoid, sigmoid, sigmoid_grad
from jaxdl.core import serial
from jaxdl.losses import squared_error
from jaxdl.nn.dense import Dense


def main(quick: bool) -> Experiment:
    """The worked example prints 9 digits: everything runs in float64 (scoped to this call)."""
    with jax.enable_x64(True):
        return _main(quick)


def _main(quick: bool) -> Experiment:
    ex = Experiment("backprop", "backpropagation by hand on the 2-2-2 worked example",
                    "000 section 3.2.5 (worked example), 001 sections 1 (dimensions), 4 (gradient "
                    "descent, BP1-BP4), 002 (forward vs reverse mode)", quick=quick)
    LR, STEPS = 0.5, 10_000
    ex.setting(lr=LR, steps=STEPS, dtype="float64", biases="held fixed (as in the worked example)")

    x = jnp.array([[0.05, 0.10]])
    t = jnp.array([[0.01, 0.99]])
    w = dict(zip([f"w{i}" for i in range(1, 9)], [0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55]))
    b1, b2 = 0.35, 0.60

    model = serial(Dense(2), Sigmoid(), Dense(2), Sigmoid())
    _, state, _ = model.init(jax.random.key(0), (2,))


    def to_params(w):
        """Dense kernels are (in, out): column j holds the weights into unit j (h1 <- w1, w2;
        o1 <- w5, w6)."""
        return {"0_dense": {"w": jnp.array([[w["w1"], w["w3"]], [w["w2"], w["w4"]]]),
                            "b": jnp.array([b1, b1])}, "1_sigmoid": {},
                "2_dense": {"w": jnp.array([[w["w5"], w["w7"]], [w["w6"], w["w8"]]]),
                            "b": jnp.array([b2, b2])}, "3_sigmoid": {}}


    def error(wvec):
        y, _ = model.apply(to_params(dict(zip(w, wvec))), state, x)
        return squared_error(y, t, reduction="sum")


    # --- forward pass, layer by layer, through jaxdl layers ---------------------------------------
    p = to_params(w)
    net_h, _ = Dense(2).apply(p["0_dense"], {}, x)
    out_h = sigmoid(net_h)
    net_o, _ = Dense(2).apply(p["2_dense"], {}, out_h)
    out_o = sigmoid(net_o)
    e_o = 0.5 * (t - out_o) ** 2
    computed = {"net_h1": net_h[0, 0], "out_h1": out_h[0, 0], "out_h2": out_h[0, 1],
                "net_o1": net_o[0, 0], "out_o1": out_o[0, 0], "out_o2": out_o[0, 1],
                "E_o1": e_o[0, 0], "E_o2": e_o[0, 1], "E_total": e_o.sum()}
    printed = {"net_h1": [0.3775], "out_h1": [0.593269992], "out_h2": [0.596884378],
               "net_o1": [1.105905967], "out_o1": [0.75136079, 0.75136507], "out_o2": [0.772928465],
               "E_o1": [0.274811083], "E_o2": [0.023560026], "E_total": [0.298371109]}
    rows, agrees = [], {}
    for name, values in printed.items():
        for v in values:
            diff = abs(float(computed[name]) - v)
            ok = diff < 5e-9 + 1e-9 * abs(v)  # the text rounds to 9 decimals
            rows.append([name, v, float(computed[name]), diff, "yes" if ok else "NO"])
            agrees[f"{name} = {v}"] = ok
    mismatches = [k for k, ok in agrees.items() if not ok]
    ex.table("Forward pass: printed in the fundamentals vs computed (float64)",
             ["quantity", "printed", "computed", "|diff|", "agrees to 9 decimals"], rows,
             note="The text prints out_o1 twice: 0.75136079 in the forward pass and 0.75136507 "
                  "when computing E_o1. Only the second is right; E_total = 0.298371109 uses it.")
    ex.metrics["forward"] = {k: float(v) for k, v in computed.items()}
    ex.metrics["forward_printed_mismatches"] = [m.replace(" = ", " printed ") for m in mismatches]
    ex.verdict_cases("The printed forward pass is reproduced by jaxdl's Dense + Sigmoid layers",
                     agrees, f"{len(rows) - len(mismatches)}/{len(rows)} printed numbers agree to "
                     "9 decimals" + (f"; {', '.join(mismatches)} does not (the text's two "
                                     "printings of out_o1 disagree; E_o1 and E_total use "
                                     "0.75136507)" if mismatches else ""),
                     subject="the printed number")

    # --- gradients: BP1-BP4 by hand vs jax.grad ---------------------------------------------------
    W2 = p["2_dense"]["w"]
    delta_o = (out_o - t) * sigmoid_grad(net_o)  # BP1: dE/dz_L = (a_L - t) * sigma'(z_L)
    # BP2: delta_l = (W_{l+1} delta_{l+1}) * sigma'(z_l)
    delta_h = (delta_o @ W2.T) * sigmoid_grad(net_h)
    _grad_b2, _grad_b1 = delta_o.sum(0), delta_h.sum(0)  # BP3: dE/db = delta (biases fixed here)
    grad_W2, grad_W1 = out_h.T @ delta_o, x.T @ delta_h  # BP4: dE/dw_jk = a_k^{l-1} delta_j^l
    by_hand = {"w1": grad_W1[0, 0], "w2": grad_W1[1, 0], "w3": grad_W1[0, 1], "w4": grad_W1[1, 1],
               "w5": grad_W2[0, 0], "w6": grad_W2[1, 0], "w7": grad_W2[0, 1], "w8": grad_W2[1, 1]}
    wvec = jnp.array(list(w.values()))
    by_jax = dict(zip(w, jax.grad(error)(wvec)))
    grad_diff = max(abs(float(by_hand[k] - by_jax[k])) for k in w)
    ex.table("dE_total/dw: BP1-BP4 by hand vs jax.grad",
             ["weight", "BP1-BP4", "jax.grad", "|diff|"],
             [[k, float(by_hand[k]), float(by_jax[k]), abs(float(by_hand[k] - by_jax[k]))]
              for k in w])
    ex.metrics["gradients"] = {k: float(v) for k, v in by_jax.items()}
    ex.metrics["gradients_bp_equations"] = {k: float(v) for k, v in by_hand.items()}
    ex.verdict("The four backprop equations give the same gradients as reverse-mode autodiff",
               grad_diff < 1e-12, f"max |diff| = {grad_diff:.1e} over w1..w8")

    # --- 001 section 1: the dimension chain of a 2-3-2 network (one example as a row vector) ----
    net232 = serial(Dense(3), Sigmoid(), Dense(2), Sigmoid())
    p232, s232, out232 = net232.init(jax.random.key(1), (2,))
    a1 = jnp.ones((1, 2), p232["0_dense"]["w"].dtype)
    a2 = sigmoid(Dense(3).apply(p232["0_dense"], {}, a1)[0])
    a3, _ = net232.apply(p232, s232, a1)
    chain = [("a1", a1.shape), ("w1", p232["0_dense"]["w"].shape), ("a2", a2.shape),
             ("w2", p232["2_dense"]["w"].shape), ("a3", a3.shape)]
    printed_chain = [(1, 2), (2, 3), (1, 3), (3, 2), (1, 2)]
    ex.metrics["dimension_chain_232"] = {k: list(v) for k, v in chain}
    ex.verdict("The dimension chain of a 2-3-2 network: a1 (1,2) -> w1 (2,3) -> a2 (1,3) -> "
               "w2 (3,2) -> a3 (1,2) (001 section 1)",
               [tuple(v) for _, v in chain] == printed_chain and tuple(out232) == (2,),
               " -> ".join(f"{k} {tuple(v)}" for k, v in chain) + " (jaxdl Dense kernels are "
               "(in, out), as printed)")

    # --- 001 section 4(1): a small step against the gradient lowers the cost, by about
    # eta * ||grad||^2 (Delta C ~ dC/dw . Delta w)
    g0 = jax.grad(error)(wvec)
    g2 = float(jnp.sum(g0 ** 2))
    descent = []
    for eta in (0.5, 0.05, 0.005):
        drop = float(error(wvec) - error(wvec - eta * g0))
        descent.append([eta, drop, eta * g2, abs(drop - eta * g2) / (eta * g2)])
    ex.table("A gradient step of size eta: the cost's drop vs the first-order eta * ||grad||^2",
             ["eta", "C(w) - C(w - eta grad)", "eta * ||grad||^2", "relative difference"],
             descent)
    ex.metrics["descent_steps"] = descent
    rel = [r[3] for r in descent]
    ex.verdict("A small gradient-descent step lowers the cost, by about eta * ||dC/dw||^2 "
               "(001 section 4(1))", all(r[1] > 0 for r in descent)
               and all(np.diff(rel) < 0) and rel[-1] < 0.01,
               "cost drops " + ", ".join(f"{r[1]:.3e} (eta {r[0]:g})" for r in descent)
               + "; relative gap to the first-order drop " + ", ".join(f"{r:.1e}" for r in rel))

    # --- one step, then 10000 ---------------------------------------------------------------------
    e0 = float(error(wvec))
    w_one = wvec - LR * jax.grad(error)(wvec)
    e1 = float(error(w_one))
    ex.metrics["weights_after_one_step"] = {k: float(v) for k, v in zip(w, w_one)}
    ex.metrics["error_after_one_step"] = e1


    @jax.jit
    def train(wvec):
        def body(carry, _):
            e, g = jax.value_and_grad(error)(carry)
            return carry - LR * g, e
        return jax.lax.scan(body, wvec, None, length=ex.pick(STEPS, 1000))


    w_final, curve = train(wvec)
    e_final = float(error(w_final))
    y_final, _ = model.apply(to_params(dict(zip(w, w_final))), state, x)
    ex.metrics["error_after_10000_steps"] = e_final
    ex.metrics["outputs_after_10000_steps"] = [float(v) for v in y_final[0]]
    # Matt Mazur's "A Step by Step Backpropagation Example" (the origin of this worked example)
    # prints the step's new weights, 0.291027924 after one step and 0.0000351085 after 10000.
    mazur = {"w1": 0.149780716, "w2": 0.19956143, "w3": 0.24975114, "w4": 0.29950229,
             "w5": 0.35891648, "w6": 0.408666186, "w7": 0.511301270, "w8": 0.561370121}
    ex.table("One gradient step (lr 0.5, biases fixed)",
             ["weight", "before", "after", "printed (Mazur)"],
             [[k, w[k], float(v), mazur[k]] for k, v in zip(w, w_one)])
    step_diff = max(abs(float(v) - mazur[k]) for k, v in zip(w, w_one))
    e_printed_weights = float(error(jnp.array([mazur[k] for k in w])))
    ex.metrics["error_of_printed_weights"] = e_printed_weights
    ex.verdict("One step of gradient descent (lr 0.5) gives the printed new weights and lowers "
               "E_total", e1 < e0 and step_diff < 5e-9,
               f"max |w - printed| = {step_diff:.1e}; E: {e0:.9f} -> {e1:.9f}. The printed "
               f"0.291027924 disagrees with its own printed weights, which give "
               f"{e_printed_weights:.9f}")
    if not ex.quick:
        rel = abs(e_final - 0.0000351085) / 0.0000351085
        ex.verdict("10000 steps drive E_total to the printed 3.51085e-5 (within 1%)", rel < 0.01,
                   f"E = {e_final:.4e} ({rel:.2%} off), outputs = ({float(y_final[0, 0]):.6f}, "
                   f"{float(y_final[0, 1]):.6f}) vs printed (0.015912196, 0.984065734)")

    fig, axes = plot.figure(1)
    ax = axes[0, 0]
    ax.semilogy(np.arange(1, len(curve) + 1), np.asarray(curve))
    plot.label(ax, "2-2-2 network, gradient descent (lr 0.5)", "step", "E_total (log)")
    ex.figure(fig, "error_curve.png", "E_total over the gradient steps")

    # --- forward mode vs reverse mode -------------------------------------------------------------
    n_in = ex.pick(1000, 100)
    deep = serial(Dense(64), Sigmoid(), Dense(64), Sigmoid(), Dense(1))
    dp, ds, _ = deep.init(jax.random.key(1), (n_in,))
    dp = jax.tree.map(lambda a: a.astype(jnp.float64), dp)  # float32 draws, float64 maths
    xin = jax.random.normal(jax.random.key(2), (n_in,))


    def scalar_out(xv):
        return deep.apply(dp, ds, xv[None])[0][0, 0]


    jvp = jax.jit(lambda v: jax.jvp(scalar_out, (xin,), (v,))[1])
    vjp_fun = jax.jit(lambda: jax.vjp(scalar_out, xin)[1](jnp.ones(()))[0])
    basis = jnp.eye(n_in)
    jvp(basis[0]).block_until_ready()
    vjp_fun().block_until_ready()
    t0 = time.perf_counter()
    fwd = jnp.stack([jvp(basis[i]) for i in range(n_in)])  # one forward-mode pass per input
    t_fwd = time.perf_counter() - t0
    t0 = time.perf_counter()
    rev = vjp_fun().block_until_ready()  # one reverse pass for the whole gradient
    t_rev = time.perf_counter() - t0
    agree = float(jnp.max(jnp.abs(fwd - rev)))
    ex.table(f"Gradient of a {n_in}-input, 1-output network", ["mode", "passes", "seconds"],
             [["forward (jvp per input)", n_in, t_fwd], ["reverse (one vjp)", 1, t_rev]])
    ex.metrics["forward_vs_reverse"] = {"inputs": n_in, "forward_passes": n_in, "reverse_passes": 1,
                                        "forward_seconds": t_fwd, "reverse_seconds": t_rev,
                                        "max_abs_diff": agree}
    ex.verdict("Reverse mode gets all n input gradients in 1 pass, forward mode needs n",
               agree < 1e-10 and t_rev < t_fwd,
               f"{n_in} jvp passes in {t_fwd:.3f} s vs 1 vjp in {t_rev:.4f} s; same gradient "
               f"(max |diff| {agree:.1e})")
    return ex.finish()


if __name__ == "__main__":
    run(main)
