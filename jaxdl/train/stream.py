"""Training from a stream of batches: data larger than memory, read by a loader.

`fit(model, loss, optimizer, source, ...)` takes, instead of an (x, y) pair of arrays, a source
of (x, y) NumPy batches (x an array, or a tuple of arrays for a model with several inputs):

- a callable `source(epoch) -> iterable of batches`: epoch e's batches, e.g.
  `lambda e: grain.MapDataset.source(src).shuffle(seed=e).batch(b, drop_remainder=True)` or a
  `jaxdl.data.streaming.ArrayStream`. The resumable form: a resumed run reads `source(e)` from
  the epoch it resumes at, so it equals an uninterrupted one when `source(e)` is a function of e.
- a re-iterable (a list, a grain `MapDataset`/`IterDataset`): `iter(source)` once per epoch.
- an iterator (a generator, a grain `DatasetIterator`): one pass that continues across epochs;
  `steps_per_epoch` says where an epoch ends.

An epoch is `steps_per_epoch` batches (default: `len(source)` when it has one, else what epoch 0
yields). The host groups them into chunks of `chunk` batches, stacked to (chunk, batch, ...), and
each chunk runs as one compiled `lax.scan` of the train step (`jaxdl.train.epoch.scan_steps`,
the step of the in-memory epoch, with the same per-step keys `fold_in(step key, s)`); the next
chunk is read, stacked and put on the devices by a background thread while the devices compute
(one chunk ahead). Chunk c's finiteness is read back after chunk c + 1 is dispatched; a chunk that
went non-finite is re-run guarded from its first state (it is deterministic) to find the step.
Nothing but two chunks is held, so memory is bounded by the chunk, not the data set.

With a `mesh` spanning several processes, each process's source yields only its own rows of each
global batch (e.g. `ArrayStream`'s process shard, grain's `ShardByJaxProcess`); the chunk's global
array is assembled with `jax.make_array_from_process_local_data`, sharded over the 'data' axis.

The loader position: epoch e, step s is global step `e * steps_per_epoch + s` of the TrainState,
which checkpoints hold; fit resumes at an epoch boundary (`step // steps_per_epoch`), where a
callable source restarts exactly.
"""

from __future__ import annotations

import itertools
import queue
import threading
from typing import Any, Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxdl import checks
from jaxdl.core import Layer
from jaxdl.data.batching import num_examples
from jaxdl.optim.base import GradientTransformation
from jaxdl.train.epoch import EpochConfig, epoch_logs, scan_outcome, scan_steps
from jaxdl.train.state import Loss, TrainState

Batches = Callable[[int], Iterator[Any]]  # epoch -> iterator of (x, y) batches


def is_stream(train: Any) -> bool:
    """True for a source of batches; False for an in-memory (x, y) pair (a tuple, or a list of
    2 whose y is an array) and for an array (not a pair: refused by the input checks)."""
    if hasattr(train, "shape") or isinstance(train, tuple) or (
            isinstance(train, list) and len(train) == 2 and hasattr(train[1], "shape")):
        return False
    return callable(train) or hasattr(train, "__iter__")


def epoch_batches(source: Any, owner: str) -> tuple[Batches, int | None]:
    """(epoch -> iterator of batches, `len(source)` or None); a one-pass iterator is the same
    iterator every epoch."""
    if isinstance(source, (str, bytes, dict)) or not is_stream(source):
        raise TypeError(f"{owner}: train must be an (x, y) pair of arrays or a source of (x, y) "
                        f"batches (a callable epoch -> batches, an iterable or an iterator), got "
                        f"{type(source).__name__}")
    size = len(source) if hasattr(source, "__len__") else None
    if callable(source) and not hasattr(source, "__iter__"):
        return lambda e: iter(source(e)), size
    if iter(source) is source:  # an iterator: one pass across epochs
        return lambda e: source, size
    return lambda e: iter(source), size


