"""Keras 0.x files: a JSON architecture without ``class_name`` and ``nb_layers`` weights.

Keras 0.x wrote ``model.to_json()`` as ``{"name": "Sequential", "layers": [{"name": "Dense",
"input_dim": 784, "output_dim": 64, ...}]}``: each layer's class under ``name``, its arguments
beside it (Keras 1 names), no layer names; ``save_weights`` wrote ``nb_layers`` on the root and
one group ``layer_<k>`` per layer (every layer, weights or not) with ``nb_params`` datasets
``param_<j>``. The architecture becomes a Keras 1 config whose k-th layer is named
``layer_<k>``, so it pairs with its weights by name.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import h5py

from ...artifact import WeightEntry
from ...errors import CorruptFileError
from .. import _h5

#: Keras 0.x arguments that later Keras has no use for.
_DROPPED = ("cache_enabled", "custom_name", "W_learning_rate_multiplier",
            "b_learning_rate_multiplier", "learning_rate_multipliers", "truncate_gradient")


def is_keras0_config(raw: Any) -> bool:
    """True for a Keras 0.x Sequential architecture."""
    return isinstance(raw, dict) and "class_name" not in raw \
        and raw.get("name") == "Sequential" and isinstance(raw.get("layers"), list)


def keras1_from_keras0(raw: dict[str, Any]) -> dict[str, Any]:
    """The Keras 1 form of a Keras 0.x Sequential config (layers named ``layer_<k>``)."""
    layers = []
    for index, layer in enumerate(raw["layers"]):
        if not isinstance(layer, dict) or not isinstance(layer.get("name"), str):
            raise CorruptFileError(f"Keras 0.x layer {index} has no class name")
        config = {key: value for key, value in layer.items()
                  if key != "name" and key not in _DROPPED}
        config["name"] = f"layer_{index}"
        layers.append({"class_name": layer["name"], "config": config})
    return {"class_name": "Sequential", "config": layers, "keras_version": "0"}


def is_keras0_weights(handle: h5py.Group) -> bool:
    """True for a Keras 0.x ``save_weights`` file."""
    return "nb_layers" in handle.attrs and "layer_names" not in handle.attrs


def count_attribute(group: h5py.Group, name: str, limit: int, display: str,
                    where: str = "") -> int:
    """A Keras 0.x count attribute (``nb_layers``, ``nb_params``), refused unless it is a whole
    number from 0 to ``limit``; ``where`` prefixes the message (``graph: ``)."""
    try:
        count = int(group.attrs[name])
    except (TypeError, ValueError) as err:
        raise CorruptFileError(f"{where}{name} is not a number", path=display) from err
    if count < 0 or count > limit:
        raise CorruptFileError(f"{where}{name}={count} is implausible", path=display)
    return count


def read_keras0_weights(handle: h5py.Group, display: str) -> dict[str, list[WeightEntry]]:
    """``layer_<k>/param_<j>`` groups, keyed ``layer_<k>`` (weights by position)."""
    count = count_attribute(handle, "nb_layers", 100_000, display)
    layers: dict[str, list[WeightEntry]] = {}
    for index in range(count):
        name = f"layer_{index}"
        group = _h5.group(handle, name, display)
        try:
            params = int(group.attrs.get("nb_params", 0))
        except (TypeError, ValueError) as err:
            raise CorruptFileError(f"{name}: nb_params is not a number", path=display) from err
        entries = []
        for param in range(params):
            ds = _h5.dataset(group, f"param_{param}", display)
            entries.append(WeightEntry(
                layer=name, path=name, name=f"param_{param}",
                shape=tuple(int(d) for d in ds.shape), dtype=str(ds.dtype), location=ds.name,
                loader=partial(_h5.read_array, ds, display)))
        if entries:
            layers[name] = entries
    return layers
