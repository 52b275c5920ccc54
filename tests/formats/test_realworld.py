"""Every real-world file opens: weights under their real layer names, the architecture parsed
where the file has one, or one clear line saying what is not supported."""

from __future__ import annotations

from pathlib import Path

import pytest

import modeltool
from tests.conftest import realworld_rows

pytestmark = pytest.mark.realworld


ROWS = realworld_rows()


@pytest.mark.parametrize("row", ROWS, ids=[r["local_name"] for r in ROWS])
def test_realworld_file_opens(row: dict[str, str], realworld: Path) -> None:
    path = realworld / row["local_name"]
    with modeltool.open(path) as artifact:
        carries_architecture = row["kind"] in ("full-h5", "keras-zip", "json-config",
                                               "yaml-config")
        if carries_architecture:
            assert artifact.config is not None, artifact.config_error
            assert artifact.config["config"]["layers"]
        if row["kind"] not in ("json-config", "yaml-config"):
            entries = list(artifact.weights)
            assert entries, "weights are listed"
            for entry in entries:
                assert entry.layer and entry.shape is not None and entry.dtype
            # names are the file's real layer names
            if artifact.config is not None:
                assert {entry.layer for entry in entries} <= _layer_names(artifact)


def _layer_names(artifact: modeltool.ModelArtifact) -> set[str]:
    names = set()
    for layer in artifact.config["config"]["layers"]:
        names.add(layer.get("name") or layer["config"].get("name"))
    return names


ARCHITECTURES = [r for r in ROWS if r["kind"] in ("full-h5", "keras-zip", "json-config",
                                                  "yaml-config")]


@pytest.mark.tf
@pytest.mark.parametrize("row", ARCHITECTURES, ids=[r["local_name"] for r in ARCHITECTURES])
def test_realworld_architecture_converts_to_a_keras3_model(row: dict[str, str], realworld: Path,
                                                           tmp_path: Path) -> None:
    import keras

    from modeltool.formats.dialects import foreign_layers

    path = realworld / row["local_name"]
    with modeltool.open(path) as artifact:
        foreign = foreign_layers(artifact.config)
        has_weights = bool(artifact.weights)
    if foreign:
        pytest.skip(f"{foreign[0][0]} is {foreign[0][1]}: {foreign[0][2]} (named, kept as data)")
    out = tmp_path / "converted.keras"
    modeltool.convert(path, out, init=not has_weights)
    model = keras.models.load_model(out, compile=False)
    with modeltool.open(path) as artifact:
        if has_weights:
            assert model.count_params() == artifact.weights.total_params
