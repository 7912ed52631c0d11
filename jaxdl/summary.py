"""A table of a model's layers, as Keras' `model.summary()` and Flax's `tabulate`.

`summary(model, input_shape)` lists every layer in order with its path (the keys of the params
dict: "0_conv2d", nested "2_residual/0_serial/1_conv2d"), its constructor call, its output shape,
its parameter count and its state (batch-norm running statistics), then the totals. The layers
of `serial`, `parallel`, `branches` and `residual` are found through their `spec` (see
`jaxdl.spec`) and indented under their combinator's row, which shows the totals of everything
inside it. A layer without a spec (a hand-written `Layer(init, apply, name)`) is one row.

Nothing is initialised: the shapes come from `jax.eval_shape` of the model's own `init`, so the
input shapes flow through the combinators exactly as in a real `init`, and a model that does not
fit the input raises the error `init` would.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.core import Layer, branches, parallel, residual, serial, sublayers

_COMBINATORS = {"jaxdl.core.serial": serial, "jaxdl.core.parallel": parallel,
                "jaxdl.core.branches": branches, "jaxdl.core.residual": residual}
_TYPE_WIDTH = 50


def _check_shape(input_shape: Any) -> Any:
    """A tuple of ints >= 1, or (a model with several inputs) a tuple of such tuples."""
    if isinstance(input_shape, (tuple, list)) and input_shape and all(
            isinstance(s, (tuple, list)) for s in input_shape):
        return tuple(_check_shape(s) for s in input_shape)
    ints = isinstance(input_shape, (tuple, list)) and all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in input_shape)
    if not ints:
        hint = f" Did you mean ({input_shape},)?" if isinstance(input_shape, int) else ""
        raise TypeError(f"summary: input_shape must be a tuple of ints (one example, no batch "
                        f"axis), got {input_shape!r}.{hint}")
    if any(d < 1 for d in input_shape):
        raise ValueError(f"summary: input_shape must have sizes >= 1, got {tuple(input_shape)}")
    return tuple(int(d) for d in input_shape)


def _children(layer: Layer) -> tuple[Callable[..., Layer], tuple[Layer, ...], dict] | None:
    """(combinator, its layers (`core.sublayers`), its other arguments) for serial, parallel,
    branches and residual, else None."""
    subs = sublayers(layer)
    if not subs:
        return None
    options = {name: value for name, value in layer.spec.arguments
               if not name.startswith("*") and name != "layer"}
    return _COMBINATORS[layer.spec.constructor], tuple(child for _, child in subs), options


def _recording(layer: Layer, path: str, depth: int, rows: list, records: dict) -> Layer:
    """A copy of `layer` whose init (and its sub-layers' inits) write their shapes to
    `records[path]`; `rows` gets (path, depth, layer) in order."""
    rows.append((path, depth, layer))
    inner = layer
    found = _children(layer)
    if found is not None:
        combinator, layers, options = found
        prefix = f"{path}/" if path else ""
        inner = combinator(*(
            _recording(child, f"{prefix}{i}_{child.name}", depth + 1, rows, records)
            for i, child in enumerate(layers)), **options)

    def init(key, input_shape):
        params, state, out = inner.init(key, input_shape)
        shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.asarray(a).dtype),
                              (params, state))
        records[path] = (out, *shapes)
        return params, state, out

    return Layer(init, layer.apply, layer.name)


def _size(tree: Any) -> tuple[int, int]:
    """(scalars, bytes) of a pytree of arrays or shape structs."""
    leaves = jax.tree.leaves(tree)
    return (sum(math.prod(a.shape) for a in leaves),
            sum(math.prod(a.shape) * np.dtype(a.dtype).itemsize for a in leaves))


def _batched(shape: Any) -> str:
    """(None, *shape); a tuple of shapes (parallel without concat_axis) as a list."""
    if shape and all(isinstance(s, tuple) for s in shape):
        return "[" + ", ".join(_batched(s) for s in shape) + "]"
    return str((None, *shape))


def _state(state: Any, leaf: bool) -> str:
    size, _ = _size(state)
    if not size:
        return "-"
    if not leaf:
        return f"{size:,}"
    leaves = jax.tree_util.tree_leaves_with_path(state)
    parts = [f"{jax.tree_util.keystr(p, simple=True, separator='/')} {tuple(a.shape)}"
             for p, a in leaves]
    return f"{size:,}: " + ", ".join(parts)


def _kind(layer: Layer, leaf: bool) -> str:
    if not leaf:
        options = _children(layer)[2]
        return layer.name + (f"({', '.join(f'{k}={v!r}' for k, v in options.items())})"
                             if options else "")
    text = repr(layer)
    return text if len(text) <= _TYPE_WIDTH else text[:_TYPE_WIDTH - 3] + "..."


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""  # unreachable


def summary(model: Layer, input_shape: tuple[int, ...], *, key: jax.Array | None = None,
            print_fn: Callable[[str], Any] | None = print) -> str:
    """A table of every layer of `model`: path, constructor, output shape, params and state.

    Output shapes carry a leading `None` for the batch axis, as Keras prints them; a
    combinator's row shows the totals of the layers indented under it (do not add them twice).
    Trainable params are all the params (freezing is the optimizer's choice, not the model's);
    the state is not trained. Computed with `jax.eval_shape`: no array is allocated.

    Args:
      model: the `Layer` to describe.
      input_shape: the shape of one example, no batch axis, e.g. (8, 8, 1); a tuple of shapes
        for a model with several inputs, e.g. ((8, 8, 1), (3,)).
      key: the PRNG key handed to `init` (only its shape matters); default `jax.random.key(0)`.
      print_fn: called once with the table; None to only return it.

    Returns:
      the table as one string.
    """
    if not isinstance(model, Layer):
        hint = " Did you forget to call the constructor?" if callable(model) else ""
        raise TypeError(f"summary: model must be a Layer, got {model!r}.{hint}")
    shape = _check_shape(input_shape)
    if print_fn is not None and not callable(print_fn):
        raise TypeError(f"summary: print_fn must be callable or None, got {print_fn!r}")
    rows: list = []
    records: dict = {}
    root = _recording(model, "", 0, rows, records)
    key = jax.random.key(0) if key is None else key
    jax.eval_shape(lambda k: root.init(k, shape)[:2], key)

    nested = len(rows) > 1
    table = [("Layer (path)", "Type", "Output shape", "Params", "State")]
    for path, depth, layer in rows[1:] if nested else rows:
        out, params, state = records[path]
        leaf = _children(layer) is None
        table.append(("  " * (depth - nested) + (path or layer.name), _kind(layer, leaf),
                      _batched(out), f"{_size(params)[0]:,}", _state(state, leaf)))
    widths = [max(len(r[i]) for r in table) for i in range(5)]

    def line(r: tuple[str, ...]) -> str:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]),
                 r[3].rjust(widths[3]), r[4]]
        return "  ".join(cells).rstrip()

    out, params, state = records[""]
    (n_params, b_params), (n_state, b_state) = _size(params), _size(state)
    rule = "=" * (sum(widths[:4]) + 8 + max(widths[4], 5))
    text = "\n".join([
        f"Model: {_kind(model, _children(model) is None)}, input {_batched(shape)} -> "
        f"output {_batched(out)}",
        rule, line(table[0]), "-" * len(rule), *(line(r) for r in table[1:]), rule,
        f"Total params: {n_params:,} ({_bytes(b_params)})",
        f"Trainable params: {n_params:,}",
        f"State (not trained): {n_state:,} ({_bytes(b_state)})",
    ])
    if print_fn is not None:
        print_fn(text)
    return text


__all__ = ["summary"]
