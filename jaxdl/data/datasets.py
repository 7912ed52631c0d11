"""Data sets that ship offline, synthetic sets, loaders for the user's files, and `split`.

Every data set returns `(train, test)`, each an `(x, y)` pair of jax arrays: `x` float32, `y`
int32 class labels. Nothing here touches the network.

- `digits()`: scikit-learn's 1797 8x8 handwritten digits (shipped with scikit-learn).
- `mnist1d()`: the `mnist1d` package's generator with its default arguments (Greydanus 2020).
- `two_curves`, `spirals`: 2-D toy problems that a linear classifier cannot solve.
- `load_npz`, `load_idx`: the user's own `.npz` files and MNIST's IDX binary format.
- `split(x, y, *, val, test, key)`: train -> val -> test, stratified by class (fundamentals 000,
  3.3: choose on the validation split, report the test split once).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import math
import os
import random
import struct
import warnings
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import checks

Pair = tuple[jax.Array, jax.Array]


def _pair(x: np.ndarray, y: np.ndarray) -> Pair:
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)


def _split_indices(
    y: np.ndarray, val: float, test: float, perm: np.ndarray, stratify: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) indices, each sorted: per class (or overall) the first round(test * m)
    of the permutation go to test, the next round(val * m) to val, the rest to train."""
    groups = [perm[y[perm] == c] for c in np.unique(y)] if stratify else [perm]
    parts: tuple[list, list, list] = ([], [], [])
    for g in groups:
        n_test, n_val = int(round(test * len(g))), int(round(val * len(g)))
        parts[2].append(g[:n_test])
        parts[1].append(g[n_test:n_test + n_val])
        parts[0].append(g[n_test + n_val:])
    return tuple(np.sort(np.concatenate(p)).astype(np.int64) for p in parts)


def split(
    x: jax.Array,
    y: jax.Array,
    *,
    val: float = 0.1,
    test: float = 0.1,
    key: jax.Array,
    stratify: bool = True,
) -> tuple[Pair, Pair, Pair]:
    """Split `(x, y)` at random into disjoint train, validation and test pairs.

    With `stratify`, each class c with m_c examples gives round(test * m_c) to test and
    round(val * m_c) to val, so every split keeps the class ratios (totals may differ from
    round(test * n) by the rounding, at most one per class). Without it, round(test * n) and
    round(val * n) of one permutation. Each split keeps the original order of its examples;
    a fraction of 0 gives an empty pair.

    Args:
      x: (n, ...) inputs.
      y: (n,) labels (any values; stratification groups equal ones).
      val: fraction in [0, 1) with val + test < 1.
      test: fraction in [0, 1) with val + test < 1.
      key: PRNG key of the permutation.

    Returns:
      ((x_train, y_train), (x_val, y_val), (x_test, y_test)), jax arrays of x's and y's dtypes.
    """
    checks.in_range(val, "val", "split", 0.0, 1.0, high_open=True)
    checks.in_range(test, "test", "split", 0.0, 1.0, high_open=True)
    if val + test >= 1.0:
        raise ValueError(f"split: val + test must be < 1 to leave a training set, got "
                         f"val={val} + test={test} = {val + test}")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"split: x and y must have the same non-zero number of examples, got "
                         f"{len(x)} and {len(y)}")
    if stratify and y.ndim != 1:
        raise ValueError(f"split: stratify needs class labels y of shape (n,), got {y.shape}; "
                         "pass stratify=False for other targets")
    perm = np.asarray(jax.random.permutation(key, len(x)))
    parts = _split_indices(y, val, test, perm, stratify)
    tr, va, te = ((jnp.asarray(x[i]), jnp.asarray(y[i])) for i in parts)
    return tr, va, te


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images, data.target


def digits() -> tuple[Pair, Pair]:
    """scikit-learn's handwritten digits: 1797 images of 8x8 pixels with values 0..16, 10 classes.

    Split 80/20, stratified by class, with NumPy's frozen legacy `RandomState(0)` permutation, so
    the split is the same on every machine and version: 1438 train / 359 test examples.

    Returns:
      ((x_train, y_train), (x_test, y_test)): x (n, 8, 8, 1) float32 NHWC in [0, 1] (pixel / 16),
        y (n,) int32 in [0, 10).
    """
    images, target = _digits_arrays()
    perm = np.random.RandomState(0).permutation(len(target))
    train, _, test = _split_indices(target, 0.0, 0.2, perm, stratify=True)
    x = images[..., None] / 16.0
    return _pair(x[train], target[train]), _pair(x[test], target[test])


