"""Parameter counts: one ``Params`` type, the weights each layer class creates (counted from
its config when the file has no weights), and the one rule for which weights train."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..formats.dialects.legacy_layers import LEGACY_LAYER_MODULE
from ..layer_classes import (
    ANY_CONV_RANK,
    BATCHNORM_CLASSES,
    CONV_LSTM_RANK,
    CONV_RANK,
    DEPTHWISE_CONV_RANK,
    NON_TRAINABLE_CLASSES,
    NON_TRAINABLE_WEIGHT_NAMES,
    RNN_GATES,
    SEPARABLE_CONV_RANK,
)
from .model import Graph, LayerInfo, Shape
from .shapes.attention import attention_inputs
from .shapes.call import Call
from .shapes.dims import as_shape, axes_of, channels_of, int_tuple, last_dim, prod, split_channels
from .shapes.registry import rule_for
from .shapes.walk import NodeShapes, ShapeMap


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


def layer_config_params(info: LayerInfo, node_shapes: NodeShapes | None) -> Params | None:
    """Params of one layer (not a nested model) counted from its config and first call."""
    if node_shapes is None:
        return config_params(info.class_name, info.config, [], info.module)
    return config_params(info.class_name, info.config, list(node_shapes.inputs), info.module,
                         node_shapes.extra)


def graph_params(graph: Graph, shapes: ShapeMap) -> Params | None:
    """Params of a nested model counted from its layers' configs (each layer's own
    ``trainable`` flag applied); None when any is unknown."""
    total = ZERO
    for info in graph.visible_layers():
        if info.is_input:
            continue
        node = info.nodes[0] if info.nodes else None
        node_shapes = shapes.nodes.get(node.key) if node is not None else None
        if info.graph is not None:
            if node_shapes is None or node_shapes.inner is None:
                return None
            p = graph_params(info.graph, node_shapes.inner)
        else:
            p = layer_config_params(info, node_shapes)
        if p is None:
            return None
        total = total + (p if info.trainable else Params(p.total, 0))
    return total


def never_trained(class_name: str | None, names: Sequence[str],
                  config_names: Sequence[str] | None = None) -> list[bool]:
    """Which of one layer's weights Keras never trains, whatever the layer's flag: all of a
    ``Normalization``'s, and BatchNormalization's running statistics.

    Args:
        class_name: the class that owns the weights (a wrapper's inner class), None if unknown.
        names: the weights' names in the file, in order (``moving_mean``, ``0``, ...).
        config_names: the names the layer's config implies in Keras order, to read files
            that number the weights instead of naming them.

    Returns:
        One flag per weight, True for a weight that never trains.

    Example:
        >>> never_trained("BatchNormalization", ["gamma", "beta", "moving_mean", "moving_variance"])
        [False, False, True, True]
    """
    if class_name in NON_TRAINABLE_CLASSES:
        return [True] * len(names)
    named = [config_names[int(n)] if config_names and n.isdigit() and int(n) < len(config_names)
             else n for n in names]
    flags = [name in NON_TRAINABLE_WEIGHT_NAMES for name in named]
    if class_name in BATCHNORM_CLASSES and len(flags) >= 2 and not any(flags):
        # Names were not recorded (Keras 3 weights): the statistics are the last two.
        flags[-2:] = [True, True]
    return flags


def config_params(class_name: str, config: dict[str, Any], inputs: list[Shape | None],
                  module: Any = None,
                  extra: dict[str, list[Shape | None]] | None = None) -> Params | None:
    """Weights a layer creates, counted from its config and input shapes (no file weights).

    Returns None when the class is unknown or a needed input dimension is unknown. Does not
    handle layers that hold a model (the caller sums their inner layers) and ignores the
    layer's ``trainable`` flag (the caller applies it).
    """
    call = Call(class_name, config, inputs, extra or {},
                module=module if isinstance(module, str) else None)
    try:
        result = _config_params(call)
    except (TypeError, ValueError, KeyError, IndexError):
        return None
    if result is not None and (result.total < 0 or result.trainable < 0):
        return None
    return result


def _bias(config: dict[str, Any]) -> bool:
    return bool(config.get("use_bias", True))


def _normalized_size(config: dict[str, Any], x: Shape | None) -> int | None:
    """How many values a normalization layer learns per parameter: the product of the input's
    dims on its ``axis`` (None when any is unknown)."""
    if x is None:
        return None
    return prod(x[a] for a in axes_of(config.get("axis", -1), len(x)))


def _trained(n: int) -> Params:
    return Params(n, n)


# -- one counting rule per class (or family) ------------------------------------------------------

ParamRule = Callable[[Call], "Params | None"]


def _dense(call: Call) -> Params:
    units = int(call.config["units"])
    return _trained(last_dim(call.x) * units + (units if _bias(call.config) else 0))


def _conv(call: Call) -> Params:
    config = call.config
    rank = ANY_CONV_RANK[call.class_name]
    channels = channels_of(call.x, rank, config)
    kernel = math.prod(int_tuple(config.get("kernel_size"), rank))
    filters = int(config["filters"])
    groups = int(config.get("groups") or 1)
    return _trained(kernel * (channels // groups) * filters
                    + (filters if _bias(config) else 0))


def _depthwise_conv(call: Call) -> Params:
    config = call.config
    rank = ANY_CONV_RANK[call.class_name]
    kernel = math.prod(int_tuple(config.get("kernel_size"), rank))
    out = channels_of(call.x, rank, config) * int(config.get("depth_multiplier", 1))
    return _trained(kernel * out + (out if _bias(config) else 0))


def _separable_conv(call: Call) -> Params:
    config = call.config
    rank = ANY_CONV_RANK[call.class_name]
    kernel = math.prod(int_tuple(config.get("kernel_size"), rank))
    mid = channels_of(call.x, rank, config) * int(config.get("depth_multiplier", 1))
    filters = int(config["filters"])
    return _trained(kernel * mid + mid * filters + (filters if _bias(config) else 0))


def _conv_lstm(call: Call) -> Params | None:
    config, x = call.config, call.x
    rank = ANY_CONV_RANK[call.class_name]
    if x is None:
        return None
    channels = channels_of((x[0], *x[2:]), rank, config)
    filters = int(config["filters"])
    kernel = math.prod(int_tuple(config.get("kernel_size"), rank))
    return _trained(kernel * channels * 4 * filters + kernel * filters * 4 * filters
                    + (4 * filters if _bias(config) else 0))


def _rnn(call: Call) -> Params:
    config = call.config
    units = int(config["units"])
    gates = RNN_GATES[call.class_name]
    n = gates * units * (last_dim(call.x) + units)
    if _bias(config):
        twice = call.class_name == "GRU" and config.get("reset_after", True)
        n += gates * units * (2 if twice else 1)
    return _trained(n)


def _inner_params(inner: dict[str, Any], inputs: list[Shape | None]) -> Params | None:
    """A wrapped layer's params, its own ``trainable`` flag applied."""
    p = config_params(str(inner.get("class_name")), inner.get("config") or {}, inputs,
                      inner.get("module"))
    if p is not None and not (inner.get("config") or {}).get("trainable", True):
        p = Params(p.total, 0)
    return p


def _bidirectional(call: Call) -> Params | None:
    forward = call.config.get("layer") or {}
    backward = call.config.get("backward_layer") or forward
    total = ZERO
    for inner in (forward, backward):
        p = _inner_params(inner, call.inputs)
        if p is None:
            return None
        total = total + p
    return total


def _time_distributed(call: Call) -> Params | None:
    x = call.x
    if x is None or len(x) < 3:
        return None
    return _inner_params(call.config.get("layer") or {}, [(x[0], *x[2:])])


def _embedding(call: Call) -> Params:
    return _trained(int(call.config["input_dim"]) * int(call.config["output_dim"]))


def _batch_normalization(call: Call) -> Params | None:
    config = call.config
    size = _normalized_size(config, call.x)
    if size is None:
        return None
    flags = int(bool(config.get("scale", True))) + int(bool(config.get("center", True)))
    learned = size * flags
    return Params(learned + 2 * size, learned)


def _layer_normalization(call: Call) -> Params | None:
    config = call.config
    size = _normalized_size(config, call.x)
    if size is None:
        return None
    rms = bool(config.get("rms_scaling", False))
    count = int(bool(config.get("scale", True)) or rms) \
        + int(bool(config.get("center", True)) and not rms)
    return _trained(count * size)


def _rms_normalization(call: Call) -> Params | None:
    size = _normalized_size(call.config, call.x)
    return None if size is None else _trained(size)


def _normalization(call: Call) -> Params | None:
    config, x = call.config, call.x
    if config.get("mean") is not None:
        return ZERO
    if x is None:
        return None
    axis = config.get("axis", -1)
    size = 1 if axis is None else prod(x[a] for a in axes_of(axis, len(x)))
    if size is None:
        return None
    return Params(2 * size + 1, 0)


def _prelu(call: Call) -> Params | None:
    config, x = call.config, call.x
    if x is None:
        return None
    shared = set(axes_of(config.get("shared_axes"), len(x)) if config.get("shared_axes")
                 is not None else [])
    size = prod(1 if i in shared else d for i, d in enumerate(x) if i > 0)
    return None if size is None else _trained(size)


def _multi_head_attention(call: Call) -> Params | None:
    config = call.config
    q, v, k = attention_inputs(call)
    q_shape = q or as_shape(config.get("query_shape"))
    v_shape = v or as_shape(config.get("value_shape"))
    k_shape = k or as_shape(config.get("key_shape")) or v_shape
    if q_shape is None or v_shape is None or k_shape is None:
        return None
    heads = int(config["num_heads"])
    key_dim = int(config["key_dim"])
    value_dim = int(config.get("value_dim") or key_dim)
    target = config.get("output_shape")
    if target is None:
        out = last_dim(q_shape)
    elif isinstance(target, int):
        out = target
    else:
        out = math.prod(int(d) for d in target)
    n = last_dim(q_shape) * heads * key_dim + last_dim(k_shape) * heads * key_dim \
        + last_dim(v_shape) * heads * value_dim + heads * value_dim * out
    if _bias(config):
        n += 2 * heads * key_dim + heads * value_dim + out
    return _trained(n)


def _attention(call: Call) -> Params:
    config = call.config
    return _trained(int(bool(config.get("use_scale"))) + int(config.get("score_mode") == "concat"))


def _additive_attention(call: Call) -> Params:
    return _trained(last_dim(call.x) if call.config.get("use_scale", True) else 0)


def _layer_scale(call: Call) -> Params:
    return _trained(int(call.config["projection_dim"]))


#: The classes that create weights; every other class with a shape rule creates none.
_PARAM_RULES: dict[str, ParamRule] = {
    "Dense": _dense,
    **{name: _conv for name in CONV_RANK},
    **{name: _depthwise_conv for name in DEPTHWISE_CONV_RANK},
    **{name: _separable_conv for name in SEPARABLE_CONV_RANK},
    **{name: _conv_lstm for name in CONV_LSTM_RANK},
    **{name: _rnn for name in RNN_GATES},
    "Bidirectional": _bidirectional, "TimeDistributed": _time_distributed,
    "Embedding": _embedding,
    "BatchNormalization": _batch_normalization,
    "LayerNormalization": _layer_normalization, "GroupNormalization": _layer_normalization,
    "RMSNormalization": _rms_normalization,
    "Normalization": _normalization,
    "PReLU": _prelu,
    "MultiHeadAttention": _multi_head_attention,
    "Attention": _attention, "AdditiveAttention": _additive_attention,
    "LayerScale": _layer_scale,
}


def _config_params(call: Call) -> Params | None:
    if rule_for(call.class_name, call.module) is None and call.class_name not in ANY_CONV_RANK:
        return None
    if call.module == LEGACY_LAYER_MODULE:
        return legacy_params(call.class_name, call.config, call.x)
    rule = _PARAM_RULES.get(call.class_name)
    return ZERO if rule is None else rule(call)


# -- modeltool's registered legacy layers (keras_bridge.legacy_layers) ---------------------------

_LEGACY_CLASSES = frozenset({"Highway", "LocallyConnected1D", "LocallyConnected2D",
                             "CosineMerge"})


def _window_total(length: int, kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """(output length, how many input positions all windows read together) along one axis."""
    if padding == "same":
        count = -(-length // stride)
        reads = 0
        for position in range(count):
            start = position * stride - kernel // 2
            reads += min(start + kernel, length) - max(start, 0)
        return count, reads
    count = (length - kernel) // stride + 1
    return count, count * kernel


def locally_connected_params(rank: int, config: dict[str, Any], x: Shape | None) -> Params:
    """Weights of a LocallyConnected layer for each of tf.keras' three implementations."""
    if x is None:
        raise ValueError("unknown input")
    spatial, channels = split_channels(x, rank, config)
    if channels is None or any(d is None for d in spatial):
        raise ValueError("unknown input dimension")
    lengths = [int(d) for d in spatial if d is not None]
    kernel = int_tuple(config.get("kernel_size"), rank)
    strides = int_tuple(config.get("strides"), rank)
    padding = str(config.get("padding", "valid")).lower()
    filters = int(config["filters"])
    axes = [_window_total(n, k, s, padding) for n, k, s in zip(lengths, kernel, strides)]
    positions = math.prod(count for count, _ in axes)
    implementation = int(config.get("implementation") or 1)
    if implementation == 2:
        n = math.prod(lengths) * int(channels) * positions * filters
    elif implementation == 3:
        n = math.prod(reads for _, reads in axes) * int(channels) * filters
    else:
        n = positions * math.prod(kernel) * int(channels) * filters
    if config.get("use_bias", True):
        n += positions * filters
    return Params(n, n)


def _legacy_params(class_name: str, config: dict[str, Any], x: Shape | None) -> Params:
    if class_name == "Highway":
        if x is None or x[-1] is None:
            raise ValueError("unknown input dimension")
        dim = int(x[-1])
        n = 2 * dim * dim + (2 * dim if config.get("use_bias", True) else 0)
        return Params(n, n)
    if class_name.startswith("LocallyConnected"):
        return locally_connected_params(int(class_name[-2]), config, x)
    return Params(0, 0)


def legacy_params(class_name: str, config: dict[str, Any], x: Shape | None) -> Params | None:
    """Parameter counts of one of these layers (None for another class)."""
    return _legacy_params(class_name, config, x) if class_name in _LEGACY_CLASSES else None
