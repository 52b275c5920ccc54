"""Keras 1/2/3 config dialects, turned into one canonical (Keras 3) dialect.

This is the only module that knows how the dialects differ. Every reader passes the config it
found through ``canonical_model_config``; every writer that hands a config to Keras passes it
through ``keras_loadable_config``. Each change made is recorded as one sentence in ``notes``.

The canonical dialect is what Keras 3 writes in ``config.json``: ``module``/``class_name``/
``config``/``registered_name`` on every object, ``Functional`` or ``Sequential`` at the top, an
explicit ``InputLayer`` with ``batch_shape``, and ``inbound_nodes`` as ``{"args", "kwargs"}``
dicts whose tensors are ``__keras_tensor__`` objects carrying ``keras_history``.
"""

from __future__ import annotations

import base64
import copy
import re
from typing import Any

from ..artifact import MODEL_CLASSES, ModelArtifact
from ..errors import CorruptFileError, ModelToolError
from ._application_layers import APPLICATION_LAYER_MODULES, is_application_layer
from ._fidelity import keep_meaning
from ._keras1_classes import expand_maxout, merged_sequential, simple_class
from ._keras_classes import KERAS3_LAYER_CLASSES, KERAS3_OP_MODULES
from ._legacy_layers import (
    LEGACY_LAYER_CLASSES,
    cosine_merge_config,
    is_modeltool_layer,
    legacy_layer_config,
)
from ._legacy_layers import registered as legacy_registered
from ._node_states import (
    called_like_op,
    needs_dict_form,
    split_initial_states,
    with_placeholder_shapes,
)
from ._tf_ops import TF_OP_CLASSES, rewrite_tf_op_layer, tf_op_reason

JSON = Any

#: Keras 1 class names and their Keras 2/3 equivalents.
_CLASS_RENAMES = {
    "Convolution1D": "Conv1D",
    "Convolution2D": "Conv2D",
    "Convolution3D": "Conv3D",
    "AtrousConvolution1D": "Conv1D",
    "AtrousConvolution2D": "Conv2D",
    "Deconvolution2D": "Conv2DTranspose",
    "Deconvolution3D": "Conv3DTranspose",
    "SeparableConvolution2D": "SeparableConv2D",
    "CuDNNLSTM": "LSTM",
    "CuDNNGRU": "GRU",
    "Model": "Functional",
}

#: Keras 1 argument names (for every layer) and their Keras 2 names.
_ARG_RENAMES = {
    "nb_filter": "filters",
    "subsample": "strides",
    "subsample_length": "strides",
    "border_mode": "padding",
    "init": "kernel_initializer",
    "inner_init": "recurrent_initializer",
    "W_regularizer": "kernel_regularizer",
    "U_regularizer": "recurrent_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "U_constraint": "recurrent_constraint",
    "b_constraint": "bias_constraint",
    "bias": "use_bias",
    "inner_activation": "recurrent_activation",
    "dropout_W": "dropout",
    "dropout_U": "recurrent_dropout",
    "pool_length": "pool_size",
    "stride": "strides",
    "atrous_rate": "dilation_rate",
    "filter_length": "kernel_size",
    "gamma_init": "gamma_initializer",
    "beta_init": "beta_initializer",
    "input_dtype": "dtype",
}

#: Per-class Keras 1 argument names that differ from the generic table.
_CLASS_ARG_RENAMES = {
    "Embedding": {"init": "embeddings_initializer", "W_regularizer": "embeddings_regularizer",
                  "W_constraint": "embeddings_constraint"},
    "Dropout": {"p": "rate"},
    "SpatialDropout1D": {"p": "rate"},
    "SpatialDropout2D": {"p": "rate"},
    "SpatialDropout3D": {"p": "rate"},
    "GaussianDropout": {"p": "rate"},
    "UpSampling1D": {"length": "size"},
    "ZeroPadding1D": {},
    "PReLU": {"init": "alpha_initializer"},
    "LeakyReLU": {"alpha": "negative_slope"},
}

_UNITS_CLASSES = {"Dense", "LSTM", "GRU", "SimpleRNN", "Highway", "MaxoutDense"}
_RNN_CLASSES = {"LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"}
_CONV_CLASSES = {"Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose",
                 "Conv1DTranspose", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv2D",
                 "DepthwiseConv1D"}

