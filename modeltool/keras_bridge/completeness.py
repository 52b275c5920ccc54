"""Whether a live model built from a weightless file is complete (Keras tells which layers
create weights: a model of merges, pooling or reshapes needs no weights file)."""

from __future__ import annotations

import os
from typing import Any

from ..errors import UnsupportedError


def layers_with_weights(model: Any) -> list[str]:
    """Paths of the layers (nested models included) that create weights, in model order."""
    found: list[str] = []

    def walk(layer: Any, prefix: str) -> None:
        inner = getattr(layer, "layers", None)
        if inner is not None and layer is not model and hasattr(layer, "inputs"):
            for child in inner:
                walk(child, f"{prefix}{layer.name}/")
            return
        if getattr(layer, "weights", None):
            found.append(f"{prefix}{layer.name}")

    for layer in getattr(model, "layers", []):
        walk(layer, "")
    return found


def refuse_missing_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Raise when a model built from a file without weights has layers that need some."""
    needing = layers_with_weights(model)
    if needing:
        more = f" (and {len(needing) - 1} more)" if len(needing) > 1 else ""
        raise UnsupportedError(f"this file holds an architecture but no weights, and layer "
                               f"{needing[0]!r}{more} needs some", path=path,
                               hint="pass the trained weights with --weights FILE")
