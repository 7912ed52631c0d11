"""Determinism: the same key gives the same training, bit for bit; different keys do not.

- `fit` in two separate processes (different PYTHONHASHSEED, run concurrently): identical final
  TrainState leaves (params, batch-norm state, Adam moments, step) and identical history values
  (every per-epoch train/val number but the wall-clock seconds) for a model with dropout;
  another key gives other params and another history.
- `vmap_fit` over 2 seeds, twice in one process: identical states and histories, and the two
  seeds' members differ.
Resuming `fit` from a checkpoint equals an uninterrupted run bit for bit: that promise is tested
in tests/test_checkpoint.py (test_resuming_fit_from_a_checkpoint_equals_an_uninterrupted_run_...),
not repeated here. This file supersedes tests/test_train.py's two-process test (params only).
"""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import numpy as np

from jaxdl import optim
from jaxdl.activations import Relu
from jaxdl.core import serial
from jaxdl.data import digits
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.nn.dropout import Dropout
from jaxdl.nn.reshape import Flatten
from jaxdl.sweep import vmap_fit

HERE = os.path.dirname(os.path.abspath(__file__))


def test_same_key_gives_bit_identical_state_and_history_in_two_processes(tmp_path):
    script = os.path.join(HERE, "_determinism_run.py")
    outs = [tmp_path / "a.npz", tmp_path / "b.npz"]
    procs = [subprocess.Popen([sys.executable, script, str(out), *seeds],
                              env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONHASHSEED": hs},
                              cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for out, seeds, hs in zip(outs, (["0", "1"], ["0"]), ("1", "2"))]
    logs = [p.communicate(timeout=300)[0].decode(errors="replace") for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    a, b = np.load(outs[0]), np.load(outs[1])
    same = sorted(k for k in b.files if k.startswith("seed0/"))
    assert sorted(k for k in a.files if k.startswith("seed0/")) == same
    names = {k.split("/", 2)[2] if k.startswith("seed0/history/") else None for k in same}
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy"} <= names
    assert a["seed0/history/val_loss"].shape == (2,)  # one value per epoch
    for k in same:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        assert a[k].tobytes() == b[k].tobytes(), k  # bit for bit (also -0.0 vs 0.0, NaN payloads)
    params = [k for k in same if ".params" in k]
    assert len(params) == 6  # two Dense (w, b) and BatchNorm (scale, bias)
    assert all(not np.array_equal(a[k], a[k.replace("seed0/", "seed1/")]) for k in params)
    assert not np.array_equal(a["seed0/history/train_loss"], a["seed1/history/train_loss"])


def _model():
    return serial(Flatten(), Dense(16), Relu(), Dropout(0.3), Dense(10))


def test_vmap_fit_over_two_seeds_is_bit_identical_run_to_run_and_the_seeds_differ():
    (x, y), _ = digits()
    keys = jax.random.split(jax.random.key(3), 2)
    model, opt = _model(), (lambda: optim.adam(1e-2))

    def run():
        return vmap_fit(model, softmax_cross_entropy, opt, (x[:256], y[:256]), keys=keys,
                        epochs=2, batch_size=32)

    (ts1, h1), (ts2, h2) = run(), run()
    leaves1, leaves2 = jax.tree.leaves(ts1), jax.tree.leaves(ts2)
    assert len(leaves1) == len(leaves2) > 0
    for u, v in zip(leaves1, leaves2):
        if jax.dtypes.issubdtype(u.dtype, jax.dtypes.prng_key):
            u, v = jax.random.key_data(u), jax.random.key_data(v)
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    assert set(h1.values) == set(h2.values)
    for name in h1.values:
        if name != "seconds":
            np.testing.assert_array_equal(h1.values[name], h2.values[name], err_msg=name)
    w = np.asarray(ts1.params["1_dense"]["w"])
    assert w.shape[0] == 2 and not np.array_equal(w[0], w[1])
    assert not np.array_equal(h1.train_loss[0], h1.train_loss[1])
