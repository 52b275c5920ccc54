"""Parameter counts: one ``Params`` type, the weights each layer class creates (counted from
its config when the file has no weights), and the one rule for which weights train."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..layer_classes import ANY_CONV_RANK
from .model import Shape
from .shapes.attention import attention_inputs
from .shapes.call import Call
from .shapes.dims import as_shape, axes_of, int_tuple, prod, split_channels
from .shapes.registry import rule_for


@dataclass(frozen=True)
class Params:
    """Parameter counts of one layer."""

    total: int
    trainable: int

    @property
    def non_trainable(self) -> int:
        return self.total - self.trainable

    def __add__(self, other: Params) -> Params:
        return Params(self.total + other.total, self.trainable + other.trainable)


ZERO = Params(0, 0)


def config_params(class_name: str, config: dict[str, Any], inputs: list[Shape | None],
                  module: Any = None,
                  extra: dict[str, list[Shape | None]] | None = None) -> Params | None:
    """Weights a layer creates, counted from its config and input shapes (no file weights).

    Returns None when the class is unknown or a needed input dimension is unknown. Does not
    handle layers that hold a model (the caller sums their inner layers) and ignores the
    layer's ``trainable`` flag (the caller applies it).
    """
    x = inputs[0] if inputs else None
    try:
        result = _config_params(class_name, config, x, inputs, module, extra or {})
    except (TypeError, ValueError, KeyError, IndexError):
        return None
    if result is not None and (result.total < 0 or result.trainable < 0):
        return None
    return result


def _last(x: Shape | None) -> int:
    if x is None or x[-1] is None:
        raise ValueError("unknown input dimension")
    return int(x[-1])


def _channels(x: Shape | None, rank: int, config: dict[str, Any]) -> int:
    if x is None:
        raise ValueError("unknown input")
    _, channels = split_channels(x, rank, config)
    if channels is None:
        raise ValueError("unknown channels")
    return int(channels)


def _bias(config: dict[str, Any]) -> bool:
    return bool(config.get("use_bias", True))


def _normalized_size(config: dict[str, Any], x: Shape | None) -> int | None:
    """How many values a normalization layer learns per parameter: the product of the input's
    dims on its ``axis`` (None when any is unknown)."""
    if x is None:
        return None
    return prod(x[a] for a in axes_of(config.get("axis", -1), len(x)))


def _config_params(class_name: str, config: dict[str, Any], x: Shape | None,
                   inputs: list[Shape | None], module: Any,
                   extra: dict[str, list[Shape | None]]) -> Params | None:
    if rule_for(class_name, module) is None and class_name not in ANY_CONV_RANK:
        return None
    bias = _bias(config)
    if class_name == "Dense":
        units = int(config["units"])
        n = _last(x) * units + (units if bias else 0)
        return Params(n, n)
    if class_name in ANY_CONV_RANK and not class_name.startswith("ConvLSTM"):
        rank = ANY_CONV_RANK[class_name]
        channels = _channels(x, rank, config)
        kernel = math.prod(int_tuple(config.get("kernel_size"), rank))
        if class_name.startswith("Depthwise"):
            out = channels * int(config.get("depth_multiplier", 1))
            n = kernel * out + (out if bias else 0)
        elif class_name.startswith("Separable"):
            mid = channels * int(config.get("depth_multiplier", 1))
            filters = int(config["filters"])
            n = kernel * mid + mid * filters + (filters if bias else 0)
        else:
            filters = int(config["filters"])
            groups = int(config.get("groups") or 1)
            n = kernel * (channels // groups) * filters + (filters if bias else 0)
        return Params(n, n)
    if class_name.startswith("ConvLSTM"):
        rank = ANY_CONV_RANK[class_name]
        if x is None:
            return None
        step = (x[0], *x[2:])
        channels = _channels(step, rank, config)
        filters = int(config["filters"])
        kernel = math.prod(int_tuple(config.get("kernel_size"), rank))
        n = kernel * channels * 4 * filters + kernel * filters * 4 * filters \
            + (4 * filters if bias else 0)
        return Params(n, n)
    if class_name in ("LSTM", "GRU", "SimpleRNN"):
        units = int(config["units"])
        gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[class_name]
        n = gates * units * (_last(x) + units)
        if bias:
            twice = class_name == "GRU" and config.get("reset_after", True)
            n += gates * units * (2 if twice else 1)
        return Params(n, n)
    if class_name == "Bidirectional":
        forward = config.get("layer") or {}
        backward = config.get("backward_layer") or forward
        total = ZERO
        for inner in (forward, backward):
            p = config_params(str(inner.get("class_name")), inner.get("config") or {}, inputs,
                              inner.get("module"))
            if p is None:
                return None
            if not (inner.get("config") or {}).get("trainable", True):
                p = Params(p.total, 0)
            total = total + p
        return total
    if class_name == "TimeDistributed":
        inner = config.get("layer") or {}
        if x is None or len(x) < 3:
            return None
        p = config_params(str(inner.get("class_name")), inner.get("config") or {},
                          [(x[0], *x[2:])], inner.get("module"))
        if p is not None and not (inner.get("config") or {}).get("trainable", True):
            p = Params(p.total, 0)
        return p
    if class_name == "Embedding":
        n = int(config["input_dim"]) * int(config["output_dim"])
        return Params(n, n)
    if class_name == "BatchNormalization":
        size = _normalized_size(config, x)
        if size is None:
            return None
        flags = int(bool(config.get("scale", True))) + int(bool(config.get("center", True)))
        learned = size * flags
        return Params(learned + 2 * size, learned)
    if class_name in ("LayerNormalization", "RMSNormalization", "GroupNormalization"):
        size = _normalized_size(config, x)
        if size is None:
            return None
        if class_name == "RMSNormalization":
            return Params(size, size)
        rms = bool(config.get("rms_scaling", False))
        count = int(bool(config.get("scale", True)) or rms) \
            + int(bool(config.get("center", True)) and not rms)
        return Params(count * size, count * size)
    if class_name == "Normalization":
        if config.get("mean") is not None:
            return ZERO
        if x is None:
            return None
        axis = config.get("axis", -1)
        size = 1 if axis is None else prod(x[a] for a in axes_of(axis, len(x)))
        if size is None:
            return None
        return Params(2 * size + 1, 0)
    if class_name == "PReLU":
        if x is None:
            return None
        shared = set(axes_of(config.get("shared_axes"), len(x)) if config.get("shared_axes")
                     is not None else [])
        size = prod(1 if i in shared else d for i, d in enumerate(x) if i > 0)
        return None if size is None else Params(size, size)
    if class_name == "MultiHeadAttention":
        q, v, k = attention_inputs(Call(class_name, config, inputs, extra))
        return _mha_params(config, q, v, k)
    if class_name == "Attention":
        n = int(bool(config.get("use_scale"))) + int(config.get("score_mode") == "concat")
        return Params(n, n)
    if class_name == "AdditiveAttention":
        n = _last(x) if config.get("use_scale", True) else 0
        return Params(n, n)
    if class_name == "LayerScale":
        n = int(config["projection_dim"])
        return Params(n, n)
    if class_name in ("TensorFlowOpLayer", "TFOpLambda", "Lambda"):
        return ZERO
    return ZERO  # every other known class creates no weights


def _mha_params(config: dict[str, Any], q: Shape | None, v: Shape | None,
                k: Shape | None) -> Params | None:
    q_shape = q or as_shape(config.get("query_shape"))
    v_shape = v or as_shape(config.get("value_shape"))
    k_shape = k or as_shape(config.get("key_shape")) or v_shape
    if q_shape is None or v_shape is None or k_shape is None:
        return None
    heads = int(config["num_heads"])
    key_dim = int(config["key_dim"])
    value_dim = int(config.get("value_dim") or key_dim)
    bias = _bias(config)
    target = config.get("output_shape")
    if target is None:
        out = _last(q_shape)
    elif isinstance(target, int):
        out = target
    else:
        out = math.prod(int(d) for d in target)
    n = _last(q_shape) * heads * key_dim + _last(k_shape) * heads * key_dim \
        + _last(v_shape) * heads * value_dim + heads * value_dim * out
    if bias:
        n += 2 * heads * key_dim + heads * value_dim + out
    return Params(n, n)
