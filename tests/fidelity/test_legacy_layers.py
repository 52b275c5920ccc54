"""Keras 1/2 layers Keras 3 lacks (``Highway``, ``LocallyConnected1D``/``2D``, Keras 1
``Merge(mode="cos")``), migrated to modeltool's registered layers: every writer (``.keras``,
``.h5``, SavedModel, ``to-onnx``) predicts what the original library computed. Keras 2 files are
built with tf_keras and compared with tf_keras on the original file; Keras 1 files are written
as Keras 1.2 wrote them and compared with the numpy Keras 1 reference (which computes these
layers itself, from the stored arrays) and with the formulas written out here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modeltool
from tests.conftest import KERAS1_MERGE_ARGS, as_outputs, keras1_merge_model, run_fresh
from tests.formats.test_migrate import _keras1_file

pytestmark = pytest.mark.tf

ATOL = 1e-5


def _keras3(path: Path) -> Any:
    import keras

    import modeltool.keras_bridge.legacy_layers  # noqa: F401 - registers the layers

    return keras.models.load_model(path, compile=False)


def _onnx(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return [np.asarray(o) for o in session.run(None, dict(zip(names, inputs)))]


def _every_writer(source: Path, tmp_path: Path, inputs: list[np.ndarray],
                  want: list[np.ndarray], reference: str) -> None:
    """``.keras``, ``.h5``, SavedModel and ONNX outputs of ``source`` all compute ``want``; the
    conversions' own source checks name ``reference`` and pass."""
    import tensorflow as tf

    feed = inputs[0] if len(inputs) == 1 else inputs
    for suffix in (".keras", ".h5"):
        out = tmp_path / f"converted{suffix}"
        report = modeltool.convert(source, out)
        assert report.reference.startswith(reference)
        assert report.max_abs_diff is not None and report.max_abs_diff <= ATOL
        got = as_outputs(_keras3(out)(feed, training=False))
        assert max(float(np.abs(g - w).max()) for g, w in zip(got, want)) <= ATOL
    modeltool.convert(source, tmp_path / "saved", "savedmodel")
    served = tf.saved_model.load(str(tmp_path / "saved"))
    got = as_outputs(served.serve(*inputs))
    assert max(float(np.abs(g - w).max()) for g, w in zip(got, want)) <= ATOL
    onnx_report = modeltool.to_onnx(source, tmp_path / "converted.onnx")
    assert onnx_report.source_reference.startswith(reference)
    got = _onnx(tmp_path / "converted.onnx", inputs)
    assert max(float(np.abs(g - w).max()) for g, w in zip(got, want)) <= ATOL


# -- Keras 2 / tf.keras: LocallyConnected, every implementation --------------------------------

@pytest.mark.parametrize("implementation", [1, 2, 3])
def test_tf_keras_locally_connected_predicts_as_tf_keras(implementation: int, tf_keras: Any,
                                                         tmp_path: Path) -> None:
    """LocallyConnected2D channels_first (channels_last for implementation 2) and a
    LocallyConnected1D ("same" padding where tf.keras allows it), with random weights."""
    layers = tf_keras.layers
    rng = np.random.default_rng(implementation)
    inp = layers.Input((6, 5, 3))
    fmt = "channels_last" if implementation == 2 else "channels_first"
    x = layers.LocallyConnected2D(4, (3, 2), strides=(2, 1), data_format=fmt,
                                  implementation=implementation, activation="relu")(inp)
    x = layers.Reshape((-1, 4))(x)
    x = layers.LocallyConnected1D(2, 3, padding="same" if implementation > 1 else "valid",
                                  implementation=implementation, use_bias=False)(x)
    model = tf_keras.Model(inp, layers.Flatten()(x))
    for weight in model.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    source = tmp_path / "original.h5"
    model.save(source)
    inputs = [rng.normal(size=(3, 6, 5, 3)).astype("float32")]
    want = as_outputs(tf_keras.models.load_model(source, compile=False)(inputs[0]))
    _every_writer(source, tmp_path, inputs, want, "tf_keras")


