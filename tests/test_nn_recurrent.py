"""SimpleRNN, GRU, LSTM and Bidirectional against NumPy float64 loops written from the published
equations, and against Flax's cells (flax.linen SimpleCell, GRUCell, OptimizedLSTMCell, whose
conventions match: params mapped gate by gate) and Flax's Bidirectional with seq_lengths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.core import count_params, serial
from jaxdl.initializers import uniform
from jaxdl.nn import GRU, LSTM, Bidirectional, Dense, Flatten, SimpleRNN

KINDS = {"simple": SimpleRNN, "gru": GRU, "lstm": LSTM}
GATES = {"simple": 1, "gru": 3, "lstm": 4}
B, T, F, H = 3, 6, 2, 4
# row 0: right padding (length 4); row 1: no padding; row 2: holes in the middle and at the start
MASK = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 1, 0, 0, 1, 1]], bool)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def reference(kind, p, x, mask=None):
    """The equations in float64, one step at a time: (outputs (B, T, H), last h). Masked steps
    keep (h, c) and output 0."""
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    x = np.asarray(x, np.float64)
    n, steps, _ = x.shape
    hid = p["w_h"].shape[0]
    h, c = np.zeros((n, hid)), np.zeros((n, hid))
    ys = np.zeros((n, steps, hid))
    wi, wh = np.split(p["w_i"], GATES[kind], 1), np.split(p["w_h"], GATES[kind], 1)
    for t in range(steps):
        xt = x[:, t]
        c_new = c
        if kind == "simple":  # Elman: h' = tanh(x W_i + b + h W_h)
            h_new = np.tanh(xt @ p["w_i"] + p["b"] + h @ p["w_h"])
        elif kind == "gru":  # PyTorch nn.GRU's documented equations
            bi, bh = np.split(p["b_i"], 3), np.split(p["b_h"], 3)
            r = sigmoid(xt @ wi[0] + bi[0] + h @ wh[0] + bh[0])
            z = sigmoid(xt @ wi[1] + bi[1] + h @ wh[1] + bh[1])
            g = np.tanh(xt @ wi[2] + bi[2] + r * (h @ wh[2] + bh[2]))
            h_new = (1 - z) * g + z * h
        else:  # PyTorch nn.LSTM's documented equations, gates i, f, g, o
            b = np.split(p["b"], 4)
            i, f, g, o = (xt @ wi[j] + h @ wh[j] + b[j] for j in range(4))
            c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h_new = sigmoid(o) * np.tanh(c_new)
        m = np.ones((n, 1), bool) if mask is None else mask[:, t, None]
        h, c = np.where(m, h_new, h), np.where(m, c_new, c)
        ys[:, t] = np.where(m, h_new, 0.0)
    return ys, h


def random_params(layer, key, shape=(T, F)):
    """init's params with every bias replaced by random numbers, so that biases are tested."""
    params, _, _ = layer.init(key, shape)
    keys = iter(jax.random.split(jax.random.fold_in(key, 1), len(params)))
    return {k: jax.random.normal(next(keys), v.shape) if k.startswith("b") else v
            for k, v in params.items()}


@pytest.fixture(scope="module")
def x():
    return jax.random.normal(jax.random.key(2), (B, T, F))


