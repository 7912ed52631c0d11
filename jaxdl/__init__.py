"""jaxdl: a JAX functional neural-network toolkit that shows and verifies the fundamentals."""

from jaxdl.core import Layer, count_params, parallel, residual, serial

__version__ = "0.1.0"
__all__ = ["Layer", "serial", "parallel", "residual", "count_params"]
