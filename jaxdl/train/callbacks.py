"""What runs between epochs: callbacks `cb(epoch, train_state, logs)`.

`fit` calls every callback after each epoch, in order, with the epoch's state and its logs (the
floats recorded in History). What a callback returns decides what happens next:

- None or False: go on;
- a `TrainState`: go on from that state (ReduceLROnPlateau returns the state with a lower
  learning rate); the callbacks after it see it, and it is what `fit` returns if the run ends;
- anything else truthy: stop after this epoch (`history.stopped_epoch`).

A callback may also define `on_train_begin(train_state)`, called before the first epoch is
dispatched (to reject a setting before any work is done), `on_train_end(train_state) ->
TrainState | None` (a state it returns replaces the one `fit` returns: EarlyStopping's
restore-best) and `close()`, called however the run ends. The loggers (one line per epoch, CSV,
TensorBoard) are in `jaxdl.train.loggers`.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

import numpy as np

from jaxdl import checks
from jaxdl.train.state import TrainState, learning_rate, set_learning_rate

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


def _improved(monitor: str, value: float, best: float | None, min_delta: float) -> bool:
    """`value` beats `best` by more than `min_delta`: lower for a name ending in "loss", higher
    for any other."""
    if best is None:
        return not np.isnan(value)
    if monitor.endswith("loss"):
        return value < best - min_delta
    return value > best + min_delta


class ReduceLROnPlateau:
    """Multiply the learning rate by `factor` after `patience` epochs without improvement of
    `monitor` (Keras' ReduceLROnPlateau, rule for rule).

    An epoch improves when `monitor` beats the best so far by more than `min_delta` (lower for a
    name ending in "loss", higher for any other). After `patience` epochs without improvement the
    learning rate becomes `max(lr * factor, min_lr)` (when lr > min_lr), the count restarts and
    the next `cooldown` epochs count no wait. The optimizer must expose its learning rate in its
    state, `optim.inject_hyperparams(optim.adam)(learning_rate=1e-3)` (a number, not a schedule:
    a schedule would overwrite the value at the next step); checked before the first epoch.
    After the run, `reductions` lists (epoch, new learning rate).

    Args:
      monitor: a key of the logs, e.g. "val_loss", "train_loss", "val_accuracy".
      factor: the multiplier, in (0, 1).
      patience: epochs without improvement before a reduction, >= 1.
      min_delta: the smallest change that counts as an improvement, >= 0.
      cooldown: epochs after a reduction during which no wait is counted, >= 0.
      min_lr: the floor of the learning rate, >= 0.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, *,
                 min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0):
        checks.in_range(factor, "factor", "ReduceLROnPlateau", 0.0, 1.0, low_open=True,
                        high_open=True)
        checks.positive_int(patience, "patience", "ReduceLROnPlateau")
        checks.in_range(min_delta, "min_delta", "ReduceLROnPlateau", 0.0)
        checks.in_range(min_lr, "min_lr", "ReduceLROnPlateau", 0.0)
        if isinstance(cooldown, bool) or not isinstance(cooldown, int) or cooldown < 0:
            raise ValueError(f"ReduceLROnPlateau: cooldown must be an int >= 0, got {cooldown!r}")
        self.monitor, self.factor, self.patience = monitor, float(factor), patience
        self.min_delta, self.cooldown, self.min_lr = float(min_delta), cooldown, float(min_lr)
        self.best: float | None = None
        self.wait = self.cooldown_counter = 0
        self.reductions: list[tuple[int, float]] = []

    def on_train_begin(self, train_state: TrainState) -> None:
        set_learning_rate(train_state, learning_rate(train_state), owner="ReduceLROnPlateau")

    def __call__(self, epoch: int, train_state: TrainState, logs: dict) -> TrainState | None:
        if self.monitor not in logs:
            raise ValueError(f"ReduceLROnPlateau: monitor {self.monitor!r} is not in the logs; "
                             f"recorded: {sorted(logs)}")
        current = logs[self.monitor]
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if _improved(self.monitor, current, self.best, self.min_delta):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(learning_rate(train_state))
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    self.cooldown_counter, self.wait = self.cooldown, 0
                    self.reductions.append((epoch, new))
                    return set_learning_rate(train_state, new, owner="ReduceLROnPlateau")
        return None


class ProgressBar:
    """A tqdm bar over epochs showing `shown` logs, left on the screen after the run; off when
    `enabled` is False, when stdout is not a terminal, or when the environment sets `CI`."""

    def __init__(self, total: int, initial: int = 0, shown: tuple[str, ...] = (),
                 enabled: bool = True):
        from tqdm.auto import tqdm

        off = not enabled or not sys.stdout.isatty() or bool(os.environ.get("CI"))
        self.shown = shown
        self.bar = tqdm(total=total, initial=initial, disable=off, unit="epoch", leave=True)

    def __call__(self, epoch: int, train_state: TrainState, logs: dict) -> bool:
        self.bar.update(1)
        self.bar.set_postfix({k: v for k, v in logs.items() if k in self.shown})
        return False

    def close(self) -> None:
        self.bar.close()


__all__ = ["Callback", "EarlyStopping", "ReduceLROnPlateau", "ProgressBar"]
