"""Where each layer's weights live in each HDF5 layout, and what they are called.

Keras 3 ``.weights.h5`` files store a layer's variables under a path generated from class names
(``layers/dense_1/vars/0``, ``layers/lstm/cell/vars/2``), not under the layer's name; Keras 2
files store them under the layer name with a ``weight_names`` list. This module maps both to
``(layer path, weight name)`` and back, from the canonical config.
"""

from __future__ import annotations

import re
from typing import Any

from ..layer_classes import NON_TRAINABLE_WEIGHT_NAMES, RNN_CLASSES, weight_names
from .dialects.walk import inner_model, is_operation, layer_configs, layer_name


def to_snake_case(name: str) -> str:
    """Keras' class-name-to-path rule (``BatchNormalization`` -> ``batch_normalization``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def saveable_layers(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The layers Keras 3 walks when saving: ``model.layers`` (a Sequential hides its input,
    and graph operations are not layers)."""
    layers = [layer for layer in layer_configs(model) if not is_operation(layer)]
    if model.get("class_name") == "Sequential":
        layers = [layer for layer in layers if layer.get("class_name") != "InputLayer"]
    return layers


def generated_names(layers: list[dict[str, Any]]) -> list[str]:
    """Keras 3's container names: snake_case class names, ``_1``, ``_2`` for repeats."""
    used: dict[str, int] = {}
    names = []
    for layer in layers:
        class_name = str(layer.get("class_name"))
        if class_name == "Model":
            class_name = "Functional"
        base = to_snake_case(class_name)
        if base in used:
            used[base] += 1
            names.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            names.append(base)
    return names


def holds_no_weights(model: dict[str, Any]) -> bool:
    """True when no layer of the model (nested models and wrappers included) creates weights,
    as far as the config tells: such a model is complete without a weights file."""
    for layer in layer_configs(model):
        if is_operation(layer):
            continue
        sub = inner_model(layer)
        if sub is not None:
            if not holds_no_weights(sub):
                return False
            continue
        if layer.get("class_name") == "TimeDistributed":
            inner = (layer.get("config") or {}).get("layer")
            if isinstance(inner, dict) and weight_names(inner) == []:
                continue
            return False
        if weight_names(layer) != []:
            return False
    return True


#: Layers that keep their weights in inner layers (Keras attribute, the inner layer's name), in
#: Keras' weight order: ``.weights.h5`` stores each under ``<layer>/<attribute>/vars``.
SUBLAYERS: dict[str, list[tuple[str, str]]] = {
    "MultiHeadAttention": [("query_dense", "query"), ("key_dense", "key"),
                           ("value_dense", "value"), ("output_dense", "attention_output")],
}
#: The class of those inner layers.
SUBLAYER_CLASSES = {"MultiHeadAttention": "EinsumDense"}


def rnn_cell(layer: dict[str, Any]) -> dict[str, Any] | None:
    """The cell config of a generic ``keras.layers.RNN(cell)`` (or any layer built on a cell
    config that is not one of the fused RNN classes), else None."""
    if layer.get("class_name") in RNN_CLASSES:
        return None
    cell = (layer.get("config") or {}).get("cell")
    return cell if isinstance(cell, dict) and cell.get("class_name") else None


