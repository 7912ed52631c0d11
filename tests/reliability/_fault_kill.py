"""Child process of test_faults.py: a `fit` that saves a checkpoint after every epoch, frozen at a
chosen point inside one save so that the parent can SIGKILL it exactly there.

    python _fault_kill.py DIRECTORY MARKER POINT

The run: 4 epochs of 4 steps, checkpoints at steps 4, 8, 12, 16 (keep 2). When the save of step
KILL_STEP = 12 reaches POINT, the hook writes MARKER and sleeps until killed. The hooks wrap one
standard-library call each (orbax's own code runs unchanged):

  written   os.rename of the item directory inside `12.orbax-checkpoint-tmp`: every array and
            its metadata are on disk, the step is not committed;
  commit    os.rename of `12.orbax-checkpoint-tmp` to `12`, the commit itself: everything but
            the rename is done;
  deleting  os.unlink: checkpoint 12 is committed and orbax is deleting checkpoint 4 (keep=2);
            two of its files are gone when it freezes (Linux: reads /proc/self/fd).

The test module imports this file for the same problem (`train`, `like`).
"""

from __future__ import annotations

import os
import sys
import threading
import time

import jax
import numpy as np

from jaxdl import checkpoint, optim
from jaxdl.activations import Relu
from jaxdl.core import serial
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.nn.dropout import Dropout
from jaxdl.nn.normalization import BatchNorm
from jaxdl.train import fit, init_state

N, BATCH, EPOCHS, KEEP = 64, 16, 4, 2
STEPS = N // BATCH  # per epoch
KILL_STEP = 3 * STEPS
POINTS = ("written", "commit", "deleting")
MODEL = serial(Dense(8), BatchNorm(), Relu(), Dropout(0.25), Dense(3))
OPT = optim.adam(1e-2)
KEY = jax.random.key(42)
_rng = np.random.default_rng(0)
DATA = (_rng.normal(size=(N, 5)).astype(np.float32), _rng.integers(0, 3, N).astype(np.int32))


def train(directory=None, *, init=None, callbacks=()):
    """fit the problem for EPOCHS epochs, saving every epoch to `directory` (if given)."""
    saves = [checkpoint.checkpoint_callback(directory, keep=KEEP)] if directory else []
    return fit(MODEL, softmax_cross_entropy, OPT, DATA, epochs=EPOCHS, batch_size=BATCH, key=KEY,
               init=init, callbacks=[*saves, *callbacks], metrics=(),
               verbose=0)


def like():
    """A TrainState of the right structure for `checkpoint.restore`."""
    return init_state(MODEL, OPT, DATA[0].shape[1:], jax.random.key(0))


def _freeze(marker: str) -> None:
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(600)  # the parent SIGKILLs us here


def _install(directory: str, marker: str, point: str) -> None:
    final = os.path.join(directory, str(KILL_STEP))
    tmp = final + ".orbax-checkpoint-tmp"
    if point in ("written", "commit"):
        rename = os.rename

        def hooked_rename(src, dst, *args, **kwargs):
            src, dst = os.fspath(src), os.fspath(dst)
            if point == "commit" and (src, dst) == (tmp, final):
                _freeze(marker)
            if point == "written" and os.path.dirname(src) == tmp:
                _freeze(marker)
            return rename(src, dst, *args, **kwargs)

        os.rename = hooked_rename
    elif point == "deleting":
        unlink, lock, done = os.unlink, threading.Lock(), [0]
        oldest = os.path.join(directory, str(KILL_STEP - KEEP * STEPS)) + os.sep

        def hooked_unlink(path, *args, dir_fd=None, **kwargs):
            full = os.fspath(path)
            if dir_fd is not None:  # shutil.rmtree unlinks names relative to a directory fd
                full = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), full)
            if full.startswith(oldest):
                with lock:
                    done[0] += 1
                    frozen = done[0] > 2
                if frozen:  # every deleter thread stops here: exactly two files are gone
                    _freeze(marker)
            return unlink(path, *args, dir_fd=dir_fd, **kwargs)

        os.unlink = hooked_unlink
    else:
        raise SystemExit(f"unknown point {point!r}; one of {POINTS}")


if __name__ == "__main__":
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    _install(*sys.argv[1:4])
    train(sys.argv[1])
    sys.exit(f"the save of step {KILL_STEP} never reached {sys.argv[3]!r}")
