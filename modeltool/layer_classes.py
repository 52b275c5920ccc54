"""Facts about Keras layer classes, written once: which classes are convolutions, recurrent
layers, cells and wrappers, what each class's weights are called, and which weights Keras never
trains.

Plain data (class names as Keras 3 spells them, after dialect translation); every module that
asks "is this a convolution?" imports the answer from here.
"""

from __future__ import annotations

from typing import Any

#: Plain convolutions and their transposes, by spatial rank.
CONV_RANK: dict[str, int] = {
    "Conv1D": 1, "Conv2D": 2, "Conv3D": 3,
    "Conv1DTranspose": 1, "Conv2DTranspose": 2, "Conv3DTranspose": 3,
}
#: Depthwise convolutions, by spatial rank.
DEPTHWISE_CONV_RANK: dict[str, int] = {"DepthwiseConv1D": 1, "DepthwiseConv2D": 2}
#: Separable convolutions, by spatial rank.
SEPARABLE_CONV_RANK: dict[str, int] = {"SeparableConv1D": 1, "SeparableConv2D": 2}
#: Convolutional LSTMs, by spatial rank.
CONV_LSTM_RANK: dict[str, int] = {"ConvLSTM1D": 1, "ConvLSTM2D": 2, "ConvLSTM3D": 3}

#: Plain and transposed convolutions (weights ``kernel, bias``).
CONV_CLASSES = frozenset(CONV_RANK)
#: Transposed convolutions.
CONV_TRANSPOSE_CLASSES = frozenset(name for name in CONV_RANK if name.endswith("Transpose"))
#: Every convolution that is not recurrent: plain, transposed, depthwise and separable.
ALL_CONV_CLASSES = CONV_CLASSES | frozenset(DEPTHWISE_CONV_RANK) | frozenset(SEPARABLE_CONV_RANK)
#: The spatial rank of every convolution, recurrent ones included.
ANY_CONV_RANK: dict[str, int] = {**CONV_RANK, **SEPARABLE_CONV_RANK, **DEPTHWISE_CONV_RANK,
                                 **CONV_LSTM_RANK}

#: The fused recurrent layers Keras ships, and their gate count.
RNN_GATES: dict[str, int] = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
#: Recurrent layers whose weights are ``kernel, recurrent_kernel[, bias]`` (held in a cell).
RNN_CLASSES = frozenset(RNN_GATES) | frozenset(CONV_LSTM_RANK)
#: The cells Keras ships, whose weights are ``kernel, recurrent_kernel[, bias]``.
CELL_CLASSES = frozenset({"LSTMCell", "GRUCell", "SimpleRNNCell", "ConvLSTMCell",
                          "ConvLSTM1DCell", "ConvLSTM2DCell", "ConvLSTM3DCell"})

#: Layers that wrap one inner layer given in their config's ``layer``.
WRAPPER_CLASSES = frozenset({"Bidirectional", "TimeDistributed"})

#: Batch normalization layers: their last two weights are running statistics.
BATCHNORM_CLASSES = frozenset({"BatchNormalization", "SyncBatchNormalization"})
#: Weights Keras never trains, by name (BatchNormalization statistics, Keras 1 included).
NON_TRAINABLE_WEIGHT_NAMES = frozenset({"moving_mean", "moving_variance", "running_mean",
                                        "running_std"})
#: Classes whose weights are all non-trainable.
NON_TRAINABLE_CLASSES = frozenset({"Normalization"})


def weight_names(layer: dict[str, Any]) -> list[str] | None:
    """The names of a layer's weights, in Keras order, from its config (None if unknown)."""
    class_name = layer.get("class_name")
    config = layer.get("config", {}) or {}
    bias = ["bias"] if config.get("use_bias", True) else []
    if class_name == "Dense" or class_name in CONV_CLASSES:
        return ["kernel", *bias]
    if class_name in DEPTHWISE_CONV_RANK:
        return ["kernel", *bias]
    if class_name in SEPARABLE_CONV_RANK:
        return ["depthwise_kernel", "pointwise_kernel", *bias]
    if class_name == "BatchNormalization":
        return ([*(["gamma"] if config.get("scale", True) else []),
                 *(["beta"] if config.get("center", True) else []),
                 "moving_mean", "moving_variance"])
    if class_name in ("LayerNormalization", "GroupNormalization"):
        return [*(["gamma"] if config.get("scale", True) else []),
                *(["beta"] if config.get("center", True) else [])]
    if class_name == "Embedding":
        return ["embeddings"]
    if class_name == "EinsumDense":
        return ["kernel", *(["bias"] if config.get("bias_axes", "?") else [])]
    if class_name in RNN_CLASSES:
        return ["kernel", "recurrent_kernel", *bias]
    if class_name in CELL_CLASSES:
        return ["kernel", "recurrent_kernel", *bias]
    if class_name == "PReLU":
        return ["alpha"]
    if class_name == "Normalization":
        return ["mean", "variance", "count"]
    if class_name in ("InputLayer", "Dropout", "Flatten", "Reshape", "Activation", "Permute",
                      "RepeatVector", "Masking") or class_name in _NO_WEIGHT_CLASSES:
        return []
    return None


_NO_WEIGHT_CLASSES = frozenset({
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "Add",
    "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D",
    "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "ReLU", "LeakyReLU", "ELU",
    "Softmax", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "Rescaling", "Identity", "ActivityRegularization",
    "Lambda", "TFOpLambda", "SlicingOpLambda", "CenterCrop", "Resizing",
    "UnitNormalization", "ThresholdedReLU", "TextVectorization", "StringLookup",
    "IntegerLookup", "Hashing", "HashedCrossing", "CategoryEncoding", "Discretization",
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
    "RandomCrop", "RandomBrightness",
})