def test_locally_connected_shapes_and_params_without_tensorflow(tf_keras: Any,
                                                                tmp_path: Path) -> None:
    """The summary of a tf.keras JSON (no weights) has tf_keras' output shapes and parameter
    counts for every implementation, and imports no TensorFlow to get them."""
    layers = tf_keras.layers
    inp = layers.Input((7, 6, 2))
    x = layers.LocallyConnected2D(3, 3, strides=2, implementation=1)(inp)
    y = layers.LocallyConnected2D(2, (2, 3), padding="same", data_format="channels_first",
                                  implementation=3)(inp)
    z = layers.LocallyConnected1D(4, 2, strides=2, implementation=2,
                                  use_bias=False)(layers.Reshape((42, 2))(inp))
    w = layers.LocallyConnected1D(2, 3, padding="same", implementation=3)(
        layers.Reshape((42, 2))(inp))
    model = tf_keras.Model(inp, [x, y, z, w])
    (tmp_path / "arch.json").write_text(model.to_json())
    code = (f"import modeltool\nfor row in modeltool.summary({str(tmp_path / 'arch.json')!r})"
            ".rows:\n    print(row.layer, row.params, row.output_shapes)\n")
    lines, heavy = run_fresh(code)
    assert heavy == []
    found = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in lines}
    for layer in model.layers[1:]:
        if "locally" in layer.name:
            assert found[layer.name] == f"{layer.count_params()} [{layer.output_shape}]"


def test_locally_connected_back_to_keras2(tf_keras: Any, tmp_path: Path) -> None:
    """The k2-h5 target writes the migrated layer as tf.keras' own LocallyConnected2D."""
    layers = tf_keras.layers
    inp = layers.Input((5, 5, 2))
    model = tf_keras.Model(inp, layers.LocallyConnected2D(3, 2, implementation=3)(inp))
    model.save(tmp_path / "original.h5")
    modeltool.convert(tmp_path / "original.h5", tmp_path / "k3.keras")
    modeltool.convert(tmp_path / "k3.keras", tmp_path / "back.h5", "k2-h5")
    x = np.random.default_rng(3).normal(size=(2, 5, 5, 2)).astype("float32")
    back = tf_keras.models.load_model(tmp_path / "back.h5", compile=False)
    assert type(back.layers[1]).__name__ == "LocallyConnected2D"
    np.testing.assert_allclose(back(x).numpy(), model(x).numpy(), atol=ATOL)


# -- Keras 1 files ----------------------------------------------------------------------------

