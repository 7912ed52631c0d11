"""`checkpoint_callback`: a `fit` callback that saves every few epochs, or only the best."""

from __future__ import annotations

import math
import os
from typing import Any, Callable

from jaxdl import checks
from jaxdl.checkpoint.store import save


def checkpoint_callback(directory: str | os.PathLike, every: int = 1, keep: int = 3, *,
                        monitor: str = "val_loss", save_best_only: bool = False,
                        mode: str = "auto") -> Callable[[int, Any, dict], None]:
    """A `fit` callback that saves the TrainState (step = ts.step) after every `every`-th epoch.

    With `save_best_only` (Keras' ModelCheckpoint), it saves only when `logs[monitor]` beats
    (strictly) the best value of the epochs it checked, so the latest checkpoint, which
    `restore` loads by default, holds the best epoch's state. A NaN never improves.

    Args:
      directory: where `save` writes.
      every: check (and save) after epochs every - 1, 2 every - 1, ...
      keep: how many checkpoints to keep (the latest).
      monitor: the log to compare, a History key ("val_loss", "val_accuracy", "train_loss");
        used only with `save_best_only`. Missing from the logs: a ValueError naming the keys.
      save_best_only: save only on improvement of `monitor`.
      mode: "min", "max", or "auto": a name ending in "loss" is minimised, any other
        maximised (as EarlyStopping).
    """
    owner = "checkpoint_callback"
    every = checks.positive_int(every, "every", owner)
    keep = checks.positive_int(keep, "keep", owner)
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if not isinstance(monitor, str):
        raise TypeError(f"{owner}: monitor must be a log name such as 'val_loss', got {monitor!r}")
    if not isinstance(save_best_only, bool):
        raise TypeError(f"{owner}: save_best_only must be a bool, got {save_best_only!r}")
    minimise = monitor.endswith("loss") if mode == "auto" else mode == "min"
    best: list[float] = []  # the best value so far, once one was seen

    def callback(epoch: int, train_state: Any, logs: dict) -> None:
        if (epoch + 1) % every:
            return
        if save_best_only:
            if monitor not in logs:
                raise ValueError(f"{owner}: monitor {monitor!r} is not in the logs of epoch "
                                 f"{epoch}; available: {sorted(logs)} (val_* need fit(val=...))")
            value = float(logs[monitor])
            if math.isnan(value) or (best and not (value < best[0] if minimise
                                                   else value > best[0])):
                return
            best[:] = [value]
        save(directory, train_state, keep=keep)

    return callback

