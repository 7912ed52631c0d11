"""`jaxdl.checkpoint`: save/restore round trips, keep-last-k, atomicity, errors, bit-exact resume,
and frozen-layer fine-tuning."""

import json
import zlib

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
                 key=jax.random.key(1), verbose=0)
    tuned, _ = fit(MODEL, softmax_cross_entropy, ADAM, (X[::-1], Y[::-1]), epochs=1,
                   batch_size=64, key=jax.random.key(2), verbose=0,
                   init=(pre.params, pre.state), frozen=["1_dense", 2])
    assert_trees_equal(tuned.params["1_dense"], pre.params["1_dense"])
    assert_trees_equal(tuned.params["2_batch_norm"], pre.params["2_batch_norm"])
    assert_trees_equal(tuned.state["2_batch_norm"], pre.state["2_batch_norm"])
    assert not np.array_equal(tuned.params["5_dense"]["w"], pre.params["5_dense"]["w"])
    assert not np.array_equal(tuned.params["5_dense"]["b"], pre.params["5_dense"]["b"])
    free, _ = fit(MODEL, softmax_cross_entropy, ADAM, (X[::-1], Y[::-1]), epochs=1, batch_size=64,
                  key=jax.random.key(2), verbose=0, init=(pre.params, pre.state))
    assert not np.array_equal(free.state["2_batch_norm"]["mean"], pre.state["2_batch_norm"]["mean"])
    assert not np.array_equal(free.params["1_dense"]["w"], pre.params["1_dense"]["w"])


def test_abstract_state_restores_a_frozen_skip_nonfinite_run_without_initialising(tmp_path):
    opt = optim.momentum(0.1)
    run = dict(epochs=2, batch_size=128, key=jax.random.key(3), verbose=0,
               frozen=["1_dense"], skip_nonfinite=True)
    trained, _ = fit(MODEL, softmax_cross_entropy, opt, (X, Y),
                     callbacks=[checkpoint.checkpoint_callback(tmp_path)], **run)
    like = checkpoint.abstract_state(MODEL, opt, (8, 8, 1), frozen=["1_dense"],
                                     skip_nonfinite=True)
    assert all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree.leaves(like))
    assert_trees_equal(checkpoint.restore(tmp_path, like), trained)
    plain = checkpoint.abstract_state(MODEL, opt, (8, 8, 1))
    with pytest.raises(ValueError, match=r"step 8 holds a different structure than `like` in its "
                                         r"optimizer state.*frozen=.*skip_nonfinite=.*missing"):
        checkpoint.restore(tmp_path, plain)
    with pytest.raises(ValueError, match=r"abstract_state: frozen entry '7_dense'"):
        checkpoint.abstract_state(MODEL, opt, (8, 8, 1), frozen=["7_dense"])
    with pytest.raises(TypeError, match=r"abstract_state: input_shape must be a positive int, "
                                        r"got 8\.0"):
        checkpoint.abstract_state(MODEL, opt, (8.0, 8, 1))


@pytest.mark.parametrize("saved, other", [(optim.momentum(0.1), optim.sgd(0.1)),
                                          (optim.sgd(0.1), optim.adam(0.1)),
                                          (optim.adam(0.1), optim.momentum(0.1))])
def test_restore_with_another_optimizer_names_the_directory_step_and_optimizer_state(
        tmp_path, key, saved, other):
    ts = init_state(MODEL, saved, (8, 8, 1), key)._replace(step=jnp.array(5, jnp.int32))
    checkpoint.save(tmp_path / "ck", ts)
    with pytest.raises(ValueError, match=r"checkpoint\.restore: '.*ck' step 5 holds a different "
                                         r"structure than `like` in its optimizer state.*another "
                                         r"optimizer.*: (missing|unexpected) \(\d+\): opt_state"):
        checkpoint.restore(tmp_path / "ck", checkpoint.abstract_state(MODEL, other, (8, 8, 1)))
    assert_trees_equal(checkpoint.restore(tmp_path / "ck", checkpoint.abstract_state(
        MODEL, saved, (8, 8, 1))), ts)


def _saved_state(tmp_path, logs_per_epoch, **kwargs):
    """Call a checkpoint_callback by hand with states whose step is the epoch (+ 1) and return
    the steps left on disk and the restored latest step."""
    cb = checkpoint.checkpoint_callback(tmp_path, keep=10, save_best_only=True, **kwargs)
    states = [_state(jax.random.key(e))._replace(step=jnp.array(e + 1, jnp.int32))
              for e in range(len(logs_per_epoch))]
    for e, logs in enumerate(logs_per_epoch):
        cb(e, states[e], logs)
    restored = checkpoint.restore(tmp_path, _state(jax.random.key(0)))
    return checkpoint.steps(tmp_path), restored, states


