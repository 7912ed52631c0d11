"""What makes a stored checkpoint intact, and the error and warning when one is not.

orbax (with OCDBT, its default) lays a step out as::

    <directory>/<step>/            renamed from <step>.orbax-checkpoint-tmp-<time> when complete
      commit_success.txt           the commit marker, written just before that rename
      _CHECKPOINT_METADATA         JSON: orbax's step metadata (item names, timestamps)
      jaxdl/metadata               JSON: jaxdl's record of the arrays (below)
      default/                     the item: the flat dict of arrays
        _METADATA                  JSON: the tree (leaf names, how each leaf is stored)
        manifest.ocdbt             the root of the OCDBT key-value store (CRC-32C checked)
        d/<hash>, ocdbt.process_0/ B-tree nodes (CRC-32C checked) and array chunks (NOT checked)

`save` stores, as the item `jaxdl`, every leaf's dtype, shape and CRC-32 (plus a CRC-32 of the
record itself); `restore` checks the step (`check_step`: the files above, then every array read
once, one at a time, a read error told by `describe`), reads the arrays through orbax and
compares them with the record (`verify`), so a flipped bit in array data, which tensorstore
returns as is, is found. The record is an
item of its own, not orbax's `custom_metadata`: orbax refuses a whole directory (even saving to
it) when a step's `_CHECKPOINT_METADATA` with custom metadata has a damaged key. A checkpoint
without the record (written by jaxdl before the record existed) gets every check but the
record's, and needs a readable `_CHECKPOINT_METADATA` to say it has no record.
"""

from __future__ import annotations

import errno
import json
import os
import re
import zlib
from typing import Any, Iterable

import numpy as np

MARKER = "commit_success.txt"  # orbax's commit marker
ITEM = "default"  # the item holding the arrays (orbax's name for a single item)
RECORD = "jaxdl"  # the item holding jaxdl's record, a JSON file <step>/jaxdl/metadata
FORMAT = 1  # the version of jaxdl's record


class CheckpointCorruptError(ValueError):
    """A stored checkpoint is damaged: a file truncated, corrupted, missing or not committed.

    A ValueError, so handlers of `restore`'s other errors still catch it. Raised by `restore`
    before anything is returned; its message names the directory, the step and the damage.

    Attributes:
      directory: the checkpoint directory.
      step: the damaged step (None when no step of the directory is intact).
      problem: what is wrong, in words.
    """

    def __init__(self, message: str, directory: str = "", step: int | None = None,
                 problem: str = ""):
        super().__init__(message)
        self.directory, self.step, self.problem = directory, step, problem


class CheckpointFallbackWarning(UserWarning):
    """`restore(..., fallback=True)` skipped damaged steps to load an older, intact one.

    Attributes:
      skipped: {step: what is wrong with it}, the newest first.
    """

    def __init__(self, message: str, skipped: dict[int, str] | None = None):
        super().__init__(message)
        self.skipped = dict(skipped or {})


def damaged(directory: str, step: int, problem: str) -> CheckpointCorruptError:
    """The error for step `step` of `directory`, damaged as `problem` says."""
    return CheckpointCorruptError(
        f"checkpoint.restore: {directory!r} step {step} is damaged: {problem}. Restore another "
        "step (checkpoint.steps lists them), or pass fallback=True to load the newest intact "
        "one", directory, step, problem)


def crc32(a: np.ndarray) -> int:
    """CRC-32 of an array's bytes in C order."""
    return zlib.crc32(np.ascontiguousarray(a).reshape(-1).view(np.uint8))


def _crc_of(body: dict) -> int:
    return zlib.crc32(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def record(flat: dict[str, np.ndarray]) -> dict:
    """jaxdl's record of the flat tree `flat`: every leaf's dtype, shape and CRC-32."""
    body = {"format": FORMAT,
            "leaves": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "crc32": crc32(v)}
                       for k, v in flat.items()}}
    return {**body, "crc32": _crc_of(body)}


