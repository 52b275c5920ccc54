"""``--custom-objects FILE.py`` (issue 16 item 5) and custom layers whose config says
``module: null`` (item 4): the user's registered layer is used only when asked for."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modeltool

pytestmark = pytest.mark.tf

_LAYERS_PY = '''
import pathlib
import keras

pathlib.Path(__file__).with_suffix(".imported").write_text("imported")


@keras.saving.register_keras_serializable(package="{package}")
class Scale(keras.layers.Layer):
    """Multiplies by a learned vector and a fixed factor."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.scale * self.factor

    def get_config(self):
        return {{**super().get_config(), "factor": self.factor}}
'''

_BUILD = '''
import sys
import numpy as np
__file__ = sys.argv[1]
exec(open(sys.argv[1]).read())  # defined in __main__: Keras writes module: null
import keras
keras.utils.set_random_seed(11)
x = keras.Input((3,), name="x")
model = keras.Model(x, keras.layers.Dense(2)(Scale(3.0, name="scale")(x)))
model.get_layer("scale").scale.assign(np.array([0.5, -1.0, 2.0], dtype="float32"))
model.save(sys.argv[2])
data = np.random.default_rng(0).random((4, 3), dtype=np.float32)
np.savez(sys.argv[3], x=data, y=np.asarray(model(data)))
'''


@pytest.fixture(scope="module")
def custom_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any, Any]:
    """(layers .py, model .keras, inputs, Keras 3 predictions), built in a fresh interpreter so
    this test process never registers the class by itself."""
    tmp_path = tmp_path_factory.mktemp("custom")
    package = f"mt_{tmp_path.name.replace('-', '_')}"
    layers_py = tmp_path / "my_layers.py"
    layers_py.write_text(textwrap.dedent(_LAYERS_PY.format(package=package)))
    model = tmp_path / "custom.keras"
    subprocess.run([sys.executable, "-c", _BUILD, str(layers_py), str(model),
                    str(tmp_path / "expected.npz")], check=True, capture_output=True,
                   timeout=300)
    (tmp_path / "my_layers.imported").unlink()
    expected = np.load(tmp_path / "expected.npz")
    return layers_py, model, expected["x"], expected["y"]


def test_custom_layer_is_refused_without_and_used_with_custom_objects(
        custom_model: tuple[Path, Path, Any, Any], cli: Any, keras: Any,
        tmp_path: Path) -> None:
    from modeltool.cli import main

    layers_py, model, x, y = custom_model
    marker = layers_py.with_suffix(".imported")
    config = modeltool.config(model)
    scale = next(layer for layer in config["config"]["layers"] if layer["name"] == "scale")
    assert scale["module"] is None  # kept, not rewritten to keras.layers

    # Without the option: one clear line, exit 2, and the user's file is never run.
    for args in (["convert", str(model), "-o", str(tmp_path / "a.h5")],
                 ["summary", str(model), "--engine", "keras"],
                 ["to-onnx", str(model), "-o", str(tmp_path / "a.onnx")]):
        result = cli.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.count("\n") == 1 and "Scale" in result.stderr, result.stderr
        assert "Traceback" not in result.output
    assert not marker.exists()

    # With it: each command uses the registered layer.
    opt = ["--custom-objects", str(layers_py)]
    result = cli.invoke(main, ["convert", str(model), "-o", str(tmp_path / "b.h5"), *opt])
    assert result.exit_code == 0, result.output
    assert marker.exists()
    result = cli.invoke(main, ["summary", str(model), "--engine", "keras", "--json", *opt])
    assert result.exit_code == 0, result.output
    assert '"Scale"' in result.stdout
    result = cli.invoke(main, ["to-onnx", str(model), "-o", str(tmp_path / "b.onnx"), *opt])
    assert result.exit_code == 0, result.output
    result = cli.invoke(main, ["load-weights", str(model), str(tmp_path / "b.h5"), "--by-name",
                               "-o", str(tmp_path / "c.keras"), *opt])
    assert result.exit_code == 0, result.output

    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "b.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": x})[0], y, atol=1e-5)
    for written in ("b.h5", "c.keras"):
        reloaded = keras.models.load_model(tmp_path / written, compile=False)
        np.testing.assert_allclose(np.asarray(reloaded(x)), y, atol=1e-6)


def test_custom_objects_through_the_api(custom_model: tuple[Path, Path, Any, Any],
                                        keras: Any, tmp_path: Path) -> None:
    layers_py, model, x, y = custom_model
    report = modeltool.convert(model, tmp_path / "sm", "savedmodel", custom_objects=layers_py)
    assert report.output_kind == "savedmodel"
    import tensorflow as tf

    served = tf.saved_model.load(str(tmp_path / "sm"))
    np.testing.assert_allclose(np.asarray(served.serve(x)), y, atol=1e-5)
    # A {name: class} map works like Keras' custom_objects.
    from modeltool.keras_bridge.custom_objects import load_custom_objects

    objects = load_custom_objects(layers_py)
    summary = modeltool.summary(model, engine="keras", custom_objects={"Scale": objects["Scale"]})
    assert any(row.class_name == "Scale" for row in summary.rows)


@pytest.mark.parametrize("content,problem", [
    (None, "custom objects file not found"),
    ("raise RuntimeError('boom')\n", "failed to run: RuntimeError: boom"),
])
def test_bad_custom_objects_file_is_one_line(content: str | None, problem: str,
                                            custom_model: tuple[Path, Path, Any, Any], cli: Any,
                                            tmp_path: Path) -> None:
    from modeltool.cli import main

    _, model, _, _ = custom_model
    layers_py = tmp_path / "broken_layers.py"
    if content is not None:
        layers_py.write_text(content)
    result = cli.invoke(main, ["summary", str(model), "--engine", "keras",
                               "--custom-objects", str(layers_py)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and problem in result.stderr
    assert str(layers_py) in result.stderr and "Traceback" not in result.output
