"""A live model's weights as a WeightStore view (no saving), and assigning values to them.

``artifact_from_model`` saves a model and reads the file back (every weight in its file layout);
this view reads each variable's current value when asked, for a by-name transfer into a live
model, and keeps the variables so the transfer can assign them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..artifact import ModelArtifact, WeightEntry, WeightStore
from ..formats.dialects import canonical_model_config
from ..kinds import Kind


def live_weights_view(model: Any) -> tuple[ModelArtifact, dict[str, list[Any]]]:
    """A weights-and-config view of a live model without saving it, and its variables.

    The WeightStore lists each top-level layer's ``layer.weights`` in order (Keras' per-layer
    order); the second value maps the layer name to those variables, position for position.
    Entries read the variable's current value.
    """
    config = None
    try:
        raw = {"class_name": type(model).__name__, "config": model.get_config()}
        if raw["class_name"] not in ("Sequential", "Functional", "Model"):
            raw["class_name"] = "Functional"
        config, _, _ = canonical_model_config(raw)
    except Exception:  # noqa: BLE001 - subclassed models have no usable config
        config = None
    layers: dict[str, list[WeightEntry]] = {}
    variables: dict[str, list[Any]] = {}
    for layer in model.layers:
        paths = _variable_paths(layer, layer.name)
        entries = []
        for variable in layer.weights:
            short = str(getattr(variable, "path", None) or variable.name).split(":")[0]
            entries.append(WeightEntry(
                layer=layer.name, path=paths.get(id(variable), layer.name),
                name=short.rsplit("/", 1)[-1], shape=tuple(int(d) for d in variable.shape),
                dtype=np.dtype(getattr(variable.dtype, "name", variable.dtype)).name,
                location=short, loader=_variable_reader(variable)))
        layers[layer.name] = entries
        variables[layer.name] = list(layer.weights)
    artifact = ModelArtifact(kind=Kind.KERAS_MODEL, path=None, config=config,
                             weights=WeightStore(layers), dialect=3)
    return artifact, variables


def _variable_reader(variable: Any) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)

    return read


def _variable_paths(layer: Any, path: str) -> dict[int, str]:
    """id(variable) -> layer path for the layers inside a model (``vision_model/conv2d``)."""
    inner = getattr(layer, "layers", None)
    wrapped = getattr(layer, "layer", None)
    if inner is None and wrapped is not None and hasattr(wrapped, "layers"):
        inner = wrapped.layers
    if inner is None:
        return {}
    found: dict[int, str] = {}
    for sub in inner:
        sub_path = f"{path}/{sub.name}"
        for variable in sub.weights:
            found.setdefault(id(variable), sub_path)
        found.update(_variable_paths(sub, sub_path))
    return found


def assign_values(assignments: Iterable[tuple[Any, np.ndarray]]) -> None:
    """``variable.assign(value)`` for each pair (values read beforehand, so a damaged source
    leaves the model untouched)."""
    for variable, value in assignments:
        variable.assign(value)
