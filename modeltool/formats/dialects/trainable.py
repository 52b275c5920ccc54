"""Where a stored config of any dialect keeps each layer's ``trainable`` flag.

``freeze`` edits the flags in the file's own dialect (Keras 1, 2 or 3), so it walks the stored
config rather than the canonical one: a Keras 1/2.0 Sequential is a bare list of layers (with no
place for its own flag), a wrapper keeps the flag of the layer it wraps in that layer's config,
and a Keras 3 graph operation is not a layer.
"""

from __future__ import annotations

from typing import Any

from ...artifact import MODEL_CLASSES
from ...layer_classes import WRAPPER_CLASSES


def stored_layer_name(layer: dict[str, Any]) -> str:
    """A layer's name in a stored config: its own ``name``, else its config's."""
    config = layer.get("config")
    name = layer.get("name") or (config.get("name") if isinstance(config, dict) else None)
    return str(name or "")


def stored_layers(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The layers of a stored model config: ``config.layers``, or ``config`` itself when it is
    the bare list of a Keras 1/2.0 Sequential; graph operations (Keras 3) left out."""
    config = model.get("config")
    layers = config if isinstance(config, list) else (
        config.get("layers") if isinstance(config, dict) else None)
    return [layer for layer in layers or [] if isinstance(layer, dict)
            and not str(layer.get("module") or "").startswith(("keras.src.ops", "keras.ops"))]


def flag_holders(layer: dict[str, Any]) -> tuple[list[dict[str, Any]], str, dict[str, Any] | None]:
    """Where ``layer``'s trainable flag is written, what its weights belong to, what it holds.

    Returns:
        (the config dicts that carry the flag, the layer's own first; the class the weights
        belong to (a wrapper's inner layer); the model config the layer holds, if any).
    """
    class_name = str(layer.get("class_name"))
    config = layer.get("config")
    holders = [config] if isinstance(config, dict) else []
    weight_class = class_name
    model = layer if class_name in MODEL_CLASSES else None
    if class_name in WRAPPER_CLASSES and isinstance(config, dict):
        for key in ("layer", "backward_layer"):
            inner = config.get(key)
            if isinstance(inner, dict):
                if isinstance(inner.get("config"), dict):
                    holders.append(inner["config"])
                if key == "layer":
                    weight_class = str(inner.get("class_name"))
                    if inner.get("class_name") in MODEL_CLASSES:
                        model = inner
    return holders, weight_class, model


def stored_flag(holder: dict[str, Any]) -> bool:
    """The flag a holder carries (Keras' default: trainable)."""
    return bool(holder.get("trainable", True))
