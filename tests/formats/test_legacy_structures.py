"""Real-world structures of Keras 1/2 and tf.keras files (issue 16, item 4): each is built with
the library that wrote such files (or written by hand where none can), converted by modeltool,
loaded by Keras 3 and compared with the original library's predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modeltool

pytestmark = pytest.mark.tf


def _inputs(model: Any, seed: int = 0, batch: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    return [rng.random((batch, *shape[1:]), dtype=np.float32) for shape in shapes]


def _keras3_matches(keras: Any, path: Path, x: list[np.ndarray], expected: Any,
                    atol: float = 1e-5) -> Any:
    model = keras.models.load_model(path, compile=False)
    got = model(x if len(x) > 1 else x[0], training=False)
    got = got if isinstance(got, (list, tuple)) else [got]
    expected = expected if isinstance(expected, list) else [expected]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), e, atol=atol)
    return model


def _onnx_matches(path: Path, x: list[np.ndarray], expected: Any, atol: float = 1e-5) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: value for i, value in zip(session.get_inputs(), x)}
    got = session.run(None, feed)
    expected = expected if isinstance(expected, list) else [expected]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=atol)


# --- RNNs called with initial states -------------------------------------------------------

def _encoder_decoder(tf_keras: Any) -> Any:
    """The seq2seq pattern: LSTM and GRU decoders started from the encoder's states, a
    Bidirectional decoder from a Bidirectional encoder's four states, a SimpleRNN, and an
    attention-style Dot/Activation/Dot merge."""
    layers = tf_keras.layers
    enc_in, dec_in = layers.Input((5, 3), name="enc"), layers.Input((4, 2), name="dec")
    enc_seq, h, c = layers.LSTM(6, return_state=True, return_sequences=True)(enc_in)
    dec_seq = layers.LSTM(6, return_sequences=True)(dec_in, initial_state=[h, c])
    _, gru_h = layers.GRU(6, return_state=True)(enc_in)
    gru_seq = layers.GRU(6, return_sequences=True)(dec_in, initial_state=gru_h)
    _, rnn_h = layers.SimpleRNN(6, return_state=True)(enc_in)
    rnn_seq = layers.SimpleRNN(6, return_sequences=True)(dec_in, initial_state=[rnn_h])
    bi_states = layers.Bidirectional(layers.LSTM(3, return_state=True))(enc_in)[1:]
    bi_seq = layers.Bidirectional(layers.LSTM(3, return_sequences=True))(
        dec_in, initial_state=bi_states)
    scores = layers.Activation("softmax")(layers.Dot(axes=[2, 2])([dec_seq, enc_seq]))
    context = layers.Dot(axes=[2, 1])([scores, enc_seq])
    merged = layers.Concatenate()([context, dec_seq, gru_seq, rnn_seq, bi_seq])
    return tf_keras.Model([enc_in, dec_in], layers.Dense(2)(merged))


def _conv_lstm_with_state(tf_keras: Any) -> Any:
    layers = tf_keras.layers
    frames = layers.Input((3, 6, 6, 2))
    # tf.keras' ConvLSTM default recurrent activation is the old hard_sigmoid, whose Keras 3
    # namesake differs (issue 16 item 1, handled on its own): sigmoid keeps this about states.
    _, h, c = layers.ConvLSTM2D(4, 3, padding="same", return_state=True,
                                recurrent_activation="sigmoid")(frames)
    out = layers.ConvLSTM2D(4, 3, padding="same", recurrent_activation="sigmoid")(
        frames, initial_state=[h, c])
    return tf_keras.Model(frames, layers.GlobalAveragePooling2D()(out))


@pytest.fixture(scope="module")
def seq2seq_h5(tf_keras: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    tf_keras.utils.set_random_seed(5)
    model = _encoder_decoder(tf_keras)
    path = tmp_path_factory.mktemp("seq2seq") / "seq2seq.h5"
    model.save(path)
    x = _inputs(model)
    return path, (x, model.predict(x, verbose=0))


def test_encoder_decoder_with_initial_states_predicts_as_tf_keras(
        seq2seq_h5: tuple[Path, Any], keras: Any, tmp_path: Path) -> None:
    source, (x, expected) = seq2seq_h5
    report = modeltool.convert(source, tmp_path / "s2s.keras")
    assert sum("initial_state" in note for note in report.notes) == 4
    model = _keras3_matches(keras, tmp_path / "s2s.keras", x, expected)
    decoder = model.get_layer("lstm_1")
    assert len(decoder._inbound_nodes[0].input_tensors) == 3  # x, h, c: states are inputs


def test_encoder_decoder_with_initial_states_through_onnx(seq2seq_h5: tuple[Path, Any],
                                                          tmp_path: Path) -> None:
    source, (x, expected) = seq2seq_h5
    report = modeltool.to_onnx(source, tmp_path / "s2s.onnx")
    assert report.verified
    _onnx_matches(tmp_path / "s2s.onnx", x, expected)


def test_conv_lstm_with_initial_state_predicts_as_tf_keras(tf_keras: Any, keras: Any,
                                                           tmp_path: Path) -> None:
    tf_keras.utils.set_random_seed(6)
    model = _conv_lstm_with_state(tf_keras)
    model.save(tmp_path / "convlstm.h5")
    x = _inputs(model)
    modeltool.convert(tmp_path / "convlstm.h5", tmp_path / "convlstm.keras")
    _keras3_matches(keras, tmp_path / "convlstm.keras", x, model.predict(x, verbose=0))


def test_encoder_decoder_json_with_weights_file(seq2seq_h5: tuple[Path, Any], tf_keras: Any,
                                                keras: Any, tmp_path: Path) -> None:
    """The same graph as a tf.keras JSON plus a Keras 2 weights file (the other common way
    such models were published)."""
    source, (x, expected) = seq2seq_h5
    model = tf_keras.models.load_model(source, compile=False)
    (tmp_path / "arch.json").write_text(model.to_json())
    model.save_weights(tmp_path / "w.h5")
    modeltool.convert(tmp_path / "arch.json", tmp_path / "s2s.keras", weights=tmp_path / "w.h5")
    _keras3_matches(keras, tmp_path / "s2s.keras", x, expected)


# --- to_yaml() files with Python tags that only hold data ----------------------------------

def _tf_keras_yaml(tf_keras: Any, model: Any) -> str:
    """What tf.keras' ``to_yaml()`` (TF 2.0-2.5) wrote: ``yaml.dump`` of the model's config,
    with tuples and TensorFlow ListWrappers as Python tags."""
    import yaml

    config = model.get_config()
    for entry in config["layers"]:
        if entry["class_name"] == "BatchNormalization":
            # TF 2.0-2.3 returned the tracked attribute itself, a ListWrapper.
            entry["config"]["axis"] = model.get_layer(entry["config"]["name"]).axis
    text = yaml.dump({"class_name": type(model).__name__, "config": config,
                      "keras_version": "2.4.0", "backend": "tensorflow"})
    assert "!!python/tuple" in text and "ListWrapper" in text
    # Keras under Python 2 tagged its unicode strings.
    return text.replace("name: dense", "name: !!python/unicode dense").replace(
        "padding: same", "padding: !!python/str same")


def test_yaml_python_data_tags_are_read_as_data(tf_keras: Any, keras: Any,
                                                tmp_path: Path) -> None:
    tf_keras.utils.set_random_seed(7)
    layers = tf_keras.layers
    model = tf_keras.Sequential([
        layers.Conv2D(4, (3, 3), padding="same", input_shape=(6, 6, 2)),
        layers.BatchNormalization(axis=[3]),
        layers.Flatten(), layers.Dense(3, name="dense_out")])
    x = _inputs(model)
    model(x[0])
    bn = model.layers[1]
    bn.moving_mean.assign(np.linspace(-1, 1, 4).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2, 4).astype("float32"))
    text = _tf_keras_yaml(tf_keras, model)
    assert "!!python/unicode" in text and "!!python/str" in text
    (tmp_path / "model.yaml").write_text(text)
    model.save_weights(tmp_path / "weights.h5")
    modeltool.convert(tmp_path / "model.yaml", tmp_path / "model.keras",
                      weights=tmp_path / "weights.h5")
    _keras3_matches(keras, tmp_path / "model.keras", x, model.predict(x, verbose=0))


def test_yaml_data_tags_import_nothing(tmp_path: Path) -> None:
    from tests.conftest import run_fresh

    text = ("class_name: Sequential\nconfig:\n  name: !!python/unicode 'seq'\n  layers:\n"
            "  - class_name: BatchNormalization\n    config:\n"
            "      axis: !!python/object/apply:tensorflow.python.training.tracking."
            "data_structures.ListWrapper\n      - - 1\n"
            "      batch_input_shape: !!python/tuple [null, 3]\n"
            "      name: !!python/str bn\n")
    (tmp_path / "m.yaml").write_text(text)
    lines, heavy = run_fresh(
        "import modeltool, json\n"
        f"c = modeltool.config({str(tmp_path / 'm.yaml')!r})\n"
        "print(json.dumps(c['config']['layers'][1]['config']['axis']))\n"
        "print(c['config']['name'])")
    assert lines == ["1", "seq"]
    assert heavy == []


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system ['true']",
    "!!python/object/new:tensorflow.python.training.tracking.data_structures.ListWrapper\n"
    "    state: {a: 1}\n    args: [[1]]",
    "!!python/object/apply:tensorflow.python.training.tracking.data_structures.Other [[1]]",
    "!!python/name:os.system",
    "!!python/module:os",
])
def test_yaml_constructing_tags_stay_refused(tag: str, tmp_path: Path) -> None:
    from modeltool.errors import ModelToolError

    path = tmp_path / "m.yaml"
    path.write_text("class_name: Sequential\nconfig:\n  name: seq\n  layers:\n"
                    f"  - class_name: Dense\n    config:\n      units: {tag}\n")
    with pytest.raises(ModelToolError, match="Python object tag"):
        modeltool.open(path)


@pytest.mark.realworld
def test_realworld_keras21_yaml_builds_in_keras3(realworld: Path, keras: Any,
                                                 tmp_path: Path) -> None:
    import yaml

    source = realworld / "HackBinghamtonArchives__CNN-Demo__model.yaml"
    modeltool.convert(source, tmp_path / "cnn.keras", init=True)
    model = keras.models.load_model(tmp_path / "cnn.keras", compile=False)
    # The file's own layer list, read with PyYAML's full loader (tuples as tuples): the same
    # classes, units and kernel sizes reach Keras 3.
    raw = yaml.load(source.read_text(), Loader=yaml.FullLoader)  # noqa: S506 - test oracle
    stored = [(layer["class_name"], layer["config"].get("units"),
               tuple(layer["config"].get("kernel_size") or ()))
               for layer in raw["config"]]
    built = [(type(layer).__name__, getattr(layer, "units", None),
              tuple(getattr(layer, "kernel_size", ()) or ())) for layer in model.layers]
    assert built == stored
