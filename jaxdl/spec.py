"""Value identity: equal constructor calls build equal objects, so `jax.jit` reuses its program.

A layer, a transform, a schedule and an initializer are made of closures, and closures compare by
identity: a fresh `optim.adam(1e-3)` is a new object, and a program compiled for the old one
would be compiled again (jit keys its cache on the hash and `==` of its static arguments). So each
public constructor is decorated with `@by_value`, which records the call that built the object,
a `Spec(constructor, arguments)`, and nothing else: the constructor runs as written.

- `Layer` and `GradientTransformation` carry the record in their `spec` field; `==` and `hash`
  compare it (with the layer's name), and `repr` prints the call (`serial(Dense(128), Relu())`).
- A constructor that returns a plain function (a schedule, an initializer) returns it wrapped in
  `ByValue`, a callable that calls it and compares by its `spec`.
- An argument that cannot be hashed (an array, a traced value inside `vmap`) leaves `spec` None,
  and the object compares by identity: a fresh object then recompiles, and a program is never
  shared by objects that might differ. A user's own `Layer(init, apply, name)` is such an object.

Arguments compare by type and value (`1` and `1.0` differ, as do `0.0` and `-0.0`); layers,
transforms, schedules and initializers inside the arguments compare by their own `spec`.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, NamedTuple, TypeVar

import numpy as np

T = TypeVar("T")
_SCALARS = (bool, int, float, complex, str, bytes, type(None), np.generic)


class Spec(NamedTuple):
    """The call that built an object: `constructor` ("jaxdl.nn.dense.Dense"), its bound
    `arguments` as passed ((name, value), ...; a `*args` parameter is named "*args"), `key`:
    every argument, defaults filled in, in the hashable type-and-value form that `==` and `hash`
    compare, and `digest`, the hash of (constructor, key)."""

    constructor: str
    arguments: tuple[tuple[str, Any], ...]
    key: tuple
    digest: int  # computed once: jit hashes its static arguments on every call

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spec) and self.digest == other.digest and (
            self.constructor, self.key) == (other.constructor, other.key)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return self.digest

    def __repr__(self) -> str:
        short = self.constructor.rsplit(".", 1)[-1]
        return f"{short}({', '.join(_show(n, v) for n, v in self.arguments)})"


def _text(value: Any) -> str:
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return value.__qualname__
    return repr(value)


def _show(name: str, value: Any) -> str:
    if name.startswith("*"):
        return ", ".join(_text(v) for v in value)
    return f"{name}={_text(value)}"


def _freeze(value: Any) -> Any:
    """The hashable type-and-value form of an argument; TypeError when it has none."""
    if isinstance(value, _SCALARS):
        return (type(value).__name__, repr(value))
    if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((_freeze(k), _freeze(v)) for k, v in value.items()))
    hash(value)  # a layer, a transform, a function, a dtype: compared by its own ==
    return value


def spec_of(constructor: Callable[..., Any], *args: Any, **kwargs: Any) -> Spec | None:
    """The `Spec` of the call `constructor(*args, **kwargs)`, or None when an argument cannot be
    hashed (an array, a tracer)."""
    signature = inspect.signature(constructor)
    bound = signature.bind(*args, **kwargs)
    star = {n for n, p in signature.parameters.items() if p.kind is p.VAR_POSITIONAL}
    arguments = tuple((f"*{n}" if n in star else n, v) for n, v in bound.arguments.items())
    bound.apply_defaults()
    try:
        key = tuple((name, _freeze(value)) for name, value in bound.arguments.items())
    except TypeError:
        return None
    name = f"{constructor.__module__}.{constructor.__qualname__}"
    return Spec(name, arguments, key, hash((name, key)))


class ByValue:
    """A function with a value identity: calling it calls `fn`; `==` and `hash` use `spec`."""

    __slots__ = ("fn", "spec", "__weakref__")

    def __init__(self, fn: Callable[..., Any], spec: Spec):
        self.fn, self.spec = fn, spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByValue) and self.spec == other.spec

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.spec)

    def __repr__(self) -> str:
        return repr(self.spec)


def by_value(constructor: Callable[..., T]) -> Callable[..., T]:
    """Record each call of `constructor` on the object it returns (see the module docstring).

    The constructor's own checks run first: a bad argument raises exactly as without it.
    """

    @functools.wraps(constructor)
    def construct(*args: Any, **kwargs: Any) -> T:
        made = constructor(*args, **kwargs)
        spec = spec_of(constructor, *args, **kwargs)  # None: an inner call's spec goes too
        if "spec" in getattr(made, "_fields", ()):
            return made._replace(spec=spec)
        if callable(made):
            fn = made.fn if isinstance(made, ByValue) else made
            return fn if spec is None else ByValue(fn, spec)
        raise TypeError(f"by_value: {constructor.__qualname__} returned {type(made).__name__}, "
                        "neither a Layer, a GradientTransformation nor a function")

    return construct


def same_by_spec(a: Any, b: Any, fields: tuple[str, ...]) -> bool:
    """`a == b` for two NamedTuples with a `spec` field: by spec (and `fields`) when both have
    one, else field by field with functions compared by identity."""
    if type(a) is not type(b):
        return False
    if a.spec is not None and b.spec is not None:
        return a.spec == b.spec and all(getattr(a, f) == getattr(b, f) for f in fields)
    return all(x is y or (x == y if isinstance(x, _SCALARS) else False) for x, y in zip(a, b))


def hash_by_spec(a: Any, fields: tuple[str, ...]) -> int:
    """The hash that goes with `same_by_spec`."""
    if a.spec is not None:
        return hash((a.spec, *(getattr(a, f) for f in fields)))
    return hash(tuple(v if isinstance(v, _SCALARS) else id(v) for v in a))


__all__ = ["Spec", "ByValue", "by_value", "spec_of"]
