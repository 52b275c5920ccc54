"""Shape, param and MAC rules, one layer at a time: against hand-computed values (no
TensorFlow) and against Keras 3 itself (``tf`` marker)."""

from __future__ import annotations

from typing import Any

import pytest

from modeltool.graph.macs import config_macs
from modeltool.graph.params import config_params
from modeltool.graph.shapes import Call, known_class, rule_for

Shape = tuple[Any, ...]


def outputs(class_name: str, config: dict[str, Any], *inputs: Shape,
            kwargs: dict[str, Any] | None = None, module: str = "keras.layers") -> Any:
    rule = rule_for(class_name, module)
    assert rule is not None, class_name
    return rule(Call(class_name, config, list(inputs), kwargs=kwargs or {}))


# (class, config, input shapes, call kwargs): every case is also checked against Keras 3.
CASES: list[tuple[str, dict[str, Any], list[Shape], dict[str, Any]]] = [
    ("Dense", {"units": 7}, [(None, 5)], {}),
    ("Dense", {"units": 7, "use_bias": False}, [(None, 3, 5)], {}),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
     [(None, 17, 3)], {}),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
     [(None, 17, 3)], {}),
    ("Conv1D", {"filters": 6, "kernel_size": 3, "groups": 3}, [(None, 17, 6)], {}),
    ("Conv2D", {"filters": 6, "kernel_size": (3, 5), "strides": (2, 1)}, [(None, 21, 20, 3)],
     {}),
    ("Conv2D", {"filters": 6, "kernel_size": 3, "dilation_rate": 2, "padding": "valid"},
     [(None, 21, 20, 3)], {}),
    ("Conv2D", {"filters": 6, "kernel_size": 3, "strides": 2, "padding": "same",
                "data_format": "channels_first"}, [(None, 3, 21, 20)], {}),
    ("Conv2D", {"filters": 6, "kernel_size": 3}, [(None, None, None, 3)], {}),
    ("Conv3D", {"filters": 2, "kernel_size": 3, "strides": (1, 2, 2), "padding": "same"},
     [(None, 8, 9, 10, 1)], {}),
    ("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
     [(None, 7, 9, 4)], {}),
    ("Conv2DTranspose", {"filters": 3, "kernel_size": 4, "strides": 2, "padding": "valid",
                         "output_padding": 1}, [(None, 7, 9, 4)], {}),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 3, "dilation_rate": 1},
     [(None, 5, 2)], {}),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2,
                         "data_format": "channels_first"}, [(None, 3, 4, 5, 6)], {}),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 3, "strides": 2},
     [(None, 11, 11, 4)], {}),
    ("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2}, [(None, 11, 4)], {}),
    ("SeparableConv2D", {"filters": 8, "kernel_size": 3, "depth_multiplier": 2,
                         "padding": "same"}, [(None, 10, 10, 3)], {}),
    ("SeparableConv1D", {"filters": 8, "kernel_size": 5, "strides": 2}, [(None, 20, 3)], {}),
    ("MaxPooling1D", {"pool_size": 3}, [(None, 10, 2)], {}),
    ("MaxPooling2D", {"pool_size": (2, 3), "strides": (1, 2), "padding": "same"},
     [(None, 9, 9, 2)], {}),
    ("AveragePooling2D", {"pool_size": 2, "data_format": "channels_first"},
     [(None, 2, 9, 7)], {}),
    ("MaxPooling3D", {"pool_size": 2}, [(None, 5, 6, 7, 1)], {}),
    ("AveragePooling3D", {"pool_size": 2, "padding": "same"}, [(None, 5, 6, 7, 1)], {}),
    ("GlobalAveragePooling2D", {"keepdims": True}, [(None, 5, 6, 7)], {}),
    ("GlobalMaxPooling1D", {"data_format": "channels_first"}, [(None, 5, 6)], {}),
    ("GlobalMaxPooling3D", {}, [(None, 5, 6, 7, 2)], {}),
    ("Flatten", {}, [(None, 3, 4, 5)], {}),
    ("Reshape", {"target_shape": (-1, 6)}, [(None, 4, 3, 2)], {}),
    ("Reshape", {"target_shape": (2, 12)}, [(None, 4, 3, 2)], {}),
    ("Permute", {"dims": (3, 1, 2)}, [(None, 4, 3, 2)], {}),
    ("RepeatVector", {"n": 5}, [(None, 3)], {}),
    ("Cropping1D", {"cropping": (1, 2)}, [(None, 10, 3)], {}),
    ("Cropping2D", {"cropping": ((1, 2), (3, 0))}, [(None, 10, 9, 3)], {}),
    ("Cropping2D", {"cropping": 2, "data_format": "channels_first"}, [(None, 3, 10, 9)], {}),
    ("Cropping3D", {"cropping": (1, 2, 0)}, [(None, 10, 9, 8, 3)], {}),
    ("ZeroPadding1D", {"padding": (1, 3)}, [(None, 10, 3)], {}),
    ("ZeroPadding2D", {"padding": ((1, 2), (0, 3))}, [(None, 10, 9, 3)], {}),
    ("ZeroPadding3D", {"padding": 2}, [(None, 4, 5, 6, 3)], {}),
    ("UpSampling1D", {"size": 3}, [(None, 4, 2)], {}),
    ("UpSampling2D", {"size": (2, 3), "data_format": "channels_first"}, [(None, 2, 4, 5)], {}),
    ("UpSampling3D", {"size": 2}, [(None, 2, 3, 4, 1)], {}),
    ("Add", {}, [(None, 4, 3), (None, 4, 3)], {}),
    ("Multiply", {}, [(None, 4, 3), (None, 1, 3)], {}),
    ("Subtract", {}, [(None, 5), (None, 5)], {}),
    ("Maximum", {}, [(None, 5), (None, 5), (None, 5)], {}),
    ("Concatenate", {"axis": 1}, [(None, 4, 3), (None, 2, 3)], {}),
    ("Concatenate", {"axis": -1}, [(None, 4, 3), (None, 4, 5)], {}),
    ("Dot", {"axes": 1}, [(None, 5), (None, 5)], {}),
    ("Dot", {"axes": (1, 2)}, [(None, 4, 3), (None, 2, 4)], {}),
    ("Dot", {"axes": -1, "normalize": True}, [(None, 4, 3), (None, 6, 3)], {}),
    ("BatchNormalization", {}, [(None, 5, 4)], {}),
    ("BatchNormalization", {"axis": 1, "center": False}, [(None, 5, 4, 4)], {}),
    ("LayerNormalization", {"axis": [1, 2]}, [(None, 5, 4)], {}),
    ("LayerNormalization", {"rms_scaling": True}, [(None, 5, 4)], {}),
    ("GroupNormalization", {"groups": 2}, [(None, 5, 4)], {}),
    ("UnitNormalization", {}, [(None, 5, 4)], {}),
    ("Normalization", {"axis": -1}, [(None, 5, 3)], {}),
    ("Normalization", {"axis": None}, [(None, 5, 3)], {}),
    ("Normalization", {"axis": -1, "mean": [1.0, 2.0, 3.0], "variance": [1.0, 1.0, 1.0]},
     [(None, 5, 3)], {}),
    ("Rescaling", {"scale": 0.5, "offset": 0.0}, [(None, 5, 3)], {}),
    ("Resizing", {"height": 7, "width": 9}, [(None, 20, 20, 3)], {}),
    ("CenterCrop", {"height": 7, "width": 9}, [(None, 20, 20, 3)], {}),
    ("Activation", {"activation": "relu"}, [(None, 5)], {}),
    ("ReLU", {"max_value": 6.0}, [(None, 5)], {}),
    ("LeakyReLU", {}, [(None, 5)], {}),
    ("PReLU", {}, [(None, 5, 4)], {}),
    ("PReLU", {"shared_axes": [1, 2]}, [(None, 5, 4, 3)], {}),
    ("ELU", {}, [(None, 5)], {}),
    ("Softmax", {"axis": 1}, [(None, 5, 2)], {}),
    ("Dropout", {"rate": 0.5}, [(None, 5)], {}),
    ("SpatialDropout2D", {"rate": 0.5}, [(None, 5, 5, 2)], {}),
    ("GaussianNoise", {"stddev": 0.1}, [(None, 5)], {}),
    ("Masking", {}, [(None, 5, 2)], {}),
    ("Embedding", {"input_dim": 50, "output_dim": 8}, [(None, 12)], {}),
    ("LSTM", {"units": 6}, [(None, 9, 4)], {}),
    ("LSTM", {"units": 6, "return_sequences": True, "return_state": True}, [(None, 9, 4)], {}),
    ("GRU", {"units": 6, "return_state": True}, [(None, 9, 4)], {}),
    ("GRU", {"units": 6, "reset_after": False, "use_bias": True}, [(None, 9, 4)], {}),
    ("SimpleRNN", {"units": 3, "return_sequences": True}, [(None, None, 4)], {}),
    ("ConvLSTM2D", {"filters": 3, "kernel_size": 3, "padding": "same",
                    "return_sequences": True}, [(None, 5, 8, 8, 2)], {}),
    ("ConvLSTM1D", {"filters": 3, "kernel_size": 3, "strides": 2, "return_state": True},
     [(None, 5, 9, 2)], {}),
    ("Attention", {}, [(None, 4, 6), (None, 7, 6)], {}),
    ("Attention", {"use_scale": True, "score_mode": "concat"}, [(None, 4, 6), (None, 7, 6)],
     {"return_attention_scores": True}),
    ("AdditiveAttention", {}, [(None, 4, 6), (None, 7, 6), (None, 7, 6)], {}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, [(None, 4, 6), (None, 7, 5)], {}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3, "value_dim": 4, "output_shape": 9,
                            "use_bias": False}, [(None, 4, 6), (None, 7, 5)],
     {"return_attention_scores": True}),
]