#: Arguments Keras 3 no longer accepts, per class, with the value that makes dropping them safe
#: (None: any value may be dropped).
_REMOVED_ARGS: dict[str, dict[str, Any]] = {
    "*": {"input_dtype": None},
    "LSTM": {"time_major": None},
    "GRU": {"time_major": None},
    "SimpleRNN": {"time_major": None},
    "Bidirectional": {"time_major": None},
    "ConvLSTM1D": {"time_major": None},
    "ConvLSTM2D": {"time_major": None},
    "ConvLSTM3D": {"time_major": None},
    "BatchNormalization": {"fused": None, "renorm": False, "renorm_clipping": None,
                           "renorm_momentum": None, "virtual_batch_size": None,
                           "adjustment": None, "mode": 0},
    "DepthwiseConv2D": {"groups": 1, "kernel_initializer": None, "kernel_regularizer": None,
                        "kernel_constraint": None},
    # Keras 2 separable convolutions inherited the plain convolution's kernel arguments.
    "SeparableConv1D": {"groups": 1, "kernel_initializer": None, "kernel_regularizer": None,
                        "kernel_constraint": None},
    "SeparableConv2D": {"groups": 1, "kernel_initializer": None, "kernel_regularizer": None,
                        "kernel_constraint": None},
    "Conv2DTranspose": {"groups": 1},
    "Conv1DTranspose": {"groups": 1},
    "Conv3DTranspose": {"groups": 1},
    "Embedding": {"input_length": None, "dropout": 0},
    "Dropout": {},
}

_MODULE_FOR_KEY = (
    ("initializer", "keras.initializers"),
    ("regularizer", "keras.regularizers"),
    ("constraint", "keras.constraints"),
)

_TENSOR = "__keras_tensor__"


def attach_config(artifact: ModelArtifact, raw: Any, display: str) -> None:
    """Canonicalise ``raw`` into ``artifact``; on an unusable config, keep the weights readable."""
    try:
        config, notes, dialect = canonical_model_config(raw, keras_version=artifact.keras_version,
                                                        path=display)
    except ModelToolError as err:
        artifact.metadata["config_error"] = err.problem
        artifact.notes.append(f"architecture not usable: {err.problem}")
        return
    artifact.config, artifact.dialect = config, dialect
    artifact.notes.extend(notes)
    for path, class_name, reason in foreign_layers(config):
        if class_name != "Lambda":
            artifact.notes.append(f"layer {path!r}: {reason}; its config is kept as data")


def detect_dialect(raw: JSON, keras_version: str | None = None) -> int:
    """The Keras generation (1, 2 or 3) a model config was written in."""
    if keras_version:
        match = re.match(r"\s*(\d+)", keras_version)
        if match and match.group(1) in ("0", "1", "2", "3"):
            return max(int(match.group(1)), 1)  # Keras 0.x configs are read as Keras 1
    if not isinstance(raw, dict):
        return 1
    if raw.get("module") or raw.get("registered_name"):
        return 3
    inner = raw.get("config")
    if isinstance(inner, list):
        return 1
    if isinstance(inner, dict) and isinstance(inner.get("layers"), list):
        for layer in inner["layers"]:
            if isinstance(layer, dict):
                if layer.get("class_name") in _CLASS_RENAMES and layer.get("class_name") != "Model":
                    return 1
                nodes = layer.get("inbound_nodes") or []
                if nodes and isinstance(nodes[0], dict):
                    return 3
                for node in nodes:
                    for ref in node if isinstance(node, list) else []:
                        if isinstance(ref, list) and len(ref) == 3:
                            return 1
    return 2


