"""One process of a `jax.distributed` run for test_multiprocess: 2 CPU devices per process, the
gloo collectives, `fit` with a mesh over every device of every process, then `evaluate` and
`predict`; writes this process's copy of the results to OUT/process_<id>.npz.

Usage: python _multiprocess_run.py PROCESS_ID NUM_PROCESSES PORT OUT
"""

import os
import sys

pid, count, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(f"localhost:{port}", num_processes=count, process_id=pid,
                           initialization_timeout=60)

import numpy as np  # noqa: E402

from jaxdl.data_parallel import data_mesh, to_host  # noqa: E402
from jaxdl.train import evaluate, fit, predict  # noqa: E402
from multiprocess_model import ARGS, DATA, LOSS, MODEL, OPT  # noqa: E402

assert jax.device_count() == 2 * count and jax.local_device_count() == 2
ts, history = fit(MODEL, LOSS, OPT, DATA, mesh=data_mesh(), **ARGS)
scores = evaluate(MODEL, ts, DATA, loss=LOSS)
outputs = np.asarray(predict(MODEL, ts, DATA[0][:16]))
leaves = to_host(jax.tree.leaves((ts.params, ts.state)))
np.savez(os.path.join(out, f"process_{pid}.npz"), *leaves, outputs=outputs,
         train_loss=history.train_loss, val_loss=history.val_loss,
         eval_loss=scores["loss"], eval_accuracy=scores["accuracy"])
print("OK", pid, jax.device_count())
