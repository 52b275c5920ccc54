"""Keras dtype policies as data: what a layer computes in, what its variables are stored as,
and whether it is quantized (its stored weights then differ from what its config implies)."""

from __future__ import annotations

from typing import Any

#: Policy classes whose layers store quantized kernels with scale variables.
QUANTIZED_POLICY_CLASSES = frozenset({
    "QuantizedDTypePolicy", "QuantizedFloat8DTypePolicy", "Int4DTypePolicy",
    "GPTQDTypePolicy", "AWQDTypePolicy"})


def policy_name(dtype: Any) -> str | None:
    """The policy a layer's ``dtype`` config entry names (``float32``, ``mixed_float16``,
    ``int8_from_float32``, ``int4/128_from_float32``), or None when it names none."""
    if isinstance(dtype, str):
        return dtype
    if not isinstance(dtype, dict):
        return None
    config = dtype.get("config")
    if not isinstance(config, dict):
        return None
    if isinstance(config.get("name"), str):
        return str(config["name"])
    mode, source = config.get("mode"), config.get("source_name")
    if isinstance(mode, str):
        return f"{mode}_from_{source}" if isinstance(source, str) else mode
    return None


def is_quantized(layer_config: Any) -> bool:
    """True when a layer's config says Keras quantized it (``model.quantize(...)``)."""
    if not isinstance(layer_config, dict):
        return False
    dtype = layer_config.get("dtype")
    if isinstance(dtype, dict) and dtype.get("class_name") in QUANTIZED_POLICY_CLASSES:
        return True
    return bool(layer_config.get("quantization_config"))


def notable_policy(layer_config: Any) -> str | None:
    """The layer's policy when it is not plain float32 (what ``summary`` lists), else None."""
    if not isinstance(layer_config, dict):
        return None
    name = policy_name(layer_config.get("dtype"))
    if name in (None, "float32"):
        return None
    return name