def canonical_model_config(raw: JSON, *, keras_version: str | None = None,
                           path: str | None = None) -> tuple[dict[str, Any], list[str], int]:
    """Turn a stored model config of any dialect into the canonical Keras 3 dialect.

    Args:
        raw: the decoded ``model_config`` / ``config.json`` / JSON / YAML content.
        keras_version: what the file says wrote it, if anything.
        path: the file, for error messages.

    Returns:
        (canonical config, notes on what was changed, dialect of the input).

    Raises:
        CorruptFileError: the content is not a Keras model config.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("class_name"), str):
        raise CorruptFileError("model config has no class_name", path=path,
                               hint="this does not look like a Keras model architecture")
    try:
        raw = _untuple(raw)
        dialect = detect_dialect(raw, keras_version)
        notes: list[str] = []
        config = _canonical_model(raw, notes, path, dialect)
    except RecursionError as err:
        raise CorruptFileError("model config is nested too deeply", path=path) from err
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as err:
        # Untrusted structure of the wrong type somewhere the dialect rules look.
        raise CorruptFileError(f"model config is malformed ({type(err).__name__}: {err})",
                               path=path) from err
    return config, notes, dialect


def _canonical_model(raw: dict[str, Any], notes: list[str], path: str | None,
                     dialect: int) -> dict[str, Any]:
    class_name = raw.get("class_name")
    inner = raw.get("config")
    if class_name == "Model":
        class_name = "Functional"
    if class_name == "Sequential" and dialect < 3:
        functional = merged_sequential(raw, notes)
        if functional is not None:
            return _canonical_model(functional, notes, path, dialect)
    if class_name == "Sequential":
        if isinstance(inner, list):
            inner = {"name": "sequential", "layers": inner}
            notes.append("Sequential config stored as a bare list (Keras 1/2.0): wrapped")
        if not isinstance(inner, dict):
            raise CorruptFileError("Sequential config is neither a list nor a dict", path=path)
        layers = _as_list(inner.get("layers"), "layers", path)
        if dialect < 3:
            layers = expand_maxout(layers, False, inner, notes)
        layers = _explicit_input_layer(layers, inner, notes, path)
        inner["layers"] = [_canonical_layer(layer, notes, path, dialect, with_nodes=False)
                           for layer in layers]
        _canonical_dtype(inner, notes)
        result: dict[str, Any] = {"module": "keras", "class_name": "Sequential", "config": inner,
                                  "registered_name": None}
    elif class_name == "Functional":
        if not isinstance(inner, dict):
            raise CorruptFileError("Functional model config is not a dict", path=path)
        raw_layers = _as_list(inner.get("layers"), "layers", path)
        if dialect < 3:
            raw_layers = expand_maxout(raw_layers, True, inner, notes)
        shifted = _sequentials_with_builtin_node(raw_layers) if dialect == 2 else set()
        names = {str(layer.get("name")) for layer in raw_layers if isinstance(layer, dict)}
        inner["layers"] = [_canonical_layer(layer, notes, path, dialect, with_nodes=True,
                                            names=names) for layer in raw_layers]
        for key in ("input_layers", "output_layers"):
            inner[key] = _canonical_refs(inner.get(key), key, path)
            if dialect < 3 and len(inner[key]) == 1 and isinstance(inner[key][0], list):
                # Keras 1/2 listed a single input/output as a list of one, yet called and
                # returned it bare; Keras 3 writes it bare, and treats a list as structure.
                inner[key] = inner[key][0]
        if shifted:
            _unshift_node_indices(inner, shifted)
        _canonical_dtype(inner, notes)
        result = {"module": "keras.src.models.functional", "class_name": "Functional",
                  "config": inner, "registered_name": "Functional"}
    else:
        raise CorruptFileError(f"top-level class {class_name!r} is not a Keras model", path=path,
                               hint="expected Sequential, Functional or Model")
    for key in ("build_config", "compile_config"):
        if key in raw:
            result[key] = raw[key]
    return result


def _untuple(value: Any, depth: int = 0) -> Any:
    """A deep copy with tf.keras' ``{"class_name": "__tuple__", "items": [...]}`` as lists."""
    if depth > 500:
        raise RecursionError("config nested too deeply")
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__" and isinstance(value.get("items"), list):
            return [_untuple(item, depth + 1) for item in value["items"]]
        return {key: _untuple(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_untuple(item, depth + 1) for item in value]
    return value


def _sequentials_with_builtin_node(layers: list[Any]) -> set[str]:
    """Nested Sequential models whose node 0 Keras 2 kept for their own input (built with an
    input shape); Keras 3 numbers a Sequential's calls from 0, so references shift by one."""
    names = set()
    for layer in layers:
        if not isinstance(layer, dict) or layer.get("class_name") != "Sequential":
            continue
        inner = layer.get("config")
        members = inner.get("layers") if isinstance(inner, dict) else inner
        if not isinstance(members, list) or not members or not isinstance(members[0], dict):
            continue
        first = members[0]
        if first.get("class_name") == "InputLayer" or "batch_input_shape" in (
                first.get("config") or {}):
            names.add(str(layer.get("name") or (inner or {}).get("name")))
    return names


def _unshift_node_indices(model: dict[str, Any], names: set[str]) -> None:
    def fix(value: Any) -> None:
        if is_tensor_ref(value):
            history = value["config"]["keras_history"]
            if history[0] in names and isinstance(history[1], int) and history[1] > 0:
                history[1] -= 1
        elif isinstance(value, dict):
            for item in value.values():
                fix(item)
        elif isinstance(value, list):
            for item in value:
                fix(item)

    for layer in model.get("layers", []):
        fix(layer.get("inbound_nodes"))
    for key in ("input_layers", "output_layers"):
        refs = model.get(key) or []
        for ref in ([refs] if refs and isinstance(refs[0], str) else refs):
            if isinstance(ref, list) and len(ref) >= 2 and ref[0] in names and ref[1] > 0:
                ref[1] -= 1


def _as_list(value: Any, what: str, path: str | None) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CorruptFileError(f"model config field {what!r} is not a list", path=path)
    return value


def _canonical_refs(value: Any, what: str, path: str | None) -> Any:
    """``input_layers``/``output_layers``: a ref ``[name, node, tensor]`` or a list of them."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise CorruptFileError(f"model config field {what!r} is not a list", path=path)
    if value and isinstance(value[0], str):
        return value[:3]
    return [list(ref[:3]) if isinstance(ref, list) else ref for ref in value]


def _explicit_input_layer(layers: list[Any], inner: dict[str, Any], notes: list[str],
                          path: str | None) -> list[Any]:
    """Keras 1/2 Sequential models carry their input shape on the first layer."""
    if not layers or not isinstance(layers[0], dict) \
            or layers[0].get("class_name") == "InputLayer":
        return layers
    first = layers[0].get("config")
    if not isinstance(first, dict):
        raise CorruptFileError("the first layer of a Sequential model has no config", path=path)
    shape = first.pop("batch_input_shape", None)
    dtype = first.get("dtype") if isinstance(first.get("dtype"), str) else None
    if shape is None and "input_shape" in first:
        shape = [None, *list(first.pop("input_shape") or [])]
    if shape is None and first.get("input_dim") is not None:
        length = first.get("input_length")
        if layers[0].get("class_name") == "Embedding":
            shape = [None, length]
        else:
            shape = [None, first.pop("input_dim")]
    if shape is None:
        build = inner.get("build_input_shape")
        if isinstance(build, list):
            shape = build
    if shape is None:
        return layers
    if layers[0].get("class_name") == "Embedding" and not str(dtype or "").startswith("int"):
        dtype = "int32"
    input_layer = {
        "module": "keras.layers", "class_name": "InputLayer",
        "config": {"batch_shape": list(shape), "dtype": dtype or "float32", "sparse": False,
                   "name": f"{first.get('name', 'input')}_input"},
        "registered_name": None,
    }
    notes.append(f"input shape {list(shape)} moved from layer {first.get('name')!r} "
                 "into an explicit InputLayer")
    return [input_layer, *layers]


def _canonical_dtype(config: dict[str, Any], notes: list[str]) -> None:
    dtype = config.get("dtype")
    if isinstance(dtype, dict) and dtype.get("class_name") == "Policy":
        config["dtype"] = {"module": "keras", "class_name": "DTypePolicy",
                           "config": {"name": dtype.get("config", {}).get("name", "float32")},
                           "registered_name": None}


def _canonical_layer(layer: Any, notes: list[str], path: str | None, dialect: int,
                     with_nodes: bool, names: set[str] | None = None) -> dict[str, Any]:
    if not isinstance(layer, dict) or not isinstance(layer.get("class_name"), str):
        raise CorruptFileError("a layer entry has no class_name", path=path)
    class_name = layer["class_name"]
    if class_name in TF_OP_CLASSES and dialect < 3 and with_nodes:
        rewritten = rewrite_tf_op_layer(layer, names or set(), notes)
        if rewritten is not None:
            return rewritten
    if class_name in MODEL_CLASSES:
        nested = _canonical_model(layer, notes, path, dialect)
        nested["name"] = layer.get("name") or layer.get("config", {}).get("name")
        if with_nodes:
            nested["inbound_nodes"] = _canonical_nodes(layer.get("inbound_nodes"), path, names)
        if "shared_object_id" in layer:
            nested["shared_object_id"] = layer["shared_object_id"]
        return nested
    config = layer.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise CorruptFileError(f"config of layer {layer.get('name')!r} is not a dict", path=path)
    name = layer.get("name") or config.get("name")
    if dialect < 3:
        class_name = simple_class(class_name, config, name, notes)
    if class_name in _CLASS_RENAMES:
        new = _CLASS_RENAMES[class_name]
        notes.append(f"layer {name!r}: class {class_name} renamed {new}")
        if class_name.startswith("CuDNN"):
            _cudnn_settings(new, config)
        class_name = new
    modeltool_class = dialect < 3 and class_name in LEGACY_LAYER_CLASSES
    if modeltool_class:  # Highway, LocallyConnected*: modeltool's registered Keras 3 layers
        config = legacy_layer_config(class_name, config, name, notes)
        keep_meaning(class_name, config, name, notes)
    if class_name == "Merge":
        class_name = _merge_class(config, name, notes)
        modeltool_class = class_name == "CosineMerge"
    if class_name == "Lambda" and dialect < 3:
        _lambda_config(config, name, notes)
    if dialect < 3 and class_name in KERAS3_LAYER_CLASSES:  # custom classes keep their args
        if class_name != "InputLayer":
            # Input shapes live on the InputLayer in Keras 3 (moved there for Sequential).
            for key in ("batch_input_shape", "input_shape", "batch_size",
                        *(() if class_name == "Embedding" else ("input_dim", "input_length"))):
                config.pop(key, None)
        _rename_args(class_name, config, name, notes)
        _drop_removed_args(class_name, config, name, notes)
        keep_meaning(class_name, config, name, notes)
    _canonical_nested_objects(config)
    _canonical_dtype(config, notes)
    if class_name == "InputLayer":
        if "batch_input_shape" in config:
            config["batch_shape"] = config.pop("batch_input_shape")
    if class_name in ("Bidirectional", "TimeDistributed") and isinstance(config.get("layer"),
                                                                       dict):
        config["layer"] = _canonical_layer(config["layer"], notes, path, dialect,
                                           with_nodes=False)
        if "backward_layer" in config and isinstance(config["backward_layer"], dict):
            config["backward_layer"] = _canonical_layer(config["backward_layer"], notes, path,
                                                        dialect, with_nodes=False)
    if class_name == "Embedding" and dialect < 3 and str(config.get("dtype", "")).startswith(
            ("int", "uint")):
        # Keras 1 gave an Embedding the dtype of its integer input; its weights are floats.
        notes.append(f"layer {name!r}: Embedding dtype {config['dtype']!r} describes its input: "
                     "weights kept float32")
        config["dtype"] = "float32"
    if class_name == "GRU" and "reset_after" not in config and dialect < 3:
        config["reset_after"] = False
        notes.append(f"layer {name!r}: GRU without reset_after is the old GRU: "
                     "reset_after=False set")
    module = layer.get("module")
    registered = layer.get("registered_name")
    if not module:
        # Keras' legacy writers drop the module; graph operations need theirs back.
        is_op = class_name in KERAS3_OP_MODULES and (class_name not in KERAS3_LAYER_CLASSES
                                                     or called_like_op(layer))
        module = KERAS3_OP_MODULES[class_name] if is_op else "keras.layers"
        if class_name in APPLICATION_LAYER_MODULES:
            module, registered = APPLICATION_LAYER_MODULES[class_name], registered or class_name
        elif class_name not in KERAS3_LAYER_CLASSES and not is_op:
            # A custom class: no module (Keras finds it among the user's custom objects by
            # its registered name), never keras.layers, where it does not exist.
            module, registered = None, registered or class_name
    if modeltool_class:
        module, registered = legacy_registered(class_name).values()
    result: dict[str, Any] = {
        "module": module,
        "class_name": class_name,
        "config": config,
        "registered_name": registered,
    }
    if "build_config" in layer:
        result["build_config"] = layer["build_config"]
    if "shared_object_id" in layer:  # one object in several places: its weights stored once
        result["shared_object_id"] = layer["shared_object_id"]
    if name is not None:
        config.setdefault("name", name)
    if with_nodes:
        result["name"] = name
        result["inbound_nodes"] = _canonical_nodes(layer.get("inbound_nodes"), path, names)
        if dialect < 3:
            split_initial_states(result, notes)
    return result


def _lambda_config(config: dict[str, Any], name: Any, notes: list[str]) -> None:
    """Keras 1/2 Lambda fields in the Keras 3 form. The bytecode stays data: nothing here (or
    anywhere in modeltool) unmarshals or runs it."""
    function = config.get("function")
    kind = config.pop("function_type", None)
    config.pop("module", None)
    shape_kind = config.pop("output_shape_type", None)
    config.pop("output_shape_module", None)
    if kind == "lambda":
        parts = function if isinstance(function, list) else [function]
        code = _base64_code(parts[0]) if parts else None
        defaults = parts[1] if len(parts) > 1 else None
        closure = parts[2] if len(parts) > 2 else None
        config["function"] = {"class_name": "__lambda__",
                              "config": {"code": code, "defaults": defaults,
                                         "closure": closure}}
    if shape_kind == "lambda":
        config.pop("output_shape", None)
    config.setdefault("arguments", {})
    notes.append(f"layer {name!r}: Lambda with Python bytecode kept as data (never run); Keras "
                 "rebuilds it only with safe_mode=False and the Python version that wrote it")


def _base64_code(code: Any) -> Any:
    """Keras 2 stored marshalled code as base64; Keras 1 as a raw-unicode-escape string."""
    if not isinstance(code, str):
        return code
    try:
        base64.b64decode(code.encode("ascii"), validate=True)
        return code
    except (ValueError, UnicodeEncodeError):
        return base64.b64encode(code.encode("raw_unicode_escape")).decode("ascii")


def foreign_layers(config: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """Layers Keras 3 cannot build from the config alone: (path, class, reason)."""
    found: list[tuple[str, str, str]] = []

    def walk(layer: dict[str, Any], prefix: str) -> None:
        class_name = str(layer.get("class_name"))
        inner = layer.get("config") or {}
        name = str(layer.get("name") or (inner.get("name") if isinstance(inner, dict) else "")
                   or "")
        path = f"{prefix}{name}"
        module = str(layer.get("module") or "")
        if module.startswith(("keras.src.ops", "keras.ops")) \
                or is_application_layer(class_name, module) \
                or is_modeltool_layer(class_name, module):
            return
        if class_name == "Lambda":
            found.append((path, class_name, "a Lambda layer carries Python code"))
        elif class_name in TF_OP_CLASSES:
            found.append((path, class_name, tf_op_reason(layer)))
        elif class_name not in KERAS3_LAYER_CLASSES:
            found.append((path, class_name, f"class {class_name} does not exist in Keras 3"))
        if isinstance(inner, dict):
            for member in inner.get("layers") or []:
                if isinstance(member, dict):
                    walk(member, f"{path}/")
            for key in ("layer", "backward_layer"):
                if isinstance(inner.get(key), dict):
                    walk(inner[key], f"{path}/")

    if config is not None:
        for member in (config.get("config") or {}).get("layers") or []:
            if isinstance(member, dict):
                walk(member, "")
    return found


def _cudnn_settings(new_class: str, config: dict[str, Any]) -> None:
    # CuDNN kernels use fixed activations; these settings keep the maths in LSTM/GRU.
    config.setdefault("activation", "tanh")
    config.setdefault("recurrent_activation", "sigmoid")
    if new_class == "GRU":
        config["reset_after"] = True


def _merge_class(config: dict[str, Any], name: Any, notes: list[str]) -> str:
    mode = config.pop("mode", "sum")
    table = {"concat": "Concatenate", "sum": "Add", "mul": "Multiply", "ave": "Average",
             "max": "Maximum", "dot": "Dot", "cos": "CosineMerge"}
    if not isinstance(mode, str) or mode not in table:
        notes.append(f"layer {name!r}: Merge with mode {mode!r} has no Keras 3 equivalent")
        return "Merge"
    new = table[mode]
    if new == "CosineMerge":
        replacement = cosine_merge_config(dict(config), name, notes)
        config.clear()
        config.update(replacement)
        return new
    if new == "Concatenate":
        config["axis"] = config.pop("concat_axis", -1)
    if new == "Dot":
        config["axes"] = config.pop("dot_axes", -1)
        config["normalize"] = False
    for key in ("concat_axis", "dot_axes", "mode_type", "output_shape", "output_shape_type",
                "output_mask", "output_mask_type", "arguments", "layers"):
        config.pop(key, None)
    notes.append(f"layer {name!r}: Merge(mode={mode!r}) became {new}")
    return new


def _rename_args(class_name: str, config: dict[str, Any], name: Any, notes: list[str]) -> None:
    renames = dict(_ARG_RENAMES)
    renames.update(_CLASS_ARG_RENAMES.get(class_name, {}))
    changed = []
    if "output_dim" in config and class_name in _UNITS_CLASSES:
        config["units"] = config.pop("output_dim")
        changed.append("output_dim->units")
    if "nb_row" in config and "nb_col" in config:
        config["kernel_size"] = [config.pop("nb_row"), config.pop("nb_col")]
        changed.append("nb_row/nb_col->kernel_size")
    if "kernel_dim1" in config:
        config["kernel_size"] = [config.pop(f"kernel_dim{i}") for i in (1, 2, 3)
                                 if f"kernel_dim{i}" in config]
        changed.append("kernel_dim*->kernel_size")
    for old, new in renames.items():
        if old in config and new not in config:
            config[new] = config.pop(old)
            changed.append(f"{old}->{new}")
    if "dim_ordering" in config or "image_dim_ordering" in config:
        ordering = config.pop("dim_ordering", None) or config.pop("image_dim_ordering", None)
        fmt = {"th": "channels_first", "tf": "channels_last"}.get(str(ordering))
        if fmt and (class_name in _CONV_CLASSES or "Pooling" in class_name
                    or class_name in ("Cropping1D", "Cropping2D", "Cropping3D", "ZeroPadding2D",
                                      "ZeroPadding3D", "UpSampling2D", "UpSampling3D", "Flatten")):
            config["data_format"] = fmt
        changed.append(f"dim_ordering={ordering}->data_format")
    if "forget_bias_init" in config:
        config["unit_forget_bias"] = config.pop("forget_bias_init") == "one"
        changed.append("forget_bias_init->unit_forget_bias")
    if "consume_less" in config:
        mode = config.pop("consume_less")
        config["implementation"] = 2 if mode == "gpu" else 1
        changed.append("consume_less->implementation")
    if config.get("use_bias") in (0, 1):
        config["use_bias"] = bool(config["use_bias"])
    if changed:
        notes.append(f"layer {name!r} ({class_name}): Keras 1 arguments renamed: "
                     + ", ".join(changed))


def _drop_removed_args(class_name: str, config: dict[str, Any], name: Any,
                       notes: list[str]) -> None:
    for table in (_REMOVED_ARGS["*"], _REMOVED_ARGS.get(class_name, {})):
        for key, safe_value in table.items():
            if key not in config:
                continue
            value = config.pop(key)
            if safe_value is not None and value not in (safe_value, None):
                notes.append(f"layer {name!r}: argument {key}={value!r} is not supported by "
                             "Keras 3 and was dropped; results may differ")
            elif value is not None:
                notes.append(f"layer {name!r}: argument {key}={value!r} dropped "
                             "(Keras 3 does not accept it)")
    if class_name == "BatchNormalization" and isinstance(config.get("axis"), list) \
            and len(config["axis"]) == 1:
        config["axis"] = config["axis"][0]


def _canonical_nested_objects(config: dict[str, Any]) -> None:
    """Initializers, regularizers and constraints written without a ``module``."""
    for key, value in config.items():
        if not isinstance(value, dict) or "class_name" not in value or "module" in value:
            continue
        for suffix, module in _MODULE_FOR_KEY:
            if key.endswith(suffix) or key == suffix:
                value["module"] = module
                value.setdefault("registered_name", None)
                value.setdefault("config", {})


def _canonical_nodes(nodes: Any, path: str | None,
                     names: set[str] | None = None) -> list[dict[str, Any]]:
    """Keras 1/2 ``[[name, node, tensor, kwargs], ...]`` lists become Keras 3 node dicts.

    tf.keras 2.4+ wrote a TFOpLambda call as one bare reference ``[name, node, tensor,
    kwargs]``, with tensors among the keyword arguments as ``[name, node, tensor]``.
    """
    if not nodes:
        return []
    if not isinstance(nodes, list):
        raise CorruptFileError("inbound_nodes is not a list", path=path)
    result = []
    for node in nodes:
        if isinstance(node, dict):
            result.append(node)
            continue
        if isinstance(node, list) and node and isinstance(node[0], str):
            node = [node]
        if not isinstance(node, list) or not node:
            raise CorruptFileError(f"inbound node {node!r} is malformed", path=path)
        tensors = []
        kwargs: dict[str, Any] = {}
        for ref in node:
            if not isinstance(ref, list) or len(ref) < 3 or not isinstance(ref[0], str):
                raise CorruptFileError(f"inbound tensor reference {ref!r} is malformed",
                                       path=path)
            if len(ref) > 3 and isinstance(ref[3], dict):
                kwargs = {key: _kwarg_tensor(value, names) for key, value in ref[3].items()}
            tensors.append(_tensor_ref(ref[0], ref[1], ref[2]))
        args: list[Any] = [tensors[0]] if len(tensors) == 1 else [tensors]
        result.append({"args": args, "kwargs": kwargs})
    return result


def _kwarg_tensor(value: Any, names: set[str] | None) -> Any:
    if names and isinstance(value, list) and len(value) == 3 and value[0] in names \
            and all(isinstance(v, int) for v in value[1:]):
        return _tensor_ref(value[0], value[1], value[2])
    return value


def _tensor_ref(layer: str, node: Any, tensor: Any, shape: Any = None,
                dtype: Any = None) -> dict[str, Any]:
    return {"class_name": _TENSOR,
            "config": {"shape": shape, "dtype": dtype, "keras_history": [layer, node, tensor]}}


def is_tensor_ref(value: Any) -> bool:
    """True for a ``__keras_tensor__`` object in a canonical inbound node."""
    return isinstance(value, dict) and value.get("class_name") == _TENSOR


def tensor_refs(value: Any) -> list[tuple[str, int, int]]:
    """Every ``(layer, node_index, tensor_index)`` referenced inside a node's args, in order."""
    found: list[tuple[str, int, int]] = []
    if is_tensor_ref(value):
        history = value.get("config", {}).get("keras_history") or []
        if len(history) >= 3:
            found.append((str(history[0]), int(history[1]), int(history[2])))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(tensor_refs(item))
    elif isinstance(value, (list, tuple)):
        for item in value:
            found.extend(tensor_refs(item))
    return found


def keras_loadable_config(config: dict[str, Any]) -> dict[str, Any]:
    """The canonical config as Keras 3 wants it in a file it will load.

    Keras 3 rebuilds ``__keras_tensor__`` arguments with their recorded shape; a node read from
    a Keras 1/2 file has none, so such nodes are written in the list form Keras 3 also reads.
    """
    result = copy.deepcopy(config)
    _loadable_model(result)
    return result


def _loadable_model(value: Any, functional: frozenset[str] = frozenset()) -> None:
    """Every ``inbound_nodes`` list in the tree, nested models and wrapped models included.

    ``functional`` names the sibling layers that are Functional models: Keras 3 numbers their
    calls from 1 and subtracts 1 when it reads node dicts, but not when it reads the list form.
    """
    if isinstance(value, dict):
        nodes = value.get("inbound_nodes")
        if isinstance(nodes, list) and nodes:
            value["inbound_nodes"] = [_loadable_node(node, functional) for node in nodes]
        inner = value.get("config")
        members = inner.get("layers") if isinstance(inner, dict) else None
        names = frozenset(str(m.get("name")) for m in members
                          if isinstance(m, dict) and m.get("class_name") == "Functional") \
            if isinstance(members, list) else frozenset()
        for key, item in value.items():
            if key != "inbound_nodes":
                _loadable_model(item, names if key == "config" else functional)
    elif isinstance(value, list):
        for item in value:
            _loadable_model(item, functional)


def _loadable_node(node: Any, functional: frozenset[str]) -> Any:
    if not isinstance(node, dict):
        return node

    def shapes_known(value: Any) -> bool:
        if is_tensor_ref(value):
            return value.get("config", {}).get("shape") is not None
        if isinstance(value, dict):
            return all(shapes_known(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return all(shapes_known(v) for v in value)
        return True

    if shapes_known(node.get("args")) and shapes_known(node.get("kwargs")):
        return node
    if needs_dict_form(node):
        return with_placeholder_shapes(node)
    kwargs = node.get("kwargs") or {}
    return [[layer, index - 1 if layer in functional and index > 0 else index, tensor, kwargs]
            for layer, index, tensor in tensor_refs(node.get("args"))]
