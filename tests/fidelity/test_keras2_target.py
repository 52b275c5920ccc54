"""``convert --to k2-h5``: a Keras 3 model of Keras 2 layers, written for Keras 2, loads in
tf_keras and predicts what Keras 3 predicts; what Keras 2 cannot express is refused in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modeltool
from modeltool.cli import main

pytestmark = pytest.mark.tf


def _outputs(value: Any) -> list[np.ndarray]:
    if not isinstance(value, (list, tuple)):
        value = [value]
    return [np.asarray(v) for v in value]


@pytest.fixture(scope="module")
def keras3_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    import keras

    L = keras.layers  # noqa: N806
    image = keras.Input((8, 8, 3), name="image")
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    x = L.Conv2D(4, 3, padding="same", activation="relu",
                 kernel_initializer="orthogonal")(image)
    x = L.BatchNormalization()(x)
    x = L.SeparableConv2D(4, 3, activation="silu")(x)
    x = L.MaxPooling2D()(x)
    y = L.DepthwiseConv2D(3, padding="same")(x)
    x = L.Add()([x, y])
    x = L.LeakyReLU(negative_slope=0.1)(x)
    x = L.Reshape((9, 4))(x)
    x = L.Bidirectional(L.LSTM(3, return_sequences=True))(x)
    x = L.GRU(5)(x)
    t = L.Embedding(11, 4, mask_zero=True)(tokens)
    t = L.SimpleRNN(3)(t)
    x = L.Concatenate()([x, t])
    x = L.LayerNormalization()(L.Dense(6, activation="gelu")(x))
    head = L.Dense(2, activation="softmax", name="head")(L.Dropout(0.2)(x))
    model = keras.Model([image, tokens], [head, x])
    rng = np.random.default_rng(0)
    for layer in model.layers:  # non-trivial batch statistics and biases
        layer.set_weights([rng.normal(0.5, 0.3, size=w.shape).astype("float32")
                           if "moving_variance" not in w.path
                           else rng.uniform(0.5, 2, size=w.shape).astype("float32")
                           for w in layer.weights])
    path = tmp_path_factory.mktemp("k3") / "model.keras"
    model.save(path)
    return model, path


def test_keras3_model_written_for_keras2_loads_in_tf_keras(keras3_model: tuple[Any, Path],
                                                            tmp_path: Path) -> None:
    import tf_keras

    model, path = keras3_model
    out = tmp_path / "model_k2.h5"
    report = modeltool.convert(path, out, "k2-h5")
    assert report.output_kind == "k2-h5" and report.max_abs_diff is not None
    loaded = tf_keras.models.load_model(out, compile=False)
    rng = np.random.default_rng(1)
    inputs = [rng.random((3, 8, 8, 3), dtype=np.float32),
              rng.integers(0, 11, size=(3, 6)).astype("int32")]
    want = _outputs(model(inputs, training=False))
    got = _outputs(loaded(inputs, training=False))
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert float(np.abs(g - w).max()) <= 1e-5
    # modeltool reads its own Keras 2 file back as a Keras 2 file
    with modeltool.open(out) as artifact:
        assert artifact.dialect == 2 and artifact.keras_version == "2.21.0"


def test_keras2_source_to_keras3_and_back_keeps_hard_sigmoid(tmp_path: Path) -> None:
    import tf_keras

    L = tf_keras.layers  # noqa: N806
    inp = L.Input((5, 2))
    original = tf_keras.Model(inp, L.Dense(3, activation="hard_sigmoid")(
        L.LSTM(4, recurrent_activation="hard_sigmoid")(inp)))
    original.layers[-1].set_weights([w * 5 for w in original.layers[-1].get_weights()])
    source = tmp_path / "k2.h5"
    original.save(source)
    middle = tmp_path / "k3.keras"
    modeltool.convert(source, middle)
    back = tmp_path / "back.h5"
    modeltool.convert(middle, back, "k2-h5")
    inputs = np.random.default_rng(2).normal(size=(3, 5, 2)).astype("float32") * 3
    got = np.asarray(tf_keras.models.load_model(back, compile=False)(inputs))
    assert float(np.abs(got - np.asarray(original(inputs))).max()) <= 1e-6


@pytest.mark.parametrize("build, problem", [
    (lambda L: L.Dense(3, activation="hard_sigmoid"), "Keras 3's hard_sigmoid"),
    (lambda L: L.RMSNormalization(), "class RMSNormalization does not exist in Keras 2"),
    (lambda L: L.Dense(3, activation="relu6"), "activation 'relu6' does not exist in Keras 2"),
])
def test_what_keras2_cannot_express_is_named_in_one_line(build: Any, problem: str,
                                                        tmp_path: Path, cli: Any) -> None:
    import keras

    inp = keras.Input((4,))
    model = keras.Model(inp, build(keras.layers)(keras.layers.Dense(3, name="first")(inp)))
    source = tmp_path / "model.keras"
    model.save(source)
    out = tmp_path / "out.h5"
    result = cli.invoke(main, ["convert", str(source), "-o", str(out), "--to", "k2-h5"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines() if result.stderr_bytes else \
        result.output.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0] and str(source) in lines[0]
    assert f"layer '{model.layers[-1].name}'" in lines[0]
    assert not out.exists()
