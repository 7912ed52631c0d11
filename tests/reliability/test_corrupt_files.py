"""Damaged files fail clearly: checkpoints and the data loaders (hypothesis, derandomized).

Every mutated file (cut at any offset, a flipped bit, a header that claims more than is there,
garbage in place of a file, a file or directory missing) ends in the documented error or in a
correct result:
- a checkpoint: `CheckpointCorruptError` naming the directory and the step, or the state saved,
  bit for bit;
- an npz: a ValueError naming the file, or the arrays saved (zip members carry a CRC-32);
- an IDX pair: a ValueError naming the damaged file, or exactly what `_idx_reference` (an
  independent parser of the format, in this file) reads from the same bytes; IDX has no
  checksum, so a flipped data byte is a valid file with other values, and a file the reference
  reads must load.
Never another exception type, a hang (each call runs under LIMIT_S) or, for the loaders, memory
beyond MEMORY (tracemalloc's peak, which counts numpy's buffers even when their pages are never
touched). The named tests below cover each kind of checkpoint damage once, and the fallback to
the newest intact step.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import random
import shutil
import tempfile
import threading
import tracemalloc
import zipfile
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jaxdl import checkpoint, data
from jaxdl.checkpoint import CheckpointCorruptError, CheckpointFallbackWarning

from _trees import assert_trees_equal

LIMIT_S = 60  # a call still running after this is a hang (a restore takes ~0.05 s)
MEMORY = 8 << 20  # bytes a loader may allocate for the few-KiB files tried here
LOADER_EXAMPLES = 150  # mutated files per loader
CHECKPOINT_EXAMPLES = 40  # mutated checkpoints
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


def _within(fn, *args):
    """fn(*args) in a daemon thread: its value (or its exception, raised here), or a test failure
    when it is still running after LIMIT_S seconds."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the test below
            box["error"] = e

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(LIMIT_S)
    if worker.is_alive():
        pytest.fail(f"{fn.__name__} still running after {LIMIT_S} s: a hang")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _measured(fn, *args):
    """(outcome, peak bytes): outcome is ("ok", value) or ("error", ValueError)."""
    tracemalloc.start()
    try:
        outcome = ("ok", _within(fn, *args))
    except ValueError as e:
        outcome = ("error", e)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, peak


# --- mutations ----------------------------------------------------------------------------------
KINDS = ("flip", "cut", "garbage", "append", "empty")


@st.composite
def mutations(draw, kinds=KINDS):
    """One damage: ("flip", at, bit), ("cut", at) (keep the bytes before), ("garbage", seed) (as
    many random bytes), ("append", bytes), ("empty",), or an extra kind of `kinds` (its name
    alone). `at` seeds a uniform position in the file, so that the data, not only the few
    header bytes of small offsets, gets hit."""
    kind = draw(st.sampled_from(kinds))
    if kind in ("cut", "flip"):
        at = draw(st.integers(0, (1 << 32) - 1))
        return (kind, at, draw(st.integers(0, 7))) if kind == "flip" else (kind, at)
    if kind == "append":
        return kind, draw(st.binary(min_size=1, max_size=64))
    if kind == "garbage":
        return kind, draw(st.integers(0, 1 << 30))
    return (kind,)


def _mutate(raw: bytes, mutation: tuple) -> bytes:
    kind, *args = mutation
    if kind in ("cut", "flip") and raw:
        at = random.Random(args[0]).randrange(len(raw))
        if kind == "cut":
            return raw[:at]
        b = bytearray(raw)
        b[at] ^= 1 << args[1]
        return bytes(b)
    if kind == "append":
        return raw + args[0]
    if kind == "garbage":
        return random.Random(args[0]).randbytes(len(raw))
    return b"" if kind in ("cut", "empty") else raw


