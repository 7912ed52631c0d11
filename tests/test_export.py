"""`jaxdl.export`: a trained model exported with `jax.export` runs, in a process that has only jax
and numpy (jaxdl cannot be imported there), for batch sizes never seen at export, in eval mode,
and matches `jaxdl.train.predict`; bad inputs and bad files raise clear errors."""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import export, optim
from jaxdl.activations import Relu
from jaxdl.core import serial
from jaxdl.data import digits
from jaxdl.nn.conv import Conv2D
from jaxdl.nn.dense import Dense
from jaxdl.nn.dropout import Dropout
from jaxdl.nn.normalization import BatchNorm
from jaxdl.nn.pooling import MaxPool2D
from jaxdl.nn.reshape import Flatten
from jaxdl.train import init_state, predict

(X, _), _ = digits()
CNN = serial(Conv2D(8, (3, 3)), Relu(), MaxPool2D((2, 2)), Flatten(), Dense(10))
BN_DROPOUT = serial(Flatten(), Dense(16), BatchNorm(), Relu(), Dropout(0.5), Dense(10))
SGD = optim.sgd(0.1)

# Runs in a fresh interpreter: jaxdl is blocked, so the files must carry everything.
LOADER = textwrap.dedent("""
    import sys
    sys.modules["jaxdl"] = None  # `import jaxdl` raises ImportError here
    import jax
    import numpy as np
    x = np.load("x.npy")
    out = {}
    for name in ("cnn", "bn_dropout"):
        with open(name + ".jax", "rb") as f:
            call = jax.export.deserialize(f.read()).call
        out[name + "_7"], out[name + "_1"] = np.asarray(call(x)), np.asarray(call(x[:1]))
    np.savez("out.npz", **out)
    print(sorted(m for m, mod in sys.modules.items()
                 if mod is not None and m.split(".")[0] in ("jaxdl", "optax", "orbax")))
""")


def _bn_state(key):
    """BN_DROPOUT's state with running statistics far from a batch's, so that train-mode batch
    statistics would give other outputs than eval mode's running ones."""
    ts = init_state(BN_DROPOUT, SGD, (8, 8, 1), key)
    k1, k2 = jax.random.split(key)
    stats = {"mean": jax.random.normal(k1, (16,)), "var": jax.random.uniform(k2, (16,)) + 0.5}
    assert set(ts.state["2_batch_norm"]) == set(stats)
    return ts._replace(state={**ts.state, "2_batch_norm": stats})


def test_exported_files_run_without_jaxdl_for_any_batch_size_in_eval_mode(tmp_path, key):
    states = {"cnn": (CNN, init_state(CNN, SGD, (8, 8, 1), key)),
              "bn_dropout": (BN_DROPOUT, _bn_state(key))}
    for name, (model, ts) in states.items():
        exported = export.export(model, ts, (8, 8, 1), tmp_path / f"{name}.jax")
        assert len(exported.in_avals) == 1 and str(exported.in_avals[0].shape[0]) == "b"
    x = np.asarray(X[:7], np.float32)
    np.save(tmp_path / "x.npy", x)
    done = subprocess.run([sys.executable, "-c", LOADER], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"  # nothing of jaxdl, optax or orbax was loaded
    out = np.load(tmp_path / "out.npz")
    for name, (model, ts) in states.items():
        want = np.asarray(predict(model, ts, x))
        np.testing.assert_allclose(out[f"{name}_7"], want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out[f"{name}_1"], want[:1], rtol=1e-5, atol=1e-5)
    model, ts = states["bn_dropout"]  # the reference really differs in train mode
    train_out = model.apply(ts.params, ts.state, x, key=key, train=True)[0]
    assert np.abs(np.asarray(train_out) - out["bn_dropout_7"]).max() > 0.1


def test_load_runs_the_file_and_platforms_are_kept(tmp_path, key):
    ts = _bn_state(key)
    path = tmp_path / "m.jax"
    exported = export.export(BN_DROPOUT, ts, [8, 8, 1], path, platforms=("cpu", "cuda"))
    assert exported.platforms == ("cpu", "cuda")
    assert path.stat().st_size > 4 * (64 * 16 + 16 * 10)  # the weights are in the file
    x = np.asarray(X[:3], np.float32)
    np.testing.assert_allclose(export.load(path)(x), predict(BN_DROPOUT, ts, x), rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(Exception, match=r"expected \(b, 8, 8, 1\)"):  # jax's own error
        export.load(path)(np.zeros((3, 64), np.float32))
    assert export.export(CNN, init_state(CNN, SGD, (8, 8, 1), key), (8, 8, 1)).in_avals[0].dtype \
        == jnp.float32 and not (tmp_path / "none").exists()


def test_export_rejects_a_batch_axis_or_non_int_input_shape(tmp_path, key):
    mlp = serial(Flatten(), Dense(10))
    ts = init_state(mlp, SGD, (8, 8, 1), key)
    with pytest.raises(ValueError, match=r"export: input_shape \(32, 8, 8, 1\) does not fit "
                                         r"train_state.*1_dense.*'w'.*\(2048, 10\).*\(64, 10\)"
                                         r".*batch axis"):
        export.export(mlp, ts, (32, 8, 8, 1), tmp_path / "a.jax")
    with pytest.raises(ValueError, match=r"export: the model cannot take input_shape "
                                         r"\(1, 8, 8, 1\).*Conv2D.*batch axis"):
        export.export(CNN, init_state(CNN, SGD, (8, 8, 1), key), (1, 8, 8, 1))
    with pytest.raises(TypeError, match=r"export: input_shape must be a positive int, got 8\.0"):
        export.export(mlp, ts, (8.0, 8, 1))
    with pytest.raises(TypeError, match=r"export: input_shape must be a tuple of ints.*got 64"):
        export.export(mlp, ts, 64)
    with pytest.raises(TypeError, match=r"export: dtype must be a dtype.*'float33'"):
        export.export(mlp, ts, (8, 8, 1), dtype="float33")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_load_names_the_path_of_a_missing_or_garbage_file(tmp_path):
    missing = tmp_path / "nope.jax"
    with pytest.raises(FileNotFoundError, match=rf"export\.load: no file '{missing}'"):
        export.load(missing)
    for i, blob in enumerate([b"", b"garbage" * 20, bytes(64)]):
        bad = tmp_path / f"bad{i}.jax"
        bad.write_bytes(blob)
        with pytest.raises(ValueError, match=rf"export\.load: '{bad}' is not a program written "
                                             r"by jaxdl\.export\.export"):
            export.load(bad)
