"""Keras 1/2/3 config dialects, turned into one canonical (Keras 3) dialect.

The ``dialects`` package is the only place that knows how the dialects differ. Every reader
passes the config it found through ``canonical_model_config``; every writer that hands a config
to Keras passes it through ``keras_loadable_config`` (``loadable``). Each change made is
recorded as one sentence in ``notes``.

The canonical dialect is what Keras 3 writes in ``config.json``: ``module``/``class_name``/
``config``/``registered_name`` on every object, ``Functional`` or ``Sequential`` at the top, an
explicit ``InputLayer`` with ``batch_shape``, and ``inbound_nodes`` as ``{"args", "kwargs"}``
dicts whose tensors are ``__keras_tensor__`` objects carrying ``keras_history``.
"""

from __future__ import annotations

import re
from typing import Any

from ...artifact import MODEL_CLASSES, ModelArtifact
from ...errors import CorruptFileError, ModelToolError
from .application_layers import APPLICATION_LAYER_MODULES, is_application_layer
from .fidelity import keep_meaning
from .keras1 import (
    CLASS_RENAMES,
    cudnn_settings,
    drop_removed_args,
    lambda_config,
    merge_class,
    rename_args,
)
from .keras1_classes import expand_maxout, merged_sequential, simple_class
from .keras_classes import KERAS3_LAYER_CLASSES, KERAS3_OP_MODULES
from .legacy_layers import (
    LEGACY_LAYER_CLASSES,
    is_modeltool_layer,
    legacy_layer_config,
)
from .legacy_layers import registered as legacy_registered
from .node_states import called_like_op, split_initial_states
from .references import (
    canonical_nodes,
    canonical_refs,
    sequentials_with_builtin_node,
    unshift_node_indices,
    untuple_copy,
)
from .tf_ops import TF_OP_CLASSES, rewrite_tf_op_layer, tf_op_reason

JSON = Any


_MODULE_FOR_KEY = (
    ("initializer", "keras.initializers"),
    ("regularizer", "keras.regularizers"),
    ("constraint", "keras.constraints"),
)


def attach_config(artifact: ModelArtifact, raw: Any, display: str) -> None:
    """Canonicalise ``raw`` into ``artifact``; on an unusable config, keep the weights readable."""
    try:
        config, notes, dialect = canonical_model_config(raw, keras_version=artifact.keras_version,
                                                        path=display)
    except ModelToolError as err:
        artifact.config_error = err.problem
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
                if layer.get("class_name") in CLASS_RENAMES and layer.get("class_name") != "Model":
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
        raw = untuple_copy(raw)
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
        shifted = sequentials_with_builtin_node(raw_layers) if dialect == 2 else set()
        names = {str(layer.get("name")) for layer in raw_layers if isinstance(layer, dict)}
        inner["layers"] = [_canonical_layer(layer, notes, path, dialect, with_nodes=True,
                                            names=names) for layer in raw_layers]
        for key in ("input_layers", "output_layers"):
            inner[key] = canonical_refs(inner.get(key), key, path)
            if dialect < 3 and len(inner[key]) == 1 and isinstance(inner[key][0], list):
                # Keras 1/2 listed a single input/output as a list of one, yet called and
                # returned it bare; Keras 3 writes it bare, and treats a list as structure.
                inner[key] = inner[key][0]
        if shifted:
            unshift_node_indices(inner, shifted)
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


def _as_list(value: Any, what: str, path: str | None) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CorruptFileError(f"model config field {what!r} is not a list", path=path)
    return value


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
            nested["inbound_nodes"] = canonical_nodes(layer.get("inbound_nodes"), path, names)
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
    if class_name in CLASS_RENAMES:
        new = CLASS_RENAMES[class_name]
        notes.append(f"layer {name!r}: class {class_name} renamed {new}")
        if class_name.startswith("CuDNN"):
            cudnn_settings(new, config)
        class_name = new
    modeltool_class = dialect < 3 and class_name in LEGACY_LAYER_CLASSES
    if modeltool_class:  # Highway, LocallyConnected*: modeltool's registered Keras 3 layers
        config = legacy_layer_config(class_name, config, name, notes)
        keep_meaning(class_name, config, name, notes)
    if class_name == "Merge":
        class_name = merge_class(config, name, notes)
        modeltool_class = class_name == "CosineMerge"
    if class_name == "Lambda" and dialect < 3:
        lambda_config(config, name, notes)
    if dialect < 3 and class_name in KERAS3_LAYER_CLASSES:  # custom classes keep their args
        if class_name != "InputLayer":
            # Input shapes live on the InputLayer in Keras 3 (moved there for Sequential).
            for key in ("batch_input_shape", "input_shape", "batch_size",
                        *(() if class_name == "Embedding" else ("input_dim", "input_length"))):
                config.pop(key, None)
        rename_args(class_name, config, name, notes)
        drop_removed_args(class_name, config, name, notes)
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
        result["inbound_nodes"] = canonical_nodes(layer.get("inbound_nodes"), path, names)
        if dialect < 3:
            split_initial_states(result, notes)
    return result


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
