"""Shape rules of the core layers: Dense, Embedding, reshaping, Lambda, identity layers."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..model import Shape
from .call import Call, Outputs, Rule
from .dims import as_shape, prod
from .merge import elementwise_merge


def single(fn: Callable[[dict[str, Any], Shape], Shape]) -> Rule:
    """A rule for a layer with one input and one output, from ``fn(config, x)``."""
    def rule(call: Call) -> Outputs:
        x = call.x
        if x is None:
            return None
        return [fn(call.config, x)]
    return rule


def identity(call: Call) -> Outputs:
    """Layers whose output has their input's shape."""
    return None if call.x is None else [call.x]


def dense(config: dict[str, Any], x: Shape) -> Shape:
    """Dense: the last dimension becomes ``units``."""
    return (*x[:-1], int(config["units"]))


def flatten(config: dict[str, Any], x: Shape) -> Shape:
    """Flatten: (batch, product of the rest)."""
    return (x[0], prod(x[1:]))


def reshape(config: dict[str, Any], x: Shape) -> Shape:
    """Reshape to ``target_shape`` (one -1 filled from the input's size)."""
    target = [int(d) if d is not None else -1 for d in config["target_shape"]]
    if target.count(-1) > 1:
        raise ValueError("two unknown dimensions")
    known = prod(x[1:])
    if -1 in target:
        rest = math.prod(d for d in target if d != -1)
        fill = None if known is None or rest == 0 else known // rest
        return (x[0], *(fill if d == -1 else d for d in target))
    return (x[0], *target)


def permute(config: dict[str, Any], x: Shape) -> Shape:
    """Permute the non-batch dimensions by ``dims``."""
    return (x[0], *(x[int(d)] for d in config["dims"]))


def repeat_vector(config: dict[str, Any], x: Shape) -> Shape:
    """RepeatVector: (batch, n, features)."""
    return (x[0], int(config["n"]), x[1])


def embedding(config: dict[str, Any], x: Shape) -> Shape:
    """Embedding: one ``output_dim`` vector per input index."""
    return (*x, int(config["output_dim"]))


def lambda_layer(call: Call) -> Outputs:
    # Only a declared output shape is used: the function itself is never run.
    """Lambda: only a declared ``output_shape`` is used (the function never runs)."""
    shape = call.config.get("output_shape")
    kind = call.config.get("output_shape_type", "raw")
    if kind != "raw" or not isinstance(shape, (list, tuple)) or call.x is None:
        return None
    declared = as_shape(shape)
    if declared is None:
        return None
    return [(call.x[0], *declared)]


def first_input_shape(call: Call) -> Outputs:
    """Layers that take [x, y] and return x's shape (CustomScaleLayer's broadcast)."""
    return elementwise_merge(Call("Add", call.config, call.inputs))