@functools.lru_cache(maxsize=1)
def _mnist1d_arrays() -> dict:
    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:  # make_dataset seeds NumPy's and Python's global generators: put them back afterwards
        return make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def mnist1d() -> tuple[Pair, Pair]:
    """MNIST-1D (Greydanus 2020): 10 digit templates as 1-D signals, randomly padded, translated,
    scaled, sheared and noised; generated (never downloaded) with the package defaults
    (5000 signals, seed 42, 80/20 split). The arrays are cached in memory after the first call.

    Returns:
      ((x_train, y_train), (x_test, y_test)): x (4000, 40) and (1000, 40) float32, y int32.
    """
    d = _mnist1d_arrays()
    return _pair(d["x"], d["y"]), _pair(d["x_test"], d["y_test"])


def _synthetic_sizes(n: int, n_test: int | None, noise: float, owner: str) -> tuple[int, int]:
    n = checks.positive_int(n, "n", owner)
    n_test = n if n_test is None else checks.positive_int(n_test, "n_test", owner)
    checks.in_range(noise, "noise", owner, 0.0)
    return n, n_test


def _two_curves(key: jax.Array, n: int, noise: float) -> Pair:
    k_t, k_e = jax.random.split(key)
    y = jnp.arange(n, dtype=jnp.int32) % 2
    t = jnp.pi * jax.random.uniform(k_t, (n,), jnp.float32)
    upper = jnp.stack([jnp.cos(t), jnp.sin(t)], axis=1)
    lower = jnp.stack([1.0 - jnp.cos(t), 0.5 - jnp.sin(t)], axis=1)
    x = jnp.where((y == 1)[:, None], lower, upper)
    return x + noise * jax.random.normal(k_e, (n, 2), jnp.float32), y


def two_curves(
    n: int, noise: float, key: jax.Array, *, n_test: int | None = None
) -> tuple[Pair, Pair]:
    """Two interleaved half circles ("moons"): not linearly separable.

    Class 0: (cos t, sin t); class 1: (1 - cos t, 1/2 - sin t); t ~ U[0, pi]; plus
    N(0, noise^2) on each coordinate. Labels alternate 0, 1, 0, ... (balanced for even n).

    Args:
      n: training examples.
      n_test: test examples (default n).
      noise: stddev >= 0.
      key: PRNG key (train and test use fold_in(key, 0) and fold_in(key, 1)).

    Returns:
      ((x_train, y_train), (x_test, y_test)): x (n, 2) float32, y (n,) int32 in {0, 1}.
    """
    n, n_test = _synthetic_sizes(n, n_test, noise, "two_curves")
    return (_two_curves(jax.random.fold_in(key, 0), n, noise),
            _two_curves(jax.random.fold_in(key, 1), n_test, noise))


def _spirals(key: jax.Array, n: int, classes: int, noise: float) -> Pair:
    k_r, k_e = jax.random.split(key)
    y = jnp.arange(n, dtype=jnp.int32) % classes
    r = jax.random.uniform(k_r, (n,), jnp.float32)
    theta = (2 * jnp.pi / classes) * y.astype(jnp.float32) + 4.0 * r
    x = jnp.stack([r * jnp.sin(theta), r * jnp.cos(theta)], axis=1)
    return x + noise * jax.random.normal(k_e, (n, 2), jnp.float32), y


def spirals(
    n: int, classes: int, noise: float, key: jax.Array, *, n_test: int | None = None
) -> tuple[Pair, Pair]:
    """`classes` interleaved spiral arms (the CS231n toy set).

    Arm k: radius r ~ U[0, 1], angle theta = 2 pi k / classes + 4 r; the point is
    (r sin theta, r cos theta) + N(0, noise^2). Labels cycle 0..classes-1 (balanced when classes
    divides n).

    Args:
      n: training examples.
      n_test: test examples (default n).
      classes: >= 2.
      noise: stddev >= 0.
      key: PRNG key (train and test use fold_in(key, 0) and fold_in(key, 1)).

    Returns:
      ((x_train, y_train), (x_test, y_test)): x (n, 2) float32, y (n,) int32 in [0, classes).
    """
    n, n_test = _synthetic_sizes(n, n_test, noise, "spirals")
    if checks.positive_int(classes, "classes", "spirals") < 2:
        raise ValueError(f"spirals: classes must be >= 2, got {classes}")
    return (_spirals(jax.random.fold_in(key, 0), n, classes, noise),
            _spirals(jax.random.fold_in(key, 1), n_test, classes, noise))


