"""Shape rules of the image-like layers: convolutions, pooling, cropping, padding, upsampling,
resizing."""

from __future__ import annotations

from typing import Any

from ..model import Shape
from .call import Rule
from .core import single
from .dims import (
    conv_length,
    deconv_length,
    int_tuple,
    join_channels,
    padding_of,
    pool_length,
    split_channels,
)


def conv(rank: int, kind: str = "conv") -> Rule:
    """Convolutions of ``rank`` (``kind``: conv, transpose or depthwise)."""
    def fn(config: dict[str, Any], x: Shape) -> Shape:
        spatial, channels = split_channels(x, rank, config)
        kernel = int_tuple(config.get("kernel_size"), rank)
        strides = int_tuple(config.get("strides"), rank)
        dilation = int_tuple(config.get("dilation_rate"), rank)
        padding = padding_of(config)
        if kind == "transpose":
            raw = config.get("output_padding")
            out_pad: tuple[int | None, ...] = (None,) * rank if raw is None \
                else int_tuple(raw, rank)
            out = tuple(deconv_length(length, k, padding, s, d, p) for length, k, s, d, p
                        in zip(spatial, kernel, strides, dilation, out_pad))
        else:
            out = tuple(conv_length(length, k, padding, s, d)
                        for length, k, s, d in zip(spatial, kernel, strides, dilation))
        if kind == "depthwise":
            filters = None if channels is None \
                else channels * int(config.get("depth_multiplier", 1))
        else:
            filters = int(config["filters"])
        return join_channels(x[0], out, filters, config)
    return single(fn)


def pool(rank: int) -> Rule:
    """Max and average pooling of ``rank``."""
    def fn(config: dict[str, Any], x: Shape) -> Shape:
        spatial, channels = split_channels(x, rank, config)
        pool = int_tuple(config.get("pool_size"), rank, default=2)
        strides = pool if config.get("strides") is None else int_tuple(config["strides"], rank)
        padding = padding_of(config)
        out = tuple(pool_length(length, p, padding, s)
                    for length, p, s in zip(spatial, pool, strides))
        return join_channels(x[0], out, channels, config)
    return single(fn)


def global_pool(rank: int) -> Rule:
    """Global pooling of ``rank``: (batch, channels), or ones with ``keepdims``."""
    def fn(config: dict[str, Any], x: Shape) -> Shape:
        spatial, channels = split_channels(x, rank, config)
        if config.get("keepdims"):
            return join_channels(x[0], (1,) * len(spatial), channels, config)
        return (x[0], channels)
    return single(fn)


def pairs(value: Any, rank: int) -> list[tuple[int, int]]:
    """Cropping/padding amounts: an int, one int per axis, or a pair per axis."""
    if isinstance(value, int):
        return [(value, value)] * rank
    items = list(value)
    if rank == 1 and len(items) == 2 and all(isinstance(v, int) for v in items):
        return [(items[0], items[1])]
    if len(items) != rank:
        raise ValueError("length mismatch")
    out = []
    for item in items:
        if isinstance(item, int):
            out.append((item, item))
        else:
            a, b = item
            out.append((int(a), int(b)))
    return out


def crop_pad(rank: int, key: str, sign: int, default: int) -> Rule:
    """Cropping (``sign`` -1) and zero padding (``sign`` 1) of ``rank``."""
    def fn(config: dict[str, Any], x: Shape) -> Shape:
        cfg = config if "data_format" in config else {**config, "data_format": "channels_last"}
        spatial, channels = split_channels(x, rank, cfg)
        amounts = pairs(config.get(key, default), rank)
        out = []
        for length, (a, b) in zip(spatial, amounts):
            out.append(None if length is None else length + sign * (a + b))
        if any(d is not None and d < 0 for d in out):
            raise ValueError("negative dimension")
        return join_channels(x[0], tuple(out), channels, cfg)
    return single(fn)


def upsampling(rank: int) -> Rule:
    """UpSampling of ``rank``: each spatial dimension times ``size``."""
    def fn(config: dict[str, Any], x: Shape) -> Shape:
        cfg = config if rank > 1 else {**config, "data_format": "channels_last"}
        spatial, channels = split_channels(x, rank, cfg)
        size = int_tuple(config.get("size"), rank, default=2)
        out = tuple(None if d is None else d * s for d, s in zip(spatial, size))
        return join_channels(x[0], out, channels, cfg)
    return single(fn)


def resize_like(config: dict[str, Any], x: Shape) -> Shape:
    """Resizing, CenterCrop, RandomCrop: (height, width) from the config."""
    channels = split_channels(x, 2, config)[1]
    return join_channels(x[0], (int(config["height"]), int(config["width"])), channels, config)
