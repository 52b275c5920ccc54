"""``convert --dtype``: the cast seed models load in Keras 3 and predict what the originals
predict, within a stated tolerance; the weights take half the bytes.

Tolerance (of the largest absolute output of the original, on inputs in [0, 1)):
float16 1e-2, bfloat16 5e-2. float16 keeps 11 significant bits, bfloat16 8, so one rounding
is at most 2^-11 resp. 2^-8 relative per weight; the margins cover the accumulation through
the layers of these small models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import modeltool
from modeltool.cli import main
from tests.conftest import fixture_files, predict, sample_inputs

TOLERANCE = {"float16": 1e-2, "bfloat16": 5e-2}
SEEDS = [f for f in fixture_files(kind="keras") if f["writer"].startswith("keras")]


@pytest.mark.parametrize("fixture", SEEDS, ids=[f["model"] for f in SEEDS])
def test_cast_seed_models_predict_within_tolerance(fixture: dict[str, Any], tmp_path: Path,
                                                   keras: Any) -> None:
    original = keras.models.load_model(fixture["path"], compile=False)
    inputs = sample_inputs(fixture["model"], original)
    expected = predict(original, inputs)
    scale = max(float(np.max(np.abs(e))) for e in expected)
    float_bytes = sum(w.numpy().nbytes for w in original.weights
                      if w.dtype in ("float32",))
    for dtype, tolerance in TOLERANCE.items():
        out = tmp_path / f"{dtype}.keras"
        modeltool.convert(fixture["path"], out, dtype=dtype, verify=False)
        cast = keras.models.load_model(out, compile=False)
        for layer in cast.layers:
            for weight in layer.weights:
                kept = type(layer).__name__ == "BatchNormalization" or (
                    dtype == "bfloat16" and "Orthogonal" in json.dumps(layer.get_config()))
                want = "float32" if kept else dtype
                if weight.dtype.startswith(("float", "bfloat")):
                    assert weight.dtype == want, (layer.name, weight.path)
        got = predict(cast, inputs)
        worst = max(float(np.max(np.abs(e - g.astype(np.float64)))) for e, g in
                    zip(expected, got))
        assert worst <= tolerance * scale, (dtype, worst, scale)
        kept_bytes = sum(np.asarray(w.numpy()).nbytes for w in cast.weights
                         if w.dtype == "float32")
        half_bytes = sum(np.asarray(w.numpy()).nbytes for w in cast.weights
                         if w.dtype == dtype)
        assert half_bytes * 2 + kept_bytes == float_bytes


def test_file_size_halves(tmp_path: Path) -> None:
    source = fixture_files(model="mnist_mlp", kind="keras")[0]["path"]
    for dtype in ("float16", "bfloat16"):
        out = Path(modeltool.convert(source, tmp_path / f"{dtype}.keras", dtype=dtype,
                                     verify=False).output)
        assert out.stat().st_size <= 0.52 * source.stat().st_size


def test_cli_verifies_and_reports(tmp_path: Path, cli: Any) -> None:
    source = fixture_files(model="batchnorm_cnn", kind="keras")[0]["path"]
    result = cli.invoke(main, ["convert", str(source), "-o", str(tmp_path / "h.keras"),
                               "--dtype", "float16", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["dtype"] == "float16"
    assert 0 < data["verification"]["max_rel"] < TOLERANCE["float16"]
    assert any("kept float32" in note for note in data["notes"])


@pytest.mark.parametrize("kind", ["h5", "k2-weights"])
def test_bfloat16_into_legacy_hdf5_is_refused(kind: str, tmp_path: Path) -> None:
    """Keras cannot load bfloat16 from a legacy HDF5 file: refused in one line naming a layer,
    nothing written (float16 there works, see below)."""
    source = fixture_files(model="vgg_like_cnn", kind="keras")[0]["path"]
    out = tmp_path / f"out.{kind}"
    with pytest.raises(modeltool.ModelToolError, match="layer 'conv2d' stores bfloat16"):
        modeltool.convert(source, out, kind, dtype="bfloat16", verify=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["keras", "h5", "k3-weights", "k2-weights", "safetensors",
                                  "npz"])
def test_every_writable_kind_casts(kind: str, tmp_path: Path, keras: Any) -> None:
    source = fixture_files(model="vgg_like_cnn", kind="keras")[0]["path"]
    out = tmp_path / f"out.{kind}"
    legacy = kind in ("h5", "k2-weights")
    modeltool.convert(source, out, kind, dtype="float16" if legacy else "bfloat16",
                      verify=False)
    dtype = np.float16 if legacy else ml_dtypes.bfloat16
    with modeltool.open(out) as art:
        assert {e.dtype for e in art.weights} == {np.dtype(dtype).name}
        values = {e.key: e.read() for e in art.weights}
    reference = keras.models.load_model(source, compile=False)
    for weight in reference.weights:
        key = weight.path
        expected = np.asarray(weight.numpy()).astype(dtype)
        assert values[key].tobytes() == expected.tobytes(), key
    if kind == "h5":  # Keras 3 loads float16 legacy .h5 (not bfloat16: see ops/cast.py)
        half = modeltool.convert(source, tmp_path / "half.h5", dtype="float16", verify=False)
        model = keras.models.load_model(half.output, compile=False)
        assert {w.dtype for w in model.weights} == {"float16"}


def test_integer_weights_are_not_cast(tmp_path: Path) -> None:
    from modeltool.artifact import ModelArtifact, WeightEntry, WeightStore
    from modeltool.ops.cast import cast_artifact

    ints = np.arange(6, dtype=np.int32)
    entry = WeightEntry("l", "l", "table", (6,), "int32", "x", lambda: ints)
    floats = np.linspace(0, 1, 4, dtype=np.float64)
    other = WeightEntry("l", "l", "scale", (4,), "float64", "y", lambda: floats)
    cast = cast_artifact(ModelArtifact("k3-weights", None, weights=WeightStore(
        {"l": [entry, other]})), "float16")
    table, scale = list(cast.weights)
    assert table.dtype == "int32" and table.read() is ints
    assert scale.dtype == "float16" and scale.read().dtype == np.float16


@pytest.mark.zoo
def test_resnet50_cast(tmp_path: Path, keras: Any) -> None:
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None)
    source = tmp_path / "resnet50.keras"
    model.save(source)
    x = np.random.default_rng(0).random((2, 224, 224, 3), dtype=np.float32)
    expected = np.asarray(model(x, training=False), dtype=np.float64)
    for dtype, tolerance in TOLERANCE.items():
        out = Path(modeltool.convert(source, tmp_path / f"{dtype}.keras", dtype=dtype,
                                     verify=False).output)
        assert out.stat().st_size <= 0.52 * source.stat().st_size
        got = np.asarray(keras.models.load_model(out, compile=False)(x, training=False),
                         dtype=np.float64)
        assert np.max(np.abs(got - expected)) <= tolerance * np.max(np.abs(expected))


def test_blockwise_cast_equals_whole_cast(tmp_path: Path, monkeypatch: Any, keras: Any) -> None:
    """Big tensors are cast block by block (blocks forced tiny here): same bits as casting the
    whole tensor Keras holds."""
    from modeltool.formats import blocks as block_reader

    monkeypatch.setattr(block_reader, "BLOCK_BYTES", 512)
    source = fixture_files(model="mnist_mlp_small", kind="keras")[0]["path"]
    out = tmp_path / "half.safetensors"
    modeltool.convert(source, out, dtype="float16", verify=False)
    from safetensors.numpy import load_file

    got = load_file(out)
    for weight in keras.models.load_model(source, compile=False).weights:
        expected = np.asarray(weight.numpy()).astype(np.float16)
        assert got[weight.path].tobytes() == expected.tobytes()