def _xy(x: np.ndarray, y: np.ndarray) -> Pair:
    y_dtype = jnp.int32 if np.issubdtype(y.dtype, np.integer) else jnp.float32
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, y_dtype)


_DEFLATE_MAX = 1032  # DEFLATE's largest expansion: 258 bytes from a 2-bit code, 1032 x its input
_CHUNK = 1 << 20  # read decompressed data in pieces of 1 MiB, never as much as a header claims
_MAX_NDIM = 32  # the most dimensions every NumPy (1.x and 2.x) supports


class _Refused(Exception):
    """A check of the loaders failed: its message becomes the ValueError (not a library's)."""


def _read_upto(f, n: int) -> bytes:
    """At most `n` bytes of `f`, read in pieces, so memory follows the data actually there."""
    chunks, left = [], n
    while left > 0:
        chunk = f.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _malformed(owner: str, where: str, what: str, e: Exception) -> None:
    """Raise the ValueError of `owner` for file `where` (part `what`): our check's words, or the
    library's error (a corrupt zip, gzip or .npy header) named as corruption."""
    if isinstance(e, MemoryError):
        raise e
    if isinstance(e, _Refused):
        raise ValueError(f"{owner}: {where!r}{what} {e}") from None
    raise ValueError(f"{owner}: {where!r}{what} is corrupt or truncated ({type(e).__name__}: "
                     f"{str(e)[:200]})") from e


def _npy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """The array in .npy member `info`, its header checked against the member's size first."""
    if info.flag_bits & 0x1:
        raise _Refused("is encrypted")
    ratio = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: _DEFLATE_MAX}.get(info.compress_type)
    if ratio is None:
        raise _Refused(f"uses zip compression method {info.compress_type}; numpy's savez and "
                       "savez_compressed write stored (0) or deflated (8) members")
    if info.file_size > ratio * info.compress_size:
        raise _Refused(f"declares {info.file_size} bytes, more than its {info.compress_size} "
                       "compressed bytes can hold")
    with zf.open(info) as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's note on headers written by Python 2
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise _Refused(f"is a .npy of format version {version}; load_npz reads 1.0 and 2.0")
        read = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
        shape, fortran, dtype = read(f)
        if dtype.hasobject:
            raise _Refused("holds pickled Python objects (dtype object): refused")
        if dtype.kind not in "biuf":
            raise _Refused(f"has dtype {dtype}; load_npz needs bool, int, uint or float arrays")
        if len(shape) > _MAX_NDIM or any(d < 0 for d in shape):
            raise _Refused(f"declares a shape of {len(shape)} dimensions (at most {_MAX_NDIM}) "
                           f"or a negative one: {shape[:8]}{'...' if len(shape) > 8 else ''}")
        need, holds = math.prod(shape) * dtype.itemsize, info.file_size - f.tell()
        if need != holds:
            raise _Refused(f"declares shape {shape} of {dtype} ({need} bytes) but holds {holds}")
        body = _read_upto(f, need)
        if len(body) != need or f.read(1):
            raise _Refused(f"holds {len(body)} bytes of data, not the {need} its header declares")
    return np.frombuffer(body, dtype).reshape(shape, order="F" if fortran else "C")


