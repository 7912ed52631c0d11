"""jaxdl: a JAX functional neural-network toolkit that shows and verifies the fundamentals.

Modules: `core` (the layer contract), `nn` (layers), `activations`, `initializers`, `losses`,
`optim` (optimizers), `schedules`, `data`, `train` (fit), `sweep` (vmap_fit, searches),
`checkpoint`, `data_parallel` (jax.sharding), `plot` (figures), `spec` (value identity),
`summary` (a model's table), `metrics` (top-k, MAE, precision/recall/F1, confusion matrix),
`export` (a model for inference with jax.export). `import jaxdl` loads the first ones; the
others load on first use as attributes (`jaxdl.train.fit`), so importing jaxdl stays light.
Importing jaxdl sets no JAX, XLA or matplotlib option.
"""

import importlib
from typing import Any

from jaxdl import activations, data, initializers, losses, nn, optim, schedules, spec
from jaxdl.core import Layer, count_params, parallel, residual, serial

__version__ = "0.1.0"
_LAZY = ("train", "sweep", "checkpoint", "data_parallel", "plot", "summary", "metrics", "export",
         "precision")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"jaxdl.{name}")
    raise AttributeError(f"module 'jaxdl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "Layer", "serial", "parallel", "residual", "count_params",
    "activations", "data", "initializers", "losses", "nn", "optim", "schedules", "spec",
    *_LAZY,
]