def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_keras1_locally_connected2d_and_highway(ordering: str, tmp_path: Path) -> None:
    """``LocallyConnected2D`` (stride 2x1) -> Flatten -> ``Highway`` (relu), as Keras 1.2
    stored them: W (positions, rows*cols*channels, filters) and b (rows, cols, filters); the
    Highway weights W, W_carry, b, b_carry."""
    from modeltool.keras_bridge.keras1_reference import keras1_model

    rng = np.random.default_rng(11)
    shape = [None, 2, 5, 4] if ordering == "th" else [None, 5, 4, 2]
    kernel = rng.normal(size=(6, 12, 3))  # 2 x 3 output positions, a 3x2 window of 2 channels
    bias = rng.normal(size=(2, 3, 3))
    high = {name: rng.normal(size=(18, 18) if name.startswith("W") else (18,))
            for name in ("W", "W_carry", "b", "b_carry")}
    layers = [
        {"class_name": "LocallyConnected2D", "config": {
            "name": "locallyconnected2d_1", "nb_filter": 3, "nb_row": 3, "nb_col": 2,
            "init": "glorot_uniform", "activation": "tanh", "border_mode": "valid",
            "subsample": [2, 1], "dim_ordering": ordering, "W_regularizer": None,
            "b_regularizer": None, "activity_regularizer": None, "W_constraint": None,
            "b_constraint": None, "bias": True, "batch_input_shape": shape,
            "input_dtype": "float32", "trainable": True}},
        {"class_name": "Flatten", "config": {"name": "flatten_1", "trainable": True}},
        {"class_name": "Highway", "config": {
            "name": "highway_1", "init": "glorot_uniform", "activation": "relu",
            "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
            "W_constraint": None, "b_constraint": None, "bias": True, "input_dim": None,
            "trainable": True}}]
    source = _keras1_file(tmp_path / "k1.h5", layers, {
        "locallyconnected2d_1": [("locallyconnected2d_1_W", kernel.astype("float32")),
                                 ("locallyconnected2d_1_b", bias.astype("float32"))],
        "highway_1": [(f"highway_1_{k}", v.astype("float32")) for k, v in high.items()]},
        backend=None)
    x = rng.normal(size=(3, *shape[1:])).astype("float32")
    config = {"class_name": "Sequential", "config": layers}
    want = keras1_model(config, source, theano=ordering == "th").predict([x])
    # the reference against Keras 1's formulas, written out once more here
    channels_last = x.transpose(0, 2, 3, 1) if ordering == "th" else x
    columns = []
    for p, (r, c) in enumerate(np.ndindex(2, 3)):
        window = channels_last[:, 2 * r:2 * r + 3, c:c + 2, :]
        flat = window.transpose(0, 3, 1, 2) if ordering == "th" else window
        columns.append(flat.reshape(3, -1) @ kernel[p])
    local = np.stack(columns, 1).reshape(3, 2, 3, 3)
    if ordering == "th":
        local = local.transpose(0, 3, 1, 2) + bias.reshape(1, 3, 2, 3)
    else:
        local = local + bias
    h = np.tanh(local).reshape(3, -1)
    gate = _sigmoid(h @ high["W_carry"] + high["b_carry"])
    formula = np.maximum(h @ high["W"] + high["b"], 0) * gate + (1 - gate) * h
    assert np.abs(want[0] - formula).max() <= ATOL
    _every_writer(source, tmp_path, [x], want, "numpy Keras 1")


def test_keras1_locally_connected1d_and_highway_without_bias(tmp_path: Path) -> None:
    from modeltool.keras_bridge.keras1_reference import keras1_model

    rng = np.random.default_rng(12)
    kernel = rng.normal(size=(3, 3 * 2, 4)).astype("float32")  # (7 - 3) // 2 + 1 positions
    bias = rng.normal(size=(3, 4)).astype("float32")
    w, w_carry = (rng.normal(size=(12, 12)).astype("float32") for _ in range(2))
    layers = [
        {"class_name": "LocallyConnected1D", "config": {
            "name": "locallyconnected1d_1", "nb_filter": 4, "filter_length": 3,
            "init": "uniform", "activation": "hard_sigmoid", "border_mode": "valid",
            "subsample_length": 2, "bias": True, "input_dim": 2, "input_length": 7,
            "batch_input_shape": [None, 7, 2], "trainable": True}},
        {"class_name": "Flatten", "config": {"name": "flatten_1", "trainable": True}},
        {"class_name": "Highway", "config": {"name": "highway_1", "init": "glorot_uniform",
                                             "activation": "linear", "bias": False}}]
    source = _keras1_file(tmp_path / "k1.h5", layers, {
        "locallyconnected1d_1": [("locallyconnected1d_1_W", kernel),
                                 ("locallyconnected1d_1_b", bias)],
        "highway_1": [("highway_1_W", w), ("highway_1_W_carry", w_carry)]}, backend=None)
    x = rng.normal(size=(2, 7, 2)).astype("float32")
    want = keras1_model({"class_name": "Sequential", "config": layers}, source,
                        theano=False).predict([x])
    _every_writer(source, tmp_path, [x], want, "numpy Keras 1")


