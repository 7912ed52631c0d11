"""Data-parallel training over two `jax.distributed` processes on this machine, with a checkpoint
saved by both and a resume from it.

`python examples/multiprocess.py` (or `make multiprocess`) starts two copies of itself, each with
2 CPU devices and JAX's gloo collectives, joined into one run of 4 devices through a coordinator
on localhost. Each trains the digits MLP with `fit(..., mesh=data_mesh())` over all 4 devices,
saving a checkpoint after every epoch (both processes call `save`; process 0 writes), then
restores the checkpoint of epoch 2 onto the mesh and trains on from it to the end, and prints its
own copy of the results: the same bits on both processes, and the resumed run equal to the
uninterrupted one. A process whose peer dies is stopped by JAX's coordination service about
`heartbeat_timeout_seconds` later (see docs/guide/devices.md).

On a cluster the per-process part is the same: call `jax.distributed.initialize()` with the
coordinator address, process count and id (SLURM and TPU pods fill them in from the
environment), then build the mesh over `jax.devices()` and call `fit` with the same data in every
process, checkpointing to a directory every process sees. Only this localhost launch has been run.
"""

import os
import socket
import subprocess
import sys
import tempfile

PROCESSES, DEVICES_PER_PROCESS = 2, 2


def worker(process_id: int, port: str, directory: str) -> None:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={DEVICES_PER_PROCESS}"
    os.environ["JAX_PLATFORMS"] = "cpu"
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", num_processes=PROCESSES,
                               process_id=process_id, initialization_timeout=60,
                               heartbeat_timeout_seconds=10)
    import numpy as np

    from jaxdl import checkpoint, losses, optim
    from jaxdl.data import digits
    from jaxdl.data_parallel import data_mesh, to_host
    from jaxdl.nn import Dense, Flatten, Relu, serial
    from jaxdl.train import evaluate, fit

    train, test = digits()  # every process passes the same data; each batch is split 4 ways
    model, opt = serial(Flatten(), Dense(64), Relu(), Dense(10)), optim.adam(1e-2)
    mesh = data_mesh()  # every device of every process
    run = dict(val=test, epochs=5, batch_size=64, verbose=0, mesh=mesh)
    state, history = fit(model, losses.softmax_cross_entropy, opt, train, key=jax.random.key(0),
                         callbacks=[checkpoint.checkpoint_callback(directory, keep=5)], **run)
    like = checkpoint.abstract_state(model, opt, (8, 8, 1))
    mid = checkpoint.restore(directory, like, step=2 * 22, mesh=mesh)  # after epoch 2 (of 22 steps)
    resumed, _ = fit(model, losses.softmax_cross_entropy, opt, train, init=mid, **run)
    params = to_host(state.params)
    same = all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params),
                                                    jax.tree.leaves(to_host(resumed.params))))
    checksum = sum(float(np.abs(p).sum()) for p in jax.tree.leaves(params))
    print(f"process {jax.process_index()}/{jax.process_count()}: {jax.local_device_count()} "
          f"local of {jax.device_count()} devices; train loss per epoch "
          f"{np.round(history.train_loss, 4).tolist()}; test accuracy "
          f"{evaluate(model, state, test)['accuracy']:.4f}; sum |params| {checksum:.6f}; "
          f"checkpoints {checkpoint.steps(directory)}; resumed from step {int(mid.step)}: "
          f"{'bit-equal' if same else 'DIFFERENT'} final params", flush=True)


def main() -> None:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = str(s.getsockname()[1])
    with tempfile.TemporaryDirectory() as directory:  # one directory both processes see
        procs = [subprocess.Popen([sys.executable, __file__, str(i), port, directory])
                 for i in range(PROCESSES)]
        codes = [p.wait(timeout=600) for p in procs]
    if any(codes):
        sys.exit(f"multiprocess: a process failed, exit codes {codes}")


if __name__ == "__main__":
    if len(sys.argv) == 4:
        worker(int(sys.argv[1]), sys.argv[2], sys.argv[3])
    else:
        main()
