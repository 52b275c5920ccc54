"""The canonical (Keras 3) config in the tf.keras 2.x dialect, for files Keras 2 must load.

The config is written the way tf.keras 2.x wrote it (no ``module``/``registered_name``,
list-style ``inbound_nodes``, ``batch_input_shape``, dtype strings, Keras 2 argument names).
What Keras 2 cannot express with the same meaning (a class or activation it lacks, a Keras 3
argument with a non-default value) is refused in one line naming the layer.
"""

from __future__ import annotations

import copy
from typing import Any

from ...errors import UnsupportedLayerError
from .fidelity import LEGACY_HARD_SIGMOID
from .legacy_layers import KERAS2_LEGACY_LAYERS, LEGACY_LAYER_MODULE
from .references import tensor_refs

#: Layer classes of Keras 3.15 that tf_keras 2.21 does not have.
_KERAS3_ONLY_CLASSES = frozenset({
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "AugMix",
    "AutoContrast", "ContrastLimitedAdaptiveHistogramEqualization", "CutMix", "Equalization",
    "FlaxLayer", "GroupQueryAttention", "JaxLayer", "MaxNumBoundingBoxes", "MelSpectrogram",
    "MixUp", "Pipeline", "RMSNormalization", "RandAugment", "RandomColorDegeneration",
    "RandomColorJitter", "RandomElasticTransform", "RandomErasing", "RandomGaussianBlur",
    "RandomGrayscale", "RandomHue", "RandomInvert", "RandomPerspective", "RandomPosterization",
    "RandomSaturation", "RandomSharpness", "RandomShear", "ReversibleEmbedding",
    "STFTSpectrogram", "Solarization", "TFSMLayer", "TorchModuleWrapper",
})

#: Keras 3 arguments tf_keras 2.21 does not accept, with the value that means what Keras 2 did
#: (dropped when equal; anything else cannot be expressed). Found by loading every shared
#: class's default Keras 3 config with tf_keras.
_KERAS3_ONLY_ARGS: dict[str, dict[str, Any]] = {
    "*": {"quantization_config": None, "lora_rank": None, "lora_alpha": None,
          "optional": False},
    "LayerNormalization": {"rms_scaling": False},
    "CenterCrop": {"data_format": "channels_last"},
    "RandomCrop": {"data_format": "channels_last"},
    "RandomFlip": {"data_format": "channels_last"},
    "ZeroPadding1D": {"data_format": "channels_last"},
    "Resizing": {"data_format": "channels_last", "pad_to_aspect_ratio": False,
                 "fill_mode": "constant", "fill_value": 0.0, "antialias": False},
    "IntegerLookup": {"oov_method": "floormod", "salt": None},
    "StringLookup": {"oov_method": "floormod", "salt": None},
}

_KERAS3_ONLY_INITIALIZER_ARGS = frozenset({"input_axes", "output_axes"})
#: Keras 3 class names of initializers whose Keras 2 name differs.
_OBJECT_RENAMES = {"OrthogonalInitializer": "Orthogonal", "IdentityInitializer": "Identity"}

#: Keras 3 argument names whose Keras 2 name differs.
_RENAMED_ARGS = {"LeakyReLU": {"negative_slope": "alpha"}}

#: Activation names tf_keras 2.21 knows with the meaning Keras 3 gives them (``hard_sigmoid``
#: is not among them: tf_keras's is the old one).
_SAME_ACTIVATIONS = frozenset({"elu", "exponential", "gelu", "linear", "mish", "relu", "selu",
                               "sigmoid", "softmax", "softplus", "softsign", "swish", "tanh"})
_ACTIVATION_RENAMES = {"silu": "swish"}
_ACTIVATION_KEYS = ("activation", "recurrent_activation")


class _Unexpressible(Exception):
    def __init__(self, layer: str, problem: str) -> None:
        super().__init__(problem)
        self.layer = layer
        self.problem = problem


