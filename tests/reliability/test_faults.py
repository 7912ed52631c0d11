"""Checkpoints survive faults: a `fit` process SIGKILLed inside a checkpoint save, a read-only
checkpoint directory, a full disk. After each, the previous checkpoint restores bit for bit,
nothing partial is visible to `checkpoint.steps` / `restore`, the error (when there is one) names
`checkpoint.save`, the directory and the cause, and training resumes to the same final state as
an uninterrupted run.

FAULTS lists every fault injected; the README's Guarantees section counts them.
"""

from __future__ import annotations

import builtins
import errno
import importlib.util
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from etils.epath import backend as epath_backend

from jaxdl import checkpoint

from _trees import assert_trees_equal

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("_fault_kill", os.path.join(HERE, "_fault_kill.py"))
K = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(K)  # the child's problem: same model, data, optimizer, key, saves

TMP = ".orbax-checkpoint-tmp"
FULL_DISK_FILES = ("_CHECKPOINT_METADATA", "_METADATA", "commit_success.txt")
FAULTS = ([f"SIGKILL inside a save of fit ({p})" for p in K.POINTS]
          + ["read-only directory", "read-only directory (kernel check, own process)"]
          + [f"full disk writing {f}" for f in FULL_DISK_FILES] + ["full disk inside fit",
          "file-size limit hit by tensorstore's array write (EFBIG, own process)"])




def _state(value: float):
    return {"w": np.full((16, 8), value, np.float32), "step": np.array(value, np.int32)}


@pytest.fixture(scope="module")
def reference():
    """(final TrainState, {step: TrainState after that epoch}) of the uninterrupted run."""
    seen = {}
    final, _ = K.train(callbacks=[lambda e, ts, logs: seen.__setitem__(int(ts.step), ts)])
    return final, seen


def _kill_inside_saves(base, meanwhile) -> dict:
    """{point: (checkpoint directory, exit status)} of one child per kill point, each SIGKILLed
    when its marker says it is frozen inside the save of step 12. The first child fills a
    persistent JAX compilation cache while this process runs `meanwhile()`, so the others,
    started together after it, skip compiling (2 s of CPU each instead of 5)."""
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(base / "jax-cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")
    procs, out = {}, {}

    def start(point):
        with open(base / f"{point}.log", "w") as log:
            procs[point] = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "_fault_kill.py"), str(base / point),
                 str(base / f"{point}.marker"), point], stdout=log, stderr=subprocess.STDOUT,
                env=env)

    def kill_when_frozen(point):
        proc, deadline = procs[point], time.monotonic() + 300
        while not (base / f"{point}.marker").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"child {point!r} did not reach its kill point (exit {proc.poll()}):"
                            "\n" + (base / f"{point}.log").read_text()[-3000:])
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        out[point] = (base / point, proc.wait())

    first, *rest = K.POINTS
    try:
        start(first)
        meanwhile()
        kill_when_frozen(first)
        for point in rest:
            start(point)
        for point in rest:
            kill_when_frozen(point)
        return out
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def test_a_fit_killed_inside_a_checkpoint_save_resumes_to_the_uninterrupted_result(
        tmp_path, request):
    """One test for the three kill points (so that xdist runs the children once)."""
    killed = _kill_inside_saves(tmp_path, lambda: request.getfixturevalue("reference"))
    final, seen = request.getfixturevalue("reference")
    for point, latest in [("written", 8), ("commit", 8), ("deleting", 12)]:
        directory, status = killed[point]
        assert status == -signal.SIGKILL, point
        names = os.listdir(directory)
        if point != "deleting":  # the killed save's partial write is there, but invisible
            assert f"{K.KILL_STEP}{TMP}" in names and str(K.KILL_STEP) not in names, point
        assert checkpoint.steps(directory)[-1] == latest, point
        restored = checkpoint.restore(directory, K.like())
        assert_trees_equal(restored, seen[latest])  # written by the child, bit for bit
        if point != "deleting":  # any later save (of another step here) deletes the partial
            spare = shutil.copytree(directory, tmp_path / f"{point}-spare")
            checkpoint.save(spare, restored, step=K.KILL_STEP + 1)
            kept = (K.KILL_STEP - 2 * K.STEPS, K.KILL_STEP - K.STEPS, K.KILL_STEP + 1)
            assert sorted(os.listdir(spare), key=int) == [str(s) for s in kept], point
        resumed, history = K.train(directory, init=restored)  # the restart
        assert len(history.train_loss) == K.EPOCHS - latest // K.STEPS, point
        assert_trees_equal(resumed, final)
        assert checkpoint.steps(directory) == [K.KILL_STEP, K.EPOCHS * K.STEPS], point
        assert not [n for n in os.listdir(directory) if TMP in n], point  # the partial is gone
        assert_trees_equal(checkpoint.restore(directory, K.like()), final)


