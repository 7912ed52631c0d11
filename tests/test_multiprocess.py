"""`fit`, `evaluate` and `predict` on a mesh that spans two `jax.distributed` processes (2 CPU
devices each, gloo collectives, localhost): both processes end bit-equal, and equal to one
process with 4 devices to 1e-5."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np

from jaxdl.data_parallel import data_mesh
from jaxdl.train import evaluate, fit, predict
from multiprocess_model import ARGS, DATA, LOSS, MODEL, OPT

HERE = os.path.dirname(__file__)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_train_like_one_process_with_four_devices(tmp_path):
    port, env = str(_free_port()), {**os.environ, "PYTHONPATH": HERE}
    env.pop("XLA_FLAGS", None)
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "_multiprocess_run.py"),
                               str(i), "2", port, str(tmp_path)], env=env, cwd=HERE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and "OK" in out, err[-3000:]
    a, b = (np.load(tmp_path / f"process_{i}.npz") for i in range(2))
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:  # every process holds the same bits: params, state, history, outputs
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    ts, history = fit(MODEL, LOSS, OPT, DATA, mesh=data_mesh(), **ARGS)  # 1 process, 4 devices
    assert len(jax.devices()) == 4
    leaves = jax.tree.leaves((ts.params, ts.state))
    assert len(leaves) == len(a.files) - 5
    for i, leaf in enumerate(leaves):
        np.testing.assert_allclose(a[f"arr_{i}"], np.asarray(leaf), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a["train_loss"], history.train_loss, rtol=1e-5)
    np.testing.assert_allclose(a["val_loss"], history.val_loss, rtol=1e-5)
    scores = evaluate(MODEL, ts, DATA, loss=LOSS)
    np.testing.assert_allclose(a["eval_loss"], scores["loss"], rtol=1e-5)
    np.testing.assert_allclose(a["outputs"], predict(MODEL, ts, DATA[0][:16]), rtol=1e-4,
                               atol=1e-5)