def test_keras1_merge_cos_is_keras1s_formula(tmp_path: Path) -> None:
    """Keras 1: ``dot / max(sqrt((a.a) (b.b)), 1e-7)``. Inputs where the epsilon decides (a
    zero vector, vectors of norm 1e-5) tell it from Keras 3's ``Dot(normalize=True)``."""
    from modeltool.keras_bridge.keras1_reference import Keras1Model

    arch = keras1_merge_model({"mode": "cos", **KERAS1_MERGE_ARGS}, width=4)
    (tmp_path / "k1.json").write_text(json.dumps(arch))
    report = modeltool.convert(tmp_path / "k1.json", tmp_path / "k3.keras", init=True)
    assert any("CosineMerge" in note for note in report.notes)
    rng = np.random.default_rng(13)
    a, b = rng.normal(size=(2, 5, 4)).astype("float32")
    a[1] = 0.0
    a[2], b[2] = np.full(4, 1e-5, "float32"), np.full(4, 2e-5, "float32")
    dot = (a * b).sum(1, keepdims=True)
    norms = np.sqrt((a * a).sum(1, keepdims=True) * (b * b).sum(1, keepdims=True))
    formula = dot / np.maximum(norms, 1e-7)
    assert abs(formula[2, 0] - 8e-3) < 1e-6  # the epsilon decides: Keras 3's Dot would say 1
    got = np.asarray(_keras3(tmp_path / "k3.keras")([a, b]))
    np.testing.assert_allclose(got, formula, atol=1e-6)
    modeltool.to_onnx(tmp_path / "k3.keras", tmp_path / "k3.onnx")
    np.testing.assert_allclose(_onnx(tmp_path / "k3.onnx", [a, b])[0], formula, atol=1e-6)
    assert np.abs(Keras1Model(arch, {}, theano=False).predict([a, b])[0] - formula).max() \
        <= 1e-6


def test_keras2_legacy_highway(tmp_path: Path) -> None:
    """Keras 2.0-2.2 kept Highway in ``keras.legacy`` (weights ``highway_1/W:0`` ...). tf_keras
    cannot load it, so the check is against the formula here, and the report says Keras 3
    only."""
    import h5py

    rng = np.random.default_rng(14)
    arrays = {name: rng.normal(size=(3, 3) if name.startswith("W") else (3,)).astype("float32")
              for name in ("W", "W_carry", "b", "b_carry")}
    layer = {"class_name": "Highway", "config": {
        "name": "highway_1", "trainable": True, "batch_input_shape": [None, 3],
        "dtype": "float32", "init": "glorot_uniform", "activation": "tanh",
        "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
        "W_constraint": None, "b_constraint": None, "bias": True, "input_dim": 3}}
    source = tmp_path / "k2.h5"
    with h5py.File(source, "w") as handle:
        handle.attrs["keras_version"] = "2.2.4"
        handle.attrs["backend"] = "tensorflow"
        handle.attrs["model_config"] = json.dumps(
            {"class_name": "Sequential", "config": {"name": "s", "layers": [layer]}})
        weights = handle.create_group("model_weights")
        weights.attrs["layer_names"] = [b"highway_1"]
        group = weights.create_group("highway_1")
        group.attrs["weight_names"] = [f"highway_1/{n}:0".encode() for n in arrays]
        for name, value in arrays.items():
            group.create_dataset(f"highway_1/{name}:0", data=value)
    report = modeltool.convert(source, tmp_path / "k3.keras")
    assert report.reference.startswith("Keras 3 only")
    x = rng.normal(size=(4, 3)).astype("float32")
    gate = _sigmoid(x @ arrays["W_carry"] + arrays["b_carry"])
    want = np.tanh(x @ arrays["W"] + arrays["b"]) * gate + (1 - gate) * x
    np.testing.assert_allclose(np.asarray(_keras3(tmp_path / "k3.keras")(x)), want, atol=ATOL)
