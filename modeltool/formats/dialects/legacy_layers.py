"""Keras 1/2 layers that Keras 3 lacks, migrated to modeltool's registered Keras 3 layers.

``Highway`` (Keras 1, Keras 2.0-2.2 ``keras.legacy``), ``LocallyConnected1D``/``2D`` (Keras 1,
Keras 2, tf.keras) and Keras 1 ``Merge(mode="cos")`` become ``modeltool>Highway``,
``modeltool>LocallyConnected1D``/``2D`` and ``modeltool>CosineMerge``, defined in
``keras_bridge.legacy_layers``. Their variables have the shapes and the order the original
layers stored (tf.keras' ``implementation`` 1, 2 or 3 included), so the weights go across by
position unchanged. Only arguments that change what the layer computes are kept;
initializers, regularizers and constraints (training-time settings, in Keras 1's own format)
are dropped with a note.
"""

from __future__ import annotations

from typing import Any

#: Where the classes live (``keras_bridge.legacy_layers.MODULE``; not imported here: tier 0).
LEGACY_LAYER_MODULE = "modeltool.keras_bridge.legacy_layers"

#: Old class name -> the modeltool class.
LEGACY_LAYER_CLASSES = {"Highway": "Highway", "LocallyConnected1D": "LocallyConnected1D",
                        "LocallyConnected2D": "LocallyConnected2D"}

#: The classes ``keras_bridge.legacy_layers`` defines.
MODELTOOL_CLASSES = frozenset({"Highway", "LocallyConnected1D", "LocallyConnected2D",
                               "CosineMerge"})

#: The ones tf.keras 2.x still has, under the same name and arguments (the ``k2-h5`` target).
KERAS2_LEGACY_LAYERS = frozenset({"LocallyConnected1D", "LocallyConnected2D"})

_TRAINING_ONLY = ("kernel_initializer", "bias_initializer", "init", "kernel_regularizer",
                  "bias_regularizer", "W_regularizer", "b_regularizer", "activity_regularizer",
                  "kernel_constraint", "bias_constraint", "W_constraint", "b_constraint")
_BASE_KEYS = ("name", "trainable", "dtype")


def is_modeltool_layer(class_name: str, module: Any) -> bool:
    """True for one of modeltool's registered legacy layers."""
    return class_name in MODELTOOL_CLASSES and module == LEGACY_LAYER_MODULE


def registered(class_name: str) -> dict[str, Any]:
    """The ``module``/``registered_name`` fields Keras 3 writes for the class."""
    return {"module": LEGACY_LAYER_MODULE, "registered_name": f"modeltool>{class_name}"}


def _pair(value: Any, rank: int, default: int) -> list[int]:
    if value is None:
        return [default] * rank
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    return [int(value)] * rank


def legacy_layer_config(class_name: str, config: dict[str, Any], name: Any,
                        notes: list[str]) -> dict[str, Any]:
    """The config of the modeltool layer for a Keras 1/2 ``class_name`` layer config."""
    new: dict[str, Any] = {key: config[key] for key in _BASE_KEYS if key in config}
    dropped = sorted(key for key in _TRAINING_ONLY if config.get(key) not in (None, {})
                     and "init" not in key)  # initializers do not matter once trained
    new["activation"] = config.get("activation") or "linear"
    new["use_bias"] = bool(config.get("use_bias", config.get("bias", True)))
    if class_name.startswith("LocallyConnected"):
        rank = int(class_name[-2])
        new["filters"] = int(config.get("filters", config.get("nb_filter", 0)))
        if rank == 1:
            new["kernel_size"] = _pair(config.get("kernel_size",
                                                  config.get("filter_length")), 1, 1)
            new["strides"] = _pair(config.get("strides", config.get("subsample_length")), 1, 1)
        else:
            kernel = config.get("kernel_size")
            if kernel is None:
                kernel = [config.get("nb_row"), config.get("nb_col")]
            new["kernel_size"] = _pair(kernel, 2, 1)
            new["strides"] = _pair(config.get("strides", config.get("subsample")), 2, 1)
        new["padding"] = str(config.get("padding", config.get("border_mode", "valid")))
        ordering = config.get("data_format") or config.get("dim_ordering")
        new["data_format"] = {"th": "channels_first", "tf": "channels_last"}.get(
            str(ordering), str(ordering or "channels_last"))
        new["implementation"] = int(config.get("implementation") or 1)
    notes.append(f"layer {name!r}: {class_name} (not in Keras 3) became modeltool>{class_name} "
                 "(same weights; load it after `import modeltool.keras_bridge.legacy_layers`)")
    if dropped:
        notes.append(f"layer {name!r}: training-only arguments dropped: {', '.join(dropped)}")
    return new


def cosine_merge_config(config: dict[str, Any], name: Any, notes: list[str]) -> dict[str, Any]:
    """The ``modeltool>CosineMerge`` config for a Keras 1 ``Merge(mode="cos")`` config."""
    notes.append(f"layer {name!r}: Merge(mode='cos') became modeltool>CosineMerge "
                 "(Keras 1's a.b / max(sqrt(a.a * b.b), 1e-7); Keras 1 appended an axis of 1 "
                 "its declared output shape left out: not reproduced)")
    new = {key: config[key] for key in _BASE_KEYS if key in config}
    new["axes"] = config.get("dot_axes", -1)
    new["epsilon"] = 1e-7
    return new
