"""A source of shuffled (x, y) batches read from arrays or `.npy` files that need not fit in memory.

`ArrayStream(x, y, batch_size, seed=0)` is a callable `epoch -> iterator of (x, y) NumPy
batches` for `fit(model, loss, optimizer, ArrayStream(...), ...)` (see `jaxdl.train.stream`):

    perm_e = numpy.random.default_rng([seed, e]).permutation(n // k)   (blocks of k = `block` rows)
    row order of epoch e = the rows of blocks perm_e[0], perm_e[1], ... (k consecutive rows each)
    global batch b of epoch e = rows [b B, (b + 1) B) of that order    (the last partial dropped)

so an epoch is a function of (seed, e) alone: a run resumed at epoch e reads exactly what an
uninterrupted one reads. `block=1` (the default) is a uniform permutation of the rows; a larger
block reads k consecutive rows at once (a file written in random order loses nothing by it) and
leaves the last n mod k rows out. With `shard=(i, count)` (default: this JAX process of
`jax.process_count()`), the stream yields rows `[i B / count, (i + 1) B / count)` of each global
batch: the processes together read each global batch once, each only its own part, which
`fit(..., mesh=)` assembles into the global batch.

Given paths of `.npy` files, rows are read with `os.pread`, one call per run of consecutive rows,
into the batch: nothing is memory-mapped, so the resident memory holds a few batches however
large the file (a memory map would not do: the kernel maps whole page-cache folios around every
touched row, and 512 random rows of a 2 GiB file mapped 800 MiB; the benchmark measures it).
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np

from jaxdl import checks

ArrayOrPath = Any  # an array (np.ndarray, np.memmap, ...) or the path of a .npy file


class NpyFile:
    """A C-ordered `.npy` file read by rows with `os.pread` (no memory map, no cache)."""

    def __init__(self, path: str | os.PathLike):
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                    np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(f)
            self.offset = f.tell()
        if fortran or dtype.hasobject:
            raise ValueError(f"ArrayStream: {path} must hold a C-ordered array without objects, "
                             f"got fortran_order={fortran}, dtype {dtype}")
        self.path, self.shape, self.dtype = os.fspath(path), tuple(shape), dtype
        self.row = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
        size = os.path.getsize(path)
        if size < self.offset + self.row * shape[0]:
            raise ValueError(f"ArrayStream: {path} is truncated: its header declares shape "
                             f"{shape} ({self.offset + self.row * shape[0]} bytes), the file has "
                             f"{size}")

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, fd: int, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` (in that order), one pread per run of consecutive rows."""
        starts = np.flatnonzero(np.r_[True, np.diff(rows) != 1])
        sizes = np.diff(np.r_[starts, len(rows)]) * self.row
        offsets = self.offset + rows[starts] * self.row
        pread = os.pread
        data = b"".join([pread(fd, n, o) for n, o in zip(sizes.tolist(), offsets.tolist())])
        if len(data) != len(rows) * self.row:
            raise ValueError(f"ArrayStream: {self.path} ended while reading rows {rows.min()}.."
                             f"{rows.max()}: the file was truncated after it was opened")
        return np.frombuffer(data, self.dtype).reshape(len(rows), *self.shape[1:])


def _open(a: ArrayOrPath) -> Any:
    return NpyFile(a) if isinstance(a, (str, os.PathLike)) else a


class ArrayStream:
    """Shuffled batches of (x, y) arrays or `.npy` files, one epoch per call (module docstring).

    Args:
      x: (n, ...) inputs: an array or a `.npy` path, or a tuple of them (several inputs).
      y: (n, ...) targets: an array or a `.npy` path.
      batch_size: the global batch size B (all processes together).
      seed: the shuffling seed.
      shuffle: False reads the rows in order every epoch.
      shard: (index, count) of this reader; None: (`jax.process_index()`,
        `jax.process_count()`). B must be a multiple of count.
      block: rows read together (consecutive in the file); 1: a uniform row permutation.
    """

    def __init__(self, x: ArrayOrPath | tuple, y: ArrayOrPath, batch_size: int, *,
                 seed: int = 0, shuffle: bool = True, shard: tuple[int, int] | None = None,
                 block: int = 1):
        owner = "ArrayStream"
        self.x, self.y = x, y
        xs = x if isinstance(x, tuple) else (x,)
        shapes = [np.shape(_open(a)) for a in (*xs, y)]
        if any(len(s) == 0 for s in shapes):
            raise ValueError(f"{owner}: x and y need a leading example axis, got shapes {shapes}")
        n = {s[0] for s in shapes}
        if len(n) != 1:
            raise ValueError(f"{owner}: x and y must have the same number of examples, got "
                             f"shapes {shapes}")
        self.n = n.pop()
        self.batch_size = checks.positive_int(batch_size, "batch_size", owner)
        if self.batch_size > self.n:
            raise ValueError(f"{owner}: batch_size must be <= the {self.n} examples, got "
                             f"{batch_size}")
        if shard is None:
            import jax

            shard = (jax.process_index(), jax.process_count())
        index, count = shard
        count = checks.positive_int(count, "shard count", owner)
        if not 0 <= index < count or self.batch_size % count:
            raise ValueError(f"{owner}: shard must be (index, count) with 0 <= index < count and "
                             f"batch_size a multiple of count, got shard={shard} with batch_size="
                             f"{batch_size}")
        self.shard, self.seed, self.shuffle = (index, count), int(seed), bool(shuffle)
        self.block = checks.positive_int(block, "block", owner)
        if self.block > self.n // self.batch_size * self.batch_size:
            raise ValueError(f"{owner}: block must be at most the rows of an epoch, got {block}")

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.n // self.block * self.block // self.batch_size

    def order(self, epoch: int) -> np.ndarray:
        """Epoch `epoch`'s block order (n // block,), int64."""
        blocks = self.n // self.block
        if not self.shuffle:
            return np.arange(blocks)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(blocks)

    def rows(self, order: np.ndarray, batch: int) -> np.ndarray:
        """This reader's rows of global batch `batch` of the epoch with block order `order`."""
        index, count = self.shard
        local = self.batch_size // count
        pos = batch * self.batch_size + index * local + np.arange(local)
        return order[pos // self.block] * self.block + pos % self.block

    def __call__(self, epoch: int, close=os.close) -> Iterator[tuple[Any, np.ndarray]]:
        order = self.order(epoch)
        xs = tuple(_open(a) for a in self.x) if isinstance(self.x, tuple) else (_open(self.x),)
        sources = (*xs, _open(self.y))
        fds = {id(a): os.open(a.path, os.O_RDONLY) for a in sources if isinstance(a, NpyFile)}
        try:
            for b in range(len(self)):
                rows = self.rows(order, b)
                got = [a.take(fds[id(a)], rows) if isinstance(a, NpyFile) else np.asarray(a[rows])
                       for a in sources]
                yield (tuple(got[:-1]) if isinstance(self.x, tuple) else got[0]), got[-1]
        finally:
            for fd in fds.values():
                close(fd)

    def __repr__(self) -> str:
        return (f"ArrayStream(n={self.n}, batch_size={self.batch_size}, seed={self.seed}, "
                f"shuffle={self.shuffle}, shard={self.shard}, block={self.block})")


__all__ = ["ArrayStream", "NpyFile"]