@pytest.mark.parametrize("kind", KINDS)
def test_cell_matches_the_published_equations_in_float64_with_and_without_a_mask(kind, x):
    """Sequences and last states, without a mask and with MASK (right padding, a hole in the
    middle, padding at the start): masked steps keep the state and output 0, the last state is
    the state at the last unmasked step."""
    seq, last = KINDS[kind](H, return_sequences=True), KINDS[kind](H)
    params = random_params(seq, jax.random.key(0))
    apply = jax.jit(lambda p, x_: (seq.apply(p, {}, x_)[0], last.apply(p, {}, x_)[0]))
    for mask in (None, MASK):
        ys, h = apply(params, x if mask is None else (x, jnp.asarray(mask)))
        ys_ref, h_ref = reference(kind, params, x, mask)
        np.testing.assert_allclose(ys, ys_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(h, h_ref, rtol=1e-5, atol=1e-6)
    assert not np.allclose(h_ref, ys_ref[:, -1])  # the mask moved row 0's last state


def test_padding_anywhere_gives_the_state_of_the_unpadded_sequence(x):
    """A sequence padded at the end, at the start, or with a hole gives the last state of the
    same real steps run without padding (a shorter x)."""
    gru = GRU(H)
    params = random_params(gru, jax.random.key(3))
    apply = jax.jit(lambda x_: gru.apply(params, {}, x_)[0])
    real = x[:1, :3]
    alone = apply(real)
    for where in ([0, 1, 2], [3, 4, 5], [0, 2, 5]):
        padded = jnp.zeros((1, T, F)).at[0, jnp.array(where)].set(real[0])
        mask = jnp.zeros((1, T), bool).at[0, jnp.array(where)].set(True)
        junk = jnp.where(mask[..., None], padded, 7.0)  # whatever sits in the padding
        h = apply((junk, mask))
        np.testing.assert_allclose(h, alone, rtol=1e-6, atol=1e-6)


def _flax_cell_params(kind, p):
    """jaxdl's fused params as Flax's per-gate Dense params (kernel (in, H), bias (H,))."""
    g = GATES[kind]
    wi, wh = np.split(np.asarray(p["w_i"]), g, 1), np.split(np.asarray(p["w_h"]), g, 1)
    if kind == "simple":  # SimpleCell: tanh(x W_i + b_i + h W_h)
        return {"i": {"kernel": wi[0], "bias": p["b"]}, "h": {"kernel": wh[0]}}
    if kind == "gru":  # GRUCell: r, z take one bias (ours split into b_i + b_h), n keeps b_hn
        bi, bh = np.split(np.asarray(p["b_i"]), 3), np.split(np.asarray(p["b_h"]), 3)
        return {"ir": {"kernel": wi[0], "bias": bi[0] + bh[0]},
                "iz": {"kernel": wi[1], "bias": bi[1] + bh[1]},
                "in": {"kernel": wi[2], "bias": bi[2]},
                "hr": {"kernel": wh[0]}, "hz": {"kernel": wh[1]},
                "hn": {"kernel": wh[2], "bias": bh[2]}}
    b = np.split(np.asarray(p["b"]), 4)  # (Optimized)LSTMCell: input kernels, hidden bias
    return {**{f"i{n}": {"kernel": wi[j]} for j, n in enumerate("ifgo")},
            **{f"h{n}": {"kernel": wh[j], "bias": b[j]} for j, n in enumerate("ifgo")}}


@pytest.mark.parametrize("kind", KINDS)
def test_cell_matches_flax_linen_cell_scanned_by_flax_rnn(kind, x):
    fnn = pytest.importorskip("flax.linen")
    cell = {"simple": fnn.SimpleCell, "gru": fnn.GRUCell, "lstm": fnn.OptimizedLSTMCell}[kind]
    layer = KINDS[kind](H, return_sequences=True)
    params = random_params(layer, jax.random.key(4))
    ys, _ = layer.apply(params, {}, x)
    flax_ys = fnn.RNN(cell(H)).apply({"params": {"cell": _flax_cell_params(kind, params)}}, x)
    np.testing.assert_allclose(ys, flax_ys, rtol=1e-5, atol=1e-6)


def test_bidirectional_gru_matches_flax_bidirectional_with_seq_lengths(x):
    """Right-padded sequences (lengths 4, 6, 2): jaxdl's mask against Flax's seq_lengths, whose
    backward RNN flips only the real steps. Compared at the real steps (Flax leaves whatever
    it computed at the padding; jaxdl outputs 0 there) and on the last states."""
    fnn = pytest.importorskip("flax.linen")
    lengths = np.array([4, 6, 2])
    mask = jnp.asarray(np.arange(T)[None, :] < lengths[:, None])
    seq, last = Bidirectional(GRU(H, return_sequences=True)), Bidirectional(GRU(H))
    p, s, _ = seq.init(jax.random.key(5), ((T, F), (T,)))
    p = {d: random_params(GRU(H), jax.random.key(6 + i)) for i, d in enumerate(p)}
    ys, _ = seq.apply(p, s, (x, mask))
    h, _ = last.apply(p, s, (x, mask))
    flax = fnn.Bidirectional(fnn.RNN(fnn.GRUCell(H)), fnn.RNN(fnn.GRUCell(H)), return_carry=True)
    fp = {"forward_rnn": {"cell": _flax_cell_params("gru", p["forward"])},
          "backward_rnn": {"cell": _flax_cell_params("gru", p["backward"])}}
    (c_f, c_b), flax_ys = flax.apply({"params": fp}, x, seq_lengths=jnp.asarray(lengths))
    real = np.asarray(mask)
    np.testing.assert_allclose(np.asarray(ys)[real], np.asarray(flax_ys)[real], rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(np.asarray(ys)[~real], 0.0)
    np.testing.assert_allclose(h, np.concatenate([c_f, c_b], -1), rtol=1e-5, atol=1e-6)


def test_bidirectional_lstm_last_state_is_forward_last_and_backward_after_step_0(x):
    layer = Bidirectional(LSTM(H))
    params, state, out = layer.init(jax.random.key(7), (T, F))
    assert out == (2 * H,) and set(params) == {"forward", "backward"}
    h, _ = layer.apply(params, state, (x, jnp.asarray(MASK)))
    _, h_f = reference("lstm", params["forward"], x, MASK)
    _, h_b = reference("lstm", params["backward"], np.asarray(x)[:, ::-1], MASK[:, ::-1])
    np.testing.assert_allclose(h, np.concatenate([h_f, h_b], -1), rtol=1e-5, atol=1e-6)


def test_the_paper_gru_has_pytorchs_5134_parameters():
    """Greydanus' GRUBase (bidirectional nn.GRU(1, 6) on 40 steps, flattened, Linear to 10):
    the mnist1d notebook prints "Initialized GRUBase model with 5134 parameters"."""
    model = serial(Bidirectional(GRU(6, return_sequences=True, w_init=uniform(6 ** -0.5),
                                     w_h_init=uniform(6 ** -0.5), b_init=uniform(6 ** -0.5))),
                   Flatten(), Dense(10))
    params, _, out = model.init(jax.random.key(0), (40, 1))
    assert out == (10,) and count_params(params) == 5134
    w = np.concatenate([np.ravel(a) for a in jax.tree.leaves(params["0_bidirectional"])])
    assert np.abs(w).max() <= 6 ** -0.5  # PyTorch's U(-1/sqrt(H), 1/sqrt(H)), std 1/sqrt(3H)
    assert abs(w.std() - 1 / np.sqrt(18)) < 0.03
