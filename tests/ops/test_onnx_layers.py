"""Every Keras 3 core layer with its main options: built small, saved as ``.keras``, converted
from the file by ``modeltool.to_onnx`` and run in onnxruntime against ``keras.models.load_model``
on the same file (``-m onnx_layers``; ``make test-onnx-layers``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = [pytest.mark.tf, pytest.mark.onnx_layers]

#: (case id, input shapes after the batch dim (int dtype when the tuple starts with "int"),
#:  a function of the keras module returning the layer or a callable on the inputs)
Case = tuple[str, list[Any], Callable[[Any], Any]]


def _cases() -> list[Case]:
    L = "layers"  # noqa: N806 - read as keras.layers below

    def lay(name: str, **kwargs: Any) -> Callable[[Any], Any]:
        return lambda keras: getattr(getattr(keras, L), name)(**kwargs)

    img, seq, vec, vol = [(8, 8, 3)], [(6, 4)], [(5,)], [(4, 4, 4, 2)]
    cases: list[Case] = [
        ("dense", vec, lay("Dense", units=3)),
        ("dense_relu_nobias", vec, lay("Dense", units=3, activation="relu", use_bias=False)),
        ("dense_3d", seq, lay("Dense", units=2, activation="gelu")),
        ("einsum_dense", seq, lay("EinsumDense", equation="abc,cd->abd", output_shape=(None, 3),
                                  bias_axes="d")),
        ("embedding", [("int", 7)], lay("Embedding", input_dim=10, output_dim=4)),
        ("embedding_mask", [("int", 7)], lay("Embedding", input_dim=10, output_dim=4,
                                             mask_zero=True)),
        ("conv1d", seq, lay("Conv1D", filters=3, kernel_size=2)),
        ("conv1d_causal_dilated", seq, lay("Conv1D", filters=3, kernel_size=2,
                                           padding="causal", dilation_rate=2)),
        ("conv2d", img, lay("Conv2D", filters=4, kernel_size=3)),
        ("conv2d_same_strided", img, lay("Conv2D", filters=4, kernel_size=3, strides=2,
                                         padding="same", activation="relu")),
        ("conv2d_groups", [(8, 8, 4)], lay("Conv2D", filters=4, kernel_size=3, groups=2)),
        ("conv3d", vol, lay("Conv3D", filters=2, kernel_size=2)),
        ("conv1d_transpose", seq, lay("Conv1DTranspose", filters=3, kernel_size=2, strides=2)),
        ("conv2d_transpose", img, lay("Conv2DTranspose", filters=2, kernel_size=3, strides=2,
                                      padding="same")),
        ("conv3d_transpose", vol, lay("Conv3DTranspose", filters=2, kernel_size=2)),
        ("depthwise_conv1d", seq, lay("DepthwiseConv1D", kernel_size=2, depth_multiplier=2)),
        ("depthwise_conv2d", img, lay("DepthwiseConv2D", kernel_size=3, depth_multiplier=2)),
        ("separable_conv1d", seq, lay("SeparableConv1D", filters=3, kernel_size=2)),
        ("separable_conv2d", img, lay("SeparableConv2D", filters=3, kernel_size=3)),
        ("max_pool1d", seq, lay("MaxPooling1D", pool_size=2)),
        ("max_pool2d_same", img, lay("MaxPooling2D", pool_size=3, strides=2, padding="same")),
        ("max_pool3d", vol, lay("MaxPooling3D", pool_size=2)),
        ("avg_pool1d", seq, lay("AveragePooling1D", pool_size=2)),
        ("avg_pool2d", img, lay("AveragePooling2D", pool_size=2)),
        ("avg_pool3d", vol, lay("AveragePooling3D", pool_size=2)),
        ("global_max1d", seq, lay("GlobalMaxPooling1D")),
        ("global_avg2d_keepdims", img, lay("GlobalAveragePooling2D", keepdims=True)),
        ("global_max3d", vol, lay("GlobalMaxPooling3D")),
        ("simple_rnn", seq, lay("SimpleRNN", units=3)),
        ("lstm_sequences", seq, lay("LSTM", units=3, return_sequences=True)),
        ("lstm_go_backwards", seq, lay("LSTM", units=3, go_backwards=True)),
        ("gru_reset_after", seq, lay("GRU", units=3)),
        ("gru_not_reset_after", seq, lay("GRU", units=3, reset_after=False)),
        ("conv_lstm1d", [(3, 6, 2)], lay("ConvLSTM1D", filters=2, kernel_size=2)),
        ("conv_lstm2d", [(3, 5, 5, 2)], lay("ConvLSTM2D", filters=2, kernel_size=2)),
        ("rnn_lstm_cell", seq, lambda keras: keras.layers.RNN(keras.layers.LSTMCell(3))),
        ("rnn_stacked_cells", seq, lambda keras: keras.layers.RNN(keras.layers.StackedRNNCells(
            [keras.layers.GRUCell(2), keras.layers.SimpleRNNCell(3)]))),
        ("bidirectional_lstm", seq, lambda keras: keras.layers.Bidirectional(
            keras.layers.LSTM(3, return_sequences=True))),
        ("bidirectional_gru_sum", seq, lambda keras: keras.layers.Bidirectional(
            keras.layers.GRU(2), merge_mode="sum")),
        ("time_distributed_dense", seq, lambda keras: keras.layers.TimeDistributed(
            keras.layers.Dense(2))),
        ("batch_norm", img, lay("BatchNormalization")),
        ("layer_norm", seq, lay("LayerNormalization")),
        ("group_norm", [(6, 4)], lay("GroupNormalization", groups=2)),
        ("unit_norm", vec, lay("UnitNormalization")),
        ("rms_norm", seq, lay("RMSNormalization")),
        ("dropout", vec, lay("Dropout", rate=0.5)),
        ("spatial_dropout1d", seq, lay("SpatialDropout1D", rate=0.5)),
        ("gaussian_noise", vec, lay("GaussianNoise", stddev=0.1)),
        ("activation_softmax", vec, lay("Activation", activation="softmax")),
        ("activation_swish", vec, lay("Activation", activation="swish")),
        ("activation_hard_sigmoid", vec, lay("Activation", activation="hard_sigmoid")),
        ("activation_elu", vec, lay("Activation", activation="elu")),
        ("activation_softplus", vec, lay("Activation", activation="softplus")),
        ("relu_max_threshold", vec, lay("ReLU", max_value=0.5, threshold=0.1)),
        ("leaky_relu", vec, lay("LeakyReLU", negative_slope=0.2)),
        ("prelu", vec, lay("PReLU")),
        ("elu", vec, lay("ELU")),
        ("softmax_axis", seq, lay("Softmax", axis=1)),
        ("flatten", img, lay("Flatten")),
        ("reshape", seq, lay("Reshape", target_shape=(4, 6))),
        ("permute", seq, lay("Permute", dims=(2, 1))),
        ("repeat_vector", vec, lay("RepeatVector", n=3)),
        ("masking", seq, lay("Masking", mask_value=0.0)),
        ("zero_padding2d", img, lay("ZeroPadding2D", padding=((1, 0), (2, 1)))),
        ("cropping2d", img, lay("Cropping2D", cropping=((1, 0), (2, 1)))),
        ("zero_padding1d", seq, lay("ZeroPadding1D", padding=2)),
        ("cropping1d", seq, lay("Cropping1D", cropping=(1, 2))),
        ("upsampling1d", seq, lay("UpSampling1D", size=2)),
        ("upsampling2d_bilinear", img, lay("UpSampling2D", size=2, interpolation="bilinear")),
        ("upsampling3d", vol, lay("UpSampling3D", size=2)),
        ("rescaling", img, lay("Rescaling", scale=1 / 255.0, offset=-0.5)),
        ("resizing", img, lay("Resizing", height=4, width=4)),
        ("center_crop", img, lay("CenterCrop", height=4, width=6)),
        ("identity", vec, lay("Identity")),
        ("normalization", vec, lay("Normalization", mean=[0.5] * 5, variance=[2.0] * 5)),
        ("discretization", vec, lay("Discretization", bin_boundaries=[-0.5, 0.0, 0.7])),
        ("category_encoding_multi_hot", [("int", 4)], lay("CategoryEncoding", num_tokens=10,
                                                          output_mode="multi_hot")),
        ("category_encoding_count", [("int", 4)], lay("CategoryEncoding", num_tokens=10,
                                                      output_mode="count")),
        ("activity_regularization", vec, lay("ActivityRegularization", l1=0.1)),
        ("alpha_dropout", vec, lay("AlphaDropout", rate=0.2)),
        ("random_flip", img, lay("RandomFlip")),
        ("zero_padding3d", vol, lay("ZeroPadding3D", padding=1)),
        ("cropping3d", vol, lay("Cropping3D", cropping=1)),
        ("lambda_free_ops_mask", seq, lambda keras: (
            lambda x: keras.layers.LSTM(2)(keras.layers.Masking()(x)))),
        ("multi_head_attention", seq, lambda keras: (lambda x: keras.layers.MultiHeadAttention(
            num_heads=2, key_dim=3)(x, x))),
        ("attention", seq, lambda keras: (lambda x: keras.layers.Attention()([x, x]))),
        ("additive_attention", seq, lambda keras: (
            lambda x: keras.layers.AdditiveAttention()([x, x]))),
    ]
    for merge in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                  "Concatenate"):
        cases.append((f"merge_{merge.lower()}", [(4, 3), (4, 3)],
                      lambda keras, m=merge: getattr(keras.layers, m)()))
    cases.append(("merge_dot", [(4, 3), (4, 3)], lambda keras: keras.layers.Dot(axes=2)))
    return cases


CASES = _cases()


@pytest.fixture(autouse=True)
def _only_when_asked(request: pytest.FixtureRequest) -> None:
    """Heavier than the default suite's budget: runs only under ``-m onnx_layers``."""
    if "onnx_layers" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("run with -m onnx_layers (make test-onnx-layers)")