def _wrapper_cases() -> list[tuple[str, dict[str, Any], list[Shape], dict[str, Any]]]:
    def layer(class_name: str, **config: Any) -> dict[str, Any]:
        return {"module": "keras.layers", "class_name": class_name, "config": config,
                "registered_name": None}

    lstm = layer("LSTM", units=5, return_sequences=True)
    gru = layer("GRU", units=4, return_state=True)
    dense = layer("Dense", units=3)
    conv = layer("Conv2D", filters=2, kernel_size=3)
    return [
        ("Bidirectional", {"layer": lstm, "merge_mode": "concat"}, [(None, 6, 3)], {}),
        ("Bidirectional", {"layer": lstm, "merge_mode": "sum"}, [(None, 6, 3)], {}),
        ("Bidirectional", {"layer": lstm, "merge_mode": None}, [(None, 6, 3)], {}),
        ("Bidirectional", {"layer": gru, "merge_mode": "ave"}, [(None, 6, 3)], {}),
        ("TimeDistributed", {"layer": dense}, [(None, 6, 5)], {}),
        ("TimeDistributed", {"layer": conv}, [(None, 6, 7, 7, 1)], {}),
    ]


ALL_CASES = CASES + _wrapper_cases()


def _case_id(case: tuple[str, dict[str, Any], list[Shape], dict[str, Any]]) -> str:
    return f"{case[0]}-{case[2]}-{sorted(case[1])}"


