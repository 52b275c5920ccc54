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
