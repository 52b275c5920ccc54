"""Layer classes Keras 1 shipped and Keras 3 dropped, migrated to documented equivalents.

=====================  ==============================================================
Keras 1 class          Keras 3 equivalent (same weights, same numbers)
=====================  ==============================================================
TimeDistributedDense   ``Dense`` (a Keras 3 Dense acts on the last axis of any rank)
ThresholdedReLU        ``ReLU(threshold=theta)``; differs only at exactly x == theta
                       (old: 0, new: theta)
MaxoutDense            ``EinsumDense("ab,kbc->akc")`` (kernel ``(nb_feature, in, out)``,
                       bias ``(nb_feature, out)``, as Keras 1 stored them) followed by a
                       ``GlobalMaxPooling1D`` named ``<name>_maxout`` (the max over features)
Deconvolution2D        ``Conv2DTranspose`` (renamed elsewhere); ``output_shape`` dropped:
                       Keras computes it
Highway,               no Keras 3 layer computes them: named in one line, kept as data
LocallyConnected1D/2D
=====================  ==============================================================
"""

from __future__ import annotations

import copy
from typing import Any

_DENSE_ARGS = ("name", "trainable", "activation", "kernel_initializer", "init",
               "kernel_regularizer", "W_regularizer", "bias_regularizer", "b_regularizer",
               "activity_regularizer", "kernel_constraint", "W_constraint", "bias_constraint",
               "b_constraint", "dtype", "batch_input_shape", "input_dim", "input_shape")


def simple_class(class_name: str, config: dict[str, Any], name: Any,
                 notes: list[str]) -> str:
    """One-for-one Keras 1 classes: the Keras 3 class, with ``config`` changed in place."""
    if class_name == "TimeDistributedDense":
        notes.append(f"layer {name!r}: TimeDistributedDense became Dense (same kernel; a Keras 3 "
                     "Dense acts on the last axis)")
        return "Dense"
    if class_name == "ThresholdedReLU":
        theta = config.pop("theta", 1.0)
        config["threshold"] = float(theta)
        config.setdefault("negative_slope", 0.0)
        notes.append(f"layer {name!r}: ThresholdedReLU(theta={theta}) became "
                     f"ReLU(threshold={theta}); only x == {theta} exactly differs (0 before, "
                     f"{theta} now)")
        return "ReLU"
    if class_name == "Deconvolution2D" and "output_shape" in config:
        config.pop("output_shape")
    return class_name


def _maxout_pair(layer: dict[str, Any], notes: list[str]) -> tuple[dict[str, Any],
                                                                    dict[str, Any]]:
    config: dict[str, Any] = layer["config"] if isinstance(layer.get("config"), dict) else {}
    name = str(layer.get("name") or config.get("name"))
    units = config.get("output_dim", config.get("units"))
    features = int(config.get("nb_feature", 4))
    dense_config = {key: config[key] for key in _DENSE_ARGS if key in config}
    dense_config.update({"equation": "ab,kbc->akc", "output_shape": [features, units],
                         "bias_axes": "kc" if config.get("bias", True) else None})
    dense_config.setdefault("activation", "linear")
    dense = {"class_name": "EinsumDense", "config": dense_config}
    pool = {"class_name": "GlobalMaxPooling1D",
            "config": {"name": f"{name}_maxout", "data_format": "channels_last",
                       "trainable": config.get("trainable", True)}}
    if "name" in layer:
        dense["name"] = layer["name"]
        pool["name"] = f"{name}_maxout"
    notes.append(f"layer {name!r}: MaxoutDense(nb_feature={features}) became EinsumDense "
                 f"('ab,kbc->akc', same weights) + GlobalMaxPooling1D {name + '_maxout'!r}")
    return dense, pool


def expand_maxout(layers: list[Any], functional: bool, inner: dict[str, Any],
                  notes: list[str]) -> list[Any]:
    """The layer list with every MaxoutDense split in two; references to its outputs (other
    layers' nodes, the model's outputs) follow to the max layer."""
    if not any(isinstance(layer, dict) and layer.get("class_name") == "MaxoutDense"
               for layer in layers):
        return layers
    result: list[Any] = []
    renamed: dict[str, str] = {}
    for layer in layers:
        if not (isinstance(layer, dict) and layer.get("class_name") == "MaxoutDense"):
            result.append(layer)
            continue
        dense, pool = _maxout_pair(layer, notes)
        if functional:
            name = str(layer.get("name"))
            dense["inbound_nodes"] = copy.deepcopy(layer.get("inbound_nodes") or [])
            pool["inbound_nodes"] = [[[name, index, 0, {}]]
                                     for index in range(len(dense["inbound_nodes"]))]
            renamed[name] = str(pool["name"])
        result += [dense, pool]
    if renamed:
        _follow(result, inner, renamed)
    return result


def _follow(layers: list[Any], inner: dict[str, Any], renamed: dict[str, str]) -> None:
    """Point references to a split layer's output at its second half."""
    def fix(ref: Any) -> None:
        if isinstance(ref, list) and ref and isinstance(ref[0], str) and ref[0] in renamed:
            ref[0] = renamed[ref[0]]
        elif isinstance(ref, list):
            for item in ref:
                fix(item)

    for layer in layers:
        if isinstance(layer, dict) and layer.get("name") not in renamed.values():
            fix(layer.get("inbound_nodes"))
    fix(inner.get("output_layers"))
