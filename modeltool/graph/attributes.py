"""The few layer settings worth a glance (what Netron and torchinfo show next to a layer), and
the memory a layer's outputs take, both from the canonical config alone."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layer_classes import WRAPPER_CLASSES
from .model import Shape

#: Settings shown, in this order, under these short names.
_KEYS = (("units", "units"), ("filters", "filters"), ("kernel_size", "kernel"),
         ("strides", "strides"), ("pool_size", "pool"), ("dilation_rate", "dilation"),
         ("padding", "padding"), ("activation", "activation"), ("rate", "rate"),
         ("output_dim", "output_dim"), ("num_heads", "heads"), ("axis", "axis"))


def _tuple_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return "\u00d7".join(str(v) for v in value)
    return None


def _activation_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # a serialized function or object
        name = value.get("config") if isinstance(value.get("config"), str) else None
        return name or (str(value.get("class_name")) if value.get("class_name") else None)
    return None


def layer_attributes(class_name: str, config: dict[str, Any]) -> dict[str, str]:
    """Settings worth a glance: units/filters, kernel, strides, pool, activation...

    Defaults that say nothing (strides 1, dilation 1, ``valid`` padding, ``linear``
    activation) are left out. Wrappers (TimeDistributed, Bidirectional) show their layer's.

    Example:
        >>> layer_attributes("Conv2D", {"filters": 8, "kernel_size": [3, 3],
        ...                             "strides": [2, 2], "activation": "relu"})
        {'filters': '8', 'kernel': '3×3', 'strides': '2×2', 'activation': 'relu'}
    """
    inner = config.get("layer")
    if isinstance(inner, dict) and isinstance(inner.get("config"), dict) and \
            class_name in WRAPPER_CLASSES:
        found = layer_attributes(str(inner.get("class_name")), inner["config"])
        if class_name == "Bidirectional" and isinstance(config.get("merge_mode"), str):
            found["merge"] = config["merge_mode"]
        return found
    out: dict[str, str] = {}
    for key, short in _KEYS:
        if key not in config:
            continue
        value = config[key]
        if key == "activation":
            text = _activation_name(value)
            if text and text != "linear":
                out[short] = text
        elif key == "padding":
            if isinstance(value, str) and value != "valid":
                out[short] = value
        elif key == "rate":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[short] = f"{value:g}"
        elif key in ("strides", "dilation_rate"):
            text = _tuple_text(value)
            if text and set(text.split("\u00d7")) != {"1"}:
                out[short] = text
        elif key == "axis":
            text = _tuple_text(value)
            if text and class_name in ("Concatenate", "Softmax"):
                out[short] = text
        else:
            text = _tuple_text(value)
            if text:
                out[short] = text
    return out


def attributes_text(attributes: dict[str, str]) -> str:
    """``filters 8, kernel 3×3, strides 2×2, relu`` (the activation by itself)."""
    parts = []
    for key, value in attributes.items():
        parts.append(value if key == "activation" else f"{key} {value}")
    return ", ".join(parts)


def compute_itemsize(config: dict[str, Any]) -> int:
    """Bytes per value of a layer's outputs: its dtype policy's compute dtype (float32 when
    the config does not say)."""
    policy = config.get("dtype")
    if isinstance(policy, dict):
        policy = (policy.get("config") or {}).get("name")
    if isinstance(policy, str):
        if policy.startswith("mixed_"):
            policy = policy[len("mixed_"):]
        try:
            return int(np.dtype(policy).itemsize)
        except TypeError:
            return 4
    return 4


def activation_bytes(shapes: list[Shape | None] | None, itemsize: int,
                     batch_size: int) -> int | None:
    """Bytes the output tensors of one call take for ``batch_size`` samples; None when a
    dimension other than the batch is unknown."""
    if shapes is None:
        return None
    total = 0
    for shape in shapes:
        if shape is None:
            return None
        count = 1
        for i, dim in enumerate(shape):
            if i == 0:
                count *= batch_size if dim is None else dim
            elif dim is None:
                return None
            else:
                count *= dim
        total += count * itemsize
    return total