def _read_json(path: str, name: str, fail) -> Any:
    """The JSON value in file `path` (shown as `name`), or `fail(problem)` raised."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise fail(f"the file {name} is missing") from None
    except (IsADirectoryError, NotADirectoryError):
        raise fail(f"{name} is not a file") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise fail(f"{name} ({len(raw)} bytes) is corrupted: byte {e.start} is not "
                   "UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise fail(f"{name} ({len(raw)} bytes) is truncated or corrupted: not valid JSON "
                   f"({e.msg}: byte {e.pos})") from None


def check_step(directory: str, step: int) -> dict | None:
    """Check step `step` of `directory` before orbax reads it: the commit marker, the record,
    the metadata, and every array of the store read once (`_scan`).

    Args:
      directory: the checkpoint directory.
      step: a step `steps(directory)` lists.

    Returns:
      The record's leaves ({name: {"dtype", "shape", "crc32"}}), or None for a checkpoint saved
      without the record.

    Raises:
      CheckpointCorruptError: naming the first problem found.
    """
    def fail(problem: str) -> CheckpointCorruptError:
        return damaged(directory, step, problem)

    where = os.path.join(directory, str(step))
    if not os.path.isdir(where):
        raise fail(f"{where!r} is not a directory")
    if not os.path.isfile(os.path.join(where, MARKER)):
        raise fail(f"it has no commit marker {MARKER} (orbax writes it last, just before the "
                   "directory gets its final name): the save did not finish, or the directory "
                   "was copied or moved only in part")
    if os.path.lexists(os.path.join(where, RECORD)):
        rec = _read_json(os.path.join(where, RECORD, "metadata"), f"{RECORD}/metadata", fail)
        leaves = _record_leaves(rec, fail)
    else:  # no record: a checkpoint saved without one, if orbax's metadata says so
        meta = _read_json(os.path.join(where, "_CHECKPOINT_METADATA"), "_CHECKPOINT_METADATA",
                          fail)
        handlers = meta.get("item_handlers") if isinstance(meta, dict) else None
        if not isinstance(handlers, dict):
            raise fail("_CHECKPOINT_METADATA has no item_handlers object")
        if RECORD in handlers:
            raise fail(f"its record {RECORD}/ (every leaf's dtype, shape and CRC-32) is missing")
        leaves = None
    item = os.path.join(where, ITEM)
    if not os.path.isdir(item):
        raise fail(f"its item directory {ITEM}/ is missing")
    tree = _read_json(os.path.join(item, "_METADATA"), f"{ITEM}/_METADATA", fail)
    if not isinstance(tree, dict) or not isinstance(tree.get("tree_metadata"), dict):
        raise fail(f"{ITEM}/_METADATA has no tree_metadata object")
    if tree.get("use_ocdbt", False) is True:
        if not os.path.isfile(os.path.join(item, "manifest.ocdbt")):
            raise fail(f"the file {ITEM}/manifest.ocdbt (the root of its array store) is missing")
        _scan(os.path.abspath(item), leaves or {}, tree.get("use_zarr3", False) is True, fail)
    return leaves


def _scan(item: str, names: Iterable[str], zarr3: bool, fail) -> None:
    """Read every array of the OCDBT store `item` once, one at a time and synchronously.

    orbax reads the arrays concurrently and, at the first error, closes its event loop while
    tensorstore still completes the other reads, whose callbacks then raise "Event loop is
    closed" as unraisable exceptions (noise on stderr, test failures under `-W error`). Read
    here first, any damage of the store is one clear error before orbax starts.
    """
    import tensorstore as ts

    base = {"driver": "ocdbt", "base": {"driver": "file", "path": item + os.sep}}
    meta = b"/zarr.json" if zarr3 else b"/.zarray"
    try:
        context = ts.Context()
        keys = ts.KvStore.open(base, context=context).result().list().result()
        listed = {k[:-len(meta)].decode() for k in keys if k.endswith(meta)}
        for name in sorted(listed | set(names)):
            spec = {"driver": "zarr3" if zarr3 else "zarr", "kvstore": {**base, "path": name + "/"}}
            ts.open(spec, open=True, context=context).result().read().result()
    except MemoryError:
        raise
    except Exception as e:  # tensorstore reports damage as ValueError (DATA_LOSS, ...)
        if "PERMISSION_DENIED" in str(e):  # not damage: the files cannot be opened
            raise PermissionError(errno.EACCES, f"checkpoint.restore: cannot read {item!r}: "
                                  f"{str(e).splitlines()[0][:300]}") from e
        raise fail(describe(e, os.path.dirname(item))) from None


def _record_leaves(rec: Any, fail) -> dict:
    """The leaves of jaxdl's record `rec`, once its own CRC-32 checks out."""
    body = {k: v for k, v in rec.items() if k != "crc32"} if isinstance(rec, dict) else None
    if body is None or rec.get("crc32") != _crc_of(body):
        raise fail(f"{RECORD}/metadata, jaxdl's record of the arrays, is corrupted: it does "
                   "not match its own CRC-32")
    if body.get("format") != FORMAT:
        raise ValueError(f"checkpoint.restore: the checkpoint was saved by a newer jaxdl (record "
                         f"format {body.get('format')!r}, this jaxdl reads {FORMAT}); update "
                         "jaxdl")
    return body["leaves"]


