"""Non-finite values never pass silently: a loss or gradient that turns NaN/inf stops `fit` with a
NonFiniteError naming the epoch and step and carrying the last finite state; `skip_nonfinite`
skips exactly the poisoned steps and counts them; `jax.debug_nans` finds the operation.

The problems are built so that the poisoned steps are known in advance. A line `o = w x + b`
(Dense(1), w = b = 0, every x = 1) trained by SGD(0.25) on the gain `-mean(o)` moves by a
constant step: after s updates `w = b = 0.25 s` and `o = 0.5 s`, exactly in float32. A loss that
is undefined once `o` passes a cap y = 5.25 is therefore first NaN at global step 11 (0.5 * 11 >
5.25), which with 16 examples in batches of 4 is epoch 2, step 3; the state before it is
`w = b = 2.75`. Every batch is the same, so the shuffling of `fit` does not matter, and the
references are plain Python loops over `make_train_step`.
"""

from __future__ import annotations

import functools
import traceback

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import optim
from jaxdl.losses import mse
from jaxdl.nn.dense import Dense
from jaxdl.train import NonFiniteError, fit, init_state, make_train_step

from _trees import assert_trees_equal

LINE = Dense(1)
KEY = jax.random.key(0)
ZERO = ({"w": jnp.zeros((1, 1)), "b": jnp.zeros((1,))}, {})
LR, N, BATCH, EPOCHS = 0.25, 16, 4, 4
STEPS = N // BATCH  # per epoch
SGD = optim.sgd(LR)
X = np.ones((N, 1), np.float32)
CAP = 5.25
BAD = int(CAP // (2 * LR)) + 1  # the first s with o_s = 2 LR s > CAP: 11
Y_CAP = np.full((N, 1), CAP, np.float32)
Y_KINK = np.full((N, 1), 2 * LR * BAD, np.float32)  # o reaches it exactly at step BAD: 5.5
PAST = ({"w": jnp.full((1, 1), 3.0), "b": jnp.full((1,), 3.0)}, {})  # o = 6 > CAP from step 0


def capped_gain(o, y):
    """-mean(o), undefined (NaN) once an output passes its cap y."""
    return jnp.mean(jnp.where(o <= y, -o, jnp.nan))


def kinked_gain(o, y):
    """-mean(o) + cbrt(o - y) where o == y: a finite value with an infinite slope there."""
    return jnp.mean(jnp.where(o == y, jnp.cbrt(o - y), 0.0) - o)


def log_barrier(o, y):
    """-mean(o) + mean(log(y - o)): NaN once an output passes y (the log of a negative)."""
    return jnp.mean(jnp.log(y - o) - o)


@functools.cache
def _step(loss, optimizer):
    return jax.jit(make_train_step(LINE, loss, optimizer))


def _loop(loss, optimizer, x, y, steps, init=ZERO):
    """The reference: `steps` updates of make_train_step on one batch, in a Python loop.
    Returns the states (states[s]: after s updates) and the loss of each step."""
    states = [init_state(LINE, optimizer, (1,), KEY, init)]
    losses = []
    for _ in range(steps):
        ts, m = _step(loss, optimizer)(states[-1], jnp.asarray(x), jnp.asarray(y))
        states.append(ts)
        losses.append(float(m["loss"]))
    return states, losses




def _fit(loss, y, **kwargs):
    return fit(LINE, loss, SGD, (X, y), epochs=EPOCHS, batch_size=BATCH, key=KEY, init=ZERO,
               metrics=(), verbose=0, **kwargs)


def test_a_loss_turning_nan_at_a_known_step_stops_fit_there_with_the_last_finite_state():
    states, losses = _loop(capped_gain, SGD, X[:BATCH], Y_CAP[:BATCH], BAD + 1)
    assert np.all(np.isfinite(losses[:BAD])) and np.isnan(losses[BAD])  # the construction
    epoch, step = divmod(BAD, STEPS)
    assert (epoch, step) == (2, 3)
    done = []
    with pytest.raises(NonFiniteError, match=rf"epoch {epoch}, step {step} \(global step {BAD}\)"
                       ) as err:
        _fit(capped_gain, Y_CAP, callbacks=[lambda e, ts, logs: done.append(e)])
    e = err.value
    assert isinstance(e, FloatingPointError) and (e.epoch, e.step) == (epoch, step)
    assert done == list(range(epoch))  # the epochs before it completed
    assert_trees_equal(e.train_state, states[BAD])  # a run stopped just before the bad step
    assert int(e.train_state.step) == BAD
    for v in jax.tree.leaves(e.train_state.params):
        np.testing.assert_array_equal(v, np.full(v.shape, LR * BAD, np.float32))  # 2.75


def test_an_infinite_gradient_under_a_finite_loss_stops_fit_at_its_step():
    states, losses = _loop(kinked_gain, SGD, X[:BATCH], Y_KINK[:BATCH], BAD)
    before = states[BAD]
    value, grads = jax.value_and_grad(
        lambda p: kinked_gain(LINE.apply(p, {}, jnp.asarray(X[:BATCH]))[0], Y_KINK[:BATCH]))(
        before.params)
    assert np.isfinite(value) and np.all(np.isfinite(losses))  # the loss stays finite,
    assert all(np.all(np.isposinf(g)) for g in jax.tree.leaves(grads))  # its slope does not
    epoch, step = divmod(BAD, STEPS)
    with pytest.raises(NonFiniteError, match=rf"epoch {epoch}, step {step} ") as err:
        _fit(kinked_gain, Y_KINK)
    assert (err.value.epoch, err.value.step) == (epoch, step)
    assert_trees_equal(err.value.train_state, before)


def test_skip_nonfinite_skips_every_step_from_an_infinite_gradient_on():
    """Once o == y every batch has the infinite slope again: all later steps are skipped."""
    states, _ = _loop(kinked_gain, SGD, X[:BATCH], Y_KINK[:BATCH], BAD)
    ts, history = _fit(kinked_gain, Y_KINK, skip_nonfinite=True)
    assert history.nonfinite_skipped == EPOCHS * STEPS - BAD == 5
    assert int(ts.opt_state.total_notfinite) == 5 and int(ts.step) == EPOCHS * STEPS
    assert_trees_equal(ts.params, states[BAD].params)


def test_skip_nonfinite_skips_and_counts_exactly_the_poisoned_batches():
    """Three corrupt labels (1e25: the squared error overflows to inf) among 16 identical
    examples, batch size 1, 3 epochs: 9 poisoned steps out of 48, wherever the shuffle puts
    them. A skipped step must leave Adam's moments and count as they were (a zero gradient would
    not), so the params are those of 39 clean Adam steps."""
    x, y = np.ones((16, 1), np.float32), np.ones((16, 1), np.float32)
    y[[2, 7, 11]] = 1e25
    epochs, adam = 3, optim.adam(0.1)
    poisoned = 3 * epochs
    ts, history = fit(LINE, mse, adam, (x, y), epochs=epochs, batch_size=1, key=KEY, metrics=(),
                      verbose=0, skip_nonfinite=True)
    assert history.nonfinite_skipped == poisoned == int(ts.opt_state.total_notfinite)
    assert int(ts.step) == 16 * epochs
    assert np.all(np.isfinite(history.train_loss))
    states, _ = _loop(mse, adam, x[:1], y[:1], 16 * epochs, init=None)
    clean, unskipped = states[16 * epochs - poisoned], states[16 * epochs]
    for got, want, other in zip(*(jax.tree.leaves(t.params) for t in (ts, clean, unskipped))):
        # a scan and a loop of jitted steps differ by float32 rounding only
        np.testing.assert_allclose(got, want, rtol=2e-6)
        assert np.all(np.abs(other - want) > 1e-3)  # so 9 steps more or less is visible


def test_jax_debug_nans_raises_floating_point_error_at_the_op_that_made_the_nan():
    step = jax.jit(make_train_step(LINE, log_barrier, SGD))
    ts = init_state(LINE, SGD, (1,), KEY, PAST)
    x, y = jnp.asarray(X[:BATCH]), jnp.asarray(Y_CAP[:BATCH])
    _, m = step(ts, x, y)
    assert np.isnan(m["loss"])  # by default the NaN flows on silently
    with jax.debug_nans(True), pytest.raises(
            FloatingPointError, match=r"invalid value \(nan\) encountered in log") as err:
        step(ts, x, y)
    frames = [f.name for f in traceback.extract_tb(err.value.__traceback__)]
    assert "log_barrier" in frames  # the traceback leads to the user's loss


def test_fit_under_debug_nans_and_disable_jit_points_at_the_op_that_made_the_nan():
    """Op by op (slow: keep the run tiny) every primitive is checked, fit's own code included:
    two healthy epochs, then the first NaN must be the user's log (at global step 8)."""
    with jax.debug_nans(True), jax.disable_jit(), pytest.raises(
            FloatingPointError, match=r"invalid value \(nan\) encountered in log") as err:
        _fit(log_barrier, Y_CAP)
    frames = [f.name for f in traceback.extract_tb(err.value.__traceback__)]
    assert "log_barrier" in frames
