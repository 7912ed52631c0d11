"""The layer contract and its combinators.

A layer is data: `Layer(init, apply, name)`, two pure functions and a short name.

- `init(key, input_shape) -> (params, state, output_shape)`; `input_shape` has no batch axis.
- `apply(params, state, x, *, key=None, train=False) -> (y, new_state)`; `x` has a batch axis.

`serial`, `parallel` and `residual` compose layers; their params and state are dicts keyed
`"0_dense"`, `"1_relu"`, ... so a mask can freeze a layer by name or position.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from jaxdl import checks
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
    of `serial` and `parallel`, the one of `residual`; [] for any other layer."""
    spec = getattr(layer, "spec", None)
    if spec is None or spec.constructor not in (f"{__name__}.{f}" for f in
                                                ("serial", "parallel", "residual")):
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


def _shape(input_shape: Any, owner: str) -> Shape:
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
    keys = _keys(layers)

    def init(key, input_shape):
        shape = _shape(input_shape, "parallel")
        params, state, shapes = {}, {}, []
        for i, (name, layer) in enumerate(zip(keys, layers)):
            params[name], state[name], out = layer.init(_sub_key(key, i), shape)
            shapes.append(tuple(out))
        if concat_axis is None:
            return params, state, tuple(shapes)
        axis = concat_axis % len(shapes[0])
        rest = {s[:axis] + s[axis + 1:] for s in shapes}
        if len({len(s) for s in shapes}) != 1 or len(rest) != 1:
            raise ValueError(
                f"parallel: outputs must agree on every axis but concat_axis={concat_axis} to be "
                f"concatenated, got shapes {shapes}"
            )
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        return params, state, tuple(out)

    def apply(params, state, x, *, key=None, train=False):
        ys, new_state = [], {}
        for i, (name, layer) in enumerate(zip(keys, layers)):
            y, new_state[name] = _apply(layer, name, "parallel", params[name], state[name], x,
                                        _sub_key(key, i), train)
            ys.append(y)
        if concat_axis is None:
            return tuple(ys), new_state
        axis = concat_axis if concat_axis < 0 else concat_axis + 1  # skip the batch axis
        return jnp.concatenate(ys, axis=axis), new_state

    return Layer(init, apply, "parallel")


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
        return x + y, {name: new_state}

    return Layer(init, apply, "residual")


def count_params(params: Params) -> int:
    """Number of scalar parameters in a pytree."""
    return sum(int(p.size) for p in jax.tree.leaves(params))


__all__ = [
    "Layer", "InitFn", "ApplyFn", "Params", "State", "Shape",
    "serial", "parallel", "residual", "sublayers", "count_params",
]
