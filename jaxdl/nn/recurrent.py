"""Recurrent layers over the time axis: `SimpleRNN` (Elman 1990), `GRU` (Cho et al. 2014), `LSTM`
(Hochreiter & Schmidhuber 1997), each one `lax.scan`, and the `Bidirectional` wrapper.

x: (batch, time, features). A layer returns its last state (batch, H), or with
`return_sequences=True` its state at every step (batch, time, H). The state starts at zero. The
input projection of every step, `x @ w_i + b_i`, is one matmul before the scan (as cuDNN does);
the scan does only the recurrent `h @ w_h` and the gates.

Padded sequences: pass the pair `(x, mask)` instead of `x`, mask (batch, time) of bool or an
integer dtype (nonzero = a real step; float masks are refused, an additive -inf mask would be
misread). The rule: at a masked step the state is carried over unchanged and the output is zero,
so the last state is the state at the last unmasked step (the zero state if every step is
masked), wherever the padding is (end, start or middle). `init` then takes the pair of shapes
`((time, features), (time,))`. A pair, because `apply`'s signature is fixed and a mask is data of
each example: it travels with x through `jit`, `vmap`, batching and `fit`, and `init` sees it.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax

from jaxdl import checks
from jaxdl.core import Layer
from jaxdl.initializers import Initializer, lecun_normal, zeros
from jaxdl.spec import by_value

Cell = Callable[[Any, jax.Array, dict], tuple[Any, jax.Array]]


def split_mask(x: Any, owner: str) -> tuple[Any, Any]:
    """`x` or `(x, mask)` -> (x, mask or None)."""
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise TypeError(f"{owner}: x must be an array (batch, time, features) or a pair "
                            f"(x, mask), got a tuple of {len(x)}")
        return x[0], x[1]
    return x, None


def check_sequence(x: Any, mask: Any, width: int, owner: str) -> None:
    """x: (batch, time >= 1, width) floats; mask None or (batch, time) of bool or integers."""
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 3 or shape[-1] != width:
        raise ValueError(f"{owner}: x must be (batch, time, features) with features = {width} "
                         f"(the input_shape given to init), got shape {shape}")
    if shape[1] < 1:
        raise ValueError(f"{owner}: x must have a sequence length (time) >= 1, got shape {shape}")
    checks.floating(x, "x", owner, "embed integer ids first, e.g. with Embedding")
    if mask is None:
        return
    m_shape = tuple(getattr(mask, "shape", ()))
    if m_shape != shape[:2]:
        raise ValueError(f"{owner}: mask must be (batch, time) = {shape[:2]} (one entry per step "
                         f"of x), got shape {m_shape}")
    if not (jnp.issubdtype(mask.dtype, jnp.bool_) or jnp.issubdtype(mask.dtype, jnp.integer)):
        raise TypeError(f"{owner}: mask must be bool (True = a real step) or integer, got dtype "
                        f"{mask.dtype}")


def sequence_shape(input_shape: Any, owner: str) -> tuple[int, int]:
    """(time, features) from `input_shape` = (time, features) or ((time, features), (time,))."""
    shape = tuple(input_shape)
    pair = len(shape) == 2 and all(isinstance(s, (tuple, list)) for s in shape)
    if pair:
        shape, m_shape = tuple(shape[0]), tuple(shape[1])
    if len(shape) != 2 or any(isinstance(d, (tuple, list)) for d in shape):
        raise ValueError(f"{owner}: input_shape must be (time, features) (no batch axis), or "
                         f"((time, features), (time,)) with a mask, got {tuple(input_shape)}")
    if shape[0] < 1:
        raise ValueError(f"{owner}: input_shape must have a sequence length (time) >= 1, got "
                         f"{shape}")
    checks.positive_shape(shape, owner)
    if pair and m_shape != shape[:1]:
        raise ValueError(f"{owner}: the mask's input_shape must be (time,) = {shape[:1]}, got "
                         f"{m_shape}")
    return shape


def _scan(cell: Cell, carry: Any, xw: jax.Array, mask: Any, params: dict, sequences: bool
          ) -> tuple[Any, jax.Array | None]:
    """Run `cell` over the time axis of the projections xw (batch, time, G); masked steps keep
    the carry and output zero. Returns (last carry, outputs (batch, time, H) or None)."""
    xs = jnp.swapaxes(xw, 0, 1)
    if mask is None:
        def step(c, xw_t):
            c, y = cell(c, xw_t, params)
            return c, (y if sequences else None)
        carry, ys = lax.scan(step, carry, xs)
    else:
        ms = jnp.swapaxes(jnp.asarray(mask).astype(bool), 0, 1)[..., None]  # (time, batch, 1)

        def step(c, inputs):
            xw_t, m = inputs
            new, y = cell(c, xw_t, params)
            c = jax.tree.map(lambda a, b: jnp.where(m, a, b), new, c)
            return c, (jnp.where(m, y, jnp.zeros_like(y)) if sequences else None)
        carry, ys = lax.scan(step, carry, (xs, ms))
    return carry, (jnp.swapaxes(ys, 0, 1) if sequences else None)


def _kernel(init: Initializer, key: jax.Array, fan_in: int, h: int, gates: int) -> jax.Array:
    """(fan_in, gates * h): each gate's (fan_in, h) block drawn on its own (an orthogonal
    recurrent block per gate, as Flax's cells)."""
    return jnp.concatenate([init(k, (fan_in, h), jnp.float32)
                            for k in jax.random.split(key, gates)], axis=1)


