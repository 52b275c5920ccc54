"""Multiply-accumulates per sample, for the layers where they are defined (Dense,
convolutions, recurrent layers and their wrappers)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..layer_classes import (
    ANY_CONV_RANK,
    CONV_RANK,
    CONV_TRANSPOSE_CLASSES,
    DEPTHWISE_CONV_RANK,
    RNN_GATES,
    SEPARABLE_CONV_RANK,
    WRAPPER_CLASSES,
)
from .model import Graph, LayerInfo, Shape
from .shapes.call import Outputs
from .shapes.dims import channels_of, int_tuple, last_dim, prod, split_channels
from .shapes.ops import TF_BINARY, TF_UNARY, TFOPLAMBDA_BINARY, TFOPLAMBDA_UNARY
from .shapes.registry import known_class
from .shapes.walk import NodeShapes, ShapeMap

#: (config, input shape, output shape or None, all inputs) -> MACs per sample.
MacsRule = Callable[[dict[str, Any], Shape, "Shape | None", list["Shape | None"]], "int | None"]


def node_macs(info: LayerInfo, node_shapes: NodeShapes | None) -> int | None:
    """MACs per sample of one call; None where not defined or not known."""
    if node_shapes is None:
        return None
    if info.graph is None:
        return config_macs(info.class_name, info.config, node_shapes.inputs,
                           node_shapes.outputs)
    if node_shapes.inner is None:
        return None
    inner = graph_macs(info.graph, node_shapes.inner)
    if inner is None or info.class_name != "TimeDistributed":
        return inner
    x = node_shapes.inputs[0] if node_shapes.inputs else None
    if x is None or len(x) < 2 or x[1] is None:
        return None
    return inner * int(x[1])


def graph_macs(graph: Graph, shapes: ShapeMap) -> int | None:
    """MACs of one call of a nested model; None when a layer that has MACs has unknown ones
    (or when no layer inside has any)."""
    total = 0
    defined = False
    for info in graph.visible_layers():
        if not has_macs(info):
            continue
        for node in info.nodes:
            m = node_macs(info, shapes.nodes.get(node.key))
            if m is None:
                return None
            total += m
            defined = True
    return total if defined else None


def unmeasured_layers(graph: Graph, prefix: str = "") -> list[str]:
    """Paths of the layers whose compute modeltool cannot know from the file (a Lambda, a
    TF-op layer, a class it has no rule for), nested models included."""
    found: list[str] = []
    for info in graph.visible_layers():
        path = f"{prefix}{info.name}"
        if info.graph is not None:
            found += unmeasured_layers(info.graph, f"{path}/")
        elif not info.is_input and compute_unknowable(info.class_name, info.config,
                                                      info.module):
            found.append(path)
    return found


def has_macs(info: LayerInfo) -> bool:
    """Whether a layer (or any layer inside it) is one whose MACs are counted."""
    if info.graph is None:
        return macs_defined(info.class_name, info.config)
    return any(has_macs(inner) for inner in info.graph.layers.values())


def macs_defined(class_name: str, config: dict[str, Any]) -> bool:
    """True for the layers whose MACs ``config_macs`` counts (when their shapes are known)."""
    if class_name in WRAPPER_CLASSES:
        inner = config.get("layer") or {}
        return macs_defined(str(inner.get("class_name")), inner.get("config") or {})
    return class_name in _MACS_RULES


def compute_unknowable(class_name: str, config: dict[str, Any], module: Any = None) -> bool:
    """True for a layer whose computation the file does not describe (a Lambda, a TF-op layer
    beyond the elementwise ops, a class modeltool has no rule for): its MACs cannot be known."""
    if class_name == "Lambda" or not known_class(class_name, module):
        return True
    if class_name == "TensorFlowOpLayer":
        return str((config.get("node_def") or {}).get("op")) not in TF_UNARY | TF_BINARY
    if class_name == "TFOpLambda":
        return str(config.get("function")) not in TFOPLAMBDA_UNARY | TFOPLAMBDA_BINARY
    return False


def config_macs(class_name: str, config: dict[str, Any], inputs: list[Shape | None],
                outputs: Outputs) -> int | None:
    """Multiply-accumulates per sample of one call, for the layers where they are defined
    (Dense, convolutions, recurrent layers and their wrappers); None elsewhere or when a shape
    is unknown."""
    x = inputs[0] if inputs else None
    y = outputs[0] if outputs else None
    rule = _MACS_RULES.get(class_name) or _WRAPPER_MACS.get(class_name)
    if rule is None or x is None:
        return None
    try:
        macs = rule(config, x, y, inputs)
    except (TypeError, ValueError, KeyError, IndexError):
        return None
    return None if macs is not None and macs < 0 else macs


def _dense(config: dict[str, Any], x: Shape, y: Shape | None,
           inputs: list[Shape | None]) -> int | None:
    positions = prod(x[1:-1])
    return None if positions is None else positions * last_dim(x) * int(config["units"])


def _conv_family(class_name: str) -> MacsRule:
    rank = ANY_CONV_RANK[class_name]

    def rule(config: dict[str, Any], x: Shape, y: Shape | None,
             inputs: list[Shape | None]) -> int | None:
        if y is None:
            return None
        channels = channels_of(x, rank, config)
        kernel = math.prod(int_tuple(config.get("kernel_size"), rank))
        if class_name in CONV_TRANSPOSE_CLASSES:
            positions = prod(split_channels(x, rank, config)[0])
            return None if positions is None \
                else positions * channels * kernel * int(config["filters"])
        positions = prod(split_channels(y, rank, config)[0])
        if positions is None:
            return None
        if class_name in DEPTHWISE_CONV_RANK:
            return positions * kernel * channels * int(config.get("depth_multiplier", 1))
        if class_name in SEPARABLE_CONV_RANK:
            mid = channels * int(config.get("depth_multiplier", 1))
            return positions * (kernel * mid + mid * int(config["filters"]))
        groups = int(config.get("groups") or 1)
        return positions * kernel * (channels // groups) * int(config["filters"])
    return rule


def _rnn(gates: int) -> MacsRule:
    def rule(config: dict[str, Any], x: Shape, y: Shape | None,
             inputs: list[Shape | None]) -> int | None:
        if len(x) != 3 or x[1] is None:
            return None
        units = int(config["units"])
        return int(x[1]) * gates * units * (last_dim(x) + units)
    return rule


def _bidirectional(config: dict[str, Any], x: Shape, y: Shape | None,
                   inputs: list[Shape | None]) -> int | None:
    inner = config.get("layer") or {}
    backward = config.get("backward_layer") or inner
    total = 0
    for layer in (inner, backward):
        macs = config_macs(str(layer.get("class_name")), layer.get("config") or {},
                           inputs[:1], None)
        if macs is None:
            return None
        total += macs
    return total


def _time_distributed(config: dict[str, Any], x: Shape, y: Shape | None,
                      inputs: list[Shape | None]) -> int | None:
    inner = config.get("layer") or {}
    if len(x) < 3 or x[1] is None:
        return None
    step_in: list[Shape | None] = [(x[0], *x[2:])]
    step_out: list[Shape | None] | None = None if y is None else [(y[0], *y[2:])]
    macs = config_macs(str(inner.get("class_name")), inner.get("config") or {}, step_in,
                       step_out)
    return None if macs is None else macs * int(x[1])


#: The classes whose MACs are counted (``macs_defined``); the wrappers count their layer's.
_MACS_RULES: dict[str, MacsRule] = {
    "Dense": _dense,
    **{name: _conv_family(name)
       for name in (*CONV_RANK, *DEPTHWISE_CONV_RANK, *SEPARABLE_CONV_RANK)},
    **{name: _rnn(gates) for name, gates in RNN_GATES.items()},
}
_WRAPPER_MACS: dict[str, MacsRule] = {"Bidirectional": _bidirectional,
                                      "TimeDistributed": _time_distributed}
