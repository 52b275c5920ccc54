"""One test per row of the audit in docs/migration.md: a small model using the feature is built
with tf_keras (or written as a Keras 1 file), converted, and its Keras 3 predictions compared
with what the original library computes (tf_keras on the original file; for Keras 1 files, the
Keras 1 formulas written out here in numpy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import modeltool
from tests.conftest import as_outputs

pytestmark = pytest.mark.tf

ATOL = 1e-5


def _keras3(path: Path) -> Any:
    import keras

    import modeltool.keras_bridge.legacy_activations  # noqa: F401 - registers the function

    return keras.models.load_model(path, compile=False)


def _max_diff(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    assert [g.shape for g in got] == [w.shape for w in want]
    return max(float(np.abs(g.astype(np.float64) - w).max()) for g, w in zip(got, want))


def _tf_keras_roundtrip(model: Any, inputs: Any, tmp_path: Path, *, onnx: bool = False,
                        verify: bool = False) -> modeltool.ConvertReport:
    """Save ``model`` (tf_keras) as .h5, convert it, compare Keras 3 (and onnxruntime) with
    tf_keras on the original file. With ``verify``, convert's own check runs too (and must
    name tf_keras as its reference)."""
    import tf_keras

    source = tmp_path / "original.h5"
    model.save(source)
    original = tf_keras.models.load_model(source, compile=False)
    want = as_outputs(original(inputs, training=False))
    out = tmp_path / "converted.keras"
    report = modeltool.convert(source, out, verify=verify)
    if verify:
        assert report.reference.startswith("tf_keras") and report.max_abs_diff is not None
    got = as_outputs(_keras3(out)(inputs, training=False))
    assert _max_diff(got, want) <= ATOL
    if onnx:
        import onnxruntime

        onnx_path = tmp_path / "converted.onnx"
        onnx_report = modeltool.to_onnx(source, onnx_path)
        assert onnx_report.source_reference.startswith("tf_keras")
        session = onnxruntime.InferenceSession(str(onnx_path),
                                               providers=["CPUExecutionProvider"])
        feeds = inputs if isinstance(inputs, list) else [inputs]
        names = [i.name for i in session.get_inputs()]
        got_onnx = session.run(None, dict(zip(names, feeds)))
        assert _max_diff([np.asarray(g) for g in got_onnx], want) <= ATOL
    return report


@pytest.fixture(scope="module")
def L() -> Any:  # noqa: N802 - reads like the usual `layers` alias
    import tf_keras

    return tf_keras.layers


@pytest.fixture(scope="module")
def tfk() -> Any:
    import tf_keras

    return tf_keras


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- activations ----------------------------------------------------------------------------

def test_hard_sigmoid_keeps_the_keras2_formula_in_keras3_and_onnx(L: Any, tfk: Any,
                                                                  tmp_path: Path) -> None:
    inp = L.Input((6, 3))
    x = L.LSTM(4, recurrent_activation="hard_sigmoid", return_sequences=True)(inp)
    x = L.GRU(3, recurrent_activation="hard_sigmoid", reset_after=False)(x)
    out = L.Dense(2, activation="hard_sigmoid")(L.Dense(5)(x))
    model = tfk.Model(inp, out)
    for layer in model.layers:  # large weights: pre-activations well beyond +-2.5
        layer.set_weights([w * 6 for w in layer.get_weights()])
    inputs = _rng().normal(size=(3, 6, 3)).astype("float32") * 3
    report = _tf_keras_roundtrip(model, inputs, tmp_path, onnx=True, verify=True)
    assert any("legacy_hard_sigmoid" in note for note in report.notes)
    # Keras 3's own hard_sigmoid would have changed the numbers: the test can fail.
    import keras

    config = json.loads(json.dumps(keras.saving.serialize_keras_object(
        _keras3(tmp_path / "converted.keras"))))
    assert "modeltool>legacy_hard_sigmoid" in json.dumps(config)


@pytest.mark.parametrize("name", ["elu", "exponential", "gelu", "linear", "mish", "relu", "selu",
                                  "sigmoid", "softmax", "softplus", "softsign", "swish", "tanh"])
def test_activation_names_mean_the_same(name: str, L: Any, tfk: Any, tmp_path: Path) -> None:
    inp = L.Input((5,))
    out = L.Dense(4, activation=name)(L.Dense(6)(inp))
    inputs = _rng().normal(size=(3, 5)).astype("float32")
    _tf_keras_roundtrip(tfk.Model(inp, out), inputs, tmp_path)


def test_softmax_axis(L: Any, tfk: Any, tmp_path: Path) -> None:
    inp = L.Input((4, 3))
    x = L.Dense(3)(inp)
    a = L.Activation("softmax")(x)
    b = L.Softmax(axis=1)(x)
    inputs = _rng().normal(size=(2, 4, 3)).astype("float32")
    _tf_keras_roundtrip(tfk.Model(inp, [a, b]), inputs, tmp_path)


def test_relu_family_layers(L: Any, tfk: Any, tmp_path: Path) -> None:
    inp = L.Input((8,))
    outs = [L.LeakyReLU(alpha=0.17)(inp), L.ReLU(max_value=0.8, negative_slope=0.1,
                                                  threshold=0.2)(inp),
            L.ELU(alpha=0.5)(inp), L.PReLU()(inp)]
    model = tfk.Model(inp, outs)
    model.layers[-1].set_weights([_rng(1).normal(size=(8,)).astype("float32")])
    inputs = _rng().normal(size=(3, 8)).astype("float32")
    report = _tf_keras_roundtrip(model, inputs, tmp_path, verify=True)
    assert report.max_abs_diff is not None


# -- recurrent layers ------------------------------------------------------------------------

@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_reset_after(reset_after: bool, L: Any, tfk: Any, tmp_path: Path) -> None:
    inp = L.Input((5, 3))
    out = L.GRU(4, reset_after=reset_after)(inp)
    inputs = _rng().normal(size=(2, 5, 3)).astype("float32")
    _tf_keras_roundtrip(tfk.Model(inp, out), inputs, tmp_path)


def test_gru_without_reset_after_is_the_old_gru(L: Any, tfk: Any, tmp_path: Path) -> None:
    """A Keras 2.0/2.1 config has no reset_after: it meant the old GRU (False)."""
    inp = L.Input((5, 3))
    model = tfk.Model(inp, L.GRU(4, reset_after=False)(inp))
    inputs = _rng().normal(size=(2, 5, 3)).astype("float32")
    want = as_outputs(model(inputs))
    source = tmp_path / "old.h5"
    model.save(source)
    with h5py.File(source, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        for layer in config["config"]["layers"]:
            layer["config"].pop("reset_after", None)
        handle.attrs["model_config"] = json.dumps(config)
    out = tmp_path / "converted.keras"
    modeltool.convert(source, out, verify=False)  # tf_keras 2.21 would read it as True
    assert _max_diff(as_outputs(_keras3(out)(inputs)), want) <= ATOL


def test_lstm_unit_forget_bias_and_implementation(L: Any, tfk: Any, tmp_path: Path) -> None:
    inp = L.Input((5, 3))
    x = L.LSTM(4, unit_forget_bias=False, implementation=1, return_sequences=True)(inp)
    out = L.GRU(3, implementation=2)(x)
    inputs = _rng().normal(size=(2, 5, 3)).astype("float32")
    _tf_keras_roundtrip(tfk.Model(inp, out), inputs, tmp_path)


def test_bidirectional_and_simple_rnn(L: Any, tfk: Any, tmp_path: Path) -> None:
    inp = L.Input((5, 3))
    x = L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="sum")(inp)
    out = L.SimpleRNN(2, go_backwards=True)(x)
    inputs = _rng().normal(size=(2, 5, 3)).astype("float32")
    _tf_keras_roundtrip(tfk.Model(inp, out), inputs, tmp_path)


# -- convolutions, pooling, flatten ----------------------------------------------------------

@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_and_pooling_padding(padding: str, L: Any, tfk: Any, tmp_path: Path) -> None:
    inp = L.Input((16, 16, 2))
    x = L.Conv2D(3, 4, strides=2, padding=padding)(inp)
    x = L.MaxPooling2D(3, strides=1, padding=padding)(x)
    x = L.AveragePooling2D(2, padding=padding)(x)
    out = L.Conv1D(2, 3, padding=padding)(L.Reshape((-1, 3))(x))
    inputs = _rng().normal(size=(2, 16, 16, 2)).astype("float32")
    _tf_keras_roundtrip(tfk.Model(inp, out), inputs, tmp_path)


def test_flatten_channels_first(L: Any, tfk: Any, tmp_path: Path) -> None:
    inp = L.Input((3, 4, 2))
    x = L.Permute((3, 1, 2))(inp)  # to channels_first
    a = L.Dense(3)(L.Flatten(data_format="channels_first")(x))
    b = L.Dense(3)(L.Flatten()(x))
    inputs = _rng().normal(size=(2, 3, 4, 2)).astype("float32")
    _tf_keras_roundtrip(tfk.Model(inp, [a, b]), inputs, tmp_path)


# -- normalization, embedding, masking, dropout ----------------------------------------------

def test_batch_normalization_axis_epsilon_momentum(L: Any, tfk: Any, tmp_path: Path) -> None:
    inp = L.Input((4, 5))
    a = L.BatchNormalization(axis=1, epsilon=0.05, momentum=0.5)(inp)
    b = L.BatchNormalization(axis=[2], epsilon=1e-5, center=False)(inp)
    model = tfk.Model(inp, [a, b])
    rng = _rng(2)
    for layer in model.layers[1:]:
        layer.set_weights([rng.uniform(0.5, 2, size=w.shape).astype("float32")
                           for w in layer.get_weights()])
    inputs = rng.normal(size=(3, 4, 5)).astype("float32")
    _tf_keras_roundtrip(model, inputs, tmp_path)


def test_embedding_mask_zero_and_masking(L: Any, tfk: Any, tmp_path: Path) -> None:
    tokens = L.Input((6,), dtype="int32")
    x = L.Embedding(7, 4, input_length=6, mask_zero=True)(tokens)
    a = L.LSTM(3)(x)
    values = L.Input((6, 2))
    b = L.GRU(3)(L.Masking(mask_value=0.0)(values))
    model = tfk.Model([tokens, values], [a, b])
    rng = _rng(3)
    ids = rng.integers(0, 7, size=(3, 6)).astype("int32")
    ids[:, -2:] = 0
    seq = rng.normal(size=(3, 6, 2)).astype("float32")
    seq[:, -1] = 0.0
    _tf_keras_roundtrip(model, [ids, seq], tmp_path)


def test_dropout_variants_are_identity_at_inference(L: Any, tfk: Any, tmp_path: Path) -> None:
    inp = L.Input((4, 4, 3))
    x = L.SpatialDropout2D(0.5)(L.Dropout(0.5)(inp))
    x = L.GaussianNoise(0.3)(L.GaussianDropout(0.4)(x))
    x = L.AlphaDropout(0.2)(x)
    out = L.Dense(2)(L.SpatialDropout1D(0.3)(L.Reshape((16, 3))(x)))
    inputs = _rng().normal(size=(2, 4, 4, 3)).astype("float32")
    _tf_keras_roundtrip(tfk.Model(inp, out), inputs, tmp_path)


# -- Keras 1 files: the formulas of Keras 1 written out here --------------------------------

def _keras1_file(path: Path, config: dict[str, Any],
                 weights: dict[str, list[tuple[str, np.ndarray]]]) -> Path:
    """A Keras 1.2 full-model .h5 (no backend recorded, as Keras 1 wrote it)."""
    with h5py.File(path, "w") as handle:
        handle.attrs["keras_version"] = "1.2.2"
        handle.attrs["model_config"] = json.dumps(config)
        group = handle.create_group("model_weights")
        group.attrs["layer_names"] = [name.encode() for name in weights]
        for layer, arrays in weights.items():
            sub = group.create_group(layer)
            sub.attrs["weight_names"] = [name.encode() for name, _ in arrays]
            for name, array in arrays:
                sub.create_dataset(name, data=array.astype("float32"))
    return path


def _hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(0.2 * x + 0.5, 0, 1)


def _convert_keras1(path: Path, tmp_path: Path, inputs: np.ndarray) -> tuple[np.ndarray, Any]:
    out = tmp_path / "converted.keras"
    report = modeltool.convert(path, out)
    assert report.reference.startswith("numpy Keras 1")
    return np.asarray(_keras3(out)(inputs)), report


def test_keras1_lstm_per_gate_weights(tmp_path: Path) -> None:
    rng = _rng(4)
    units, dim = 3, 2
    gates = {g: (rng.normal(size=(dim, units)), rng.normal(size=(units, units)),
                 rng.normal(size=(units,))) for g in "icfo"}
    config = {"class_name": "Sequential", "config": [{"class_name": "LSTM", "config": {
        "name": "lstm_1", "output_dim": units, "batch_input_shape": [None, 4, dim],
        "activation": "tanh", "inner_activation": "hard_sigmoid", "return_sequences": True,
        "go_backwards": False, "consume_less": "cpu", "forget_bias_init": "one"}}]}
    stored = [(f"lstm_1_{p}_{g}", gates[g][k]) for g in "icfo" for k, p in enumerate("WUb")]
    path = _keras1_file(tmp_path / "k1_lstm.h5", config, {"lstm_1": stored})
    x = rng.normal(size=(2, 4, dim)).astype("float32")
    h = np.zeros((2, units))
    c = np.zeros((2, units))
    want = []
    for t in range(4):
        def lin(g: str) -> np.ndarray:
            w, u, b = gates[g]
            return x[:, t] @ w + h @ u + b
        i, f, o = _hard_sigmoid(lin("i")), _hard_sigmoid(lin("f")), _hard_sigmoid(lin("o"))
        c = f * c + i * np.tanh(lin("c"))
        h = o * np.tanh(c)
        want.append(h)
    got, _ = _convert_keras1(path, tmp_path, x)
    assert np.abs(got - np.stack(want, axis=1)).max() <= ATOL


def test_keras1_gru_per_gate_weights(tmp_path: Path) -> None:
    rng = _rng(5)
    units, dim = 3, 2
    gates = {g: (rng.normal(size=(dim, units)), rng.normal(size=(units, units)),
                 rng.normal(size=(units,))) for g in "zrh"}
    config = {"class_name": "Sequential", "config": [{"class_name": "GRU", "config": {
        "name": "gru_1", "output_dim": units, "batch_input_shape": [None, 5, dim],
        "activation": "tanh", "inner_activation": "hard_sigmoid", "return_sequences": False,
        "go_backwards": False, "consume_less": "mem"}}]}
    stored = [(f"gru_1_{p}_{g}", gates[g][k]) for g in "zrh" for k, p in enumerate("WUb")]
    path = _keras1_file(tmp_path / "k1_gru.h5", config, {"gru_1": stored})
    x = rng.normal(size=(2, 5, dim)).astype("float32")
    h = np.zeros((2, units))
    for t in range(5):
        (wz, uz, bz), (wr, ur, br), (wh, uh, bh) = gates["z"], gates["r"], gates["h"]
        z = _hard_sigmoid(x[:, t] @ wz + h @ uz + bz)
        r = _hard_sigmoid(x[:, t] @ wr + h @ ur + br)
        hh = np.tanh(x[:, t] @ wh + (r * h) @ uh + bh)
        h = z * h + (1 - z) * hh
    got, _ = _convert_keras1(path, tmp_path, x)
    assert np.abs(got - h).max() <= ATOL


def _theano_conv_th(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Theano's conv2d, 'valid', channels first: a true convolution (the kernel flipped)."""
    filters, _, rows, cols = kernel.shape
    out_r, out_c = x.shape[2] - rows + 1, x.shape[3] - cols + 1
    out = np.zeros((x.shape[0], filters, out_r, out_c))
    for f in range(filters):
        for r in range(out_r):
            for c in range(out_c):
                patch = x[:, :, r:r + rows, c:c + cols]
                out[:, f, r, c] = (patch * kernel[f, :, ::-1, ::-1]).sum(axis=(1, 2, 3))
    return out