def stacked_cells(cell: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The cells of a ``StackedRNNCells`` config, in order (None for any other cell)."""
    if cell.get("class_name") != "StackedRNNCells":
        return None
    cells = (cell.get("config") or {}).get("cells")
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def shared_id(layer: dict[str, Any]) -> Any:
    """Keras' ``shared_object_id`` of a layer config: the same object used in several places
    (a nested model at two depths, a layer shared between a nested model and its parent)."""
    return layer.get("shared_object_id")


def holding_later_shared(model: dict[str, Any]) -> set[str]:
    """Top-level layers that hold a later occurrence of a shared object (a nested model also
    used before them): Keras stores that object's weights at its first occurrence only, so
    such a layer holds fewer weights in the file than its config implies."""
    seen: set[Any] = set()
    found: set[str] = set()

    def walk(layer: dict[str, Any], top: str) -> None:
        key = shared_id(layer)
        if key is not None:
            if key in seen:
                found.add(top)
                return
            seen.add(key)
        sub = inner_model(layer)
        if sub is not None:
            for inner in saveable_layers(sub):
                walk(inner, top)

    for layer in saveable_layers(model):
        walk(layer, layer_name(layer))
    return found


def direction_name(direction: str, inner: dict[str, Any]) -> str:
    """``forward_gru`` / ``backward_gru``: Keras' names for a Bidirectional's two layers."""
    base = layer_name(inner)
    for prefix in ("forward_", "backward_"):
        base = base.removeprefix(prefix)
    return f"{direction}_{base}"


def split_legacy_weight_name(layer: str, weight_name: str,
                             inner_layers: list[str] | None) -> tuple[str, str]:
    """A Keras 1/2/3 legacy ``weight_names`` entry as (layer path, weight name).

    ``inner_layers`` lists the layer names of a nested model (None for a plain layer); the
    nested layer is found from the first path component, with or without the model name first.
    """
    name = re.sub(r":\d+$", "", weight_name)
    parts = name.split("/")
    if inner_layers is not None:
        if len(parts) > 2 and parts[0] == layer and parts[1] in inner_layers:
            parts = parts[1:]
        if len(parts) > 1 and parts[0] in inner_layers:
            path = f"{layer}/{parts[0]}"
            parts = parts[1:]
            while len(parts) > 1 and parts[0] in inner_layers:  # a model nested deeper
                path = f"{path}/{parts[0]}"
                parts = parts[1:]
            return path, "/".join(parts)
        return layer, "/".join(parts)
    if len(parts) > 1:
        # Keras 2 prefixes the layer's name, sometimes with a uniquifying suffix (conv1_1/).
        if parts[0] == layer or parts[0].startswith(f"{layer}_"):
            return layer, "/".join(parts[1:])
        return layer, name
    if name.startswith(f"{layer}_"):  # Keras 1: dense_1_W, gru_1_U_z
        return layer, name[len(layer) + 1:]
    return layer, name


def _is_non_trainable(entry_name: str, flags: list[bool]) -> bool:
    return not all(flags) or entry_name.rsplit("/", 1)[-1] in NON_TRAINABLE_WEIGHT_NAMES


def nested_trainable_flags(layer: dict[str, Any]) -> dict[str, bool]:
    """For a layer holding a model: inner layer path -> is it trainable (its own flag)."""
    flags: dict[str, bool] = {}
    model = inner_model(layer)
    if model is None:
        return flags

    def walk(model_cfg: dict[str, Any], prefix: str) -> None:
        for inner in layer_configs(model_cfg):
            path = f"{prefix}/{layer_name(inner)}"
            flags[path] = bool((inner.get("config") or {}).get("trainable", True))
            sub = inner_model(inner)
            if sub is not None:
                walk(sub, path)

    walk(model, layer_name(layer))
    return flags


def legacy_order(layer: dict[str, Any] | None, entries: list[Any]) -> list[Any]:
    """Entries in the order Keras' legacy HDF5 code lists them (``trainable + non_trainable``).

    Only a layer that holds a model differs from the per-layer order: its trainable weights of
    every inner layer come before all the non-trainable ones (BatchNormalization statistics).
    """
    if layer is None or inner_model(layer) is None:
        return list(entries)
    if not (layer.get("config") or {}).get("trainable", True):
        return list(entries)
    flags = nested_trainable_flags(layer)

    def chain(path: str) -> list[bool]:
        parts = path.split("/")
        return [flags.get("/".join(parts[:i]), True) for i in range(2, len(parts) + 1)]

    return sorted(entries, key=lambda e: _is_non_trainable(e.name, chain(e.path)))


def canonical_order(layer: dict[str, Any] | None, entries: list[Any]) -> list[Any]:
    """Entries grouped by inner layer in the model's layer order (the inverse of legacy_order)."""
    if layer is None or inner_model(layer) is None:
        return list(entries)
    order = {path: i for i, path in enumerate(nested_trainable_flags(layer))}
    return sorted(entries, key=lambda e: order.get(e.path, len(order)))
