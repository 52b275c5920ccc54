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
Highway,               modeltool's registered Keras 3 layers (``legacy_layers``,
LocallyConnected1D/2D  ``keras_bridge.legacy_layers``); the weights go across unchanged
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


def merged_sequential(raw: dict[str, Any], notes: list[str]) -> dict[str, Any] | None:
    """A Keras 1 Sequential that starts with ``Merge([branch, branch, ...])`` as the
    equivalent Keras 1 functional model, or None for any other Sequential.

    Keras 1 saved such a model's weights under its leaf layers (``flattened_layers``), so the
    branches are inlined, each from an input of its own, rather than nested.
    """
    inner = raw.get("config")
    layers = inner if isinstance(inner, list) else (inner or {}).get("layers") \
        if isinstance(inner, dict) else None
    if not (isinstance(layers, list) and layers and isinstance(layers[0], dict)
            and layers[0].get("class_name") == "Merge"
            and isinstance((layers[0].get("config") or {}).get("layers"), list)):
        return None
    graph: list[dict[str, Any]] = []
    inputs: list[list[Any]] = []
    output = _inline(layers, None, graph, inputs)
    name = inner.get("name", "sequential") if isinstance(inner, dict) else "sequential"
    notes.append(f"Keras 1 Sequential starting with Merge of {len(inputs)} branches rewritten "
                 "as a functional model")
    return {"class_name": "Model", "keras_version": raw.get("keras_version"),
            "config": {"name": name, "layers": graph, "input_layers": inputs,
                       "output_layers": [output]}}


def _inline(layers: list[Any], source: list[Any] | None, graph: list[dict[str, Any]],
            inputs: list[list[Any]]) -> list[Any]:
    """Append a Sequential's layers to ``graph`` as a chain from ``source`` (None: from a new
    input); return the reference to its output."""
    previous = source
    for layer in layers:
        if not isinstance(layer, dict):
            raise ValueError("a Sequential layer is not an object")
        config = dict(layer.get("config") or {})
        class_name = layer.get("class_name")
        if class_name == "Sequential":
            members = layer.get("config")
            members = members if isinstance(members, list) else (members or {}).get("layers")
            previous = _inline(list(members or []), previous, graph, inputs)
            continue
        if class_name == "Merge" and isinstance(config.get("layers"), list):
            if previous is not None:
                raise ValueError("a Merge of branches inside a chain")
            branches = [_inline(_members(branch), None, graph, inputs)
                        for branch in config.pop("layers")]
            graph.append({"class_name": "Merge", "name": config.get("name"), "config": config,
                          "inbound_nodes": [[[*ref, {}] for ref in branches]]})
            previous = [config.get("name"), 0, 0]
            continue
        if previous is None:
            shape = config.pop("batch_input_shape", None)
            if shape is None and config.get("input_dim") is not None:
                shape = [None, config["input_dim"]]
            if shape is None:
                raise ValueError(f"branch layer {config.get('name')!r} has no input shape")
            input_name = f"{config.get('name')}_input"
            graph.append({"class_name": "InputLayer", "name": input_name, "inbound_nodes": [],
                          "config": {"batch_input_shape": shape, "name": input_name,
                                     "input_dtype": config.get("input_dtype", "float32"),
                                     "sparse": False}})
            inputs.append([input_name, 0, 0])
            previous = [input_name, 0, 0]
        graph.append({"class_name": class_name, "name": config.get("name"), "config": config,
                      "inbound_nodes": [[[*previous, {}]]]})
        previous = [config.get("name"), 0, 0]
    if previous is None:
        raise ValueError("an empty Sequential branch")
    return previous


def _members(branch: Any) -> list[Any]:
    if isinstance(branch, dict) and branch.get("class_name") == "Sequential":
        members = branch.get("config")
        members = members if isinstance(members, list) else (members or {}).get("layers")
        return list(members or [])
    if isinstance(branch, dict):
        return [branch]
    raise ValueError("a Merge branch is not a model")
