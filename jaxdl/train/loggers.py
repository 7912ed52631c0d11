"""Callbacks that write each epoch's logs somewhere: a line of text, a CSV row, a TensorBoard
event. Each is a plain `cb(epoch, train_state, logs)` (see `jaxdl.train.callbacks`) that never
stops the run; files are flushed after every epoch, so a run that dies keeps what it logged.

`fit(..., verbose=2)` adds a `PrintLogger` itself: one line per epoch on stdout, readable where
there is no terminal (a file, a CI log, a notebook).
"""

from __future__ import annotations

import csv
import math
import os
import sys
from typing import Any, Callable, TextIO

from jaxdl import checks
from jaxdl.train.state import TrainState


def _number(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"


class PrintLogger:
    """Print one line per epoch: `epoch 3/10 - 0.12 s - train_loss 0.4123 - val_loss ...`.

    Args:
      epochs: the total number of epochs (shown as `epoch e/epochs`), or None.
      shown: the log keys to print, in order; None prints every key but "seconds".
      every: print every `every`-th epoch (and the last), >= 1.
      print_fn: where lines go (default: `print` to stdout, flushed at once).
    """

    def __init__(self, epochs: int | None = None, shown: tuple[str, ...] | None = None, *,
                 every: int = 1, print_fn: Callable[[str], Any] | None = None):
        self.every = checks.positive_int(every, "every", "PrintLogger")
        self.epochs, self.shown = epochs, shown
        self.print_fn = print_fn or (lambda line: print(line, file=sys.stdout, flush=True))

    def __call__(self, epoch: int, train_state: TrainState, logs: dict) -> None:
        last = self.epochs is not None and epoch + 1 == self.epochs
        if (epoch + 1) % self.every and not last:
            return
        keys = self.shown if self.shown is not None else [k for k in logs if k != "seconds"]
        total = f"/{self.epochs}" if self.epochs is not None else ""
        parts = [f"epoch {epoch + 1}{total}"]
        if "seconds" in logs:
            parts.append(f"{logs['seconds']:.2f} s")
        parts += [f"{k} {_number(float(logs[k]))}" for k in keys if k in logs]
        self.print_fn(" - ".join(parts))


class CSVLogger:
    """Write one CSV row per epoch: `epoch` (counted from 0, as History) then every log key.

    The header is the first epoch's keys; a later key missing in an epoch is left empty. With
    `append`, rows go after those of an earlier run (resume) when the header matches, else a
    ValueError names the file and both headers before anything is written.

    Args:
      path: the CSV file; its folder is created.
      append: add to an existing file instead of replacing it.
    """

    def __init__(self, path: str | os.PathLike, *, append: bool = False):
        self.path, self.append = os.fspath(path), bool(append)
        self.file: TextIO | None = None
        self.writer: Any = None
        self.keys: list[str] | None = None

    def _open(self, keys: list[str]) -> None:
        header = ["epoch", *keys]
        exists = self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists:
            with open(self.path, newline="") as f:
                old = next(csv.reader(f), [])
            if old != header:
                raise ValueError(f"CSVLogger: {self.path!r} has columns {old}, this run logs "
                                 f"{header}; use another path or append=False")
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self.file = open(self.path, "a" if exists else "w", newline="")
        self.writer = csv.writer(self.file)
        if not exists:
            self.writer.writerow(header)
        self.keys = keys

    def __call__(self, epoch: int, train_state: TrainState, logs: dict) -> None:
        if self.file is None:
            self._open(list(logs))
        self.writer.writerow([epoch, *(repr(float(logs[k])) if k in logs else ""
                                       for k in self.keys)])
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class TensorBoard:
    """Write each log as a TensorBoard scalar (tag = the log key, step = the epoch) with
    tensorboardX's `SummaryWriter` (install `jaxdl[tensorboard]`); view with
    `tensorboard --logdir DIR`.

    Args:
      logdir: the folder for the event files (created).
      skip: log keys not to write (default: "seconds").
    """

    def __init__(self, logdir: str | os.PathLike, *, skip: tuple[str, ...] = ("seconds",)):
        try:
            from tensorboardX import SummaryWriter
        except ImportError as err:
            raise ImportError("TensorBoard: needs the tensorboardX package: "
                              "pip install 'jaxdl[tensorboard]'") from err
        self.logdir, self.skip = os.fspath(logdir), tuple(skip)
        self.writer = SummaryWriter(self.logdir)

    def __call__(self, epoch: int, train_state: TrainState, logs: dict) -> None:
        for k, v in logs.items():
            if k not in self.skip:
                self.writer.add_scalar(k, float(v), epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


__all__ = ["PrintLogger", "CSVLogger", "TensorBoard"]