def test_save_best_only_saves_improvements_of_the_monitor_min_or_max(tmp_path):
    losses = [{"val_loss": v, "val_accuracy": a}
              for v, a in [(0.5, 0.1), (0.3, 0.6), (0.4, 0.9), (float("nan"), 0.2), (0.3, 0.5)]]
    found, restored, states = _saved_state(tmp_path / "loss", losses)
    assert found == [1, 2]  # epochs 0 and 1; 0.4, NaN and an equal 0.3 do not improve
    assert_trees_equal(restored, states[1])
    found, restored, states = _saved_state(tmp_path / "acc", losses, monitor="val_accuracy")
    assert found == [1, 2, 3]
    assert_trees_equal(restored, states[2])
    found, _, _ = _saved_state(tmp_path / "min", losses, monitor="val_accuracy", mode="min")
    assert found == [1]
    with pytest.raises(ValueError, match=r"checkpoint_callback: monitor 'val_los' is not in the "
                                         r"logs of epoch 0; available: \['val_accuracy', "
                                         r"'val_loss'\]"):
        _saved_state(tmp_path / "typo", losses, monitor="val_los")
    with pytest.raises(ValueError, match=r"checkpoint_callback: mode must be 'auto', 'min' or "
                                         r"'max', got 'best'"):
        checkpoint.checkpoint_callback(tmp_path, mode="best")


def test_save_best_only_in_fit_keeps_the_state_of_the_best_val_loss_epoch(tmp_path):
    model, data = serial(Flatten(), Dense(10)), (X[:256], Y[:256])
    seen = {}
    cb = checkpoint.checkpoint_callback(tmp_path, save_best_only=True, monitor="val_loss")
    _, history = fit(model, softmax_cross_entropy, optim.sgd(8.0), data, val=(X[256:], Y[256:]),
                     epochs=4, batch_size=64, key=jax.random.key(0), verbose=0,
                     callbacks=[cb, lambda e, ts, logs: seen.setdefault(e, ts)])
    best = int(np.argmin(history.val_loss))
    assert best < 3  # lr 8 overshoots: the last epoch is not the best, saving it would fail here
    like = checkpoint.abstract_state(model, optim.sgd(8.0), (8, 8, 1))
    assert_trees_equal(checkpoint.restore(tmp_path, like), seen[best])


def test_the_package_keeps_every_public_name_of_the_module():
    import jaxdl.checkpoint as package

    before = ["save", "restore", "steps", "abstract_state", "checkpoint_callback", "freeze_mask",
              "layer_keys"]
    assert set(before) | {"CheckpointCorruptError", "CheckpointFallbackWarning"} == set(
        package.__all__)
    for name in package.__all__:
        assert getattr(checkpoint, name) is getattr(package, name)
    assert issubclass(checkpoint.CheckpointCorruptError, ValueError)
    assert issubclass(checkpoint.CheckpointFallbackWarning, UserWarning)


def test_save_records_every_leaf_for_restore_to_check(tmp_path, key):
    """`<step>/jaxdl/metadata` holds each leaf's dtype, shape and CRC-32 of its bytes (PRNG keys
    as their key data), so `restore` can find a flipped bit that tensorstore returns as is."""
    ts = _state(key, jnp.bfloat16)._replace(step=jnp.array(7, jnp.int32))
    checkpoint.save(tmp_path, ts)
    record = json.loads((tmp_path / "7" / "jaxdl" / "metadata").read_text())
    leaves = jax.tree_util.tree_flatten_with_path(ts)[0]
    assert len(record["leaves"]) == len(leaves)
    for path, leaf in leaves:
        name = ".".join(str(getattr(p, "key", getattr(p, "name", getattr(p, "idx", p))))
                        for p in path)
        a = np.asarray(jax.random.key_data(leaf) if jax.dtypes.issubdtype(
            leaf.dtype, jax.dtypes.prng_key) else leaf)
        assert record["leaves"][name] == {"dtype": str(a.dtype), "shape": list(a.shape),
                                          "crc32": zlib.crc32(a.tobytes())}, name


def test_restore_with_mesh_replicates_every_leaf_over_the_mesh(tmp_path, key):
    """`restore(..., mesh=)` places the state as `fit(..., mesh=)` does: a full copy on every
    device of the mesh (4 CPU devices here; tests/test_multiprocess.py runs 2 processes)."""
    from jax.sharding import NamedSharding, PartitionSpec

    from jaxdl.data_parallel import data_mesh

    ts = _state(key)
    checkpoint.save(tmp_path, ts)
    mesh = data_mesh()
    restored = checkpoint.restore(tmp_path, checkpoint.abstract_state(MODEL, ADAM, (8, 8, 1)),
                                  mesh=mesh)
    for leaf in jax.tree.leaves(restored):
        assert leaf.sharding == NamedSharding(mesh, PartitionSpec()) and len(leaf.devices()) == 4
    assert_trees_equal(restored, ts)
    with pytest.raises(TypeError, match=r"checkpoint.restore: mesh must be a jax.sharding.Mesh"
                                        r".*got 'data'"):
        checkpoint.restore(tmp_path, ts, mesh="data")