class Source:
    """A stream for `fit`, opened: its first batch read (to check the model and settings before
    anything compiles) and handed back as the first of its epoch.

    Attributes: batches (epoch -> iterator), steps (per epoch, or None until epoch 0 ends),
    chunk, first_batch, local_batch (this process's rows), global_batch, spec.
    """

    def __init__(self, source: Any, steps_per_epoch: int | None, chunk: int, resume: Any,
                 mesh: Any, batch_size: int | None, owner: str = "fit"):
        batches, size = epoch_batches(source, owner)
        if steps_per_epoch is not None:
            size = checks.positive_int(steps_per_epoch, "steps_per_epoch", owner)
        elif size == 0:
            raise ValueError(f"{owner}: the train source is empty (len 0)")
        self.steps, self.chunk = size, checks.positive_int(chunk, "chunk", owner)
        first = 0
        if resume is not None:
            if size is None:
                raise ValueError(f"{owner}: resuming from a source without len() needs "
                                 "steps_per_epoch= (the batches per epoch of the run that saved "
                                 "the state)")
            first = int(resume.step) // size
        it = batches(first)
        batch = next(it, None)
        if batch is None:
            raise ValueError(f"{owner}: the train source yielded no batch for epoch {first}")
        self.first_batch = check_batch(batch, None, first, 0, owner)
        self.spec = _spec(self.first_batch)
        self.local_batch = num_examples(self.first_batch[0])
        processes = 1 if mesh is None else len({d.process_index for d in mesh.devices.flat})
        self.global_batch = self.local_batch * processes
        if batch_size is not None and batch_size != self.global_batch:
            raise ValueError(f"{owner}: batch_size must be the source's batch size "
                             f"{self.global_batch} ({self.local_batch} rows per batch x "
                             f"{processes} processes) or None, got {batch_size}")
        if mesh is not None:
            from jaxdl.data_parallel import batch_sharding

            try:
                batch_sharding(mesh, self.global_batch, owner)
            except ValueError as err:
                raise ValueError(f"{owner}: the train source's batch at epoch {first}, step 0 "
                                 f"({self.local_batch} rows x {processes} processes) cannot be "
                                 f"sharded: {err}") from None
        head = {first: itertools.chain([self.first_batch], it)}
        self.batches = lambda e: head.pop(e) if e in head else batches(e)


def _spec(batch: Any) -> tuple[Any, list[tuple[tuple[int, ...], np.dtype]]]:
    """(the batch's tree structure, [(shape, dtype) of each array])."""
    leaves, tree = jax.tree.flatten(batch)
    return tree, [(tuple(np.shape(a)), np.asarray(a).dtype if not hasattr(a, "dtype") else
                   np.dtype(a.dtype)) for a in leaves]


def _describe(spec: Any) -> str:
    return ", ".join(f"{shape} {dtype}" for shape, dtype in spec[1])


def check_batch(batch: Any, spec: Any, epoch: int, step: int, owner: str) -> Any:
    """`batch` as an (x, y) tuple with the shapes and dtypes of `spec` (the first batch's), or
    a ValueError/TypeError naming the epoch and the step."""
    where = f"{owner}: the train source's batch at epoch {epoch}, step {step}"
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(f"{where} must be an (x, y) pair, got {type(batch).__name__}")
    batch = (batch[0] if not isinstance(batch[0], list) else tuple(batch[0]), batch[1])
    if spec is not None and _spec(batch) != spec:
        raise ValueError(f"{where} has (x, y) of shapes and dtypes [{_describe(_spec(batch))}], "
                         f"the first batch had [{_describe(spec)}]; every batch must have the "
                         "same shapes and dtypes (drop a last partial batch: drop_remainder=True)")
    return batch


class _End:
    """The end of an epoch's batches, after `count` of them."""

    def __init__(self, count: int):
        self.count = count


class Chunks:
    """Chunks of `chunk` batches of one epoch, (first step, x (k, batch, ...), y (k, batch, ...))
    on the devices, read and placed by a background thread one chunk ahead of the consumer."""

    def __init__(self, batches: Iterator[Any], epoch: int, steps: int | None, chunk: int,
                 spec: Any, place: Callable[[Any], Any], owner: str):
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self.count = 0
        args = (batches, epoch, steps, chunk, spec, place, owner)
        self._thread = threading.Thread(target=self._read, args=args, daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self, batches, epoch, steps, chunk, spec, place, owner) -> None:
        try:
            s, first, buf = 0, 0, []
            for batch in batches if steps is None else itertools.islice(batches, steps):
                buf.append(check_batch(batch, spec, epoch, s, owner))
                s += 1
                if len(buf) == chunk:
                    stacked = jax.tree.map(lambda *a: np.stack(a), *buf)
                    if not self._put((first, place(stacked))):
                        return
                    first, buf = s, []
            if buf:
                if not self._put((first, place(jax.tree.map(lambda *a: np.stack(a), *buf)))):
                    return
            self._put(_End(s))
        except BaseException as err:  # handed to the consumer, raised there
            self._put(err)

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        while True:
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, _End):
                self.count = item.count
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def placer(mesh: jax.sharding.Mesh | None) -> Callable[[Any], Any]:
    """Host chunk -> device arrays: on the default device, or sharded over the mesh's 'data'
    axis on the batch axis (axis 1); with several processes each passes its own rows of each
    global batch (`jax.make_array_from_process_local_data`)."""
    if mesh is None:
        return jax.device_put
    sharding = NamedSharding(mesh, P(None, "data"))
    if jax.process_count() == 1:
        return lambda tree: jax.device_put(tree, sharding)

    def place(tree):
        def one(a):
            shape = (a.shape[0], a.shape[1] * jax.process_count(), *a.shape[2:])
            return jax.make_array_from_process_local_data(sharding, a, shape)
        return jax.tree.map(one, tree)

    return place


