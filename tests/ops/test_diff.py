"""``diff`` on models built and edited with Keras: exactly the edits are reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modeltool
from modeltool.cli import main
from tests.conftest import fixture_path


def _functional(keras: Any, names: list[str], units: list[int]) -> Any:
    inputs = keras.Input((8,), name="x")
    h = inputs
    for name, unit in zip(names, units):
        h = keras.layers.Dense(unit, activation="relu", name=name)(h)
    return keras.Model(inputs, h, name="net")


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory, keras: Any) -> dict[str, Path]:
    """base; a copy re-saved by Keras; a fine-tuned copy (d2 and head changed); a copy with d2
    renamed to hidden; a copy with a layer inserted before head. All written by Keras."""
    folder = tmp_path_factory.mktemp("diff")
    keras.utils.set_random_seed(1)
    base = _functional(keras, ["d1", "d2", "head"], [16, 16, 4])
    paths = {name: folder / f"{name}.keras" for name in
             ("base", "resaved", "tuned", "renamed", "inserted")}
    base.save(paths["base"])
    keras.models.load_model(paths["base"]).save(paths["resaved"])
    tuned = keras.models.load_model(paths["base"])
    rng = np.random.default_rng(0)
    for name in ("d2", "head"):
        layer = tuned.get_layer(name)
        layer.set_weights([w + rng.normal(0, 1e-3, w.shape).astype(w.dtype)
                           for w in layer.get_weights()])
    tuned.save(paths["tuned"])
    renamed = _functional(keras, ["d1", "hidden", "head"], [16, 16, 4])
    renamed.set_weights(base.get_weights())
    renamed.save(paths["renamed"])
    inserted = _functional(keras, ["d1", "d2", "extra", "head"], [16, 16, 16, 4])
    for name in ("d1", "d2", "head"):
        inserted.get_layer(name).set_weights(base.get_layer(name).get_weights())
    inserted.save(paths["inserted"])
    return paths


def test_identical_files_exit_0(models: dict[str, Path], tmp_path: Path, cli: Any) -> None:
    copy = tmp_path / "copy.keras"
    shutil.copy(models["base"], copy)
    for other in (copy, models["resaved"]):
        result = cli.invoke(main, ["diff", str(models["base"]), str(other)])
        assert result.exit_code == 0, result.output
        assert "same: same architecture, same weights (6 tensors)" in result.output


def test_fine_tuned_copy_reports_exactly_the_changed_layers(models: dict[str, Path],
                                                            cli: Any) -> None:
    report = modeltool.diff(models["base"], models["tuned"])
    assert not report.same and not report.layers
    assert {(t.layer, t.name) for t in report.changed_tensors} == {
        ("d2", "kernel"), ("d2", "bias"), ("head", "kernel"), ("head", "bias")}
    assert all(t.status == "identical" for t in report.tensors if t.layer == "d1")
    changed = report.changed_tensors[0]
    assert changed.max_abs is not None and 0 < changed.max_abs < 1e-2
    assert changed.cosine is not None and changed.cosine > 0.99
    result = cli.invoke(main, ["diff", str(models["base"]), str(models["tuned"]), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["schema"] == 1 and data["same"] is False
    assert data["totals"] == {"tensors": 6, "identical": 2, "close": 0, "changed": 4}
    loose = modeltool.diff(models["base"], models["tuned"], atol=1e-2)
    assert loose.same and "4 within tolerance" in loose.verdict


def test_renamed_layer_is_reported_as_a_rename(models: dict[str, Path]) -> None:
    report = modeltool.diff(models["base"], models["renamed"])
    assert [(c.kind, c.layer, c.detail) for c in report.layers] == [
        ("renamed", "d2", "-> hidden")]
    assert all(t.status == "identical" for t in report.tensors)
    assert len(report.tensors) == 6


def test_inserted_layer_is_reported_as_added(models: dict[str, Path]) -> None:
    report = modeltool.diff(models["base"], models["inserted"])
    assert {(c.kind, c.layer) for c in report.layers} == {("added", "extra"),
                                                          ("connections", "head")}
    assert {(t.layer, t.status) for t in report.tensors if t.status != "identical"} == {
        ("extra", "added")}


def test_keras2_h5_and_its_converted_keras_are_the_same(tmp_path: Path, cli: Any) -> None:
    for model in ("nested_vision", "news_model", "bidirectional_model", "batchnorm_cnn"):
        source = fixture_path(model, "k2.h5")
        converted = modeltool.convert(source, tmp_path / f"{model}.keras").output
        result = cli.invoke(main, ["diff", str(source), str(converted)])
        assert result.exit_code == 0, (model, result.output)
        assert "compared after migration to Keras 3" in result.output


def test_weights_only_file_against_full_model(models: dict[str, Path], tmp_path: Path) -> None:
    flat = modeltool.convert(models["tuned"], tmp_path / "tuned.safetensors").output
    report = modeltool.diff(models["base"], flat)
    assert report.compared == ["weights"]
    assert {t.layer for t in report.changed_tensors} == {"d2", "head"}
    assert any("holds no architecture" in note for note in report.notes)


def test_unreadable_input_exits_2(models: dict[str, Path], tmp_path: Path, cli: Any) -> None:
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a model")
    result = cli.invoke(main, ["diff", str(models["base"]), str(bad)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_large_tensors_are_compared_in_blocks(tmp_path: Path, monkeypatch: Any,
                                              keras: Any) -> None:
    """Block-wise statistics equal whole-tensor statistics (blocks forced tiny)."""
    from modeltool.formats import blocks as block_reader

    a = tmp_path / "a.keras"
    b = tmp_path / "b.keras"
    model = _functional(keras, ["d1", "head"], [64, 4])
    model.save(a)
    kernel, bias = model.get_layer("d1").get_weights()
    changed = kernel.copy()
    changed[5, 3] += 0.5
    model.get_layer("d1").set_weights([changed, bias])
    model.save(b)
    monkeypatch.setattr(block_reader, "BLOCK_BYTES", 256)
    report = modeltool.diff(a, b)
    (tensor,) = report.changed_tensors
    assert tensor.name == "kernel"
    assert tensor.max_abs == pytest.approx(0.5, rel=1e-6)
    expected = float(np.dot(kernel.ravel().astype(np.float64), changed.ravel()) /
                     (np.linalg.norm(kernel.astype(np.float64)) *
                      np.linalg.norm(changed.astype(np.float64))))
    assert tensor.cosine == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_rendered_diff_fits_the_width(width: int, tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from modeltool.render.diff import diff_table

    source = fixture_path("batchnorm_cnn", "k3.keras")
    half = modeltool.convert(source, tmp_path / "b.keras", dtype="bfloat16", verify=False)
    report = modeltool.diff(source, half.output)
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True).print(diff_table(report, width))
    lines = buffer.getvalue().splitlines()
    assert all(len(line.rstrip()) <= width for line in lines)
    assert any("float32 -> bfloat16" in line for line in lines) or width < 80
    assert not any(line.rstrip().endswith("bfloat1") for line in lines)
    assert lines[-1].startswith("different: architecture differs (") or width < 80
    assert lines[-1].endswith("weights differ (7 of 18 tensors)") or width < 80


@pytest.mark.parametrize("model", ["nested_vision", "news_model", "bidirectional_model"])
def test_full_model_against_its_weights_only_files(model: str) -> None:
    """tf.keras wrote the .h5 and the weights-only .h5 of one model (and Keras 3 the .keras
    and .weights.h5): read against the architecture, they hold the same weights."""
    for full, weights_only in (("k2.h5", "k2-weights.h5"), ("k3.keras", "k3.weights.h5")):
        report = modeltool.diff(fixture_path(model, full), fixture_path(model, weights_only))
        assert report.same, (full, report.verdict)
        assert report.compared == ["weights"]
        assert report.tensors and all(t.status == "identical" for t in report.tensors)


def test_trainable_flag_and_config_change(models: dict[str, Path], tmp_path: Path,
                                          keras: Any) -> None:
    frozen = keras.models.load_model(models["base"])
    frozen.get_layer("d1").trainable = False
    frozen.save(tmp_path / "frozen.keras")
    report = modeltool.diff(models["base"], tmp_path / "frozen.keras")
    assert [(c.kind, c.layer, c.detail) for c in report.layers] == [
        ("trainable", "d1", "True -> False")]
    assert all(t.status == "identical" for t in report.tensors)
    config = _functional(keras, ["d1", "d2", "head"], [16, 16, 4]).get_config()
    for layer in config["layers"]:
        if layer["config"]["name"] == "d2":
            layer["config"]["activation"] = "tanh"
    rebuilt = keras.Model.from_config(config)
    rebuilt.set_weights(keras.models.load_model(models["base"]).get_weights())
    rebuilt.save(tmp_path / "tanh.keras")
    report = modeltool.diff(models["base"], tmp_path / "tanh.keras")
    assert [(c.kind, c.layer, c.detail) for c in report.layers] == [
        ("config", "d2", 'activation: "relu" -> "tanh"')]


@pytest.mark.realworld
@pytest.mark.parametrize("name", [
    "oarriaga__face_classification__fer2013_mini_XCEPTION.102-0.66.hdf5",  # Keras 2.0.5
    "malfaro2__dl4j-test-resources__bidirectional_lstm_theano_1.h5",       # Keras 1.2.2
    "AyushAI__NextEra-LSTM__my_model.h5",                                  # Keras 3.5 .h5
])
def test_realworld_file_and_its_conversion_are_the_same(name: str, realworld: Path,
                                                        tmp_path: Path, cli: Any) -> None:
    source = realworld / name
    converted = modeltool.convert(source, tmp_path / "converted.keras").output
    result = cli.invoke(main, ["diff", str(source), str(converted)])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().splitlines()[-1].startswith(
        "same: same architecture, same weights")