def load_npz(path: str | os.PathLike) -> tuple[Pair, Pair | None]:
    """Load a NumPy `.npz` file as `(train, test)`.

    Keys `x_train, y_train, x_test, y_test` give both pairs; keys `x, y` give `((x, y), None)`
    (make a test set with `split`). x becomes float32 as stored (no scaling); integer y becomes
    int32, other y float32. Only bool, int, uint and float arrays are read: pickled objects are
    refused. Every array's header is checked against its member's size before anything is
    allocated; a file that is not a zip, a truncated or corrupt member (its CRC-32 is checked)
    or missing keys raise a ValueError naming the file and the problem.

    Args:
      path: the `.npz` file (`np.savez` or `np.savez_compressed`).

    Returns:
      ((x, y), (x_test, y_test) or None): x float32, y int32 (integer labels) or float32.
    """
    where = os.fspath(path)
    with open(where, "rb") as fh:
        try:
            zf = zipfile.ZipFile(fh)
        except Exception as e:
            raise ValueError(f"load_npz: {where!r} is not an .npz file (a zip archive of .npy "
                             f"arrays): {type(e).__name__}: {str(e)[:200]}") from e
        with zf:
            members = {(i.filename[:-4] if i.filename.endswith(".npy") else i.filename): i
                       for i in zf.infolist()}
            for keys in (("x_train", "y_train", "x_test", "y_test"), ("x", "y")):
                if set(keys) <= set(members):
                    break
            else:
                raise ValueError(f"load_npz: {where!r} must hold keys x_train, y_train, x_test, "
                                 f"y_test or x, y; got {sorted(members)}")
            arrays = []
            for k in keys:
                try:
                    arrays.append(_npy_member(zf, members[k]))
                except Exception as e:
                    _malformed("load_npz", where, f": array {k!r}", e)
    pairs = [_xy(arrays[i], arrays[i + 1]) for i in range(0, len(arrays), 2)]
    return pairs[0], (pairs[1] if len(pairs) > 1 else None)


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _idx_array(f, size: int, gz: bool, ndim: int, role: str) -> np.ndarray:
    """The IDX array in stream `f`: the header is checked against the file's `size` (a gzip
    file's content is at most DEFLATE's 1032 x its size) before the data is read."""
    raw = _read_upto(f, 4)
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_TYPES:
        raise _Refused(f"is not an IDX file (magic 00 00 <type> <ndim>), got the bytes "
                       f"{raw[:4].hex(' ')}")
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    if raw[3] != ndim:
        raise _Refused(f"declares {raw[3]} dimensions; {role} need {ndim}")
    head = _read_upto(f, 4 * ndim)
    if len(head) < 4 * ndim:
        raise _Refused(f"is truncated: its header declares {ndim} dimensions ({4 + 4 * ndim} "
                       f"bytes) but ends after {4 + len(head)}")
    dims = struct.unpack(f">{ndim}I", head)
    need = math.prod(dims) * dtype.itemsize  # a Python int: no overflow
    declared = f"declares shape {dims} of {dtype} ({need} bytes)"
    if not gz and size - 4 - 4 * ndim != need:
        raise _Refused(f"{declared} but holds {size - 4 - 4 * ndim}")
    if gz and 4 + 4 * ndim + need > _DEFLATE_MAX * size:
        raise _Refused(f"{declared}: more than a gzip file of {size} bytes can hold (DEFLATE "
                       f"expands at most {_DEFLATE_MAX} x)")
    body = _read_upto(f, need)
    if len(body) < need or f.read(1):
        raise _Refused(f"{declared} but holds {'more' if len(body) == need else len(body)}")
    return np.frombuffer(body, dtype).reshape(dims)


def _read_idx(path: str | os.PathLike, ndim: int, role: str) -> np.ndarray:
    """The `ndim`-dimensional array of IDX file `path` (plain or gzip), or a ValueError."""
    where = os.fspath(path)
    with open(where, "rb") as fh:
        size, gz = os.fstat(fh.fileno()).st_size, fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        try:
            with gzip.GzipFile(fileobj=fh) if gz else contextlib.nullcontext(fh) as f:
                return _idx_array(f, size, gz, ndim, role)
        except Exception as e:
            _malformed("load_idx", where, " (gzip)" if gz else "", e)


def load_idx(images: str | os.PathLike, labels: str | os.PathLike) -> Pair:
    """Load MNIST's IDX binary format (plain or gzip): images and their labels.

    IDX layout: 2 zero bytes, a type byte (0x08 = uint8, ...), the number of dimensions, each
    dimension as a big-endian uint32, then the data in C order. The header is checked against
    the file's size before anything is allocated (a gzip file is decompressed in pieces, never
    beyond what its header declares); a malformed file (bad magic, other dimensions, a size
    that does not match, a corrupt or truncated gzip stream) raises a ValueError naming it.

    Args:
      images: the IDX file of images (n, rows, cols).
      labels: the IDX file of labels (n,).

    Returns:
      (x, y): x (n, rows, cols, 1) float32 NHWC (uint8 pixels scaled by 1/255 to [0, 1], other
        types as stored), y (n,) int32.
    """
    x, y = _read_idx(images, 3, "images"), _read_idx(labels, 1, "labels")
    if len(x) != len(y):
        raise ValueError(f"load_idx: {os.fspath(images)!r} and {os.fspath(labels)!r} must hold "
                         f"as many images as labels, got shapes {x.shape} and {y.shape}")
    x = x / 255.0 if x.dtype == np.uint8 else x
    return jnp.asarray(x[..., None], jnp.float32), jnp.asarray(y, jnp.int32)


__all__ = ["digits", "mnist1d", "two_curves", "spirals", "load_npz", "load_idx", "split", "Pair"]