def _bias(b: jax.Array, like: jax.Array) -> jax.Array:
    return jnp.broadcast_to(b, like.shape)


def _recurrent(owner: str, name: str, gates: int, biases: tuple[str, ...], cell: Cell,
               zero_carry: Callable[[int, int, Any], Any], last: Callable[[Any], jax.Array],
               features: int, return_sequences: bool, w_init: Initializer | None,
               w_h_init: Initializer | None, b_init: Initializer) -> Layer:
    h = checks.positive_int(features, "features", owner)
    w_init = lecun_normal() if w_init is None else w_init
    w_h_init = jax.nn.initializers.orthogonal() if w_h_init is None else w_h_init

    def init(key, input_shape):
        time, width = sequence_shape(input_shape, owner)
        k_i, k_h, *k_b = jax.random.split(key, 2 + len(biases))
        params = {"w_i": _kernel(w_init, k_i, width, h, gates),
                  "w_h": _kernel(w_h_init, k_h, h, h, gates)}
        params.update({b: b_init(k, (gates * h,), jnp.float32) for b, k in zip(biases, k_b)})
        return params, {}, ((time, h) if return_sequences else (h,))

    def apply(params, state, x, *, key=None, train=False):
        x, mask = split_mask(x, owner)
        check_sequence(x, mask, params["w_i"].shape[0], owner)
        xw = x @ params["w_i"]
        xw = xw + _bias(params[biases[0]], xw)
        carry, ys = _scan(cell, zero_carry(x.shape[0], h, xw.dtype), xw, mask, params,
                          return_sequences)
        return (ys if return_sequences else last(carry)), state

    return Layer(init, apply, name)


def _simple_cell(h, xw_t, params):
    hw = h @ params["w_h"]
    new = jnp.tanh(xw_t + hw)
    return new, new


@by_value
def SimpleRNN(features: int, *, return_sequences: bool = False,
              w_init: Initializer | None = None, w_h_init: Initializer | None = None,
              b_init: Initializer = zeros) -> Layer:
    """Elman's recurrent layer: `h_t = tanh(x_t W_i + b + h_{t-1} W_h)`, `h_0 = 0`.

    The same cell as Flax's `SimpleCell` and PyTorch's `nn.RNN` (whose two biases sum to `b`).

    Args:
      features: H, the state size, >= 1.
      return_sequences: return every step's state (batch, time, H), not the last (batch, H).
      w_init: input kernel initializer, default `lecun_normal()`.
      w_h_init: recurrent kernel initializer, default `jax.nn.initializers.orthogonal()`.
      b_init: bias initializer, default zeros.
    Params `{"w_i": (F, H), "w_h": (H, H), "b": (H,)}`. x: (batch, time, F), or the pair
    (x, mask) of the module docstring.
    """
    return _recurrent("SimpleRNN", "simple_rnn", 1, ("b",), _simple_cell,
                      lambda n, h, dtype: jnp.zeros((n, h), dtype), lambda c: c, features,
                      return_sequences, w_init, w_h_init, b_init)


def _gru_cell(h, xw_t, params):
    hw = h @ params["w_h"]
    hw = hw + _bias(params["b_h"], hw)
    x_r, x_z, x_n = jnp.split(xw_t, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(hw, 3, axis=-1)
    r = jax.nn.sigmoid(x_r + h_r)
    z = jax.nn.sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * h_n)
    new = (1 - z) * n + z * h
    return new, new


@by_value
def GRU(features: int, *, return_sequences: bool = False, w_init: Initializer | None = None,
        w_h_init: Initializer | None = None, b_init: Initializer = zeros) -> Layer:
    """Gated recurrent unit, PyTorch/cuDNN convention (the reset gate multiplies the hidden
    projection including its bias, "reset after"):

        r = sigmoid(x W_ir + b_ir + h W_hr + b_hr)
        z = sigmoid(x W_iz + b_iz + h W_hz + b_hz)
        n = tanh(x W_in + b_in + r * (h W_hn + b_hn))
        h' = (1 - z) * n + z * h,   h_0 = 0

    This is PyTorch's `nn.GRU`, cuDNN's, Flax's `GRUCell` and Keras' `reset_after=True` (its
    default). Cho et al.'s original applies r before the matmul, `n = tanh(x W_in + (r * h) W_hn
    + b_n)` (Keras' `reset_after=False`): a different function of the same parameters.

    Args:
      features: H, the state size, >= 1.
      return_sequences: return every step's state (batch, time, H), not the last (batch, H).
      w_init: input kernel initializer (per gate), default `lecun_normal()`.
      w_h_init: recurrent kernel initializer (per gate), default orthogonal.
      b_init: initializer of both biases, default zeros.
    Params `{"w_i": (F, 3H), "w_h": (H, 3H), "b_i": (3H,), "b_h": (3H,)}`, gates in the order
    r, z, n along the last axis (PyTorch's `weight_ih_l0` is `w_i.T`, `bias_hh_l0` is `b_h`).
    Only the sums b_ir + b_hr and b_iz + b_hz matter; b_hn is a separate parameter.
    x: (batch, time, F), or the pair (x, mask) of the module docstring.
    """
    return _recurrent("GRU", "gru", 3, ("b_i", "b_h"), _gru_cell,
                      lambda n, h, dtype: jnp.zeros((n, h), dtype), lambda c: c, features,
                      return_sequences, w_init, w_h_init, b_init)


