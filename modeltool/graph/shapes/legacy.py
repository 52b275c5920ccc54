"""Output shapes and parameter counts of modeltool's registered legacy layers (``Highway``,
``LocallyConnected1D``/``2D``, ``CosineMerge``; see ``keras_bridge.legacy_layers``), without
TensorFlow. ``shapes`` asks here for a layer whose module is ``keras_bridge.legacy_layers``."""

from __future__ import annotations

import math
from typing import Any

from ..model import Shape
from ..params import Params
from .call import Rule
from .core import identity
from .dims import int_tuple, split_channels
from .merge import dot
from .spatial import conv


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


def _params(class_name: str, config: dict[str, Any], x: Shape | None) -> Params:
    if class_name == "Highway":
        if x is None or x[-1] is None:
            raise ValueError("unknown input dimension")
        dim = int(x[-1])
        n = 2 * dim * dim + (2 * dim if config.get("use_bias", True) else 0)
        return Params(n, n)
    if class_name.startswith("LocallyConnected"):
        return locally_connected_params(int(class_name[-2]), config, x)
    return Params(0, 0)


RULES: dict[str, Rule] = {
    "Highway": identity,
    "LocallyConnected1D": conv(1),
    "LocallyConnected2D": conv(2),
    "CosineMerge": dot,
}


def legacy_params(class_name: str, config: dict[str, Any], x: Shape | None) -> Params | None:
    """Parameter counts of one of these layers (None for another class)."""
    return _params(class_name, config, x) if class_name in RULES else None


