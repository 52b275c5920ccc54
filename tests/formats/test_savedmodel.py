"""SavedModel: read signatures and variables; write from any artifact Keras can load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modeltool
from tests.conftest import fixture_path

pytestmark = pytest.mark.tf


def test_read_keras3_export_signatures_and_variables() -> None:
    path = fixture_path("boston_housing", "savedmodel")
    with modeltool.open(path) as artifact:
        assert artifact.kind == "savedmodel"
        assert artifact.signatures and "serving_default" in artifact.signatures
        inputs = artifact.signatures["serving_default"]["inputs"]
        assert [spec["shape"] for spec in inputs.values()] == [[None, 13]]
        shapes = sorted(entry.shape for entry in artifact.weights)
        assert (13, 64) in shapes and (64, 1) in shapes


def test_read_tf_keras_savedmodel_recovers_architecture() -> None:
    path = fixture_path("boston_housing", "k2.savedmodel")
    if not path.exists():
        pytest.skip("no tf_keras SavedModel fixture")
    artifact = modeltool.open(path)
    assert artifact.config is not None
    classes = [layer["class_name"] for layer in artifact.config["config"]["layers"]]
    assert classes.count("Dense") == 3


def test_write_savedmodel_serves_same_outputs(keras: Any, tmp_path: Path) -> None:
    import tensorflow as tf

    source = fixture_path("boston_housing", "k3.keras")
    out = tmp_path / "exported"
    modeltool.convert(source, out, "savedmodel")
    x = np.random.default_rng(0).random((3, 13), dtype=np.float32)
    expected = keras.models.load_model(source, compile=False)(x, training=False)
    loaded = tf.saved_model.load(str(out))
    served = loaded.serve(x)
    np.testing.assert_allclose(np.asarray(served), np.asarray(expected), rtol=0, atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".modeltool-tmp")]


@pytest.mark.parametrize("name", ["news_model", "gru_model", "nested_vision", "batchnorm_cnn"])
def test_savedmodel_round_trip_serves_and_reads_back(name: str, keras: Any,
                                                     tmp_path: Path) -> None:
    """Multi-input and multi-output, recurrent, nested and BatchNormalization models: the
    written SavedModel serves what Keras computes; reading it back finds its signature, its
    architecture and every weight; and converted back to ``.keras`` it is the same model."""
    import tensorflow as tf

    source = fixture_path(name, "k3.keras")
    out = tmp_path / f"{name}.savedmodel"
    modeltool.convert(source, out, "savedmodel")
    model = keras.models.load_model(source, compile=False)
    rng = np.random.default_rng(0)
    feeds = []
    for tensor in model.inputs:
        shape = [3, *(d or 8 for d in tensor.shape[1:])]
        if "int" in str(tensor.dtype):
            feeds.append(rng.integers(0, 10, shape).astype(str(tensor.dtype)))
        else:
            feeds.append(rng.random(shape, dtype=np.float32))
    expected = keras.tree.flatten(model(feeds if len(feeds) > 1 else feeds[0], training=False))
    loaded = tf.saved_model.load(str(out))  # keep it: its variables live as long as it does
    served = keras.tree.flatten(loaded.serve(feeds if len(feeds) > 1 else feeds[0]))
    assert len(served) == len(expected)
    for got, want in zip(served, expected):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-5)
    with modeltool.open(out) as artifact:
        assert artifact.kind == "savedmodel" and artifact.signatures
        signature = next(iter(artifact.signatures.values()))
        assert len(signature["inputs"]) == len(model.inputs)
        stored = sorted(entry.shape for entry in artifact.weights)
        assert stored == sorted(tuple(w.shape) for w in model.weights)
        assert artifact.config is not None
    back = tmp_path / "back.keras"
    modeltool.convert(out, back)
    again = keras.models.load_model(back, compile=False)
    assert [w.path for w in again.weights] == [w.path for w in model.weights]
    for mine, theirs in zip(again.weights, model.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_a_broken_config_asset_is_one_line_and_a_wrong_record_is_ignored(tmp_path: Path
                                                                         ) -> None:
    """The asset is read as data: unparsable JSON is an error naming the file; a variable
    record that does not fit the variables (count or shapes) is ignored, not trusted."""
    import json
    import shutil

    from click.testing import CliRunner

    from modeltool.cli import main

    exported = tmp_path / "exported"
    modeltool.convert(fixture_path("boston_housing", "k3.keras"), exported, "savedmodel")
    asset = exported / "assets.extra" / "keras_config.json"
    recorded = json.loads(asset.read_text())

    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    (broken / "assets.extra" / "keras_config.json").write_text("{not json")
    result = CliRunner().invoke(main, ["summary", str(broken)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "broken" in lines[0] and "keras_config.json" in lines[0]

    wrong = tmp_path / "wrong"
    shutil.copytree(exported, wrong)
    for entry in recorded["variables"]:
        if entry is not None:
            entry[1] = "somewhere_else"
            entry[3] = [7, 7]
    (wrong / "assets.extra" / "keras_config.json").write_text(json.dumps(recorded))
    with modeltool.open(wrong) as artifact, modeltool.open(exported) as faithful:
        assert artifact.config is not None
        assert all(entry.path != "somewhere_else" for entry in artifact.weights)
        assert sorted(artifact.weights.layers) == sorted(faithful.weights.layers)
