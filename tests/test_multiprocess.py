"""Two `jax.distributed` processes (2 CPU devices each, gloo collectives, localhost), one launch
of tests/_multiprocess_run.py: `fit`, `evaluate` and `predict` on a mesh over both, checkpoints
saved by both, a resume from the mid-run checkpoint, a one-process restore, and the loss of a
peer, and a streamed fit in which each process reads only its own rows. The reference is one
process with 4 devices (this test process). One launch, one test:
two launches would double the suite's most expensive test (about 17 CPU-seconds)."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np

from jaxdl import checkpoint
from jaxdl.data_parallel import data_mesh, to_host
from jaxdl.train import evaluate, fit, predict
from multiprocess_model import ARGS, DATA, LOSS, MODEL, OPT, STREAM, grain_loader, stream

HERE = os.path.dirname(__file__)
HEARTBEAT = 5  # jax.distributed.initialize(heartbeat_timeout_seconds=...) in both processes
BOUND = HEARTBEAT + 10  # seconds from the peer's death to the survivor's, at most
HANG = 240  # seconds for the whole launch: past it, the processes hang


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _launch(out) -> tuple[list[int], list[str], list[str], float]:
    """Run both processes to their end; (exit codes, stdouts, stderrs, seconds from the end of
    process 1 to the end of process 0). Fails, killing both, when they run past HANG seconds."""
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "",
                   os.environ.get("XLA_FLAGS", ""))  # the suite's compile flags, 2 devices
    env = {**os.environ, "PYTHONPATH": HERE,
           "XLA_FLAGS": flags + " --xla_force_host_platform_device_count=2"}
    port, procs, ended, files = str(_free_port()), [], [None, None], []
    try:
        for i in range(2):
            files += [open(out / f"stdout_{i}.txt", "w"), open(out / f"stderr_{i}.txt", "w")]
            procs.append(subprocess.Popen(
                [sys.executable, os.path.join(HERE, "_multiprocess_run.py"), str(i), "2", port,
                 str(out), str(HEARTBEAT)], env=env, cwd=HERE, stdout=files[-2],
                stderr=files[-1]))
        deadline = time.monotonic() + HANG
        while None in ended and time.monotonic() < deadline:
            for i, p in enumerate(procs):
                if ended[i] is None and p.poll() is not None:
                    ended[i] = time.monotonic()
            time.sleep(0.05)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for f in files:
            f.close()
    outs = [(out / f"stdout_{i}.txt").read_text() for i in range(2)]
    errs = [(out / f"stderr_{i}.txt").read_text() for i in range(2)]
    assert None not in ended, f"hang: still running after {HANG} s; stderr: {errs[0][-2000:]}"
    return [p.returncode for p in procs], outs, errs, ended[0] - ended[1]


def test_two_processes_train_resume_restore_and_stop_when_a_peer_dies(tmp_path):
    """Bit-equal processes, equal to 1 process x 4 devices to 1e-5 (sum order); a resume from
    the mid-run checkpoint bit-equal to the uninterrupted run (same processes and program, the
    restored bits CRC-checked); a one-process restore bit-equal; a SIGKILLed peer stops the
    survivor within BOUND seconds, its last checkpoint intact."""
    codes, outs, errs, gap = _launch(tmp_path)
    for i in range(2):
        assert f"OK {i} 4" in outs[i], errs[i][-3000:]
    a, b = (np.load(tmp_path / f"process_{i}.npz") for i in range(2))
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:  # every process holds the same bits: params, state, history, outputs
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)

    # 1 process x 4 devices, 4 epochs; after 2 it is the run the processes made
    after = {}
    fit(MODEL, LOSS, OPT, DATA, mesh=data_mesh(), **{**ARGS, "epochs": 4},
        callbacks=[lambda epoch, ts, logs: after.__setitem__(epoch + 1, (ts, logs))])
    assert len(jax.devices()) == 4
    ts = after[2][0]
    leaves = jax.tree.leaves((ts.params, ts.state))
    assert sum(n.startswith("final_") for n in a.files) == len(leaves)
    for i, leaf in enumerate(leaves):
        np.testing.assert_allclose(a[f"final_{i}"], np.asarray(leaf), rtol=1e-5, atol=1e-5)
    for k in ("train_loss", "val_loss"):
        np.testing.assert_allclose(a[k], [after[e][1][k] for e in (1, 2)], rtol=1e-5)
    scores = evaluate(MODEL, ts, DATA, loss=LOSS)
    np.testing.assert_allclose(a["eval_loss"], scores["loss"], rtol=1e-5)
    np.testing.assert_allclose(a["outputs"], predict(MODEL, ts, DATA[0][:16]), rtol=1e-4,
                               atol=1e-5)

    # resumed from step 8 (restored onto the 2-process mesh): the uninterrupted run's bits
    assert a["resumed_spans_processes"]
    for i in range(len(leaves)):
        np.testing.assert_array_equal(a[f"resumed_{i}"], a[f"final_{i}"], err_msg=f"leaf {i}")
    np.testing.assert_array_equal(a["resumed_train_loss"], a["train_loss"][1:])

    # the 2-process checkpoint restored by one process (plain arrays): the same bits, the same
    # predictions (the same program on one device; atol for a different sum order)
    saved = tmp_path / "checkpoints"
    assert checkpoint.steps(saved) == [8, 16]
    like = checkpoint.abstract_state(MODEL, OPT, DATA[0].shape[1:])
    restored = checkpoint.restore(saved, like)
    assert all(len(leaf.devices()) == 1 for leaf in jax.tree.leaves(restored))
    for i, leaf in enumerate(to_host(jax.tree.leaves((restored.params, restored.state)))):
        np.testing.assert_array_equal(leaf, a[f"final_{i}"], err_msg=f"leaf {i}")
    np.testing.assert_allclose(predict(MODEL, restored, DATA[0][:16]), a["outputs"], rtol=1e-6,
                               atol=1e-6)

    # streamed, each process reading its half of each batch: 1 process x 4 devices reading all
    one, _ = fit(MODEL, LOSS, OPT, stream(shard=(0, 1)), mesh=data_mesh(), **STREAM)
    for i, leaf in enumerate(jax.tree.leaves((one.params, one.state))):
        np.testing.assert_allclose(a[f"streamed_{i}"], np.asarray(leaf), rtol=1e-5, atol=1e-5)
    assert not np.allclose(a["streamed_0"], a["final_0"])  # another order: a run of its own

    # a grain DataLoader per epoch, ShardByJaxProcess in each process: one process reading both
    # shards' batches side by side (grain's ShardOptions(i, 2)) is the same run
    import grain

    def both(epoch):
        halves = [grain_loader(epoch, grain.sharding.ShardOptions(i, 2, drop_remainder=True))
                  for i in range(2)]
        for (x0, y0), (x1, y1) in zip(*halves):
            yield np.concatenate([x0, x1]), np.concatenate([y0, y1])

    one, _ = fit(MODEL, LOSS, OPT, both, mesh=data_mesh(), **STREAM)
    for i, leaf in enumerate(jax.tree.leaves((one.params, one.state))):
        np.testing.assert_allclose(a[f"grain_{i}"], np.asarray(leaf), rtol=1e-5, atol=1e-5)

    # processes that save different values, or an array split over them: the same error in
    # each (the equality check above), nothing written
    assert "processes must save the same state and step" in str(a["mismatch"]), a["mismatch"]
    assert "leaf w is sharded over several processes" in str(a["sharded"]), a["sharded"]
    assert not (tmp_path / "refused").exists()

    # peer loss: process 1 SIGKILLs itself after its epoch-3 checkpoint; process 0, waiting for
    # it in epoch 4, is aborted by the coordination service within the heartbeat timeout
    assert codes[1] == -signal.SIGKILL and "SIGKILL 1" in outs[1], errs[1][-2000:]
    assert codes[0] == -signal.SIGABRT and "FINISHED" not in outs[0], errs[0][-2000:]
    assert "another task died" in errs[0], errs[0][-2000:]
    assert re.search(r"stopped sending heartbeats\):\s*1\s", errs[0]), errs[0][-2000:]
    assert 0 < gap <= BOUND, f"the survivor ended {gap:.1f} s after its peer (bound {BOUND} s)"
    lost = tmp_path / "lost"
    assert checkpoint.steps(lost) == [24, 32]
    assert sorted(os.listdir(lost)) == ["24", "32"]  # no partial write left
    last = checkpoint.restore(lost, like)  # integrity-checked (CRC-32 of every leaf)
    for got, want in zip(jax.tree.leaves(last.params), jax.tree.leaves(after[4][0].params)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