def _denied(path) -> None:
    """Raise PermissionError if `path`'s directory has no write bit (as the kernel would for a
    user other than root)."""
    parent = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.stat(parent).st_mode & stat.S_IWUSR:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))


def _enforce_mode_bits(monkeypatch) -> None:
    """Root ignores mode bits: make every Python-side write (orbax creates, renames and deletes
    through `os` and writes files through etils.epath's `open`) check them."""
    for name in ("mkdir", "rename", "replace", "unlink", "remove", "rmdir"):
        real = getattr(os, name)

        def checked(path, *args, _real=real, _name=name, **kwargs):
            if not any(k.endswith("dir_fd") for k in kwargs):  # shutil.rmtree's fd-relative
                _denied(path)                                   # deletes: only after a save
                if _name in ("rename", "replace"):
                    _denied(args[0])
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, checked)

    def checked_open(path, mode="r", *args, **kwargs):
        if set(mode) & set("wax+"):
            _denied(path)
        return builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(epath_backend, "open", checked_open, raising=False)


def test_a_read_only_checkpoint_directory_gives_a_clear_error_and_keeps_the_previous(
        tmp_path, monkeypatch):
    directory = tmp_path / "ck"
    checkpoint.save(directory, _state(1.0), step=1)
    os.chmod(directory, 0o555)
    try:
        with monkeypatch.context() as patch:
            if os.geteuid() == 0:
                _enforce_mode_bits(patch)
            with pytest.raises(PermissionError, match=rf"checkpoint\.save: cannot write step 2 "
                               rf"to '{re.escape(str(directory))}': Permission denied"):
                checkpoint.save(directory, _state(2.0), step=2)
    finally:
        os.chmod(directory, 0o755)
    assert os.listdir(directory) == ["1"]
    assert checkpoint.steps(directory) == [1]
    assert_trees_equal(checkpoint.restore(directory, _state(0.0)), _state(1.0))
    checkpoint.save(directory, _state(2.0), step=2)  # writable again: saving works
    assert checkpoint.steps(directory) == [1, 2]