def test_keras1_theano_conv_th_ordering_flatten_dense(tmp_path: Path) -> None:
    rng = _rng(6)
    kernel = rng.normal(size=(2, 3, 3, 2))  # (filters, in, rows, cols): th, not square
    bias = rng.normal(size=(2,))
    dense = rng.normal(size=(2 * 3 * 4, 3))
    config = {"class_name": "Sequential", "config": [
        {"class_name": "Convolution2D", "config": {
            "name": "convolution2d_1", "nb_filter": 2, "nb_row": 3, "nb_col": 2,
            "border_mode": "valid", "subsample": [1, 1], "dim_ordering": "th",
            "activation": "relu", "batch_input_shape": [None, 3, 5, 5], "bias": True}},
        {"class_name": "Flatten", "config": {"name": "flatten_1"}},
        {"class_name": "Dense", "config": {"name": "dense_1", "output_dim": 3,
                                           "activation": "linear", "bias": False}}]}
    path = _keras1_file(tmp_path / "k1_conv.h5", config, {
        "convolution2d_1": [("convolution2d_1_W", kernel), ("convolution2d_1_b", bias)],
        "flatten_1": [], "dense_1": [("dense_1_W", dense)]})
    x = rng.normal(size=(2, 3, 5, 5)).astype("float32")
    conv = np.maximum(_theano_conv_th(x, kernel) + bias[None, :, None, None], 0)
    want = conv.reshape(2, -1) @ dense  # Keras 1 flattens (C, H, W) in memory order
    got, report = _convert_keras1(path, tmp_path, x)
    assert "Theano" in report.reference
    assert np.abs(got - want).max() <= ATOL


def test_keras1_reference_agrees_with_the_formulas_here(tmp_path: Path) -> None:
    """The numpy Keras 1 reference used by convert/to-onnx is itself checked."""
    from modeltool.keras_bridge.keras1_reference import keras1_model

    rng = _rng(7)
    kernel = rng.normal(size=(2, 1, 3, 3))
    config = {"class_name": "Sequential", "config": [
        {"class_name": "Convolution2D", "config": {
            "name": "c", "nb_filter": 2, "nb_row": 3, "nb_col": 3, "border_mode": "valid",
            "subsample": [1, 1], "dim_ordering": "th", "activation": "linear",
            "batch_input_shape": [None, 1, 4, 4], "bias": False}}]}
    path = _keras1_file(tmp_path / "k1.h5", config, {"c": [("c_W", kernel)]})
    x = rng.normal(size=(1, 1, 4, 4)).astype("float32")
    got = keras1_model(config, path, theano=True).predict([x])[0]
    assert np.abs(got - _theano_conv_th(x, kernel)).max() <= ATOL
