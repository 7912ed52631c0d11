"""`jaxdl.train`: the train step, fit on real data, early stopping, non-finite handling, bad input,
reproducibility across processes."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import standard_promotion

from jaxdl import optim
from jaxdl.activations import Relu
from jaxdl.core import serial
from jaxdl.data import digits
from jaxdl.losses import accuracy, mse, softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.nn.reshape import Flatten
from jaxdl.train import evaluate, fit, make_train_step, predict

(X_TRAIN, Y_TRAIN), (X_TEST, Y_TEST) = digits()
MLP = serial(Flatten(), Dense(64), Relu(), Dense(10))
ADAM = optim.adam(1e-2)  # one object, so every fit below reuses the compiled epoch
HERE = os.path.dirname(__file__)


def _forward(params, x):
    """Independent NumPy float64 forward pass of MLP."""
    h = np.asarray(x, np.float64).reshape(len(x), -1)
    p1, p2 = params["1_dense"], params["3_dense"]
    h = np.maximum(h @ np.asarray(p1["w"], np.float64) + np.asarray(p1["b"], np.float64), 0)
    return h @ np.asarray(p2["w"], np.float64) + np.asarray(p2["b"], np.float64)


def _np_cross_entropy(logits, y):
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return float(-np.mean(logp[np.arange(len(y)), y]))


@pytest.fixture(scope="module")
def trained():
    """(train_state, history, per-epoch params) of the MLP on digits, 12 epochs."""
    seen = []
    ts, history = fit(MLP, softmax_cross_entropy, ADAM, (X_TRAIN, Y_TRAIN), val=(X_TEST, Y_TEST),
                      epochs=12, batch_size=64, key=jax.random.key(0),
                      callbacks=[lambda e, s, logs: seen.append(jax.device_get(s.params))])
    return ts, history, seen


def test_mlp_on_digits_reaches_95_percent_test_accuracy(trained):
    ts, history, _ = trained
    predicted = _forward(ts.params, X_TEST).argmax(-1)
    assert np.mean(predicted == Y_TEST) >= 0.95
    assert history.train_loss.shape == (12,) and history.val_accuracy.shape == (12,)
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.seconds.shape == (12,) and np.all(history.seconds > 0)
    # adam(1e-2) has a constant learning rate: recorded from its constructor call each epoch
    np.testing.assert_array_equal(history.learning_rate, np.full(12, 0.01, np.float32))
    assert history.stopped_epoch is None


def test_history_val_metrics_match_a_numpy_forward_pass(trained):
    _, history, seen = trained
    logits = _forward(seen[-1], X_TEST)
    np.testing.assert_allclose(history.val_loss[-1], _np_cross_entropy(logits, Y_TEST), rtol=1e-4)
    np.testing.assert_allclose(history.val_accuracy[-1], np.mean(logits.argmax(-1) == Y_TEST),
                               atol=1e-6)


def test_evaluate_pads_the_last_batch_and_predict_matches_numpy(trained):
    ts = trained[0]
    logits = _forward(ts.params, X_TEST)
    out = evaluate(MLP, ts, (X_TEST, Y_TEST), (accuracy,), loss=softmax_cross_entropy,
                   batch_size=100)  # 360 = 3 * 100 + 60: the last batch is padded
    np.testing.assert_allclose(out["accuracy"], np.mean(logits.argmax(-1) == Y_TEST), atol=1e-6)
    np.testing.assert_allclose(out["loss"], _np_cross_entropy(logits, Y_TEST), rtol=1e-4)
    np.testing.assert_allclose(predict(MLP, ts, X_TEST[:5]), logits[:5], rtol=1e-4, atol=1e-5)


def test_train_step_equals_an_optax_sgd_update(key):
    model = serial(Dense(3), Relu(), Dense(2))
    params, state, _ = model.init(key, (4,))
    x = jax.random.normal(jax.random.fold_in(key, 1), (8, 4))
    y = jnp.arange(8, dtype=jnp.int32) % 2
    penalty = lambda p: 0.01 * jnp.sum(jnp.square(p["0_dense"]["w"]))  # noqa: E731
    step = jax.jit(make_train_step(model, softmax_cross_entropy, optim.sgd(0.1), penalty=penalty))
    from jaxdl.train import TrainState
    ts = TrainState(jnp.array(0, jnp.int32), params, state, optim.sgd(0.1).init(params), key)
    new, metrics = step(ts, x, y)

    def ref_loss(p):
        h = jax.nn.relu(x @ p["0_dense"]["w"] + p["0_dense"]["b"][None])
        logits = h @ p["2_dense"]["w"] + p["2_dense"]["b"][None]
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return ce + 0.01 * jnp.sum(p["0_dense"]["w"] ** 2)

    with standard_promotion():
        value, grads = jax.value_and_grad(ref_loss)(params)
        tx = optax.sgd(0.1)
        updates, _ = tx.update(grads, tx.init(params), params)
        expected = optax.apply_updates(params, updates)
    np.testing.assert_allclose(metrics["loss"], value, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(new.step) == 1 and bool(metrics["finite"])


def test_a_callback_that_returns_true_stops_the_run_and_history_says_when():
    calls = []
    ts, history = fit(MLP, softmax_cross_entropy, ADAM, (X_TRAIN, Y_TRAIN), epochs=10,
                      batch_size=64, key=jax.random.key(0), verbose=0,
                      callbacks=[lambda e, s, logs: calls.append(e) or e == 3])
    assert calls == [0, 1, 2, 3] and history.stopped_epoch == 3
    assert len(history.train_loss) == 4 and int(ts.step) == 4 * (len(X_TRAIN) // 64)


def test_early_stopping_stops_and_restores_the_best_params():
    # Val labels contradict train labels: val loss is best after the first epoch, then rises.
    seen = []
    val = (X_TRAIN[:300], (Y_TRAIN[:300] + 1) % 10)
    ts, history = fit(MLP, softmax_cross_entropy, ADAM, (X_TRAIN, Y_TRAIN), val=val, epochs=12,
                      batch_size=64, key=jax.random.key(0), patience=2,
                      callbacks=[lambda e, s, logs: seen.append(jax.device_get(s.params))])
    best = int(np.argmin(history.val_loss))
    assert history.stopped_epoch == best + 2 < 11 and history.best_epoch == best
    assert len(history.val_loss) == len(seen) == best + 3
    for a, b in zip(jax.tree.leaves(ts.params), jax.tree.leaves(seen[best])):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(_np_cross_entropy(_forward(ts.params, val[0]), val[1]),
                               history.val_loss[best], rtol=1e-4)


REG = serial(Dense(4), Relu(), Dense(1))
SGD = optim.sgd(0.01)


def _poisoned():
    """Regression data whose example 7 has a target of 1e25: its squared error overflows to inf,
    in exactly one batch per epoch (64 examples, batch 16, nothing dropped)."""
    x = np.asarray(jax.random.normal(jax.random.key(3), (64, 3)))
    y = x.sum(1, keepdims=True).astype(np.float32)
    y[7] = 1e25
    return x, y


def test_learning_rate_is_recorded_from_inject_hyperparams():
    with standard_promotion():
        opt = optax.inject_hyperparams(optax.sgd)(learning_rate=0.05)
        _, history = fit(REG, mse, opt, (X_TRAIN[:64, :3, 0, 0], Y_TRAIN[:64, None] * 1.0),
                         epochs=2, batch_size=16, key=jax.random.key(0), metrics=())
    np.testing.assert_allclose(history.learning_rate, [0.05, 0.05], rtol=1e-6)


def test_progress_bar_is_silent_when_stdout_is_not_a_terminal(capsys):
    fit(REG, mse, SGD, (X_TRAIN[:32, :3, 0, 0], np.ones((32, 1), np.float32)), epochs=1,
        batch_size=16, key=jax.random.key(0), metrics=(), verbose=1)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_early_stopping_rejects_a_monitor_that_is_not_recorded():
    with pytest.raises(ValueError, match=r"monitor must be one of \['train_loss', "
                                         r"'train_accuracy'\], got 'val_loss' \(pass val"):
        fit(MLP, softmax_cross_entropy, ADAM, (X_TRAIN, Y_TRAIN), epochs=2, batch_size=64,
            key=jax.random.key(0), patience=1)


def test_patience_restores_the_best_state_even_when_the_run_is_not_stopped():
    seen = []
    val = (X_TRAIN[:300], (Y_TRAIN[:300] + 1) % 10)  # val loss is best early, then rises
    ts, history = fit(MLP, softmax_cross_entropy, ADAM, (X_TRAIN, Y_TRAIN), val=val, epochs=4,
                      batch_size=64, key=jax.random.key(0), patience=50,
                      callbacks=[lambda e, s, logs: seen.append(jax.device_get(s.params))])
    best = int(np.argmin(history.val_loss))
    assert history.stopped_epoch is None and history.best_epoch == best < 3
    for a, b in zip(jax.tree.leaves(ts.params), jax.tree.leaves(seen[best])):
        np.testing.assert_array_equal(a, b)


def test_init_takes_a_train_state_to_resume_or_a_params_pair_to_fine_tune():
    data = (X_TRAIN, Y_TRAIN)
    full, _ = fit(MLP, softmax_cross_entropy, ADAM, data, epochs=2, batch_size=64,
                  key=jax.random.key(0), verbose=0)
    half, _ = fit(MLP, softmax_cross_entropy, ADAM, data, epochs=1, batch_size=64,
                  key=jax.random.key(0), verbose=0)
    resumed, history = fit(MLP, softmax_cross_entropy, ADAM, data, epochs=2, batch_size=64,
                           init=half, verbose=0)
    assert len(history.train_loss) == 1  # only epoch 1 ran
    for a, b in zip(jax.tree.leaves((full.step, full.params, full.opt_state)),
                    jax.tree.leaves((resumed.step, resumed.params, resumed.opt_state))):
        np.testing.assert_array_equal(a, b)
    tuned, _ = fit(MLP, softmax_cross_entropy, ADAM, data, epochs=1, batch_size=64,
                   key=jax.random.key(5), init=(half.params, half.state), verbose=0)
    assert int(tuned.step) == len(X_TRAIN) // 64  # a fresh optimizer state: counted from 0


def test_callbacks_close_is_called_however_the_run_ends():
    class Watch:
        closed = 0

        def __call__(self, epoch, ts, logs):
            if epoch == 1:
                raise KeyboardInterrupt  # the user stops the run
            return False

        def close(self):
            Watch.closed += 1

    data = (X_TRAIN[:128], Y_TRAIN[:128])
    fit(MLP, softmax_cross_entropy, ADAM, data, epochs=1, batch_size=64, key=jax.random.key(0),
        callbacks=[Watch()], verbose=0)
    with pytest.raises(KeyboardInterrupt):
        fit(MLP, softmax_cross_entropy, ADAM, data, epochs=3, batch_size=64,
            key=jax.random.key(0), callbacks=[Watch()], verbose=0)
    assert Watch.closed == 2
