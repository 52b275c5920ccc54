"""Multiply-accumulates per sample, for the layers where they are defined (Dense,
convolutions, recurrent layers and their wrappers)."""

from __future__ import annotations

import math
from typing import Any

from ..layer_classes import ANY_CONV_RANK
from .model import Shape
from .params import _channels, _last
from .shapes.call import Outputs
from .shapes.dims import int_tuple, prod, split_channels
from .shapes.ops import TF_BINARY, TF_UNARY, TFOPLAMBDA_BINARY, TFOPLAMBDA_UNARY
from .shapes.registry import known_class

_MACS_CLASSES = frozenset({"Dense", "LSTM", "GRU", "SimpleRNN", *ANY_CONV_RANK}) - {
    "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"}


def macs_defined(class_name: str, config: dict[str, Any]) -> bool:
    """True for the layers whose MACs ``config_macs`` counts (when their shapes are known)."""
    if class_name in ("Bidirectional", "TimeDistributed"):
        inner = config.get("layer") or {}
        return macs_defined(str(inner.get("class_name")), inner.get("config") or {})
    return class_name in _MACS_CLASSES


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
    try:
        macs = _config_macs(class_name, config, inputs, outputs)
    except (TypeError, ValueError, KeyError, IndexError):
        return None
    return None if macs is not None and macs < 0 else macs


def _config_macs(class_name: str, config: dict[str, Any], inputs: list[Shape | None],
                 outputs: Outputs) -> int | None:
    x = inputs[0] if inputs else None
    y = outputs[0] if outputs else None
    if x is None:
        return None
    if class_name == "Dense":
        positions = prod(x[1:-1])
        return None if positions is None else positions * _last(x) * int(config["units"])
    if class_name in ANY_CONV_RANK and not class_name.startswith("ConvLSTM"):
        if y is None:
            return None
        rank = ANY_CONV_RANK[class_name]
        channels = _channels(x, rank, config)
        kernel = math.prod(int_tuple(config.get("kernel_size"), rank))
        out_spatial = split_channels(y, rank, config)[0]
        in_spatial, _ = split_channels(x, rank, config)
        if class_name.endswith("Transpose"):
            positions = prod(in_spatial)
            return None if positions is None \
                else positions * channels * kernel * int(config["filters"])
        positions = prod(out_spatial)
        if positions is None:
            return None
        if class_name.startswith("Depthwise"):
            return positions * kernel * channels * int(config.get("depth_multiplier", 1))
        if class_name.startswith("Separable"):
            mid = channels * int(config.get("depth_multiplier", 1))
            return positions * (kernel * mid + mid * int(config["filters"]))
        groups = int(config.get("groups") or 1)
        return positions * kernel * (channels // groups) * int(config["filters"])
    if class_name in ("LSTM", "GRU", "SimpleRNN"):
        if len(x) != 3 or x[1] is None:
            return None
        units = int(config["units"])
        gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[class_name]
        return int(x[1]) * gates * units * (_last(x) + units)
    if class_name == "Bidirectional":
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
    if class_name == "TimeDistributed":
        inner = config.get("layer") or {}
        if len(x) < 3 or x[1] is None:
            return None
        step_in: list[Shape | None] = [(x[0], *x[2:])]
        step_out: list[Shape | None] | None = None if y is None else [(y[0], *y[2:])]
        macs = config_macs(str(inner.get("class_name")), inner.get("config") or {}, step_in,
                           step_out)
        return None if macs is None else macs * int(x[1])
    return None