class _FullDisk:
    """A file whose writes fail as on a full disk (the open succeeded, as it does there)."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._f.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __getattr__(self, name):
        return getattr(self._f, name)


def _fill_disk_at(monkeypatch, directory, name: str) -> list[str]:
    """Make the write of every file called `name` under `directory` fail with ENOSPC (files are
    written through etils.epath's `open`; the arrays go through tensorstore, before _METADATA).
    Returns the list of files that failed."""
    failed = []

    def full_open(path, mode="r", *args, **kwargs):
        f = builtins.open(path, mode, *args, **kwargs)
        path = os.fspath(path)
        if "w" in mode and path.startswith(str(directory)) and os.path.basename(path) == name:
            failed.append(path)
            return _FullDisk(f)
        return f

    monkeypatch.setattr(epath_backend, "open", full_open, raising=False)
    return failed


@pytest.mark.parametrize("name", FULL_DISK_FILES)
def test_a_full_disk_midway_through_a_save_gives_a_clear_error_and_leaves_no_partial_checkpoint(
        tmp_path, monkeypatch, name):
    directory = tmp_path / "ck"
    checkpoint.save(directory, _state(1.0), step=1)
    with monkeypatch.context() as patch:
        failed = _fill_disk_at(patch, directory, name)
        with pytest.raises(OSError, match=rf"checkpoint\.save: cannot write step 2 to "
                           rf"'{re.escape(str(directory))}': No space left on device") as err:
            checkpoint.save(directory, _state(2.0), step=2)
    assert failed and all(f"2{TMP}" in f for f in failed)  # the fault hit the new save
    assert err.value.errno == errno.ENOSPC
    assert os.listdir(directory) == ["1"]  # the partial write was removed
    assert checkpoint.steps(directory) == [1]
    assert_trees_equal(checkpoint.restore(directory, _state(0.0)), _state(1.0))
    checkpoint.save(directory, _state(2.0), step=2)  # space again: saving works
    assert_trees_equal(checkpoint.restore(directory, _state(0.0)), _state(2.0))


def test_a_full_disk_during_fit_stops_it_and_the_restart_reaches_the_uninterrupted_result(
        tmp_path, monkeypatch, reference):
    final, seen = reference
    directory = tmp_path / "ck"
    with monkeypatch.context() as patch:
        _fill_disk_at(patch, directory / f"{K.KILL_STEP}{TMP}", "_METADATA")
        with pytest.raises(OSError, match=rf"cannot write step {K.KILL_STEP} .*No space left"):
            K.train(directory)
    assert checkpoint.steps(directory) == [K.KILL_STEP - 2 * K.STEPS, K.KILL_STEP - K.STEPS]
    restored = checkpoint.restore(directory, K.like())
    assert_trees_equal(restored, seen[K.KILL_STEP - K.STEPS])
    resumed, _ = K.train(directory, init=restored)
    assert_trees_equal(resumed, final)
    assert checkpoint.steps(directory) == [K.KILL_STEP, K.EPOCHS * K.STEPS]


def _unprivileged() -> list[str] | None:
    """A command prefix under which the kernel enforces mode bits: none for a user, setpriv
    dropping CAP_DAC_OVERRIDE for root; None when root cannot drop it."""
    if os.geteuid() != 0:
        return []
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    if shutil.which("setpriv") and subprocess.run(
            [*drop, "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
        return drop
    return None


@pytest.mark.parametrize("mode, code, cause", [
    ("quota", errno.EFBIG, "File too large"), ("readonly", errno.EACCES, "Permission denied")])
def test_a_write_refused_by_the_kernel_gives_a_clear_oserror_and_keeps_the_previous(
        tmp_path, mode, code, cause):
    """Real failures in a process of its own: the file-size limit (RLIMIT_FSIZE, as a quota) hit
    by tensorstore's C++ array write, which it reports as ValueError("...[os_error_code='27']"),
    and a read-only directory for a process without CAP_DAC_OVERRIDE."""
    prefix = [] if mode == "quota" else _unprivileged()
    if prefix is None:
        pytest.skip("root cannot drop CAP_DAC_OVERRIDE here (no setpriv); the read-only test "
                    "above checks the same error with the permission check emulated")
    directory = tmp_path / "ck"
    run = subprocess.run([*prefix, sys.executable, os.path.join(HERE, "_fault_write.py"),
                          str(directory), mode], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["errno"] == code and out["type"] == type(OSError(code, "")).__name__
    assert re.match(rf"\[Errno {code}\] checkpoint\.save: cannot write step 2 to "
                    rf"'{re.escape(str(directory))}': {cause}", out["message"])
    assert out["listing"] == ["1"] and out["steps"] == [1] and out["first_intact"]
    assert out["steps_after_retry"] == [1, 2] and out["second_intact"]