def test_hand_values() -> None:
    assert outputs("Conv2D", {"filters": 8, "kernel_size": 3}, (None, 24, 24, 3)) \
        == [(None, 22, 22, 8)]
    assert outputs("Conv2D", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same"},
                   (None, 25, 25, 3)) == [(None, 13, 13, 8)]
    assert outputs("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2,
                                       "padding": "same"}, (None, 7, 7, 2)) == [(None, 14, 14, 4)]
    assert outputs("Reshape", {"target_shape": [-1]}, (None, 2, 3)) == [(None, 6)]
    assert outputs("Reshape", {"target_shape": [-1, 2]}, (None, None, 4)) == [(None, None, 2)]
    assert outputs("LSTM", {"units": 4, "return_state": True}, (None, 3, 2)) \
        == [(None, 4), (None, 4), (None, 4)]
    assert outputs("Concatenate", {"axis": -1}, (None, 8), (None, 5)) == [(None, 13)]
    assert config_params("Dense", {"units": 500}, [(None, 784)]).total == 392_500
    assert config_macs("Dense", {"units": 500}, [(None, 784)], [(None, 500)]) == 392_000
    assert config_macs("Conv2D", {"filters": 8, "kernel_size": 3}, [(None, 24, 24, 3)],
                       [(None, 22, 22, 8)]) == 22 * 22 * 8 * 27
    assert config_macs("LSTM", {"units": 8}, [(None, 140, 256)], [(None, 8)]) \
        == 140 * 4 * 8 * (256 + 8)