def keras2_config(config: dict[str, Any]) -> dict[str, Any]:
    """The canonical (Keras 3) model config in the tf.keras 2.x dialect.

    Raises:
        UnsupportedLayerError: something Keras 2 cannot express with the same meaning.
    """
    try:
        return _model(copy.deepcopy(config))
    except _Unexpressible as err:
        raise UnsupportedLayerError(f"layer {err.layer!r}: {err.problem}, so it cannot be "
                                    "written for Keras 2") from None


def _model(model: dict[str, Any]) -> dict[str, Any]:
    class_name = model.get("class_name")
    inner = model.get("config") or {}
    layers = inner.get("layers") or []
    if class_name == "Sequential":
        result_inner: dict[str, Any] = {"name": inner.get("name", "sequential"),
                                        "layers": [_layer(layer, False, set()) for layer in
                                                   layers]}
        return {"class_name": "Sequential", "config": result_inner}
    shifted = _built_sequentials(layers)
    implicit = _implicit_masks(layers, inner)
    converted = [_layer(layer, True, shifted) for layer in layers
                 if str(layer.get("name")) not in implicit]
    result_inner = {"name": inner.get("name", "model"), "layers": converted,
                    "input_layers": _refs(inner.get("input_layers"), shifted),
                    "output_layers": _refs(inner.get("output_layers"), shifted)}
    return {"class_name": "Functional", "config": result_inner}


def _implicit_masks(layers: list[Any], inner: dict[str, Any]) -> set[str]:
    """Keras 3 records ``not_equal(tokens, 0)`` nodes that only feed ``mask=`` arguments (the
    mask of an ``Embedding(mask_zero=True)``); Keras 2 propagates that mask by itself."""
    candidates = {str(layer.get("name")) for layer in layers
                  if layer.get("class_name") == "NotEqual"
                  and str(layer.get("module") or "").startswith("keras.src.ops")
                  and _compares_with_zero(layer)}
    if not candidates:
        return set()
    used_elsewhere = {ref[0] for ref in _refs(inner.get("output_layers"), set())}
    for layer in layers:
        for node in layer.get("inbound_nodes") or []:
            if not isinstance(node, dict):
                continue
            used_elsewhere |= {ref[0] for ref in tensor_refs(node.get("args"))}
            for key, value in (node.get("kwargs") or {}).items():
                if key != "mask":
                    used_elsewhere |= {ref[0] for ref in tensor_refs(value)}
    return candidates - used_elsewhere


def _compares_with_zero(layer: dict[str, Any]) -> bool:
    nodes = layer.get("inbound_nodes") or []
    if len(nodes) != 1 or not isinstance(nodes[0], dict):
        return False
    args = nodes[0].get("args") or []
    return len(args) == 2 and args[1] == 0


def _built_sequentials(layers: list[Any]) -> set[str]:
    """Nested Sequential models with an InputLayer: tf.keras numbered their calls from 1,
    Keras 3 from 0."""
    names = set()
    for layer in layers:
        if isinstance(layer, dict) and layer.get("class_name") == "Sequential":
            members = (layer.get("config") or {}).get("layers") or []
            if members and members[0].get("class_name") == "InputLayer":
                names.add(str(layer.get("name") or layer["config"].get("name")))
    return names


def _refs(value: Any, shifted: set[str]) -> list[list[Any]]:
    if not value:
        return []
    refs = [value] if isinstance(value[0], str) else value
    return [[r[0], r[1] + (1 if r[0] in shifted else 0), r[2]] for r in refs]


