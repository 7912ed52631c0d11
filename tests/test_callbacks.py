"""`jaxdl.train.callbacks` and `jaxdl.train.loggers`: the callback contract (a returned
TrainState is continued from), ReduceLROnPlateau against Keras' rule traced by hand, the learning
rate visible per epoch, and the loggers read back with independent readers (csv, the TFRecord
framing parsed by hand)."""

import csv
import glob
import os
import struct
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import optim, schedules
from jaxdl.core import serial
from jaxdl.losses import mse, softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.train import TrainState, fit, learning_rate
from jaxdl.train.callbacks import ProgressBar, ReduceLROnPlateau
from jaxdl.train.loggers import CSVLogger, PrintLogger, TensorBoard
from jaxdl.train.state import set_learning_rate

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int32)
CLS = serial(Dense(2))
INJECTED = optax.inject_hyperparams(optax.sgd)(learning_rate=0.5)


def _state(lr=1.0):
    params = {"w": jnp.zeros(3)}
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
    return TrainState(jnp.zeros((), jnp.int32), params, {}, opt.init(params), jax.random.key(0))


def test_reduce_lr_on_plateau_follows_keras_rule_traced_by_hand():
    # Keras: improve when v < best - min_delta; after `patience` waits lr = max(lr*factor, min);
    # during cooldown the wait is reset. Traced by hand for this sequence (patience 2, cooldown 1):
    # e2 wait 1, e3 wait 2 -> 0.5 (cooldown 1), e4 cooldown then improves, e5 wait 1,
    # e6 wait 2 -> 0.25, e7 cooldown ends, wait 1.
    cb = ReduceLROnPlateau("val_loss", factor=0.5, patience=2, min_delta=0.0, cooldown=1)
    ts, lrs = _state(1.0), []
    cb.on_train_begin(ts)
    for e, v in enumerate([1.0, 0.9, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85]):
        ts = cb(e, ts, {"val_loss": v}) or ts
        lrs.append(float(learning_rate(ts)))
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert cb.reductions == [(3, 0.5), (6, 0.25)] and cb.wait == 1


def test_reduce_lr_on_plateau_stops_at_min_lr_and_maximises_non_loss_names():
    cb = ReduceLROnPlateau("val_accuracy", factor=0.1, patience=1, min_lr=0.3)
    ts = _state(1.0)
    for e, v in enumerate([0.5, 0.6, 0.6, 0.6, 0.6]):  # higher is better: 0.6 twice is a wait
        ts = cb(e, ts, {"val_accuracy": v}) or ts
    assert float(learning_rate(ts)) == pytest.approx(0.3) and cb.reductions == [(2, 0.3)]


