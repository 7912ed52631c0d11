"""Child process of test_faults.py: real write failures from the kernel, in a process of its own.

    python _fault_write.py DIRECTORY MODE

Saves checkpoint 1 to DIRECTORY, makes the next write fail, tries to save checkpoint 2, lifts the
fault and saves checkpoint 2 again. MODE:

  quota     lowers the file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) below the size of one
            array file, so the kernel fails tensorstore's C++ write with EFBIG ("File too
            large"), as a disk quota would;
  readonly  chmod 0o555 on DIRECTORY (run it as a user without CAP_DAC_OVERRIDE: not as root,
            or as root under `setpriv --bounding-set=-dac_override,-dac_read_search`).

Prints one JSON line: the error's type, errno and message, the directory listing and
`checkpoint.steps` right after the failure, whether checkpoint 1 still restores exactly, and the
steps after the retry.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys

import numpy as np

from jaxdl import checkpoint

LIMIT = 16 * 1024  # bytes; the array of checkpoint 2 is 256 KiB of incompressible floats


@contextlib.contextmanager
def fault(directory: str, mode: str):
    if mode == "quota":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    elif mode == "readonly":
        os.chmod(directory, 0o555)
        try:
            yield
        finally:
            os.chmod(directory, 0o755)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


def main(directory: str, mode: str) -> dict:
    first = {"w": np.zeros((65536,), np.float32)}  # compresses to a few bytes
    second = {"w": np.random.default_rng(0).normal(size=(65536,)).astype(np.float32)}
    checkpoint.save(directory, first, step=1)
    error = None
    with fault(directory, mode):
        try:
            checkpoint.save(directory, second, step=2)
        except Exception as e:  # noqa: BLE001 (reported to the parent)
            error = e
    out = {"type": type(error).__name__, "errno": getattr(error, "errno", None),
           "message": str(error), "listing": sorted(os.listdir(directory)),
           "steps": checkpoint.steps(directory)}
    out["first_intact"] = bool(np.array_equal(checkpoint.restore(directory, second)["w"],
                                              first["w"]))
    checkpoint.save(directory, second, step=2)
    out["steps_after_retry"] = checkpoint.steps(directory)
    out["second_intact"] = bool(np.array_equal(checkpoint.restore(directory, second)["w"],
                                               second["w"]))
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:3])))
