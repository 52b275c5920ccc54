"""Keras 1/2 class and argument names and the arguments Keras 3 removed, per layer.

``canonical`` calls these for every layer of a Keras 1/2 config; each change made is recorded as
one sentence in ``notes``.
"""

from __future__ import annotations

import base64
from typing import Any

from ...artifact import ModelArtifact
from ...layer_classes import ALL_CONV_CLASSES
from .legacy_layers import cosine_merge_config

#: Keras 1 class names and their Keras 2/3 equivalents.
CLASS_RENAMES = {
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


def cudnn_settings(new_class: str, config: dict[str, Any]) -> None:
    # CuDNN kernels use fixed activations; these settings keep the maths in LSTM/GRU.
    config.setdefault("activation", "tanh")
    config.setdefault("recurrent_activation", "sigmoid")
    if new_class == "GRU":
        config["reset_after"] = True


def merge_class(config: dict[str, Any], name: Any, notes: list[str]) -> str:
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


def rename_args(class_name: str, config: dict[str, Any], name: Any, notes: list[str]) -> None:
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
        if fmt and (class_name in ALL_CONV_CLASSES or "Pooling" in class_name
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


def drop_removed_args(class_name: str, config: dict[str, Any], name: Any,
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


def lambda_config(config: dict[str, Any], name: Any, notes: list[str]) -> None:
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


#: File kinds whose weights Keras 1 wrote too (a file without a version is read as Keras 1).
_LEGACY_WEIGHT_KINDS = frozenset({"h5", "k2-weights"})


def keras1_layout(source: ModelArtifact) -> bool:
    """Whether ``source``'s weights are in Keras 1 layouts: what the file says, or a legacy
    HDF5 file saying nothing (as Keras reads it)."""
    version = source.keras_version or ""
    if version.startswith("1"):
        return True
    if source.dialect == 1:
        return True
    return not version and source.kind in _LEGACY_WEIGHT_KINDS
