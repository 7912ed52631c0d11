"""The layer contract and its combinators.

A layer is data: `Layer(init, apply, name)`, two pure functions and a short name.

- `init(key, input_shape) -> (params, state, output_shape)`; `input_shape` has no batch axis.
- `apply(params, state, x, *, key=None, train=False) -> (y, new_state)`; `x` has a batch axis.

`serial`, `parallel`, `branches` and `residual` compose layers; their params and state are dicts
keyed `"0_dense"`, `"1_relu"`, ... so a mask can freeze a layer by name or position.

A model with several inputs takes a tuple of arrays `(x1, x2, ...)` and its `init` a tuple of
per-example shapes `((d1,), (h, w, c), ...)`: `branches` gives each input its own layer and
`Concatenate` merges a tuple of arrays into one.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from jaxdl.spec import Spec, by_value, hash_by_spec, same_by_spec

Params = Any  # a dict pytree of arrays
State = Any  # a dict pytree of non-trained arrays, {} for stateless layers
Shape = tuple[int, ...]


class InitFn(Protocol):
    def __call__(self, key: jax.Array, input_shape: Shape) -> tuple[Params, State, Shape]: ...


class ApplyFn(Protocol):
    def __call__(
        self, params: Params, state: State, x: jax.Array, *, key: jax.Array | None = None,
        train: bool = False,
    ) -> tuple[jax.Array, State]: ...


class Layer(NamedTuple):
    """A layer: `init(key, input_shape)` and `apply(params, state, x, *, key, train)`.

    `spec` records the constructor call that built it (see `jaxdl.spec`): two layers built by
    equal calls are equal and hash alike, so `jax.jit` reuses a program compiled for either.
    A layer without one (`Layer(init, apply, name)` written by hand) compares by identity. Drop
    the spec when replacing a function: `layer._replace(apply=f, spec=None)`.
    """

    init: InitFn
    apply: ApplyFn
    name: str
    spec: Spec | None = None

    def __eq__(self, other: object) -> bool:
        return same_by_spec(self, other, ("name",))

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash_by_spec(self, ("name",))

    def __repr__(self) -> str:
        return repr(self.spec) if self.spec is not None else f"Layer(name={self.name!r})"


def _sub_key(key: jax.Array | None, i: int) -> jax.Array | None:
    return None if key is None else jax.random.fold_in(key, i)


def _keys(layers: tuple[Layer, ...]) -> list[str]:
    return [f"{i}_{layer.name}" for i, layer in enumerate(layers)]


def _what(value: Any) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {tuple(shape)}" if shape is not None else repr(value)


def _apply(layer: Layer, name: str, owner: str, params: Params, state: State, x: Any,
           key: jax.Array | None, train: bool) -> tuple[Any, State]:
    """`layer.apply(...)`, checked to return a `(y, new_state)` pair (at trace time)."""
    out = layer.apply(params, state, x, key=key, train=train)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{owner}: layer {name} ({layer!r}) apply must return a (y, new_state) "
                        f"pair, got {_what(out)}")
    return out


def sublayers(layer: Layer) -> list[tuple[str, Layer]]:
    """The layers a combinator was built from, keyed as in its params ("0_dense", ...): those
    of `serial`, `parallel` and `branches`, the one of `residual`; [] for any other layer."""
    spec = getattr(layer, "spec", None)
    if spec is None or spec.constructor not in (f"{__name__}.{f}" for f in
                                                ("serial", "parallel", "branches", "residual")):
        return []
    args = dict(spec.arguments)
    layers = args["*layers"] if "*layers" in args else (args["layer"],)
    return list(zip(_keys(tuple(layers)), layers))


def _check_layers(layers: tuple[Any, ...], owner: str) -> tuple[Layer, ...]:
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            hint = " Did you forget to call the constructor, e.g. Relu() not Relu?" if callable(
                layer) else ""
            raise TypeError(f"{owner}: argument {i} must be a Layer, got {layer!r}.{hint}")
    if not layers:
        raise ValueError(f"{owner}: needs at least one layer, got none")
    return layers


def _is_shapes(input_shape: Any) -> bool:
    """True for a tuple of per-example shapes (a model with several inputs)."""
    return isinstance(input_shape, (tuple, list)) and len(input_shape) > 0 and all(
        isinstance(s, (tuple, list)) for s in input_shape)


def _shape(input_shape: Any, owner: str) -> Any:
    """`input_shape` as a tuple of ints >= 1, or, for several inputs, a tuple of such tuples."""
    if _is_shapes(input_shape):
        return tuple(_shape(s, owner) for s in input_shape)
    try:
        shape = tuple(int(d) for d in input_shape)
    except TypeError:
        raise TypeError(
            f"{owner}: input_shape must be a tuple of ints, got {input_shape!r}") from None
    if any(d < 1 for d in shape):
        raise ValueError(f"{owner}: input_shape must have positive sizes, got {shape}")
    return shape


@by_value
def serial(*layers: Layer) -> Layer:
    """Compose layers: `y = f_n(... f_1(x))`; params and state keyed `"{i}_{name}"`.

    Raises at `init` when one layer's output shape does not fit the next layer, naming both
    positions and the shape that failed to chain.
    """
    layers = _check_layers(layers, "serial")
    keys = _keys(layers)

    def init(key, input_shape):
        shape = _shape(input_shape, "serial")
        params, state = {}, {}
        for i, (name, layer) in enumerate(zip(keys, layers)):
            try:
                params[name], state[name], out = layer.init(_sub_key(key, i), shape)
            except (ValueError, TypeError) as err:
                source = "the input" if i == 0 else f"layer {i - 1} ({keys[i - 1]})"
                raise type(err)(
                    f"serial: layer {i} ({name}) cannot take the output of {source}, "
                    f"of shape {shape}: {err}"
                ) from err
            shape = tuple(out)
        return params, state, shape

    def apply(params, state, x, *, key=None, train=False):
        new_state = {}
        for i, (name, layer) in enumerate(zip(keys, layers)):
            x, new_state[name] = _apply(layer, name, "serial", params[name], state[name], x,
                                        _sub_key(key, i), train)
        return x, new_state

    return Layer(init, apply, "serial")


@by_value
def parallel(*layers: Layer, concat_axis: int | None = None) -> Layer:
    """Apply every layer to the same input: a tuple of outputs, or one array concatenated on
    `concat_axis` (an axis of the per-example shape, e.g. -1 for channels)."""
    layers = _check_layers(layers, "parallel")
    _check_axis(concat_axis, "parallel", "concat_axis", optional=True)
    keys = _keys(layers)

    def init(key, input_shape):
        shape = _shape(input_shape, "parallel")
        params, state, shapes = {}, {}, []
        for i, (name, layer) in enumerate(zip(keys, layers)):
            params[name], state[name], out = layer.init(_sub_key(key, i), shape)
            shapes.append(tuple(out))
        if concat_axis is None:
            return params, state, tuple(shapes)
        return params, state, _concat_shape(tuple(shapes), concat_axis, "parallel", "outputs",
                                            "concat_axis")

    def apply(params, state, x, *, key=None, train=False):
        ys, new_state = [], {}
        for i, (name, layer) in enumerate(zip(keys, layers)):
            y, new_state[name] = _apply(layer, name, "parallel", params[name], state[name], x,
                                        _sub_key(key, i), train)
            ys.append(y)
        return (tuple(ys) if concat_axis is None else _concat(ys, concat_axis)), new_state

    return Layer(init, apply, "parallel")


@by_value
def branches(*layers: Layer, concat_axis: int | None = None) -> Layer:
    """One layer per input: `(x_1, ..., x_n) -> (f_1(x_1), ..., f_n(x_n))`, a tuple of outputs,
    or one array concatenated on `concat_axis` (an axis of the per-example shape, -1 for
    features). The combinator of a model with several inputs (an image and a table, say).

    `init(key, input_shape)` takes a tuple of n per-example shapes, `apply` a tuple of n arrays
    with the same batch size; params and state keyed `"{i}_{name}"` as in `serial`.
    """
    layers = _check_layers(layers, "branches")
    _check_axis(concat_axis, "branches", "concat_axis", optional=True)
    keys = _keys(layers)

    def init(key, input_shape):
        shapes = _shape(input_shape, "branches")
        if not _is_shapes(shapes) or len(shapes) != len(layers):
            raise ValueError(f"branches: input_shape must be a tuple of {len(layers)} per-example "
                             f"shapes (one per branch), got {input_shape!r}")
        params, state, outs = {}, {}, []
        for i, (name, layer, shape) in enumerate(zip(keys, layers, shapes)):
            try:
                params[name], state[name], out = layer.init(_sub_key(key, i), shape)
            except (ValueError, TypeError) as err:
                raise type(err)(f"branches: branch {i} ({name}) cannot take input {i}, of shape "
                                f"{shape}: {err}") from err
            outs.append(tuple(out))
        if concat_axis is None:
            return params, state, tuple(outs)
        return params, state, _concat_shape(tuple(outs), concat_axis, "branches", "outputs",
                                            "concat_axis")

    def apply(params, state, x, *, key=None, train=False):
        if not isinstance(x, (tuple, list)) or len(x) != len(layers):
            raise TypeError(f"branches: x must be a tuple of {len(layers)} arrays (one per "
                            f"branch), got {_what(x)}")
        ys, new_state = [], {}
        for i, (name, layer, xi) in enumerate(zip(keys, layers, x)):
            y, new_state[name] = _apply(layer, name, "branches", params[name], state[name], xi,
                                        _sub_key(key, i), train)
            ys.append(y)
        return (tuple(ys) if concat_axis is None else _concat(ys, concat_axis)), new_state

    return Layer(init, apply, "branches")


def _concat_shape(shapes: tuple[Any, ...], axis: int, owner: str, what: str,
                  param: str) -> Shape:
    """The per-example shape of `shapes` concatenated on `axis` (no batch axis)."""
    if _is_shapes(shapes) and any(_is_shapes(s) for s in shapes):
        raise ValueError(f"{owner}: {what} must be arrays to be concatenated, not tuples, got "
                         f"shapes {shapes}")
    shapes = tuple(tuple(int(d) for d in s) for s in shapes)
    rank = len(shapes[0])
    if rank == 0 or not -rank <= axis < rank:
        raise ValueError(f"{owner}: {param} must be in [-{rank}, {rank}) for {what} of "
                         f"per-example shapes {shapes}, got {axis}")
    a = axis % rank
    if len({len(s) for s in shapes}) != 1 or len({s[:a] + s[a + 1:] for s in shapes}) > 1:
        raise ValueError(f"{owner}: {what} must agree on every axis but {param}={axis} to be "
                         f"concatenated, got shapes {shapes}")
    return tuple(sum(s[a] for s in shapes) if i == a else d for i, d in enumerate(shapes[0]))


def _check_axis(axis: Any, owner: str, param: str, optional: bool = False) -> None:
    if not (optional and axis is None) and (isinstance(axis, bool) or not isinstance(axis, int)):
        raise TypeError(f"{owner}: {param} must be an int" + (" or None" if optional else "")
                        + f", got {axis!r}")


def _concat(ys: Any, axis: int) -> jax.Array:
    """Concatenate per-example `axis` (of a batch: the batch axis is skipped)."""
    return jnp.concatenate(ys, axis=axis if axis < 0 else axis + 1)


@by_value
def Concatenate(axis: int = -1) -> Layer:
    """Merge a tuple of arrays into one: `(x_1, ..., x_n) -> concatenate(x_i, axis)`.

    Args:
      axis: an axis of the per-example shapes (no batch axis), -1 (default) for features.
    `init` takes the tuple of per-example shapes, which must agree on every other axis; `apply`
    a tuple of arrays (the output of `parallel` or `branches` without `concat_axis`). No params.
    """
    _check_axis(axis, "Concatenate", "axis")

    def init(key, input_shape):
        shapes = _shape(input_shape, "Concatenate")
        if not _is_shapes(shapes):
            raise ValueError(f"Concatenate: input_shape must be a tuple of per-example shapes "
                             f"(one per array to merge), got {input_shape!r}")
        return {}, {}, _concat_shape(shapes, axis, "Concatenate", "input shapes", "axis")

    def apply(params, state, x, *, key=None, train=False):
        if not isinstance(x, (tuple, list)):
            raise TypeError(f"Concatenate: x must be a tuple of arrays, got {_what(x)}")
        return _concat(x, axis), state

    return Layer(init, apply, "concatenate")


@by_value
def residual(layer: Layer) -> Layer:
    """A residual block `y = x + f(x)` (He et al. 2016); `f` must keep the shape."""
    (layer,) = _check_layers((layer,), "residual")
    name = f"0_{layer.name}"

    def init(key, input_shape):
        shape = _shape(input_shape, "residual")
        params, state, out = layer.init(_sub_key(key, 0), shape)
        if tuple(out) != shape:
            raise ValueError(
                f"residual: the wrapped layer ({layer.name}) maps shape {shape} to {tuple(out)}; "
                "x + f(x) needs them equal. Make f keep the shape (e.g. SAME padding, same "
                "features) or add a projection."
            )
        return {name: params}, {name: state}, shape

    def apply(params, state, x, *, key=None, train=False):
        y, new_state = _apply(layer, name, "residual", params[name], state[name], x,
                              _sub_key(key, 0), train)
        return jax.tree.map(jnp.add, x, y), {name: new_state}  # x + f(x) per input

    return Layer(init, apply, "residual")


def count_params(params: Params) -> int:
    """Number of scalar parameters in a pytree."""
    return sum(int(p.size) for p in jax.tree.leaves(params))


__all__ = [
    "Layer", "InitFn", "ApplyFn", "Params", "State", "Shape",
    "serial", "parallel", "branches", "residual", "Concatenate", "sublayers", "count_params",
]
