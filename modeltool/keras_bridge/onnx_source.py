"""A live Keras model (or a SavedModel's serving signature) as the source of an ONNX export.

``ExportSource`` is what ``ops.onnx_export`` works with: names, dtypes and shapes of the inputs
and outputs as plain data, plus the live parts only this package touches (the call, the
weights). Keras and TensorFlow are imported inside functions only.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _optional
from ..artifact import ModelArtifact
from ..errors import KerasError, UnsupportedError
from ..kinds import Kind
from ..layer_classes import ALL_CONV_CLASSES
from . import _first_line

PathLike = str | os.PathLike[str]

#: Integer inputs are drawn from [0, DEFAULT_INT_HIGH) when no Embedding tells the vocabulary.
DEFAULT_INT_HIGH = 10
#: A tensor's shape, None for an open dimension.
Dims = tuple[int | None, ...]


#: Layers whose weights stay graph inputs through tf2onnx and become ONNX initializers after
#: it (see ``ops.onnx_export.convert``); their ops take a weight as an ordinary input.
_LIFTABLE_LAYERS = frozenset({"Dense", "EinsumDense", "Embedding", *ALL_CONV_CLASSES,
                              "BatchNormalization", "LayerNormalization"})
#: ... from this many elements on (smaller ones are cheap as constants, and grappler folds
#: BatchNormalization's arithmetic on them).
_LIFT_MIN_ELEMENTS = 4096


@dataclass
class ExportSource:
    """What the converter needs from a model, whatever it came from."""

    label: str
    kind: str
    name: str
    input_names: list[str]
    input_dtypes: list[str]
    input_shapes: list[Dims]
    output_names: list[str]
    output_batched: list[bool]
    call: Callable[[list[Any]], list[Any]]
    int_high: int = DEFAULT_INT_HIGH
    reference: str = "Keras"
    weight_bytes: int = 0
    variables: list[Any] = field(default_factory=list)
    liftable: set[int] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    policies: list[tuple[str, str]] = field(default_factory=list)
    #: The output shapes the source knows (None: unknown), for outputs tf2onnx leaves unranked.
    output_shapes: list[Dims | None] = field(default_factory=list)


def load_weights_into(model: Any, weights: PathLike) -> None:
    """``model.load_weights(weights)``, Keras' refusal as a KerasError naming the file."""
    try:
        model.load_weights(os.fspath(weights))
    except Exception as err:  # noqa: BLE001 - Keras raises anything here
        raise KerasError(f"Keras cannot load these weights into the model: {_first_line(err)}",
                         path=weights) from err


def _history_name(tensor: Any) -> str:
    """The name of the layer that made a Keras tensor (the InputLayer for an input)."""
    history = getattr(tensor, "_keras_history", None)
    if history is not None:
        operation = history[0]
        if getattr(operation, "name", None):
            return str(operation.name)
    return str(getattr(tensor, "name", "output")).split(":")[0]


def _unique(names: list[str]) -> list[str]:
    """Keras names a layer's several outputs alike; ONNX names must differ."""
    seen: Counter[str] = Counter()
    result = []
    for name in names:
        result.append(name if not seen[name] else f"{name}_{seen[name]}")
        seen[name] += 1
    return result


def source_from_model(model: Any, *, label: str, kind: str) -> ExportSource:
    """A live ``keras.Model`` as an ExportSource (its inputs must be defined)."""

    keras = _optional.require("keras", "ONNX export")
    try:
        inputs = list(model.inputs or [])
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError) as err:
        inputs, outputs = [], []
        problem = _first_line(err)
    else:
        problem = "it has no inputs yet"
    if not inputs or not outputs:
        raise UnsupportedError(f"the model has no defined inputs ({problem})", path=label,
                               hint="build it on keras.Input(...) or call it on data first")
    struct = getattr(model, "_inputs_struct", None)

    def call(tensors: list[Any]) -> list[Any]:
        if struct is not None:
            packed = keras.tree.pack_sequence_as(struct, list(tensors))
        else:
            packed = tensors[0] if len(tensors) == 1 else list(tensors)
        return list(keras.tree.flatten(model(packed, training=False)))

    shapes = [tuple(None if d is None else int(d) for d in t.shape) for t in inputs]
    dtypes = [_dtype_of(t) for t in inputs]
    variables = _unique_variables(model)
    batched = [bool(len(t.shape)) and t.shape[0] is None for t in outputs]
    return ExportSource(
        label=label, kind=kind, name=str(getattr(model, "name", "model")),
        input_names=[_history_name(t) for t in inputs], input_dtypes=dtypes,
        input_shapes=shapes, output_names=_unique([_history_name(t) for t in outputs]),
        output_batched=batched, call=call, int_high=_vocabulary(model),
        weight_bytes=_weight_bytes(model), variables=variables,
        liftable=_liftable(model, variables), policies=live_policies(model),
        output_shapes=[_known_dims(t) for t in outputs])


def _known_dims(tensor: Any) -> Dims | None:
    try:
        return tuple(None if d is None else int(d) for d in tensor.shape)
    except (TypeError, ValueError):
        return None


def _dtype_of(tensor: Any) -> str:
    """A Keras tensor's dtype as a NumPy name, ``string`` for text inputs."""
    name = str(getattr(tensor.dtype, "name", tensor.dtype))
    return "string" if name in ("string", "str", "object") else np.dtype(name).name


