"""Reading a canonical model config: its layers, their names, the model a layer holds."""

from __future__ import annotations

from typing import Any

from ...artifact import MODEL_CLASSES
from ...layer_classes import WRAPPER_CLASSES


def layer_configs(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The layers of a model config (canonical), InputLayer included."""
    layers = model.get("config", {}).get("layers") or []
    return [layer for layer in layers if isinstance(layer, dict)]


def layer_name(layer: dict[str, Any]) -> str:
    """A layer's name: the entry's own ``name`` (Functional), else its config's."""
    return str(layer.get("name") or layer.get("config", {}).get("name") or "")


def is_operation(layer: dict[str, Any]) -> bool:
    """A Keras 3 op recorded in a functional graph (``keras.ops.not_equal``): not a layer."""
    return str(layer.get("module") or "").startswith(("keras.src.ops", "keras.ops"))


def inner_model(layer: dict[str, Any]) -> dict[str, Any] | None:
    """The model config inside a layer: the layer itself, or a wrapper's model."""
    if layer.get("class_name") in MODEL_CLASSES:
        return layer
    if layer.get("class_name") in WRAPPER_CLASSES:
        inner = (layer.get("config") or {}).get("layer")
        if isinstance(inner, dict) and inner.get("class_name") in MODEL_CLASSES:
            return inner
    return None