# --- IDX ----------------------------------------------------------------------------------------
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _idx_bytes(type_byte: int, dims: tuple, payload: bytes) -> bytes:
    return bytes([0, 0, type_byte, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) \
        + payload


def _idx_reference(raw: bytes, ndim: int) -> np.ndarray | None:
    """The array in IDX bytes `raw` (plain or gzip) by the format's definition, or None."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            return None
    if len(raw) < 4 + 4 * ndim or raw[:2] != b"\x00\x00" or raw[2] not in IDX_TYPES \
            or raw[3] != ndim:
        return None
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(IDX_TYPES[raw[2]])
    body = raw[4 + 4 * ndim:]
    if len(body) != math.prod(dims) * dtype.itemsize:
        return None
    return np.frombuffer(body, dtype).reshape(dims)


@st.composite
def idx_pairs(draw):
    """(images, labels) IDX bytes of a valid pair, and which file to damage and how."""
    n, rows, cols = draw(st.integers(0, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    t = draw(st.sampled_from(sorted(IDX_TYPES)))
    size = n * rows * cols * np.dtype(IDX_TYPES[t]).itemsize
    images = _idx_bytes(t, (n, rows, cols), draw(st.binary(min_size=size, max_size=size)))
    labels = _idx_bytes(0x08, (n,), draw(st.binary(min_size=n, max_size=n)))
    which = draw(st.sampled_from(["images", "labels"]))
    layer = draw(st.sampled_from(["plain", "gzip: inside", "gzip: the stream"]))
    mutation = draw(mutations(KINDS + ("dim", "ndim")))
    if mutation[0] == "dim":  # a header that claims a dimension of up to 2^32 - 1
        mutation = ("dim", draw(st.integers(0, 2)), draw(st.sampled_from(
            [(1 << 32) - 1, 1 << 31, 65536])) if draw(st.booleans()) else draw(
                st.integers(0, (1 << 32) - 1)))
    elif mutation[0] == "ndim":
        mutation = ("ndim", draw(st.integers(0, 255)))
    return images, labels, which, layer, mutation


def _damage_idx(raw: bytes, layer: str, mutation: tuple) -> bytes:
    if mutation[0] == "dim":  # a header that claims a dimension up to 2^32 - 1
        ndim = raw[3]
        i = 4 + 4 * (mutation[1] % ndim)
        inner = raw[:i] + mutation[2].to_bytes(4, "big") + raw[i + 4:]
    elif mutation[0] == "ndim":
        inner = raw[:3] + bytes([mutation[1]]) + raw[4:]
    else:
        inner = _mutate(raw, mutation) if layer != "gzip: the stream" else raw
    if layer == "plain":
        return inner
    packed = gzip.compress(inner, mtime=0)
    if layer == "gzip: the stream" and mutation[0] not in ("dim", "ndim"):
        return _mutate(packed, mutation)
    return packed


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("corrupt")


@settings(max_examples=LOADER_EXAMPLES, **SETTINGS)
@given(case=idx_pairs())
def test_a_mutated_idx_file_loads_as_its_bytes_say_or_fails_by_name(scratch, case):
    images, labels, which, layer, mutation = case
    files = {"images": images, "labels": labels}
    files[which] = _damage_idx(files[which], layer, mutation)
    paths = {k: str(scratch / f"{k}.idx") for k in files}
    for k, raw in files.items():
        with open(paths[k], "wb") as f:
            f.write(raw)
    x_ref, y_ref = _idx_reference(files["images"], 3), _idx_reference(files["labels"], 1)
    (kind, value), peak = _measured(data.load_idx, paths["images"], paths["labels"])
    assert peak < MEMORY, (peak, case)
    event(f"{layer}, {mutation[0]}: {kind}")
    if x_ref is None or y_ref is None or len(x_ref) != len(y_ref):
        assert kind == "error", ("loaded a file the format rejects", case)
        bad = [paths[k] for k, r in (("images", x_ref), ("labels", y_ref)) if r is None]
        assert str(value).startswith("load_idx: ")
        assert all(repr(p) in str(value) for p in (bad or paths.values())), (str(value), case)
        return
    assert kind == "ok", (f"refused a valid file: {value}", case)
    x, y = value
    scaled = x_ref / 255.0 if x_ref.dtype == np.uint8 else x_ref
    np.testing.assert_array_equal(np.asarray(x), np.asarray(scaled, np.float32)[..., None])
    np.testing.assert_array_equal(np.asarray(y), y_ref.astype(np.int32))


# --- npz ----------------------------------------------------------------------------------------
@st.composite
def npz_files(draw):
    """(npz bytes, the arrays saved by key, how to damage it)."""
    n = draw(st.integers(1, 4))
    shape = (n,) + tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    x_dtype = draw(st.sampled_from(["float32", "float64", "uint8", "int16", "bool"]))
    y_dtype = draw(st.sampled_from(["int64", "uint8", "float32"]))
    seed = draw(st.integers(0, 1 << 30))
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=shape) * 50).astype(x_dtype)
    y = rng.integers(0, 9, n).astype(y_dtype)
    arrays = {"x": x, "y": y} if draw(st.booleans()) else {
        "x_train": x, "y_train": y, "x_test": x[:1], "y_test": y[:1]}
    buf = io.BytesIO()
    (np.savez_compressed if draw(st.booleans()) else np.savez)(buf, **arrays)
    mutation = draw(mutations(KINDS + ("claim", "pickle", "rename")))
    if mutation[0] == "claim":  # the first array's header claims more rows than it holds
        mutation = ("claim", draw(st.integers(2, (1 << 62) - 1)))
    elif mutation[0] == "rename":
        mutation = ("rename", draw(st.sampled_from(["z", "x_val", "inputs"])))
    return buf.getvalue(), arrays, mutation


def _rebuilt(raw: bytes, mutation: tuple) -> bytes:
    """The zip `raw` rewritten (a valid zip, CRCs recomputed) with its first member changed: its
    .npy header claiming `mutation[1]` times the rows there, an object (pickled) array, or
    another name."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w") as dst:
        for i, info in enumerate(src.infolist()):
            name, body = info.filename, src.read(info)
            if i == 0 and mutation[0] == "claim":
                member = io.BytesIO(body)
                np.lib.format.read_magic(member)
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(header, {
                    "shape": (mutation[1],) + shape, "fortran_order": fortran,
                    "descr": np.lib.format.dtype_to_descr(dtype)})
                body = header.getvalue() + body[member.tell():]
            elif i == 0 and mutation[0] == "pickle":
                member = io.BytesIO()
                np.lib.format.write_array(member, np.array([1, None], dtype=object),
                                          allow_pickle=True)
                body = member.getvalue()
            elif i == 0:
                name = mutation[1] + ".npy"
            dst.writestr(name, body)
    return out.getvalue()


