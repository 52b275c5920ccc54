"""Every weight dtype Keras 3 writes, through every command, with Keras as the judge.

Models are built at test time by Keras 3 in float16, bfloat16, mixed_float16, mixed_bfloat16,
and int8-, int4- and float8-quantized form (``model.quantize``). Every output modeltool writes
is loaded by Keras, whose predictions must equal the original model's exactly and whose
variables must hold the original's bytes and dtypes. What a kind cannot hold (bfloat16 in a
legacy HDF5 file, which Keras cannot load back) or ONNX cannot express (bfloat16, float8) is
refused in one line naming the layer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.cli import main

pytestmark = pytest.mark.tf

POLICIES = {"float16": "float16", "bfloat16": "bfloat16", "mixed_float16": "mixed_float16",
            "mixed_bfloat16": "mixed_bfloat16", "int8": "int8", "int4": "int4",
            "float8": "float8"}
QUANTIZED = ("int8", "int4", "float8")
#: What Keras records as the policy of the Dense layers.
RECORDED = {"int8": "int8_from_float32", "int4": "int4/128_from_float32",
            "float8": "float8_from_float32"}
X = np.random.default_rng(0).random((5, 8), dtype=np.float32)


def _build(keras: Any, variant: str) -> Any:
    dtype = None if variant in QUANTIZED else variant
    keras.utils.set_random_seed(1)
    x = keras.Input((8,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="d1", dtype=dtype)(x)
    h = keras.layers.BatchNormalization(name="bn", dtype=dtype)(h)
    y = keras.layers.Dense(4, name="d2", dtype=dtype)(h)
    model = keras.Model(x, y, name="m")
    model.get_layer("bn").set_weights([
        np.linspace(0.5, 1.5, 16), np.linspace(-1, 1, 16), np.linspace(-0.3, 0.3, 16),
        np.linspace(0.5, 2.0, 16)])
    if variant in QUANTIZED:
        model.quantize(variant)
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, keras: Any) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dtypes")
    paths = {}
    for variant in POLICIES:
        path = folder / f"{variant.replace('/', '_')}.keras"
        _build(keras, variant).save(path)
        paths[variant] = path
    return paths


def _state(model: Any) -> list[tuple[str, str, bytes]]:
    """(path, dtype, bytes) of every variable, in order."""
    found = []
    for variable in model.weights:
        value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
        found.append((str(variable.path), str(value.dtype),
                      np.ascontiguousarray(value).tobytes()))
    return found


def _same_model(keras: Any, original: Path, written: Path, weights_only: bool = False) -> None:
    reference = keras.models.load_model(original)
    if weights_only:
        model = keras.models.load_model(original)
        for variable in model.weights:
            variable.assign(np.zeros(variable.shape, variable.dtype))
        model.load_weights(written)
    else:
        model = keras.models.load_model(written)
    assert _state(model) == _state(reference), f"{written.name}: weights differ"
    np.testing.assert_array_equal(np.asarray(model(X)), np.asarray(reference(X)),
                                  err_msg=f"{written.name}: predictions differ")


def run(args: list[str]) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line(result: Any) -> str:
    lines = [x for x in result.stderr.splitlines() if x.strip() and not x.startswith("warning")]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("variant", sorted(POLICIES))
def test_every_command_keeps_every_dtype(variant: str, models: dict[str, Path], keras: Any,
                                         tmp_path: Path) -> None:
    source = models[variant]
    reference = keras.models.load_model(source)
    # summary names the dtype policy; weights lists the stored dtypes Keras holds
    summary = json.loads(run(["summary", source, "--json"]).output)
    assert summary["dtype_policies"]["d1"] == RECORDED.get(variant, variant)
    rows = json.loads(run(["weights", source, "--json"]).output)["weights"]
    assert sorted(r["dtype"] for r in rows) == sorted(
        np.asarray(v.numpy()).dtype.name for v in reference.weights)
    assert run(["check", source]).exit_code == 0
    assert run(["weights", source, "--stats"]).exit_code == 0
    for name in ("out.keras", "out.weights.h5"):
        assert run(["convert", source, "-o", tmp_path / name]).exit_code == 0, name
        _same_model(keras, source, tmp_path / name, weights_only=name.endswith("weights.h5"))
    legacy = run(["convert", source, "-o", tmp_path / "out.h5"])
    if "bfloat16" in _stored(reference) or variant in QUANTIZED:
        line = _one_line(legacy)
        assert ("bfloat16" in line or "quantized" in line) and "layer 'd1'" in line
        assert not (tmp_path / "out.h5").exists()
    else:
        assert legacy.exit_code == 0, legacy.output
        _same_model(keras, source, tmp_path / "out.h5")
    assert run(["load-weights", source, source, "--by-name", "-o",
                tmp_path / "loaded.keras"]).exit_code == 0
    _same_model(keras, source, tmp_path / "loaded.keras")
    assert run(["freeze", source, "--layers", "d1", "-o", tmp_path / "frozen.keras"]
               ).exit_code == 0
    frozen = keras.models.load_model(tmp_path / "frozen.keras")
    assert not frozen.get_layer("d1").trainable
    assert _state(frozen) == _state(reference)


def _stored(model: Any) -> set[str]:
    return {np.asarray(v.numpy()).dtype.name for v in model.weights}


@pytest.mark.parametrize("variant", ["bfloat16", "float8"])
def test_to_onnx_says_what_it_cannot_express(variant: str, models: dict[str, Path],
                                             tmp_path: Path) -> None:
    result = run(["to-onnx", models[variant], "-o", tmp_path / "m.onnx"])
    line = _one_line(result)
    assert "layer 'd1'" in line and ("bfloat16" in line or "float8" in line)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("variant", ["mixed_float16", "int8"])
def test_to_onnx_exports_what_it_can(variant: str, models: dict[str, Path], keras: Any,
                                     tmp_path: Path) -> None:
    import onnxruntime

    out = tmp_path / "m.onnx"
    result = run(["to-onnx", models[variant], "-o", out])
    assert result.exit_code == 0, result.output
    reference = np.asarray(keras.models.load_model(models[variant])(X)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: X})[0].astype(np.float32)
    tolerance = 1e-2 if "float16" in variant else 1e-4
    np.testing.assert_allclose(got, reference, atol=tolerance, rtol=tolerance)