def _build(keras: Any, inputs: list[Any], make: Callable[[Any], Any]) -> Any:
    tensors = []
    for index, spec in enumerate(inputs):
        if spec and spec[0] == "int":
            tensors.append(keras.Input(tuple(spec[1:]), dtype="int32", name=f"in{index}"))
        else:
            tensors.append(keras.Input(tuple(spec), name=f"in{index}"))
    layer = make(keras)
    output = layer(tensors if len(tensors) > 1 else tensors[0])
    return keras.Model(tensors, output)


def _feeds(inputs: list[Any], batch: int) -> list[np.ndarray]:
    rng = np.random.default_rng(batch)
    feeds = []
    for spec in inputs:
        if spec and spec[0] == "int":
            feeds.append(rng.integers(0, 10, (batch, *spec[1:])).astype("int32"))
        else:
            feeds.append(rng.standard_normal((batch, *spec)).astype("float32"))
    return feeds


@pytest.mark.parametrize(("case", "inputs", "make"), CASES, ids=[c[0] for c in CASES])
def test_layer_from_file(tmp_path: Path, case: str, inputs: list[Any],
                         make: Callable[[Any], Any]) -> None:
    import keras
    import onnxruntime as ort

    import modeltool

    keras.utils.set_random_seed(11)
    model = _build(keras, inputs, make)
    source = tmp_path / f"{case}.keras"
    model.save(source)
    out = tmp_path / f"{case}.onnx"
    modeltool.to_onnx(source, out)
    loaded = keras.models.load_model(source, compile=False)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        feeds = _feeds(inputs, batch)
        want = loaded(feeds if len(feeds) > 1 else feeds[0], training=False)
        want_list = [np.asarray(w) for w in keras.tree.flatten(want)]
        got = session.run(None, {i.name: f for i, f in zip(session.get_inputs(), feeds)})
        for g, w in zip(got, want_list):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, atol=1e-4, rtol=1e-3)