def describe(e: BaseException, where: str) -> str:
    """A short account of a tensorstore/orbax read error of step directory `where`: the kind of
    damage, the leaf and the file it names (relative to `where`)."""
    text = str(e).split(" [tensorstore_spec=")[0].splitlines()[0] if str(e) else ""
    kind = {"DATA_LOSS": "corrupted", "OUT_OF_RANGE": "truncated", "NOT_FOUND": "missing"}
    code = re.match(r"([A-Z_]+): ", text)
    leaf = re.search(r'Error reading "([^"]+)/[^"/]*"', text)
    files = [os.path.relpath(f, where) if f.startswith(where) else f
             for f in re.findall(r'local file "([^"]+)"', text)]
    if code is None and not files:
        return f"its arrays cannot be read ({type(e).__name__}: {text[:300]})"
    where_ = [f"leaf {leaf.group(1)}"] if leaf else []
    where_ += [f"file {files[-1]}"] if files else []
    head = f"array data {kind.get(code.group(1), 'unreadable') if code else 'unreadable'}"
    return f"{head} ({', '.join(where_)}): {text[:300]}"


def verify(directory: str, step: int, saved: Any, leaves: dict | None) -> None:
    """Check the arrays orbax read back against the record (when the checkpoint has one).

    Args:
      directory: the checkpoint directory.
      step: the step read.
      saved: what orbax returned: {leaf name: array}.
      leaves: `check_step`'s record, or None.

    Raises:
      CheckpointCorruptError: a leaf missing, added, or with other dtype, shape or bytes.
    """
    if not isinstance(saved, dict):
        raise damaged(directory, step, f"its item read back as {type(saved).__name__}, not the "
                      f"dict of arrays saved ({ITEM}/_METADATA is damaged)")
    if leaves is None:
        return
    missing = sorted(set(leaves) - set(saved))
    extra = sorted(set(saved) - set(leaves))
    if missing or extra:
        raise damaged(directory, step, f"the arrays read back are not those saved (missing "
                      f"{missing[:3]}, unexpected {extra[:3]}): {ITEM}/_METADATA is damaged")
    for name, want in leaves.items():
        got = np.asarray(saved[name])
        if [str(got.dtype), list(got.shape)] != [want["dtype"], want["shape"]]:
            raise damaged(directory, step, f"leaf {name} reads as {got.dtype}{list(got.shape)}, "
                          f"saved as {want['dtype']}{want['shape']}")
        if crc32(got) != want["crc32"]:
            raise damaged(directory, step, f"the bytes of leaf {name} ({got.dtype}"
                          f"{list(got.shape)}) do not match the CRC-32 recorded at save: its "
                          f"array data under {ITEM}/ is corrupted")
