"""Training: a TrainState goes through compiled epochs; `fit` is the loop around them.

Where each idea lives:

- `state.py`: `TrainState`, `History`, `NonFiniteError`, `init_state`, `learning_rate`.
- `step.py`: the pure pieces: `make_train_step` (one update) and `batched_means` (eval metrics).
- `epoch.py`: the one epoch program (`run_epoch`, `EpochConfig`), used by `fit` and
  `jaxdl.sweep.vmap_fit` alike.
- `inputs.py`: `check_inputs`: every bad argument raises before anything compiles.
- `callbacks.py`: the callback contract, `EarlyStopping` (restore the best state),
  `ReduceLROnPlateau`, `ProgressBar`.
- `loggers.py`: `PrintLogger` (one line per epoch), `CSVLogger`, `TensorBoard`.
- `evaluate.py`: `evaluate` and `predict`.
- `stream.py`: training from a source of batches (data larger than memory, a grain loader):
  chunks of batches, each one compiled scan, the next prepared by a background thread.
- `fit.py`: `fit`, the loop.

No module keeps a cache of its own: every compiled program is a `jax.jit` whose cache is keyed by
its static arguments, the model, loss, optimizer and settings, which compare by value (see
`jaxdl.spec`), so a new but equal `serial(...)` and `optim.adam(1e-3)` reuse the program.
Reference: fundamentals 000, section 3.5 (mini-batch SGD, early stopping).
"""

from jaxdl.train.callbacks import Callback, EarlyStopping, ProgressBar, ReduceLROnPlateau
from jaxdl.train.epoch import EpochConfig, epoch_program, run_epoch
from jaxdl.train.evaluate import evaluate, predict
from jaxdl.train.fit import fit
from jaxdl.train.inputs import check_inputs, default_metrics
from jaxdl.train.loggers import CSVLogger, PrintLogger, TensorBoard
from jaxdl.train.state import (
    History, Loss, Metric, NonFiniteError, TrainState, init_state, learning_rate, metric_name,
    set_learning_rate,
)
from jaxdl.train.step import batched_means, make_train_step

__all__ = [
    "TrainState", "History", "NonFiniteError", "Loss", "Metric", "Callback", "EarlyStopping",
    "ReduceLROnPlateau", "ProgressBar", "PrintLogger", "CSVLogger", "TensorBoard", "EpochConfig",
    "run_epoch", "epoch_program", "make_train_step", "batched_means", "fit", "evaluate",
    "predict", "init_state", "learning_rate", "set_learning_rate", "check_inputs",
    "default_metrics", "metric_name",
]
