"""`jaxdl.checkpoint`: save/restore round trips, keep-last-k, atomicity, errors, bit-exact resume,
and frozen-layer fine-tuning."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import checkpoint, optim
from jaxdl.activations import Relu
from jaxdl.core import serial
from jaxdl.data import digits
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.nn.dropout import Dropout
from jaxdl.nn.normalization import BatchNorm
from jaxdl.nn.reshape import Flatten
from jaxdl.train import TrainState, fit, init_state

from _trees import assert_trees_equal

(X, Y), _ = digits()
X, Y = X[:512], Y[:512]
MODEL = serial(Flatten(), Dense(32), BatchNorm(), Relu(), Dropout(0.1), Dense(10))
ADAM = optim.adam(1e-2)


def _state(key, dtype=jnp.float32):
    ts = init_state(MODEL, ADAM, (8, 8, 1), key)
    return ts._replace(params={**ts.params, "5_dense": jax.tree.map(
        lambda a: a.astype(dtype), ts.params["5_dense"])})




def test_restore_gives_back_the_exact_structure_dtypes_and_values(tmp_path, key):
    ts = _state(key, jnp.bfloat16)
    assert checkpoint.save(tmp_path / "ck", ts) == 0
    like = _state(jax.random.fold_in(key, 9), jnp.bfloat16)
    restored = checkpoint.restore(tmp_path / "ck", like)
    assert isinstance(restored, TrainState)
    assert restored.state["4_dropout"] == {} and restored.params["0_flatten"] == {}
    assert restored.params["5_dense"]["w"].dtype == jnp.bfloat16
    assert restored.opt_state[0].count.dtype == ts.opt_state[0].count.dtype
    assert_trees_equal(restored, ts)


def test_save_keeps_the_last_k_and_restores_the_latest_by_default(tmp_path, key):
    states = [_state(jax.random.fold_in(key, s))._replace(step=jnp.array(s, jnp.int32))
              for s in range(1, 6)]
    for ts in states:
        checkpoint.save(tmp_path, ts, keep=2)
    assert checkpoint.steps(tmp_path) == [4, 5]
    assert_trees_equal(checkpoint.restore(tmp_path, states[0]), states[4])
    assert_trees_equal(checkpoint.restore(tmp_path, states[0], step=4), states[3])
    with pytest.raises(ValueError, match=r"step 2 not in .*steps: \[4, 5\]"):
        checkpoint.restore(tmp_path, states[0], step=2)


def test_restore_errors_name_the_directory_and_the_mismatch(tmp_path, key):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=f"{missing}.*does not exist"):
        checkpoint.restore(missing, _state(key))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty.*holds no checkpoint"):
        checkpoint.restore(tmp_path / "empty", _state(key))
    checkpoint.save(tmp_path / "ck", _state(key))
    other = init_state(serial(Flatten(), Dense(16), Dense(10)), ADAM, (8, 8, 1), key)
    with pytest.raises(ValueError, match=r"ck.*different structure.*params\.1_dense\.w: saved "
                                         r"float32\[64, 32\], expected float32\[64, 16\]"):
        checkpoint.restore(tmp_path / "ck", other)
    with pytest.raises(ValueError, match=r"different structure.*missing \(\d+\): "
                                         r"params\.2_dense\.b.*"
                                         r"unexpected \(14\): \S*2_batch_norm"):
        checkpoint.restore(tmp_path / "ck", other)
    with pytest.raises(ValueError, match=r"different structure.*saved float32\[10\], expected "
                                         r"bfloat16\[10\]"):
        checkpoint.restore(tmp_path / "ck", _state(key, jnp.bfloat16))


def test_freeze_mask_by_name_and_position(key):
    params = init_state(MODEL, ADAM, (8, 8, 1), key).params
    mask = checkpoint.freeze_mask(params, ["1_dense", 2])
    assert mask["1_dense"] == {"w": True, "b": True}
    assert mask["2_batch_norm"] == {"scale": True, "bias": True}
    assert mask["5_dense"] == {"w": False, "b": False}
    with pytest.raises(ValueError, match=r"frozen entry '9_conv'.*layers: \['0_flatten'"):
        checkpoint.freeze_mask(params, ["9_conv"])
    with pytest.raises(ValueError, match="frozen position 7 is not a layer"):
        checkpoint.freeze_mask(params, [7])


def test_fine_tuning_frozen_layers_moves_only_the_unfrozen_params_and_bn_state():
    pre, _ = fit(MODEL, softmax_cross_entropy, ADAM, (X, Y), epochs=1, batch_size=64,
                 key=jax.random.key(1), progress=False)
    tuned, _ = fit(MODEL, softmax_cross_entropy, ADAM, (X[::-1], Y[::-1]), epochs=1,
                   batch_size=64, key=jax.random.key(2), progress=False,
                   init=(pre.params, pre.state), frozen=["1_dense", 2])
    assert_trees_equal(tuned.params["1_dense"], pre.params["1_dense"])
    assert_trees_equal(tuned.params["2_batch_norm"], pre.params["2_batch_norm"])
    assert_trees_equal(tuned.state["2_batch_norm"], pre.state["2_batch_norm"])
    assert not np.array_equal(tuned.params["5_dense"]["w"], pre.params["5_dense"]["w"])
    assert not np.array_equal(tuned.params["5_dense"]["b"], pre.params["5_dense"]["b"])
    free, _ = fit(MODEL, softmax_cross_entropy, ADAM, (X[::-1], Y[::-1]), epochs=1, batch_size=64,
                  key=jax.random.key(2), progress=False, init=(pre.params, pre.state))
    assert not np.array_equal(free.state["2_batch_norm"]["mean"], pre.state["2_batch_norm"]["mean"])
    assert not np.array_equal(free.params["1_dense"]["w"], pre.params["1_dense"]["w"])