def test_reduce_lr_on_plateau_in_fit_changes_the_learning_rate_the_run_uses():
    # epoch 0 sets the best; every later epoch is a wait (min_delta 10), so after epochs 1, 2, 3
    # the learning rate halves; history records the rate each epoch ran with
    ts, history = fit(CLS, softmax_cross_entropy, INJECTED, (X, Y), epochs=5, batch_size=16,
                      key=jax.random.key(0), verbose=0,
                      callbacks=[ReduceLROnPlateau("train_loss", factor=0.5, patience=1,
                                                   min_delta=10.0)])
    rates = [0.5, 0.5, 0.25, 0.125, 0.0625]
    np.testing.assert_allclose(history.learning_rate, rates)
    # the same run with plain optax SGD, one epoch at a time at those rates
    ref = None
    for e, lr in enumerate(rates):
        opt = optax.sgd(lr)
        init = None if ref is None else ref._replace(opt_state=opt.init(ref.params))
        ref = fit(CLS, softmax_cross_entropy, opt, (X, Y), epochs=e + 1, batch_size=16,
                  key=jax.random.key(0), init=init, verbose=0)[0]
    for a, b in zip(jax.tree.leaves(ts.params), jax.tree.leaves(ref.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_reduce_lr_on_plateau_rejects_an_optimizer_without_an_injected_learning_rate():
    calls = []

    def loss(o, y):
        calls.append(1)
        return softmax_cross_entropy(o, y)

    with pytest.raises(ValueError, match=r"ReduceLROnPlateau: the optimizer state exposes no "
                                         r"hyperparams\['learning_rate'\].*inject_hyperparams"):
        fit(CLS, loss, optim.adam(1e-2), (X, Y), epochs=2, batch_size=16,
            key=jax.random.key(0), verbose=0, callbacks=[ReduceLROnPlateau("train_loss")])
    assert not calls  # rejected before the first epoch was traced


@pytest.mark.parametrize("kw, needle", [
    ({"factor": 1.0}, "factor"), ({"factor": 0.0}, "factor"), ({"patience": 0}, "patience"),
    ({"min_delta": -1.0}, "min_delta"), ({"cooldown": -1}, "cooldown"),
    ({"min_lr": -0.1}, "min_lr")])
def test_reduce_lr_on_plateau_bad_arguments(kw, needle):
    with pytest.raises(ValueError, match=f"ReduceLROnPlateau: {needle}"):
        ReduceLROnPlateau(**kw)


def test_set_learning_rate_keeps_dtype_and_rejects_bad_values():
    ts = set_learning_rate(_state(1.0), 0.25)
    lr = ts.opt_state.hyperparams["learning_rate"]
    assert float(lr) == 0.25 and lr.dtype == jnp.float32 and lr.shape == ()
    for bad in (-1.0, float("nan"), None, "x"):
        with pytest.raises(ValueError, match="set_learning_rate: learning rate must be >= 0"):
            set_learning_rate(_state(1.0), bad)


def test_the_learning_rate_of_jaxdl_optimizers_is_recorded_per_epoch():
    # 64 examples / 16 = 4 steps per epoch: epoch e ends with update 4e + 3, which used the
    # schedule at step 4e + 3 (reference: optax's exponential_decay)
    sched = schedules.exponential_decay(0.1, 4, 0.5)
    ref = optax.exponential_decay(0.1, 4, 0.5)
    for opt in (optim.sgd(sched), optim.chain(optim.clip(1.0), optim.adam(sched))):
        ts, history = fit(CLS, softmax_cross_entropy, opt, (X, Y), epochs=3, batch_size=16,
                          key=jax.random.key(0), verbose=0, skip_nonfinite=True)
        np.testing.assert_allclose(history.learning_rate, [ref(3), ref(7), ref(11)], rtol=1e-6)
        np.testing.assert_allclose(learning_rate(ts, opt), ref(11), rtol=1e-6)
    assert learning_rate(ts) is None  # no optimizer given and nothing injected: unknown


def test_a_callback_returning_a_state_is_continued_from_and_returned():
    seen = []

    def zero_params(epoch, ts, logs):
        if epoch == 1:
            return ts._replace(params=jax.tree.map(jnp.zeros_like, ts.params))
        seen.append(None)

    ts, history = fit(CLS, softmax_cross_entropy, optim.sgd(0.0), (X, Y), epochs=3,
                      batch_size=16, key=jax.random.key(0), verbose=0, callbacks=[zero_params])
    assert all(float(jnp.abs(p).max()) == 0.0 for p in jax.tree.leaves(ts.params))
    assert history.stopped_epoch is None and len(history.train_loss) == 3
    # lr 0: epoch 2 starts from the zeroed params, so its loss is log 2 exactly
    np.testing.assert_allclose(history.train_loss[2], np.log(2.0), rtol=1e-6)


def _parse_tfrecords(path):
    """The records of a TFRecord file: (uint64 length, uint32 crc, data, uint32 crc) each."""
    with open(path, "rb") as f:
        raw = f.read()
    out = []
    i = 0
    while i < len(raw):
        (n,) = struct.unpack("<Q", raw[i:i + 8])
        out.append(raw[i + 12:i + 12 + n])
        i += 12 + n + 4
    return out


def test_csv_and_tensorboard_loggers_hold_the_history(tmp_path):
    from tensorboardX.proto import event_pb2

    path, logdir = tmp_path / "log" / "run.csv", tmp_path / "tb"
    _, history = fit(CLS, softmax_cross_entropy, INJECTED, (X, Y), val=(X, Y), epochs=3,
                     batch_size=16, key=jax.random.key(0), verbose=0,
                     callbacks=[CSVLogger(path), TensorBoard(logdir)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for key in ("train_loss", "val_loss", "val_accuracy", "learning_rate"):
        np.testing.assert_array_equal([float(r[key]) for r in rows], history.values[key])
    events = []
    for record in _parse_tfrecords(glob.glob(os.path.join(logdir, "events.out.*"))[0]):
        event = event_pb2.Event.FromString(record)
        events += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    for key in ("train_loss", "val_accuracy", "learning_rate"):
        got = [(s, v) for t, s, v in events if t == key]
        want = [(e, np.float32(v)) for e, v in enumerate(history.values[key])]
        assert got == want, key
    assert not [t for t, _, _ in events if t == "seconds"]
    # append resumes the same file; another header is refused before anything is written
    logger = CSVLogger(path, append=True)
    logger(3, None, {k: history.values[k][-1] for k in rows[0] if k != "epoch"})
    logger.close()
    assert len(path.read_text().splitlines()) == 5
    with pytest.raises(ValueError, match="CSVLogger: .*run.csv.* has columns"):
        CSVLogger(path, append=True)(4, None, {"train_loss": 1.0})
    assert len(path.read_text().splitlines()) == 5


def test_verbose_2_prints_one_line_per_epoch_without_a_terminal(capsys):
    _, history = fit(CLS, softmax_cross_entropy, INJECTED, (X, Y), epochs=3, batch_size=16,
                     key=jax.random.key(0), verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3 - ")
    assert f"train_loss {history.train_loss[2]:.4f}" in lines[2]
    assert lines[2].index("train_loss") < lines[2].index("train_accuracy") < lines[2].index(
        "learning_rate")
    out = []
    logger = PrintLogger(10, ("train_loss",), every=4, print_fn=out.append)
    for e in range(10):
        logger(e, None, {"train_loss": 1.0 / (e + 1), "seconds": 0.5})
    assert out == ["epoch 4/10 - 0.50 s - train_loss 0.2500",
                   "epoch 8/10 - 0.50 s - train_loss 0.1250",
                   "epoch 10/10 - 0.50 s - train_loss 0.1000"]


@pytest.mark.parametrize("bad", [3, -1, True, "2"])
def test_verbose_rejects_other_values(bad):
    with pytest.raises(ValueError, match=f"fit: verbose must be 0 .* got {bad!r}"):
        fit(CLS, softmax_cross_entropy, INJECTED, (X, Y), epochs=1, batch_size=16,
            key=jax.random.key(0), verbose=bad)


def test_the_progress_bar_stays_on_a_terminal_after_the_run(monkeypatch, capsys):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("CI", raising=False)
    bar = ProgressBar(3, 0, ("train_loss",))
    for e in range(3):
        bar(e, None, {"train_loss": 0.5})
    bar.close()
    err = capsys.readouterr().err
    last = err.rsplit("\r", 1)[-1]
    assert "3/3" in last and "train_loss=0.5" in last  # left on screen, not cleared


def test_regression_records_no_accuracy_and_classification_does():
    reg = serial(Dense(1))
    _, history = fit(reg, mse, optim.sgd(0.1), (X, X[:, :1]), epochs=1, batch_size=16,
                     key=jax.random.key(0), verbose=0)
    assert sorted(history.values) == ["learning_rate", "seconds", "train_loss"]
    two = serial(Dense(2))  # two float outputs that are not one-hot: still a regression
    _, history = fit(two, mse, optim.sgd(0.1), (X, X[:, :2]), epochs=1, batch_size=16,
                     key=jax.random.key(0), verbose=0)
    assert "train_accuracy" not in history.values
    one_hot = np.eye(2, dtype=np.float32)[Y]
    _, history = fit(two, mse, optim.sgd(0.1), (X, one_hot), epochs=1, batch_size=16,
                     key=jax.random.key(0), verbose=0)
    assert "train_accuracy" in history.values
