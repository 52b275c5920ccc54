"""``to-onnx --optimize / --float16 / --int8``: the shipped file, run in onnxruntime, agrees
with ``keras.models.load_model`` on the original file within the variant's stated tolerance,
and the report lists size, latency and agreement per variant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.ops.onnx_export import variants as onnx_variants

pytestmark = pytest.mark.tf


@pytest.fixture(scope="session")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN classifier (conv, batch norm, pooling, dense softmax) saved by Keras."""
    import keras

    keras.utils.set_random_seed(5)
    x = keras.Input((16, 16, 3), name="image")
    y = keras.layers.Conv2D(8, 3, activation="relu")(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(32, activation="relu")(y)
    y = keras.layers.Dense(10, activation="softmax", name="probs")(y)
    path = tmp_path_factory.mktemp("variants") / "cnn.keras"
    keras.Model(x, y).save(path)
    return path


def _run(*args: str) -> Any:
    from modeltool.cli import main

    return CliRunner().invoke(main, ["to-onnx", *args])


def _keras_and_onnx(source: Path, out: Path, count: int = 64) -> tuple[np.ndarray, np.ndarray]:
    import keras
    import onnxruntime as ort

    feeds = np.random.default_rng(99).random((count, 16, 16, 3), dtype=np.float32)
    want = np.asarray(keras.models.load_model(source, compile=False)(feeds))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"  # I/O stay float32
    return session.run(None, {"image": feeds})[0], want


@pytest.mark.parametrize(("flags", "name", "min_cosine"), [
    (["--optimize"], "optimized (onnxslim)", 0.999999),
    (["--optimize", "ort"], "optimized (ort)", 0.999999),
    (["--float16"], "float16", 0.999),
    (["--int8"], "int8 dynamic", 0.99),
    (["--int8", "--calibration", "CALIB"], "int8 static", 0.99),
], ids=["onnxslim", "ort", "float16", "int8-dynamic", "int8-static"])
def test_variant_agrees_with_keras(classifier: Path, tmp_path: Path, flags: list[str],
                                   name: str, min_cosine: float) -> None:
    calib = tmp_path / "calib.npz"
    np.savez(calib, image=np.random.default_rng(1).random((16, 16, 16, 3), dtype=np.float32))
    flags = [str(calib) if f == "CALIB" else f for f in flags]
    out = tmp_path / "cnn.onnx"
    result = _run(str(classifier), "-o", str(out), "--json", *flags)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    variants = {v["name"]: v for v in data["variants"]}
    assert set(variants) == {"float32", name}
    shipped = variants[name]
    assert shipped["ok"] and shipped["verified"] and shipped["latency_ms"] > 0
    assert shipped["file_size"] == out.stat().st_size == data["file_size"]
    if name in ("float16", "int8 dynamic"):  # static QDQ adds scales: not smaller when tiny
        assert shipped["file_size"] < variants["float32"]["file_size"]
    got, want = _keras_and_onnx(classifier, out)
    assert onnx_variants.cosine(got, want) >= min_cosine
    if name.startswith("optimized"):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-3)
    if name == "float16":
        import onnx

        kinds = {init.data_type for init in onnx.load(str(out)).graph.initializer
                 if len(init.dims) > 1}
        assert kinds == {onnx.TensorProto.FLOAT16}


def test_variant_beyond_tolerance_exits_1_and_keep_failed_keeps(
        classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(onnx_variants.MIN_COSINE, "float16", 1.5)  # no model can reach it
    out = tmp_path / "cnn.onnx"
    result = _run(str(classifier), "-o", str(out), "--float16")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "float16" in lines[0] and "cosine" in lines[0]
    assert list(tmp_path.iterdir()) == []
    result = _run(str(classifier), "-o", str(out), "--float16", "--keep-failed")
    assert result.exit_code == 1 and "kept at" in result.stderr
    assert out.is_file()


def test_variant_flags_that_exclude_each_other(classifier: Path, tmp_path: Path) -> None:
    for flags in (["--float16", "--int8"], ["--calibration", "x.npz"],
                  ["--int8", "--no-verify"]):
        result = _run(str(classifier), "-o", str(tmp_path / "x.onnx"), *flags)
        assert result.exit_code == 2, (flags, result.output)
        assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1
