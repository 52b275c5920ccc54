"""Keras 0.x ``Graph`` architectures, read as the equivalent Keras 1 functional model.

Keras 0.x wrote a ``Graph`` container as ``{"name": "Graph", "input_config": [...],
"node_config": [...], "output_config": [...], "input_order": [...], "output_order": [...],
"nodes": {node: layer}}`` (no ``class_name``). Each node reads one ``input`` or merges several
``inputs`` (``merge_mode``, ``concat_axis``, ``dot_axes``); an output names one node or merges
several. Here each node becomes a layer named like the node, and each merge a Keras 1 ``Merge``
layer named ``<node>_merge`` (for an output: the output's name), so later migration treats
them like any Keras 1 model.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import h5py

from ...artifact import WeightEntry
from ...errors import CorruptFileError, UnsupportedError
from .. import _h5
from .keras0 import count_attribute

#: Keras 0.x arguments that later Keras has no use for.
_DROPPED = ("cache_enabled", "custom_name", "W_learning_rate_multiplier",
            "b_learning_rate_multiplier", "learning_rate_multipliers", "truncate_gradient")


def is_keras0_graph(raw: Any) -> bool:
    """True for a Keras 0.x ``Graph`` architecture."""
    return isinstance(raw, dict) and "class_name" not in raw and raw.get("name") == "Graph" \
        and isinstance(raw.get("node_config"), list) and isinstance(raw.get("nodes"), dict)


def _ref(name: str) -> list[Any]:
    return [name, 0, 0]


def _merge(name: str, sources: list[str], spec: dict[str, Any]) -> dict[str, Any]:
    config = {"name": name, "mode": spec.get("merge_mode") or "sum",
              "concat_axis": spec.get("concat_axis", -1), "dot_axes": spec.get("dot_axes", -1)}
    return {"class_name": "Merge", "name": name, "config": config,
            "inbound_nodes": [[[*_ref(source), {}] for source in sources]]}


def _sources(spec: dict[str, Any], known: set[str], what: str) -> list[str]:
    sources = list(spec.get("inputs") or [])
    if not sources and spec.get("input"):
        sources = [spec["input"]]
    if not sources or not all(isinstance(s, str) for s in sources):
        raise CorruptFileError(f"Keras 0.x Graph {what} {spec.get('name')!r} names no input")
    unknown = [s for s in sources if s not in known]
    if unknown:
        raise CorruptFileError(f"Keras 0.x Graph {what} {spec.get('name')!r} reads unknown "
                               f"{unknown[0]!r}")
    return sources


def _input_layer(spec: dict[str, Any]) -> dict[str, Any]:
    name = spec.get("name")
    shape = spec.get("input_shape")
    if not isinstance(name, str) or not isinstance(shape, list):
        raise CorruptFileError(f"Keras 0.x Graph input {name!r} has no input_shape")
    dtype = "int32" if spec.get("dtype") == "int" else "float32"
    return {"class_name": "InputLayer", "name": name, "inbound_nodes": [],
            "config": {"name": name, "batch_input_shape": [None, *shape],
                       "input_dtype": dtype, "sparse": False}}


def keras1_from_keras0_graph(raw: dict[str, Any]) -> dict[str, Any]:
    """The Keras 1 functional form of a Keras 0.x ``Graph`` config."""
    layers: list[dict[str, Any]] = []
    inputs = [_input_layer(spec) for spec in raw.get("input_config") or []
              if isinstance(spec, dict)]
    if not inputs:
        raise CorruptFileError("Keras 0.x Graph has no inputs")
    layers += inputs
    known = {layer["name"] for layer in inputs}
    outputs: dict[str, str] = {}
    for spec in raw["node_config"]:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise CorruptFileError("Keras 0.x Graph node without a name")
        name = spec["name"]
        layer = raw["nodes"].get(name)
        if not isinstance(layer, dict) or not isinstance(layer.get("name"), str):
            raise CorruptFileError(f"Keras 0.x Graph node {name!r} has no layer class")
        sources = _sources(spec, known, "node")
        if len(sources) > 1:
            layers.append(_merge(f"{name}_merge", sources, spec))
            sources = [f"{name}_merge"]
        config = {key: value for key, value in layer.items()
                  if key != "name" and key not in _DROPPED}
        config["name"] = name
        layers.append({"class_name": layer["name"], "name": name, "config": config,
                       "inbound_nodes": [[[*_ref(sources[0]), {}]]]})
        known.add(name)
        if spec.get("create_output"):
            outputs[name] = name
    for spec in raw.get("output_config") or []:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise CorruptFileError("Keras 0.x Graph output without a name")
        sources = _sources(spec, known, "output")
        if len(sources) > 1:
            layers.append(_merge(spec["name"], sources, spec))
            known.add(spec["name"])
            sources = [spec["name"]]
        outputs[spec["name"]] = sources[0]
    order = [n for n in raw.get("output_order") or outputs if n in outputs]
    input_order = [n for n in raw.get("input_order") or [] if n in known] \
        or [layer["name"] for layer in inputs]
    if not order:
        raise CorruptFileError("Keras 0.x Graph has no outputs")
    return {"class_name": "Model", "keras_version": "0",
            "config": {"name": "graph", "layers": layers,
                       "input_layers": [_ref(n) for n in input_order],
                       "output_layers": [_ref(outputs[n]) for n in order]}}


#: How many arrays Keras 0.x ``get_weights()`` returned per layer class (weightless classes: 0).
_ARRAYS_PER_CLASS = {"Dense": 2, "TimeDistributedDense": 2, "MaxoutDense": 2,
                     "Convolution1D": 2, "Convolution2D": 2, "Embedding": 1, "SimpleRNN": 3,
                     "GRU": 9, "LSTM": 12}
_WEIGHTLESS = frozenset({
    "InputLayer", "Merge", "Activation", "Dropout", "Flatten", "Reshape", "Permute",
    "RepeatVector", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "ZeroPadding1D", "ZeroPadding2D", "UpSampling1D", "UpSampling2D", "GaussianNoise",
    "GaussianDropout", "LeakyReLU", "ThresholdedReLU", "TimeDistributedMerge"})


def is_keras0_graph_weights(handle: h5py.Group) -> bool:
    """True for a Keras 0.x ``Graph.save_weights`` file (``graph/param_<j>``, ``nb_params``)."""
    group = handle.get("graph") if "layer_names" not in handle.attrs else None
    return isinstance(group, h5py.Group) and "nb_params" in group.attrs


def read_keras0_graph_weights(handle: h5py.Group, display: str,
                              architecture: dict[str, Any] | None
                              ) -> dict[str, list[WeightEntry]]:
    """The flat ``graph/param_<j>`` arrays, split over the layers of ``architecture`` (the
    Keras 1 form of the Graph) in node order, as Keras 0.x ``Graph.get_weights`` listed them.
    Without an architecture they stay one list, under ``graph``."""
    group = _h5.group(handle, "graph", display)
    count = count_attribute(group, "nb_params", 1_000_000, display, where="graph: ")
    arrays = []
    for index in range(count):
        ds = _h5.dataset(group, f"param_{index}", display)
        arrays.append((f"param_{index}", ds))
    if architecture is None:
        return {"graph": [_entry("graph", name, ds, display) for name, ds in arrays]}
    layers: dict[str, list[WeightEntry]] = {}
    position = 0
    for layer in (architecture.get("config") or {}).get("layers") or []:
        class_name, name = str(layer.get("class_name")), str(layer.get("name"))
        taken = _ARRAYS_PER_CLASS.get(class_name, 0 if class_name in _WEIGHTLESS else None)
        if taken is None:
            raise UnsupportedError(f"Keras 0.x Graph weights: cannot tell which of the {count} "
                                   f"stored arrays belong to layer {name!r} ({class_name})",
                                   path=display)
        if taken:
            layers[name] = [_entry(name, f"param_{j}", ds, display)
                            for j, (_, ds) in enumerate(arrays[position:position + taken])]
        position += taken
    if position != count:
        raise CorruptFileError(f"Keras 0.x Graph weights hold {count} arrays; the architecture's "
                               f"layers take {position}", path=display)
    return layers


def _entry(layer: str, name: str, ds: h5py.Dataset, display: str) -> WeightEntry:
    return WeightEntry(layer=layer, path=layer, name=name,
                       shape=tuple(int(d) for d in ds.shape), dtype=str(ds.dtype),
                       location=ds.name, loader=partial(_h5.read_array, ds, display))