def test_unknown_class_is_never_guessed() -> None:
    assert rule_for("MyFancyLayer", "my_package.layers") is None
    assert not known_class("MyFancyLayer")
    assert config_params("MyFancyLayer", {}, [(None, 3)]) is None
    # A user's class that shares a Keras name is not taken for Keras' own.
    assert rule_for("Dense", "my_package.layers") is None
    # keras.applications' own layers are known only under their Keras module.
    assert rule_for("LayerScale", "keras.src.applications.convnext") is not None
    assert rule_for("LayerScale", "my_package") is None


def test_lambda_uses_only_a_declared_shape() -> None:
    assert outputs("Lambda", {"output_shape": [4, 2]}, (None, 8)) == [(None, 4, 2)]
    assert outputs("Lambda", {"output_shape": None}, (None, 8)) is None
    assert outputs("Lambda", {"output_shape": "bytecode", "output_shape_type": "function"},
                   (None, 8)) is None


def test_unknown_input_gives_unknown_output() -> None:
    rule = rule_for("Dense")
    assert rule is not None and rule(Call("Dense", {"units": 3}, [None])) is None
    assert config_params("Dense", {"units": 3}, [None]) is None
    assert config_params("Dense", {"units": 3}, [(None, None)]) is None


def test_contradictory_config_is_unknown_not_an_exception() -> None:
    from modeltool.graph.shapes.call import run_rule

    rule = rule_for("Conv2D")
    assert rule is not None
    assert run_rule(rule, Call("Conv2D", {"filters": 2, "kernel_size": 9}, [(None, 4, 4, 1)])) \
        is None
    concat = rule_for("Concatenate")
    assert concat is not None
    assert run_rule(concat, Call("Concatenate", {"axis": 5}, [(None, 2), (None, 3)])) is None


def _keras_layer(keras: Any, class_name: str, config: dict[str, Any]) -> Any:
    return keras.layers.deserialize({"class_name": class_name, "config": dict(config),
                                     "module": "keras.layers", "registered_name": None})


def _flat_shapes(value: Any) -> list[Shape]:
    if isinstance(value, (list, tuple)) and value and not isinstance(value[0], (int, type(None))):
        out: list[Shape] = []
        for item in value:
            out.extend(_flat_shapes(item))
        return out
    return [tuple(None if d is None else int(d) for d in value.shape)]


@pytest.mark.tf
@pytest.mark.parametrize("case", ALL_CASES, ids=[_case_id(c) for c in ALL_CASES])
def test_rule_matches_keras(case: tuple[str, dict[str, Any], list[Shape], dict[str, Any]],
                            keras: Any) -> None:
    class_name, config, shapes, kwargs = case
    layer = _keras_layer(keras, class_name, config)
    tensors = [keras.Input(batch_shape=shape) for shape in shapes]
    if class_name == "MultiHeadAttention":
        result = layer(tensors[0], tensors[1], **kwargs)
    elif class_name in ("Attention", "AdditiveAttention") or len(tensors) > 1:
        result = layer(tensors, **kwargs)
    else:
        result = layer(tensors[0], **kwargs)
    want = _flat_shapes(result)
    got = outputs(class_name, config, *shapes, kwargs=kwargs)
    assert got == want
    params = config_params(class_name, config, list(shapes))
    trainable = sum(int(__import__("numpy").prod(w.shape)) for w in layer.trainable_weights)
    assert params is not None
    assert (params.total, params.trainable) == (layer.count_params(), trainable)
