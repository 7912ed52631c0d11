"""One process of a `jax.distributed` run for test_multiprocess: 2 CPU devices per process, the
gloo collectives, a mesh over every device of every process. In order, in the same processes:

1. `fit` (2 epochs) with `checkpoint_callback` (steps 8 and 16 in OUT/checkpoints), then
   `evaluate` and `predict`;
2. resume: `restore` step 8 (after epoch 0) onto the mesh and `fit(init=...)` to the end;
3. `save` of different values in each process, and of an array sharded over the processes:
   the ValueErrors every process must raise; then a streamed `fit` from an `ArrayStream` of
   which each process reads only its own rows of each batch, and one from a grain DataLoader
   sharded by `ShardByJaxProcess`; this process's results go to
   OUT/process_<id>.npz and it prints "OK";
4. peer loss: `fit` on from the resumed state, saving every epoch to OUT/lost; after the save of
   epoch 3 (step 32) the last process SIGKILLs itself; the survivor, waiting in epoch 4's
   all-reduce, must be stopped by the coordination service after HEARTBEAT seconds.

XLA_FLAGS comes from the caller (the test's flags, 2 devices per process).
Usage: python _multiprocess_run.py PROCESS_ID NUM_PROCESSES PORT OUT HEARTBEAT
"""

import os
import resource
import signal
import sys

resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the survivor is aborted: no core file
pid, count, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
heartbeat = int(sys.argv[5])
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(f"localhost:{port}", num_processes=count, process_id=pid,
                           initialization_timeout=60, heartbeat_timeout_seconds=heartbeat)

import numpy as np  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402

from jaxdl import checkpoint  # noqa: E402
from jaxdl.data_parallel import data_mesh, to_host  # noqa: E402
from jaxdl.train import evaluate, fit, predict  # noqa: E402
from multiprocess_model import (  # noqa: E402
    ARGS, DATA, LOSS, MODEL, OPT, STREAM, grain_loader, stream,
)

assert jax.device_count() == 2 * count and jax.local_device_count() == 2
mesh, saved, lost = data_mesh(), os.path.join(out, "checkpoints"), os.path.join(out, "lost")


def named(prefix, ts):
    leaves = to_host(jax.tree.leaves((ts.params, ts.state)))
    return {f"{prefix}_{i}": leaf for i, leaf in enumerate(leaves)}


ts, history = fit(MODEL, LOSS, OPT, DATA, mesh=mesh,
                  callbacks=[checkpoint.checkpoint_callback(saved)], **ARGS)
scores = evaluate(MODEL, ts, DATA, loss=LOSS)
outputs = np.asarray(predict(MODEL, ts, DATA[0][:16]))

like = checkpoint.abstract_state(MODEL, OPT, DATA[0].shape[1:])
mid = checkpoint.restore(saved, like, step=8, mesh=mesh)
spans = all(not leaf.is_fully_addressable for leaf in jax.tree.leaves(mid))
resumed, rest = fit(MODEL, LOSS, OPT, DATA, init=mid, mesh=mesh, **{**ARGS, "key": None})


def save_error(tree):
    try:
        checkpoint.save(os.path.join(out, "refused"), tree, step=0)
        return "no error"
    except ValueError as e:
        return str(e)


mismatch = save_error({"w": np.full(3, pid, np.float32)})
split = jax.make_array_from_callback((4,), NamedSharding(mesh, P("data")),
                                     lambda i: np.arange(4.0, dtype=np.float32)[i])
sharded = save_error({"w": split})

streamed, _ = fit(MODEL, LOSS, OPT, stream(), mesh=mesh, **STREAM)  # each process its own rows
import grain  # noqa: E402

by_grain, _ = fit(MODEL, LOSS, OPT, lambda e: grain_loader(
    e, grain.sharding.ShardByJaxProcess(drop_remainder=True)), mesh=mesh, **STREAM)

np.savez(os.path.join(out, f"process_{pid}.npz"), **named("final", ts), **named("resumed", resumed),
         **named("streamed", streamed), **named("grain", by_grain),
         outputs=outputs, train_loss=history.train_loss, val_loss=history.val_loss,
         eval_loss=scores["loss"], eval_accuracy=scores["accuracy"],
         resumed_train_loss=rest.train_loss, resumed_spans_processes=spans, mismatch=mismatch,
         sharded=sharded)
print("OK", pid, jax.device_count(), flush=True)


def lose_peer(epoch, train_state, logs):
    if pid == count - 1 and epoch == 3:
        print("SIGKILL", pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


fit(MODEL, LOSS, OPT, DATA, init=resumed, mesh=mesh, callbacks=[
    checkpoint.checkpoint_callback(lost), lose_peer], **{**ARGS, "epochs": 6, "key": None})
print("FINISHED without the peer", pid, flush=True)  # never reached: epoch 4 needs the peer
