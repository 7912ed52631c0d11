"""What runs between epochs: callbacks `cb(epoch, train_state, logs) -> stop?`.

`fit` calls every callback after each epoch, in order, with the epoch's state and its logs (the
floats recorded in History); a truthy return stops the run after that epoch. A callback may also
define `on_train_end(train_state) -> TrainState | None`; a state it returns replaces the one
`fit` returns (EarlyStopping's restore-best), and `close()`, called however the run ends.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from jaxdl import checks
from jaxdl.train.state import TrainState

Callback = Callable[[int, TrainState, dict], Any]


class EarlyStopping:
    """Stop after `patience` epochs without improvement of `monitor`, and restore the best state.

    A name ending in "loss" is minimised, any other ("val_accuracy") maximised; an epoch improves
    when it beats the best so far strictly. `restore_best`: `fit` returns the state of the best
    epoch, whether or not the run stopped early. `patience=None` never stops (the best epoch is
    still tracked). After the run: `best_epoch`, `best_value`, `stopped_epoch` (None if it ran
    to the end). Reference: fundamentals 000, section 3.5 (early stopping).
    """

    def __init__(self, monitor: str = "val_loss", patience: int | None = None, *,
                 restore_best: bool = True):
        if patience is not None:
            checks.positive_int(patience, "patience", "EarlyStopping")
        self.monitor, self.patience, self.restore_best = monitor, patience, restore_best
        self.sign = 1.0 if monitor.endswith("loss") else -1.0
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.best_state: TrainState | None = None
        self.wait = 0

    def __call__(self, epoch: int, train_state: TrainState, logs: dict) -> bool:
        if self.monitor not in logs:
            return False
        value = self.sign * logs[self.monitor]
        if self.best_value is None or value < self.sign * self.best_value:
            self.best_value, self.best_epoch = logs[self.monitor], epoch
            self.best_state, self.wait = train_state, 0
        else:
            self.wait += 1
        if self.patience is not None and self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, train_state: TrainState) -> TrainState | None:
        if self.restore_best and self.patience is not None and self.best_state is not None:
            return self.best_state
        return None


class ProgressBar:
    """A tqdm bar over epochs showing `shown` logs; off when `enabled` is False, when stdout is
    not a terminal, or when the environment sets `CI`."""

    def __init__(self, total: int, initial: int = 0, shown: tuple[str, ...] = (),
                 enabled: bool = True):
        from tqdm.auto import tqdm

        off = not enabled or not sys.stdout.isatty() or bool(os.environ.get("CI"))
        self.shown = shown
        self.bar = tqdm(total=total, initial=initial, disable=off, unit="epoch", leave=False)

    def __call__(self, epoch: int, train_state: TrainState, logs: dict) -> bool:
        self.bar.update(1)
        self.bar.set_postfix({k: v for k, v in logs.items() if k in self.shown})
        return False

    def close(self) -> None:
        self.bar.close()


__all__ = ["Callback", "EarlyStopping", "ProgressBar"]