@settings(max_examples=LOADER_EXAMPLES, **SETTINGS)
@given(case=npz_files())
def test_a_mutated_npz_loads_the_arrays_saved_or_fails_by_name(scratch, case):
    raw, arrays, mutation = case
    damaged = _rebuilt(raw, mutation) if mutation[0] in ("claim", "pickle", "rename") \
        else _mutate(raw, mutation)
    path = str(scratch / "file.npz")
    with open(path, "wb") as f:
        f.write(damaged)
    (kind, value), peak = _measured(data.load_npz, path)
    assert peak < MEMORY, (peak, mutation)
    event(f"{mutation[0]}: {kind}")
    if kind == "error":
        assert str(value).startswith(f"load_npz: {path!r}"), str(value)
        return
    assert mutation[0] not in ("claim", "pickle", "rename"), ("accepted", mutation)
    (x, y), test = value
    got = {"x": x, "y": y} if test is None else {"x_train": x, "y_train": y, "x_test": test[0],
                                                   "y_test": test[1]}
    assert sorted(got) == sorted(arrays)
    for k, a in arrays.items():
        want = a.astype(np.float32) if k.startswith("x") or a.dtype.kind == "f" else \
            a.astype(np.int32)
        assert got[k].dtype == want.dtype
        np.testing.assert_array_equal(np.asarray(got[k]), want)


