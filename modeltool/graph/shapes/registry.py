"""The shape rule of every layer class modeltool knows, and the wrappers that dispatch through
it (Bidirectional, TimeDistributed)."""

from __future__ import annotations

from typing import Any

from ...artifact import MODEL_CLASSES
from ...formats.dialects.legacy_layers import LEGACY_LAYER_MODULE
from ..model import Shape
from .attention import attention, multi_head_attention
from .call import Call, Outputs, Rule, run_rule
from .core import (
    dense,
    embedding,
    first_input_shape,
    flatten,
    identity,
    lambda_layer,
    permute,
    repeat_vector,
    reshape,
    single,
)
from .merge import concatenate, dot, elementwise_merge
from .ops import OP_BINARY, OP_REDUCE, OP_UNARY, keras_op, tf_op
from .recurrent import conv_lstm, rnn
from .spatial import conv, crop_pad, global_pool, pool, resize_like, upsampling


def _bidirectional(call: Call) -> Outputs:
    inner = call.config.get("layer")
    if not isinstance(inner, dict):
        return None
    inner_cls = str(inner.get("class_name"))
    rule = rule_for(inner_cls, inner.get("module"))
    if rule is None:
        return None
    config = dict(inner.get("config") or {})
    forward = rule(Call(inner_cls, config, call.inputs[:1]))
    if not forward:
        return None
    output, states = forward[0], forward[1:]
    mode = call.config.get("merge_mode", "concat")
    if output is None:
        return None
    merged: list[Shape | None]
    if mode == "concat":
        merged = [(*output[:-1], None if output[-1] is None else output[-1] * 2)]
    elif mode is None:
        merged = [output, output]
    else:
        merged = [output]
    if config.get("return_state"):
        return merged + states + states
    return merged


def _time_distributed(call: Call) -> Outputs:
    inner = call.config.get("layer")
    x = call.x
    if not isinstance(inner, dict) or x is None or len(x) < 3:
        return None
    inner_cls = str(inner.get("class_name"))
    rule = rule_for(inner_cls, inner.get("module"))
    if rule is None:
        return None
    step = run_rule(rule, Call(inner_cls, dict(inner.get("config") or {}), [(x[0], *x[2:])]))
    if not step:
        return None
    return [None if s is None else (s[0], x[1], *s[1:]) for s in step]


_IDENTITY_CLASSES = frozenset({
    "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "Softmax",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "Masking", "ActivityRegularization", "Rescaling",
    "Normalization", "BatchNormalization", "LayerNormalization", "GroupNormalization",
    "UnitNormalization", "RMSNormalization", "SpectralNormalization", "Identity",
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomContrast", "RandomTranslation",
    "RandomBrightness", "RandomHeight", "RandomWidth", "RandomGrayscale", "RandomHue",
    "RandomSaturation", "RandomSharpness", "RandomColorJitter", "RandomColorDegeneration",
    "RandomGaussianBlur", "RandomInvert", "RandomPosterization", "RandomShear",
    "RandomErasing", "RandomElasticTransform", "RandomPerspective", "Solarization",
    "AutoContrast", "Equalization", "AugMix", "RandAugment", "CutMix", "MixUp",
})


#: Layers keras.applications defines for itself (only trusted with a Keras module path).
_APPLICATION_RULES: dict[str, Rule] = {
    "StochasticDepth": identity,
    "LayerScale": identity,
    "CustomScaleLayer": first_input_shape,
}


_RULES: dict[str, Rule] = {
    "Dense": single(dense),
    "Conv1D": conv(1), "Conv2D": conv(2), "Conv3D": conv(3),
    "Conv1DTranspose": conv(1, "transpose"), "Conv2DTranspose": conv(2, "transpose"),
    "Conv3DTranspose": conv(3, "transpose"),
    "SeparableConv1D": conv(1), "SeparableConv2D": conv(2),
    "DepthwiseConv1D": conv(1, "depthwise"), "DepthwiseConv2D": conv(2, "depthwise"),
    "ConvLSTM1D": conv_lstm(1), "ConvLSTM2D": conv_lstm(2), "ConvLSTM3D": conv_lstm(3),
    "MaxPooling1D": pool(1), "MaxPooling2D": pool(2), "MaxPooling3D": pool(3),
    "AveragePooling1D": pool(1), "AveragePooling2D": pool(2), "AveragePooling3D": pool(3),
    "GlobalMaxPooling1D": global_pool(1), "GlobalMaxPooling2D": global_pool(2),
    "GlobalMaxPooling3D": global_pool(3), "GlobalAveragePooling1D": global_pool(1),
    "GlobalAveragePooling2D": global_pool(2), "GlobalAveragePooling3D": global_pool(3),
    "Flatten": single(flatten), "Reshape": single(reshape),
    "Permute": single(permute), "RepeatVector": single(repeat_vector),
    "Cropping1D": crop_pad(1, "cropping", -1, 1), "Cropping2D": crop_pad(2, "cropping", -1, 0),
    "Cropping3D": crop_pad(3, "cropping", -1, 1),
    "ZeroPadding1D": crop_pad(1, "padding", 1, 1), "ZeroPadding2D": crop_pad(2, "padding", 1, 1),
    "ZeroPadding3D": crop_pad(3, "padding", 1, 1),
    "UpSampling1D": upsampling(1), "UpSampling2D": upsampling(2),
    "UpSampling3D": upsampling(3),
    "Add": elementwise_merge, "Subtract": elementwise_merge,
    "Multiply": elementwise_merge, "Average": elementwise_merge,
    "Maximum": elementwise_merge, "Minimum": elementwise_merge,
    "Concatenate": concatenate, "Dot": dot,
    "LSTM": rnn, "GRU": rnn, "SimpleRNN": rnn,
    "Bidirectional": _bidirectional, "TimeDistributed": _time_distributed,
    "Embedding": single(embedding),
    "Attention": attention, "AdditiveAttention": attention,
    "MultiHeadAttention": multi_head_attention, "GroupQueryAttention": multi_head_attention,
    "Resizing": single(resize_like), "CenterCrop": single(resize_like),
    "RandomCrop": single(resize_like),
    "Lambda": lambda_layer,
    "TensorFlowOpLayer": tf_op, "TFOpLambda": tf_op,
    **{name: identity for name in _IDENTITY_CLASSES},
}


def rule_for(class_name: str, module: Any = None) -> Rule | None:
    """The shape rule of a class, or None when modeltool does not know it.

    ``module`` tells Keras' own classes from a user's class of the same name, for the few
    layers keras.applications and ``keras.ops`` define outside ``keras.layers``.
    """
    module = module if isinstance(module, str) else ""
    if module == LEGACY_LAYER_MODULE:  # modeltool's registered Keras 1/2 layers
        from .legacy import RULES

        return RULES.get(class_name)
    is_op = class_name in OP_UNARY | OP_BINARY | OP_REDUCE
    if module.startswith(("keras.src.ops", "keras.ops")):
        return keras_op if is_op else None
    if is_op and class_name not in _RULES and module in ("", "keras", "keras.layers"):
        # Keras 3's legacy HDF5 writer leaves out the module of operation nodes.
        return keras_op
    if class_name in _APPLICATION_RULES:
        return _APPLICATION_RULES[class_name] if "applications" in module else None
    if module and not module.startswith(("keras", "tf_keras", "tensorflow")):
        return None  # a user's layer that happens to share a Keras class name
    return _RULES.get(class_name)


def known_class(class_name: str, module: Any = None) -> bool:
    """True when modeltool has a shape rule for this class (models always count as known)."""
    return class_name in MODEL_CLASSES or rule_for(class_name, module) is not None
