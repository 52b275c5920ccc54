"""Chunked ``layer_names0..N`` attributes are read, and written when a list is too long."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import pytest

import modeltool
from tests.conftest import fixture_path


def _chunked(handle: h5py.Group) -> bool:
    return "layer_names0" in handle.attrs and "layer_names" not in handle.attrs


@pytest.mark.parametrize("variant", ["k2.h5", "k2-weights.h5", "k3.h5"])
def test_chunked_layer_names_read(variant: str) -> None:
    path = fixture_path("chunked_names", variant)
    with h5py.File(path) as handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        assert _chunked(root)
        count = sum(len(root.attrs[k]) for k in root.attrs if k.startswith("layer_names"))
    with modeltool.open(path) as artifact:
        assert len(artifact.weights.layers) == count


@pytest.mark.tf
def test_chunked_layer_names_written_and_loaded(keras: Any, tmp_path: Path) -> None:
    out = tmp_path / "again.h5"
    modeltool.convert(fixture_path("chunked_names", "k3.keras"), out)
    with h5py.File(out) as handle:
        assert _chunked(handle["model_weights"])
    keras.models.load_model(out, compile=False)
