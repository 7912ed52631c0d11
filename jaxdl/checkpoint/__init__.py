"""Checkpoints (orbax-checkpoint) of a TrainState, and freezing masks for fine-tuning.

`save` writes `directory/<step>/` through orbax's CheckpointManager, which writes into a temporary
directory `<step>.orbax-checkpoint-tmp` and renames it when complete, so a save that fails or is
killed never touches the previous checkpoints. A save that fails (read-only directory, full disk)
removes its temporary directory and raises an OSError (PermissionError, ...) naming the
directory, the step and the cause; a killed one leaves its temporary directory, which `steps` and
`restore` ignore and the next `save` deletes. The last `keep` are kept.
The tree is stored flat, one array per leaf keyed by its path ("params.0_dense.w"), PRNG keys as
their raw key data, so `restore(directory, like)` rebuilds `like`'s exact pytree structure (empty
dicts of stateless layers included) and checks every shape and dtype against it. `like` may be
abstract (`jax.ShapeDtypeStruct` leaves, orbax's "abstract target"): `abstract_state(model,
optimizer, input_shape)` gives the TrainState `fit` trains with `jax.eval_shape`, nothing
initialised, and mirrors `fit`'s `frozen` and `skip_nonfinite`, which wrap the optimizer and so
change its state's structure. A checkpoint whose optimizer state differs from `like`'s (another
optimizer, other wrappers) is a ValueError that says so.

A damaged checkpoint (truncated or corrupted metadata or array data, a missing file, a step
directory without its commit marker) is a `CheckpointCorruptError` (a ValueError) naming the
directory, the step and the damage: `save` records every leaf's dtype, shape and CRC-32 and
`restore` checks them before it returns anything. `restore(directory, like, fallback=True)`
loads the newest intact step instead, with a `CheckpointFallbackWarning` naming the steps it
skipped.

Several `jax.distributed` processes (a mesh over all of them, `fit(..., mesh=...)`): every
process calls `save` with the same replicated state and directory; orbax's multi-process
protocol has process 0 write it (arrays, record, metadata) while the others wait at barriers,
after the processes checked that they hold the same bits. `restore` reads in the calling process
alone (no barrier): `restore(..., mesh=mesh)` in each process puts the state back on the mesh,
and a single process (no `jax.distributed`) restores the same checkpoint into plain arrays.

The three fine-tuning states (fundamentals 000, transfer learning): predict only (`restore` then
`train.predict`); train only the last layer(s) (`fit(..., init=(params, state), frozen=[...])`:
frozen params get zero updates and their batch-norm state does not move); train everything from
restored params (`fit(..., init=(params, state))`).

Where each idea lives: `store.py` (`save`, `steps`), `integrity.py` (the stored layout, the
integrity record, `CheckpointCorruptError`, `CheckpointFallbackWarning`), `load.py` (`restore`),
`finetune.py` (`abstract_state`, `freeze_mask`, `layer_keys`), `callback.py`
(`checkpoint_callback`).
"""

from jaxdl.checkpoint.callback import checkpoint_callback
from jaxdl.checkpoint.finetune import abstract_state, freeze_mask, layer_keys
from jaxdl.checkpoint.integrity import CheckpointCorruptError, CheckpointFallbackWarning
from jaxdl.checkpoint.load import restore
from jaxdl.checkpoint.store import save, steps

__all__ = ["save", "restore", "steps", "abstract_state", "checkpoint_callback", "freeze_mask",
           "layer_keys", "CheckpointCorruptError", "CheckpointFallbackWarning"]