def _vocabulary(model: Any) -> int:
    """The smallest Embedding vocabulary (or CategoryEncoding size) in the model, nested too."""
    layers = model._flatten_layers(include_self=False, recursive=True) \
        if hasattr(model, "_flatten_layers") else getattr(model, "layers", [])
    sizes = []
    for layer in layers:
        for attribute in ("input_dim", "num_tokens"):
            value = getattr(layer, attribute, None)
            if isinstance(value, int) and value > 0 and type(layer).__name__ in (
                    "Embedding", "CategoryEncoding"):
                sizes.append(value)
    return min(sizes) if sizes else DEFAULT_INT_HIGH


def _unique_variables(model: Any) -> list[Any]:
    """The model's weights (nested models and shared layers included), each once."""
    seen: set[int] = set()
    variables = []
    for variable in getattr(model, "weights", []):
        if id(variable) not in seen and hasattr(variable, "value"):
            seen.add(id(variable))
            variables.append(variable)
    return variables


def _liftable(model: Any, variables: list[Any]) -> set[int]:
    """Indices of the weights of ``_LIFTABLE_LAYERS`` layers with enough elements."""
    index = {id(variable): position for position, variable in enumerate(variables)}
    layers = model._flatten_layers(include_self=False, recursive=True) \
        if hasattr(model, "_flatten_layers") else getattr(model, "layers", [])
    chosen = set()
    for layer in layers:
        if type(layer).__name__ not in _LIFTABLE_LAYERS:
            continue
        for variable in getattr(layer, "weights", []):
            position = index.get(id(variable))
            if position is not None and _size(variable) >= _LIFT_MIN_ELEMENTS:
                chosen.add(position)
    return chosen


def _size(variable: Any) -> int:
    return int(np.prod(tuple(variable.shape), dtype=np.int64))


def dtype_name(variable: Any) -> str:
    """A weight's dtype name (``float32``)."""
    return str(getattr(variable.dtype, "name", variable.dtype))


def _weight_bytes(model: Any) -> int:
    total = 0
    for variable in getattr(model, "weights", []):
        total += int(np.prod(variable.shape, dtype=np.int64)) * np.dtype(
            getattr(variable.dtype, "name", variable.dtype)).itemsize
    return total


def _layer_refs(refs: Any) -> list[str]:
    """Layer names in a config's ``input_layers``/``output_layers``: ``[[name, 0, 0], ...]``,
    or a single ``[name, 0, 0]``."""
    if not isinstance(refs, list) or not refs:
        return []
    if isinstance(refs[0], str):
        refs = [refs]
    return [str(ref[0]) for ref in refs if isinstance(ref, list) and ref]


def source_from_savedmodel(artifact: ModelArtifact, path: Path) -> ExportSource:
    """A SavedModel's ``serving_default`` signature as the model (names are the signature's)."""
    loaded = artifact.saved_model_object
    signatures = getattr(loaded, "signatures", {}) if loaded is not None else {}
    if "serving_default" not in signatures:
        raise UnsupportedError("this SavedModel has no serving_default signature", path=path,
                               hint="export it with model.export(dir) or tf.saved_model.save "
                                    "with a signature")
    function = signatures["serving_default"]
    specs = function.structured_input_signature[1]
    outputs = function.structured_outputs
    input_names = list(specs)
    output_names = list(outputs)
    config = artifact.config or {}
    # A tf.keras SavedModel names the signature after the Keras layers: use Keras' order then.
    keras_inputs = _layer_refs(config.get("config", {}).get("input_layers"))
    keras_outputs = _layer_refs(config.get("config", {}).get("output_layers"))
    if sorted(keras_inputs) == sorted(input_names):
        input_names = keras_inputs
    if sorted(keras_outputs) == sorted(output_names):
        output_names = keras_outputs

    def call(tensors: list[Any], _keep_alive: Any = loaded) -> list[Any]:
        # The signature holds its variables weakly: the loaded object must outlive it.
        result = function(**dict(zip(input_names, tensors)))
        return [result[name] for name in output_names]

    variables = list(getattr(loaded, "variables", []))
    vocab = [int(v.shape[0]) for v in variables
             if v.name.split(":")[0].endswith("embeddings") and len(v.shape) == 2]
    return ExportSource(
        label=os.fspath(path), kind=Kind.SAVEDMODEL,
        name=str(config.get("config", {}).get("name") or path.name),
        input_names=input_names,
        input_dtypes=[specs[n].dtype.name for n in input_names],
        input_shapes=[tuple(specs[n].shape.as_list()) for n in input_names],
        output_names=output_names,
        output_batched=[bool(outputs[n].shape.rank) and outputs[n].shape[0] is None
                        for n in output_names],
        call=call, int_high=min(vocab) if vocab else DEFAULT_INT_HIGH, reference="TensorFlow",
        weight_bytes=sum(int(np.prod(v.shape, dtype=np.int64)) * v.dtype.size
                         for v in variables),
        notes=["converted through the SavedModel's serving_default signature"])


def lifted_bytes(source: ExportSource, lifted: set[int]) -> int:
    """The bytes of the ``lifted`` weights."""
    return sum(_size(source.variables[i]) * np.dtype(dtype_name(source.variables[i])).itemsize
               for i in lifted)


def variable_array(variable: Any) -> Any:
    """A weight's value as a NumPy array."""
    return np.asarray(variable.numpy())


def live_policies(model: Any) -> list[tuple[str, str]]:
    """``(layer path, policy name)`` of every layer of a live Keras model, nested included."""
    layers = model._flatten_layers(include_self=False, recursive=True) \
        if hasattr(model, "_flatten_layers") else getattr(model, "layers", [])
    found = []
    for layer in layers:
        policy = getattr(getattr(layer, "dtype_policy", None), "name", None)
        if isinstance(policy, str):
            found.append((str(getattr(layer, "path", None) or layer.name), policy))
    return found
