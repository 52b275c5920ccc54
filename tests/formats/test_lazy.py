"""Opening a file reads no weight bytes: with every dataset read disabled, the largest fixture of
each kind still opens and lists its weights' shapes."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

import modeltool
from modeltool.formats._zip import StoredMember
from tests.conftest import fixture_files


def _largest(kind: str) -> Path:
    entries = [e for e in fixture_files(kind=kind) if e["path"].is_file()]
    return max(entries, key=lambda e: e["path"].stat().st_size)["path"]


@pytest.mark.parametrize("kind", ["h5", "k2-weights", "k3-weights", "keras"])
def test_open_reads_no_weight_bytes(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("weight bytes were read")

    path = _largest(kind)
    monkeypatch.setattr(h5py.Dataset, "__getitem__", refuse)
    monkeypatch.setattr(h5py.Dataset, "read_direct", refuse)
    # .keras tensors stream straight from the archive (their CRC-32 computed on the way)
    monkeypatch.setattr(StoredMember, "read_range", refuse)
    with modeltool.open(path) as artifact:
        shapes = [entry.shape for entry in artifact.weights]
        assert shapes and all(isinstance(s, tuple) for s in shapes)
        assert artifact.weights.total_bytes > 0
        with pytest.raises(AssertionError, match="weight bytes were read"):
            next(iter(artifact.weights)).read()


def test_nested_weights_carry_real_layer_paths() -> None:
    for entry in fixture_files(model="nested_vision"):
        # Weights-only files without a name attribute cannot know nested layer names.
        if entry["kind"] in ("json", "yaml", "savedmodel", "k2-weights"):
            continue
        with modeltool.open(entry["path"]) as artifact:
            paths = {w.path for w in artifact.weights}
            assert any(p.startswith("vision_model/") for p in paths), (entry["file"], paths)
