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
    def rule(call: Call) -> Outputs:
        x = call.x
        if x is None:
            return None
        return [fn(call.config, x)]
    return rule


def identity(call: Call) -> Outputs:
    return None if call.x is None else [call.x]


def dense(config: dict[str, Any], x: Shape) -> Shape:
    return (*x[:-1], int(config["units"]))


def flatten(config: dict[str, Any], x: Shape) -> Shape:
    return (x[0], prod(x[1:]))


def reshape(config: dict[str, Any], x: Shape) -> Shape:
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
    return (x[0], *(x[int(d)] for d in config["dims"]))


def repeat_vector(config: dict[str, Any], x: Shape) -> Shape:
    return (x[0], int(config["n"]), x[1])


def embedding(config: dict[str, Any], x: Shape) -> Shape:
    return (*x, int(config["output_dim"]))


def lambda_layer(call: Call) -> Outputs:
    # Only a declared output shape is used: the function itself is never run.
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