def test_an_npz_that_is_not_a_zip_or_holds_pickles_is_refused_by_name(tmp_path):
    (tmp_path / "text.npz").write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match=r"load_npz: '.*text\.npz' is not an \.npz file"):
        data.load_npz(tmp_path / "text.npz")
    raw = io.BytesIO()
    np.savez(raw, x=np.ones((2, 3)), y=np.arange(2))
    (tmp_path / "pickle.npz").write_bytes(_rebuilt(raw.getvalue(), ("pickle",)))
    with pytest.raises(ValueError, match=r"load_npz: '.*pickle\.npz': array 'x' holds pickled "
                                         r"Python objects"):
        data.load_npz(tmp_path / "pickle.npz")


# --- checkpoints --------------------------------------------------------------------------------
def _state(seed: int) -> dict:
    """A small state with the leaf kinds a TrainState has: a 12 KiB float32 array (stored out of
    OCDBT's B-tree nodes, in an array file nothing but the record checks), bfloat16, an int
    step and a PRNG key."""
    k = jax.random.key(seed)
    return {"params": {"w": jax.random.normal(k, (64, 48)),
                       "b": jnp.arange(3, dtype=jnp.bfloat16) + seed},
            "step": jnp.array(seed, jnp.int32), "key": jax.random.fold_in(k, 1)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A directory holding steps 1, 2 and 3 (state seeds 1, 2, 3)."""
    directory = tmp_path_factory.mktemp("saved") / "ck"
    for s in (1, 2, 3):
        checkpoint.save(directory, _state(s), step=s)
    return directory


def _copy(saved, tmp) -> str:
    return shutil.copytree(saved, os.path.join(tmp, "ck"))


def _files(step_dir: str) -> list[str]:
    """Every file and directory under `step_dir`, relative to it, sorted."""
    out = []
    for root, dirs, files in os.walk(step_dir):
        out += [os.path.relpath(os.path.join(root, n), step_dir) for n in dirs + files]
    return sorted(out)


@settings(max_examples=CHECKPOINT_EXAMPLES, **SETTINGS)
@given(target=st.integers(0, 1 << 20), mutation=mutations(KINDS + ("delete",)))
def test_a_mutated_checkpoint_restores_bit_for_bit_or_fails_naming_directory_and_step(
        saved, target, mutation):
    with tempfile.TemporaryDirectory() as tmp:
        directory = _copy(saved, tmp)
        step_dir = os.path.join(directory, "3")
        names = _files(step_dir)
        name = names[target % len(names)]
        path = os.path.join(step_dir, name)
        if mutation[0] == "delete":
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        elif os.path.isfile(path):
            with open(path, "rb") as f:
                raw = f.read()
            with open(path, "wb") as f:
                f.write(_mutate(raw, mutation))
        else:  # a directory: garbage in its place
            shutil.rmtree(path)
            with open(path, "wb") as f:
                f.write(_mutate(b"not a directory", mutation))
        event(f"{name.split(os.sep)[0]}, {mutation[0]}")
        try:
            restored = _within(checkpoint.restore, directory, _state(0))
        except CheckpointCorruptError as e:
            event("CheckpointCorruptError")
            assert f"{directory!r} step 3 is damaged" in str(e), (name, mutation, str(e))
            assert e.step == 3 and e.directory == directory
            return
        assert_trees_equal(restored, _state(3))


def _damage(directory, step: int, name: str, how) -> str:
    """Apply `how(bytes) -> bytes` to file `name` of step `step`; returns the damaged path."""
    path = os.path.join(directory, str(step), name)
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(how(raw))
    return path


def _restore_fails(directory, match: str) -> CheckpointCorruptError:
    with pytest.raises(CheckpointCorruptError, match=match) as err:
        checkpoint.restore(directory, _state(0))
    assert type(err.value) is CheckpointCorruptError and isinstance(err.value, ValueError)
    assert err.value.step == 3
    return err.value


def test_truncated_metadata_is_a_clear_error_not_a_json_error(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    _damage(directory, 3, "default/_METADATA", lambda raw: raw[:len(raw) // 2])
    _restore_fails(directory, r"checkpoint\.restore: '.*ck' step 3 is damaged: default/_METADATA"
                              r" \(\d+ bytes\) is truncated or corrupted: not valid JSON")


def test_one_flipped_byte_in_metadata_is_a_clear_error_not_a_unicode_error(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    _damage(directory, 3, "default/_METADATA", lambda raw: bytes([raw[0] ^ 0x80]) + raw[1:])
    _restore_fails(directory, r"step 3 is damaged: default/_METADATA \(\d+ bytes\) is corrupted: "
                              r"byte 0 is not UTF-8 text")


def test_a_missing_file_is_named(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    os.remove(os.path.join(directory, "3", "default", "manifest.ocdbt"))
    _restore_fails(directory, r"step 3 is damaged: the file default/manifest\.ocdbt .*is missing")


def _largest_array_file(directory, step: int) -> str:
    item = os.path.join(directory, str(step), "default")
    files = [os.path.join(r, n) for r, _, ns in os.walk(item) for n in ns
             if os.sep + "d" + os.sep in os.path.join(r, n)]
    return os.path.relpath(max(files, key=os.path.getsize), os.path.join(directory, str(step)))


def test_corrupted_array_data_is_found_by_the_saved_crc(saved, tmp_path):
    """tensorstore returns a flipped bit of an array chunk as is: the record finds it."""
    directory = _copy(saved, tmp_path)
    name = _largest_array_file(directory, 3)
    _damage(directory, 3, name, lambda raw: raw[:len(raw) // 2] + bytes([raw[len(raw) // 2] ^ 1])
            + raw[len(raw) // 2 + 1:])
    _restore_fails(directory, r"step 3 is damaged: the bytes of leaf params\.w \(float32\[64, 48\]"
                              r"\) do not match the CRC-32 recorded at save")


def test_truncated_array_data_is_named(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    name = _largest_array_file(directory, 3)
    _damage(directory, 3, name, lambda raw: raw[:len(raw) // 3])
    _restore_fails(directory, r"step 3 is damaged: array data truncated \(leaf params\.w, file "
                              r"default/?\)")


def test_a_step_without_its_commit_marker_is_not_restored(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    os.remove(os.path.join(directory, "3", "commit_success.txt"))
    assert checkpoint.steps(directory) == [1, 2, 3]
    _restore_fails(directory, r"step 3 is damaged: it has no commit marker commit_success\.txt")


def test_garbage_in_place_of_a_file_is_named(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    _damage(directory, 3, "default/manifest.ocdbt",
            lambda raw: random.Random(0).randbytes(len(raw)))
    _restore_fails(directory, r"step 3 is damaged: array data corrupted \(.*file "
                              r"default/manifest\.ocdbt\)")
    shutil.rmtree(os.path.join(directory, "3", "jaxdl"))
    (tmp_path / "ck" / "3" / "jaxdl").write_bytes(b"\x00garbage")
    _restore_fails(directory, r"step 3 is damaged: jaxdl/metadata is not a file")


def test_a_damaged_or_missing_record_is_named(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    record = json.loads((tmp_path / "ck" / "3" / "jaxdl" / "metadata").read_text())
    record["leaves"]["params.w"]["crc32"] ^= 1  # valid JSON, one bit off
    (tmp_path / "ck" / "3" / "jaxdl" / "metadata").write_text(json.dumps(record))
    _restore_fails(directory, r"step 3 is damaged: jaxdl/metadata, jaxdl's record of the arrays, "
                              r"is corrupted")
    shutil.rmtree(os.path.join(directory, "3", "jaxdl"))
    _restore_fails(directory, r"step 3 is damaged: its record jaxdl/ .* is missing")


def test_a_checkpoint_saved_without_the_record_restores_and_its_damage_is_still_named(tmp_path):
    """Written as jaxdl did before the record: orbax's single item, nothing else."""
    import orbax.checkpoint as ocp

    flat = {"params.w": np.arange(6, dtype=np.float32).reshape(2, 3), "step": np.int32(4)}
    options = ocp.CheckpointManagerOptions(enable_async_checkpointing=False)
    with ocp.CheckpointManager(str(tmp_path / "old"), options=options) as mgr:
        mgr.save(4, args=ocp.args.StandardSave(flat))
    like = {"params": {"w": jnp.zeros((2, 3))}, "step": jnp.int32(0)}
    restored = checkpoint.restore(tmp_path / "old", like)
    np.testing.assert_array_equal(restored["params"]["w"], flat["params.w"])
    path = os.path.join(tmp_path, "old", "4", "_CHECKPOINT_METADATA")
    with open(path, "r+b") as f:
        f.truncate(10)
    with pytest.raises(CheckpointCorruptError, match=r"'.*old' step 4 is damaged: "
                                                     r"_CHECKPOINT_METADATA \(10 bytes\)"):
        checkpoint.restore(tmp_path / "old", like)


def test_fallback_skips_the_damaged_newest_steps_and_names_them(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    _damage(directory, 3, "default/_METADATA", lambda raw: raw[:7])
    os.remove(os.path.join(directory, "2", "commit_success.txt"))
    _restore_fails(directory, r"step 3 is damaged")  # without fallback: the clear error
    with pytest.warns(CheckpointFallbackWarning, match=r"loading step 1 of '.*ck', skipping the "
                      r"damaged newer step\(s\) 3: default/_METADATA .*; 2: it has no commit "
                      r"marker") as caught:
        restored = checkpoint.restore(directory, _state(0), fallback=True)
    assert_trees_equal(restored, _state(1))
    assert list(caught[0].message.skipped) == [3, 2]


def test_fallback_without_an_intact_step_is_the_clear_error_naming_every_step(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    for s in (1, 2, 3):
        _damage(directory, s, "default/manifest.ocdbt", lambda raw: b"")
    with pytest.raises(CheckpointCorruptError, match=r"no intact checkpoint in '.*ck'; every step "
                       r"is damaged: step 3: .*; step 2: .*; step 1: .*manifest\.ocdbt") as err:
        checkpoint.restore(directory, _state(0), fallback=True)
    assert err.value.step is None


def test_fallback_on_intact_steps_and_on_another_structure_changes_nothing(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    assert_trees_equal(checkpoint.restore(directory, _state(0), fallback=True), _state(3))
    _damage(directory, 3, "default/_METADATA", lambda raw: raw[:7])
    other = {**_state(0), "extra": jnp.zeros(2)}
    with pytest.warns(CheckpointFallbackWarning), pytest.raises(
            ValueError, match=r"step 2 holds a different structure than `like`: missing \(1\): "
                              r"extra") as err:
        checkpoint.restore(directory, other, fallback=True)
    assert not isinstance(err.value, CheckpointCorruptError)
    with pytest.raises(ValueError, match=r"checkpoint\.restore: fallback=True .* needs step=None, "
                                         r"got step=2"):
        checkpoint.restore(directory, _state(0), step=2, fallback=True)
    with pytest.raises(TypeError, match=r"checkpoint\.restore: fallback must be a bool, got 'yes'"):
        checkpoint.restore(directory, _state(0), fallback="yes")


def test_damaged_old_checkpoints_never_block_saving_new_ones(saved, tmp_path):
    """orbax reads every step's _CHECKPOINT_METADATA when it opens a directory (and refuses an
    unknown key when custom metadata is present): the record lives in an item of its own."""
    directory = _copy(saved, tmp_path)
    _damage(directory, 2, "_CHECKPOINT_METADATA",
            lambda raw: raw.replace(b'"metrics"', b'"metrict"'))
    _damage(directory, 3, "default/_METADATA", lambda raw: raw[:7])
    assert checkpoint.steps(directory) == [1, 2, 3]
    checkpoint.save(directory, _state(4), step=4, keep=3)
    assert checkpoint.steps(directory) == [2, 3, 4]
    assert_trees_equal(checkpoint.restore(directory, _state(0)), _state(4))
    assert_trees_equal(checkpoint.restore(directory, _state(0), step=2), _state(2))