def _layer(layer: dict[str, Any], with_nodes: bool, shifted: set[str]) -> dict[str, Any]:
    class_name = str(layer.get("class_name"))
    name = str(layer.get("name") or (layer.get("config") or {}).get("name"))
    if class_name in ("Sequential", "Functional", "Model"):
        result = _model(layer)
        result["name"] = name
        result["config"]["name"] = name
    else:
        module = str(layer.get("module") or "keras.layers")
        if module == LEGACY_LAYER_MODULE and class_name in KERAS2_LEGACY_LAYERS:
            module = "keras.layers"  # tf.keras has it, with the same arguments and weights
        if not module.startswith("keras") or class_name in _KERAS3_ONLY_CLASSES:
            raise _Unexpressible(name, f"class {class_name} does not exist in Keras 2")
        if module.startswith(("keras.src.ops", "keras.ops")):
            raise _Unexpressible(name, f"the Keras 3 operation {class_name} has no Keras 2 layer")
        config = _layer_config(class_name, name, dict(layer.get("config") or {}))
        result = {"class_name": class_name, "config": config}
    if with_nodes:
        result["name"] = name
        result["inbound_nodes"] = [_node(node, shifted) for node in
                                   layer.get("inbound_nodes") or []]
    return result


def _layer_config(class_name: str, name: str, config: dict[str, Any]) -> dict[str, Any]:
    for table in (_KERAS3_ONLY_ARGS["*"], _KERAS3_ONLY_ARGS.get(class_name, {})):
        for key, same in table.items():
            if key in config:
                value = config.pop(key)
                if value != same:
                    raise _Unexpressible(name, f"argument {key}={value!r} does not exist in "
                                               "Keras 2")
    for old, new in _RENAMED_ARGS.get(class_name, {}).items():
        if old in config:
            config[new] = config.pop(old)
    if class_name == "InputLayer" and "batch_shape" in config:
        config["batch_input_shape"] = config.pop("batch_shape")
    for key in _ACTIVATION_KEYS:
        if key in config:
            config[key] = _activation(config[key], name)
    for key in ("layer", "backward_layer"):
        if isinstance(config.get(key), dict):
            config[key] = _layer(config[key], False, set())
    if isinstance(config.get("cell"), dict):
        config["cell"] = _layer(config["cell"], False, set())
    for key, value in list(config.items()):
        if key == "dtype":
            config[key] = _dtype(value)
        elif key not in ("layer", "backward_layer", "cell"):
            config[key] = _plain_objects(value)
    return config


def _activation(value: Any, name: str) -> Any:
    if isinstance(value, dict) and value.get("config") == LEGACY_HARD_SIGMOID:
        return "hard_sigmoid"  # tf_keras's hard_sigmoid is the Keras 1/2 one it stands for
    if isinstance(value, str):
        value = _ACTIVATION_RENAMES.get(value, value)
        if value in _SAME_ACTIVATIONS:
            return value
        if value == "hard_sigmoid":
            raise _Unexpressible(name, "Keras 3's hard_sigmoid (relu6(x + 3) / 6) differs from "
                                       "Keras 2's (clip(0.2x + 0.5, 0, 1))")
    raise _Unexpressible(name, f"activation {value!r} does not exist in Keras 2")


def _dtype(value: Any) -> Any:
    if isinstance(value, dict) and value.get("class_name") == "DTypePolicy":
        return (value.get("config") or {}).get("name", "float32")
    return value


def _plain_objects(value: Any) -> Any:
    """Initializers, regularizers and constraints without ``module``/``registered_name``."""
    if isinstance(value, dict):
        if "class_name" in value:
            inner = value.get("config") or {}
            if isinstance(inner, dict):  # Keras 3.15 initializer arguments Keras 2 lacks
                inner = {key: item for key, item in inner.items()
                         if not (key in _KERAS3_ONLY_INITIALIZER_ARGS and item is None)}
            class_name = _OBJECT_RENAMES.get(value["class_name"], value["class_name"])
            return {"class_name": class_name, "config": _plain_objects(inner)}
        return {key: _plain_objects(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_objects(item) for item in value]
    return value


def _node(node: Any, shifted: set[str]) -> list[list[Any]]:
    if not isinstance(node, dict):
        return node if isinstance(node, list) else []
    kwargs = {key: value for key, value in (node.get("kwargs") or {}).items()
              if not tensor_refs(value)}
    return [[layer, index + (1 if layer in shifted else 0), tensor, kwargs]
            for layer, index, tensor in tensor_refs(node.get("args"))]
