"""Dimension arithmetic the shape rules share: channel axes, convolution and pooling lengths,
broadcasting, axes."""

from __future__ import annotations

from typing import Any

from ..model import Shape


def int_tuple(value: Any, n: int, default: int = 1) -> tuple[int, ...]:
    """An int or a sequence of ints as ``n`` ints (``kernel_size=3`` -> (3, 3))."""
    if value is None:
        return (default,) * n
    if isinstance(value, int):
        return (value,) * n
    items = tuple(int(v) for v in value)
    if len(items) == 1 and n > 1:
        return items * n
    if len(items) != n:
        raise ValueError("length mismatch")
    return items


def channels_first(config: dict[str, Any]) -> bool:
    """Whether the config puts channels before the spatial dimensions."""
    return config.get("data_format") == "channels_first"


def split_channels(x: Shape, rank: int, config: dict[str, Any]
           ) -> tuple[tuple[int | None, ...], int | None]:
    """(spatial dims, channels) of an image-like shape."""
    if len(x) != rank + 2:
        raise ValueError("rank mismatch")
    if channels_first(config):
        return x[2:], x[1]
    return x[1:-1], x[-1]


def join_channels(batch: int | None, spatial: tuple[int | None, ...], channels: int | None,
          config: dict[str, Any]) -> Shape:
    """The inverse of ``split_channels``: batch, spatial dims and channels in order."""
    if channels_first(config):
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def prod(dims: Any) -> int | None:
    """The product of dimensions, None when any is unknown."""
    total = 1
    for d in dims:
        if d is None:
            return None
        total *= int(d)
    return total


def conv_length(length: int | None, kernel: int, padding: str, stride: int,
                dilation: int) -> int | None:
    """One spatial dimension after a convolution (Keras' ``conv_output_length``)."""
    if length is None:
        return None
    dilated = (kernel - 1) * dilation + 1
    if padding in ("same", "causal"):
        out = (length - 1) // stride + 1
    elif padding == "full":
        out = (length + dilated - 2) // stride + 1
    else:
        out = (length - dilated) // stride + 1
    if out < 0:
        raise ValueError("negative dimension")
    return out


def deconv_length(length: int | None, kernel: int, padding: str, stride: int,
                  dilation: int, output_padding: int | None) -> int | None:
    """One spatial dimension after a transposed convolution (Keras' ``deconv_output_length``)."""
    if length is None:
        return None
    kernel = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(kernel - stride, 0)
        if padding == "full":
            return length * stride - (stride + kernel - 2)
        return length * stride
    pad = {"same": kernel // 2, "valid": 0, "full": kernel - 1}[padding]
    return (length - 1) * stride + kernel - 2 * pad + output_padding


def pool_length(length: int | None, pool: int, padding: str, stride: int) -> int | None:
    """One spatial dimension after pooling."""
    if length is None:
        return None
    if padding == "same":
        return (length - 1) // stride + 1
    out = (length - pool) // stride + 1
    if out < 0:
        raise ValueError("negative dimension")
    return out


def padding_of(config: dict[str, Any]) -> str:
    """The config's padding mode, lower case (``valid`` by default)."""
    return str(config.get("padding", "valid")).lower()


def broadcast(a: Shape, b: Shape) -> Shape:
    """Keras' elementwise-merge broadcasting of two shapes without their batch dimension."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return a
    out = list(a[: len(a) - len(b)])
    for i, j in zip(a[len(a) - len(b):], b):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1 or i == j:
            out.append(i)
        else:
            raise ValueError("incompatible shapes")
    return tuple(out)


def norm_axis(axis: int, rank: int) -> int:
    """An axis as a non-negative index; ValueError when out of range."""
    if not -rank <= axis < rank:
        raise ValueError("axis out of range")
    return axis % rank


def axes_of(value: Any, rank: int) -> list[int]:
    """An axis or list of axes as sorted non-negative indices."""
    if value is None:
        return []
    if isinstance(value, int):
        return [norm_axis(value, rank)]
    return sorted(norm_axis(int(a), rank) for a in value)


def as_shape(value: Any) -> Shape | None:
    """A list of ints and Nones as a Shape; None for anything else."""
    if not isinstance(value, (list, tuple)):
        return None
    out: list[int | None] = []
    for d in value:
        if d is None or (isinstance(d, int) and not isinstance(d, bool)):
            out.append(d)
        else:
            return None
    return tuple(out)


def last_dim(x: Shape | None) -> int:
    """The last dimension of a shape; ValueError when it is unknown."""
    if x is None or x[-1] is None:
        raise ValueError("unknown input dimension")
    return int(x[-1])


def channels_of(x: Shape | None, rank: int, config: dict[str, Any]) -> int:
    """The channel count of an image-like shape; ValueError when it is unknown."""
    if x is None:
        raise ValueError("unknown input")
    _, channels = split_channels(x, rank, config)
    if channels is None:
        raise ValueError("unknown channels")
    return int(channels)
