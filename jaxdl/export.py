"""Export a trained model for inference: one file that runs without jaxdl or the model's code.

`export(model, train_state, input_shape, path)` traces `predict` (eval mode:
`model.apply(params, state, x, train=False)[0]`) with `jax.export`, for inputs
`(b, *input_shape)` of any batch size `b` (a symbolic dimension), and writes it to `path`.

The file is exactly `jax.export.Exported.serialize()`: a flatbuffer holding the StableHLO
program, in which the params and the model state (batch-norm statistics) are embedded as
constants, its input and output shapes, and the platforms it was lowered for. So the program
takes one argument, `x`, and any process with `jax` (and the `flatbuffers` package that
`jax.export` serialization needs) runs it, with no import of jaxdl:

    import jax, numpy as np
    with open("model.jax", "rb") as f:
        predict = jax.export.deserialize(f.read()).call
    y = predict(np.zeros((5, 8, 8, 1), np.float32))      # any batch size

Embedding the weights keeps the file self-contained and the call `predict(x)`; the price is
that new weights need a new export, and the file (about 4 bytes per float32 parameter, plus a
few KiB) must stay under flatbuffers' 2 GiB. A file loads in the jax version that wrote it and
in later ones within JAX's export compatibility window (see JAX's "Exporting and serializing"
documentation); `platforms=("cpu", "cuda")` lowers one file for both.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import checks
from jaxdl.core import Layer


def _input_shape(input_shape: Any, owner: str) -> tuple[int, ...]:
    """`input_shape` as a tuple of ints >= 1 (one example's shape, no batch axis)."""
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"{owner}: input_shape must be a tuple of ints (one example's shape, no "
                        f"batch axis, e.g. (8, 8, 1)), got {input_shape!r}")
    return tuple(checks.positive_int(d, "input_shape", owner) for d in input_shape)


def _check_fits(model: Layer, train_state: Any, shape: tuple[int, ...]) -> None:
    """Raise a ValueError when `model.init(key, shape)` would give params or state of other
    shapes than `train_state`'s (the usual cause: a batch axis in `input_shape`)."""
    hint = ("; input_shape is one example's shape, without the batch axis (e.g. (8, 8, 1) for "
            "(n, 8, 8, 1) images)")
    try:
        want = jax.eval_shape(lambda k: model.init(k, shape)[:2], jax.random.key(0))
    except (ValueError, TypeError) as e:
        raise ValueError(f"export: the model cannot take input_shape {shape} ({e}){hint}") from e
    have = (train_state.params, train_state.state)
    want_leaves, want_def = jax.tree_util.tree_flatten_with_path(want)
    have_leaves, have_def = jax.tree_util.tree_flatten_with_path(have)
    if want_def != have_def:
        raise ValueError(f"export: train_state's params and state do not have the structure of "
                         f"this model's (is it the model that was trained?): expected {want_def}, "
                         f"got {have_def}")
    for (path, w), (_, h) in zip(want_leaves, have_leaves):
        if tuple(w.shape) != tuple(np.shape(h)):
            name = jax.tree_util.keystr(path)
            raise ValueError(f"export: input_shape {shape} does not fit train_state: the model "
                             f"built for it has {name} of shape {tuple(w.shape)}, train_state "
                             f"has {tuple(np.shape(h))}{hint}")


def export(model: Layer, train_state: Any, input_shape: Sequence[int],
           path: str | os.PathLike | None = None, *, dtype: Any = jnp.float32,
           platforms: Sequence[str] | None = None) -> jax.export.Exported:
    """Export eval-mode `predict` with its params and model state embedded, for any batch size.

    y = model.apply(params, state, x, train=False)[0] for x of shape (b, *input_shape), b a
    symbolic dimension (`jax.export.symbolic_shape("b")`), so one export serves every batch size.

    Args:
      model: the Layer that was trained.
      train_state: a TrainState (or anything with `.params` and `.state`), e.g. what `fit` or
        `checkpoint.restore` returns; its arrays become constants of the program.
      input_shape: one example's shape, without the batch axis: (8, 8, 1) for (n, 8, 8, 1)
        images. Checked against `train_state`'s params.
      path: where to write the serialized program (written to `path + ".tmp"`, then renamed,
        so a failed write leaves no partial file); None writes nothing.
      dtype: the dtype of x.
      platforms: the platforms to lower for, e.g. ("cpu", "cuda"); None: the default backend's.

    Returns:
      The `jax.export.Exported`: `.call(x)` runs it, `.serialize()` gives the file's bytes,
      `.in_avals` / `.out_avals` the shapes ((b, *input_shape) -> (b, *output_shape)).
    """
    shape = _input_shape(input_shape, "export")
    try:
        dtype = jnp.dtype(dtype)
    except TypeError:
        raise TypeError(f"export: dtype must be a dtype (e.g. jnp.float32), got {dtype!r}"
                        ) from None
    for field in ("params", "state"):
        if not hasattr(train_state, field):
            raise TypeError(f"export: train_state must have .params and .state (a TrainState), "
                            f"got {type(train_state).__name__}")
    _check_fits(model, train_state, shape)
    params, state = train_state.params, train_state.state

    def predict(x: jax.Array) -> jax.Array:
        return model.apply(params, state, x, train=False)[0]

    batch = jax.export.symbolic_shape("b")
    x = jax.ShapeDtypeStruct((*batch, *shape), dtype)
    kwargs = {} if platforms is None else {"platforms": tuple(platforms)}
    exported = jax.export.export(jax.jit(predict), **kwargs)(x)
    if path is not None:
        path = os.fspath(path)
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(exported.serialize())
            os.replace(tmp, path)
        except OSError as e:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise OSError(e.errno, f"export: cannot write {path!r}: {e.strerror}") from e
    return exported


def load(path: str | os.PathLike) -> Callable[[Any], jax.Array]:
    """The predict function stored in `path` by `export`: `y = load(path)(x)`.

    `jax.jit(jax.export.deserialize(blob).call)` for the file's bytes `blob`, with an error naming
    the path for a missing file (FileNotFoundError) or one that is not an exported program
    (ValueError).

    Args:
      path: a file written by `export`.

    Returns:
      `predict(x) -> y` for x (b, *input_shape) of any batch size b, compiled once per batch
      size; a wrong shape or dtype of x is jax's error, which names the expected shape.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"export.load: no file {path!r} (write one with "
                                "jaxdl.export.export(model, train_state, input_shape, path))")
    with open(path, "rb") as f:
        blob = f.read()
    try:
        exported = jax.export.deserialize(bytearray(blob))
    except ImportError:
        raise
    except Exception as e:  # flatbuffers fails on garbage with struct.error, IndexError, ...
        raise ValueError(f"export.load: {path!r} is not a program written by jaxdl.export.export "
                         f"(jax.export serialization, {len(blob)} bytes read): "
                         f"{type(e).__name__}: {e}") from e
    return jax.jit(exported.call)


__all__ = ["export", "load"]