def _lstm_cell(carry, xw_t, params):
    c, h = carry
    g = xw_t + h @ params["w_h"]
    i, f, u, o = jnp.split(g, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(u)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (c, h), h


@by_value
def LSTM(features: int, *, return_sequences: bool = False, w_init: Initializer | None = None,
         w_h_init: Initializer | None = None, b_init: Initializer = zeros) -> Layer:
    """Long short-term memory (with the forget gate of Gers et al. 2000):

        i = sigmoid(x W_ii + h W_hi + b_i)      f = sigmoid(x W_if + h W_hf + b_f)
        g = tanh(x W_ig + h W_hg + b_g)         o = sigmoid(x W_io + h W_ho + b_o)
        c' = f * c + i * g,   h' = o * tanh(c'),   c_0 = h_0 = 0

    PyTorch's `nn.LSTM` (gates i, f, g, o; its two biases sum to `b`) and Flax's `LSTMCell` /
    `OptimizedLSTMCell`. No peepholes. The output, and the last state returned, is h (c stays
    inside). The forget bias starts at 0 as in PyTorch and Flax (Keras starts it at 1: pass a
    `b_init` for that).

    Args:
      features: H, the state size, >= 1.
      return_sequences: return every step's h (batch, time, H), not the last (batch, H).
      w_init: input kernel initializer (per gate), default `lecun_normal()`.
      w_h_init: recurrent kernel initializer (per gate), default orthogonal.
      b_init: bias initializer, default zeros.
    Params `{"w_i": (F, 4H), "w_h": (H, 4H), "b": (4H,)}`, gates in the order i, f, g, o.
    x: (batch, time, F), or the pair (x, mask) of the module docstring.
    """
    return _recurrent("LSTM", "lstm", 4, ("b",), _lstm_cell,
                      lambda n, h, dtype: (jnp.zeros((n, h), dtype), jnp.zeros((n, h), dtype)),
                      lambda c: c[1], features, return_sequences, w_init, w_h_init, b_init)


def _fold(key: jax.Array | None, i: int) -> jax.Array | None:
    return None if key is None else jax.random.fold_in(key, i)


@by_value
def Bidirectional(layer: Layer) -> Layer:
    """Run `layer` forward and, with its own params, backward in time; concatenate the two on the
    last axis: `y = [y_forward, y_backward]`, 2H features (Schuster & Paliwal 1997).

    The backward copy reads the time-reversed x (and mask); its sequence output is reversed back,
    so both halves of step t belong to input step t. Its last state is its state after step 0.
    With a mask the backward copy meets the trailing padding first, keeps its zero state there
    (the mask rule), and starts at the last real step: Flax's `Bidirectional` with `seq_lengths`
    and PyTorch's packed sequences.

    Args:
      layer: a recurrent layer (`SimpleRNN`, `GRU`, `LSTM`, or any layer over (batch, time, F)
        that keeps their mask rule).
    Params and state `{"forward": ..., "backward": ...}`; output (batch, time, 2H) or (batch, 2H).
    """
    if not isinstance(layer, Layer):
        hint = " Did you forget to call the constructor, e.g. GRU(8) not GRU?" if callable(
            layer) else ""
        raise TypeError(f"Bidirectional: layer must be a Layer, got {layer!r}.{hint}")

    def init(key, input_shape):
        p_f, s_f, out = layer.init(_fold(key, 0), input_shape)
        p_b, s_b, _ = layer.init(_fold(key, 1), input_shape)
        out = tuple(out)
        return ({"forward": p_f, "backward": p_b}, {"forward": s_f, "backward": s_b},
                (*out[:-1], 2 * out[-1]))

    def apply(params, state, x, *, key=None, train=False):
        y_f, s_f = layer.apply(params["forward"], state["forward"], x, key=_fold(key, 0),
                               train=train)
        back = jax.tree.map(lambda a: jnp.flip(a, axis=1), x)
        y_b, s_b = layer.apply(params["backward"], state["backward"], back, key=_fold(key, 1),
                               train=train)
        if y_b.ndim == 3:  # a sequence: align step t with input step t
            y_b = jnp.flip(y_b, axis=1)
        return jnp.concatenate([y_f, y_b], axis=-1), {"forward": s_f, "backward": s_b}

    return Layer(init, apply, "bidirectional")


__all__ = ["SimpleRNN", "GRU", "LSTM", "Bidirectional"]