def run_chunk(model: Layer, loss: Loss, optimizer: GradientTransformation, config: EpochConfig,
              ts: TrainState, epoch: jax.Array, first_step: jax.Array, xs: Any, ys: jax.Array
              ) -> tuple[TrainState, dict[str, jax.Array], dict[str, jax.Array]]:
    """Steps `first_step ..` of an epoch on the stacked batches (xs, ys): (ts, the kept steps'
    `step_sums`, info {"bad", "kept", "skipped", "finite_state"}) as in `run_epoch`."""
    _, step_key = jax.random.split(jax.random.fold_in(ts.key, epoch))
    k = ys.shape[0]
    ts, bad, ms = scan_steps(model, loss, optimizer, config, ts,
                             lambda i: (jax.tree.map(lambda a: a[i], xs), ys[i]), k, step_key,
                             first_step)
    sums, _, info = scan_outcome(config, ts, ms, bad, first_step + jnp.arange(k, dtype=jnp.int32))
    return ts, sums, info


chunk_program = jax.jit(run_chunk, static_argnums=(0, 1, 2, 3))
logs_program = jax.jit(epoch_logs, static_argnums=(0, 1, 2, 3))


def stream_epochs(model: Layer, loss: Loss, optimizer: GradientTransformation,
                  config: EpochConfig, ts: TrainState, batches: Batches, first: int, last: int,
                  steps: int | None, chunk: int, spec: Any, place: Callable[[Any], Any],
                  val: tuple[Any, Any], check: bool, owner: str
                  ) -> Iterator[tuple[int, TrainState, dict, dict]]:
    """Yield (epoch, ts, logs, info) on the host for epochs first .. last - 1, as
    `jaxdl.train.epoch.dispatched` does for in-memory data; info["steps"] is the epoch's batch
    count. A state sent in (`gen.send(ts)`) replaces the one the next epoch starts from."""
    from jaxdl.data_parallel import to_host

    def run(safe, ts, e, s0, xs, ys):
        return chunk_program(model, loss, optimizer, config._replace(safe=safe), ts, e,
                             np.int32(s0), xs, ys)

    for epoch in range(first, last):
        e = np.int32(epoch)
        chunks = Chunks(batches(epoch), epoch, steps, chunk, spec, place, owner)
        sums, kept, skipped, pending, failed = None, 0, 0, None, None
        try:
            for s0, (xs, ys) in chunks:
                new, part, info = run(False, ts, e, s0, xs, ys)
                if pending is not None:
                    failed = _verify(pending, run, e, check, to_host)
                    if failed is not None:
                        break
                pending = (ts, s0, xs, ys, info)
                sums = part if sums is None else jax.tree.map(jnp.add, sums, part)
                kept, skipped = kept + info["kept"], skipped + info["skipped"]
                ts = new
            if failed is None and pending is not None:
                failed = _verify(pending, run, e, check, to_host)
        finally:
            chunks.close()
        if failed is not None:  # the guarded re-run's last finite state, and where it broke
            yield epoch, failed[0], {}, to_host(failed[1])
            return
        if pending is None:
            raise ValueError(f"{owner}: the train source yielded no batch for epoch {epoch}")
        if steps is None:
            steps = chunks.count
        elif chunks.count != steps:
            raise ValueError(
                f"{owner}: the train source ended early: {chunks.count} batches in epoch "
                f"{epoch}, expected {steps} (steps_per_epoch, or len(source), or what epoch "
                f"{first} yielded); the TrainState after epoch {epoch - 1} is the last complete "
                "one")
        logs = logs_program(model, loss, optimizer, config, ts, sums, kept, *val)
        logs, info = to_host((logs, {"bad": np.int32(-1), "kept": kept, "skipped": skipped}))
        info["steps"] = steps
        replaced = yield epoch, ts, logs, info
        if replaced is not None:
            ts = replaced


def _verify(pending, run, e, check, to_host):
    """None when the chunk's steps and state stayed finite (or `check` is off); else the guarded
    re-run's (last finite state, info)."""
    ts0, s0, xs, ys, info = pending
    if not check:
        return None
    host = to_host(info)
    if host["bad"] < 0 and host["finite_state"]:
        return None
    safe_ts, _, safe_info = run(True, ts0, e, s0, xs, ys)
    if to_host(safe_info)["bad"] < 0:  # every step finite after all: keep the fast result
        return None
    return safe_ts, safe_info


__all__ = ["Source", "is_stream", "epoch_batches", "check_batch", "Chunks", "placer", "run_chunk",
           "stream_epochs"]
