"""jaxdl: a JAX functional neural-network toolkit that shows and verifies the fundamentals.

Modules: `core` (the layer contract), `nn` (layers), `activations`, `initializers`, `losses`,
`optim` (optimizers), `schedules`, `data`, `train` (fit), `checkpoint`, `sweep`, `parallel`, `plot`.
"""

from jaxdl import activations, initializers, losses, nn, optim, schedules
from jaxdl.core import Layer, count_params, parallel, residual, serial

__version__ = "0.1.0"
__all__ = [
    "Layer", "serial", "parallel", "residual", "count_params",
    "activations", "initializers", "losses", "nn", "optim", "schedules",
]
