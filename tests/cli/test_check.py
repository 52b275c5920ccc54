"""``modeltool check``: integrity report, exit 1 when something is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.cli import main
from tests.conftest import fixture_files, fixture_path


def test_every_fixture_checks_ok() -> None:
    for entry in fixture_files():
        if entry["kind"] == "savedmodel":
            continue
        result = CliRunner().invoke(main, ["check", str(entry["path"]), "--json"])
        assert result.exit_code == 0, (entry["file"], result.output)
        assert json.loads(result.stdout)["ok"] is True


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "m.h5"
    shutil.copy(fixture_path("mnist_mlp_small", "k2.h5"), path)
    return path


def _first_weighted(handle: h5py.File) -> tuple[h5py.Group, str]:
    group = handle["model_weights"]
    for name in group.attrs["layer_names"]:
        names = group[name].attrs["weight_names"]
        if len(names):
            return group[name], names[0]
    raise AssertionError("no weights")


@pytest.mark.parametrize("block_bytes", [None, 64])
def test_nan_and_inf_are_counted(block_bytes: int | None, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Also when the tensor is read in many small blocks (the values far apart)."""
    if block_bytes is not None:
        import modeltool.formats.blocks as block_reader

        monkeypatch.setattr(block_reader, "BLOCK_BYTES", block_bytes)
    path = _copy(tmp_path)
    with h5py.File(path, "a") as handle:
        group, name = _first_weighted(handle)
        values = group[name][...]
        values.flat[[0, values.size // 2, values.size - 1]] = [np.nan, np.nan, np.inf]
        group[name][...] = values
    result = CliRunner().invoke(main, ["check", str(path), "--json"])
    assert result.exit_code == 1
    problems = {p["kind"]: p["detail"] for p in json.loads(result.stdout)["problems"]}
    assert problems == {"nan": "2 NaN values", "inf": "1 infinite values"}


def test_wrong_shape_missing_and_orphan_weights(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    with h5py.File(path, "a") as handle:
        group, name = _first_weighted(handle)
        del group[name]
        group.create_dataset(name, data=np.zeros((3, 3), "f4"))
        weights = handle["model_weights"]
        names = [n for n in weights.attrs["layer_names"]]
        last = names[-1]
        weights.move(last, "ghost")
        weights.attrs["layer_names"] = names[:-1] + ["ghost"]
    result = CliRunner().invoke(main, ["check", str(path), "--json"])
    assert result.exit_code == 1, result.output
    kinds = sorted(p["kind"] for p in json.loads(result.stdout)["problems"])
    assert kinds == ["mismatch", "missing", "orphan"]


def test_unreadable_input_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "x.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    assert str(path) in result.stderr


def test_a_flipped_byte_in_a_keras_archive_fails_its_crc(tmp_path: Path) -> None:
    """One weight value changed inside the stored weights member: the tensors still read and
    hold no NaN, so only the archive's CRC-32 tells."""
    import io
    import zipfile

    path = tmp_path / "m.keras"
    shutil.copy(fixture_path("mnist_mlp", "k3.keras"), path)
    with zipfile.ZipFile(path) as archive:
        weights = archive.read("model.weights.h5")
    with h5py.File(io.BytesIO(weights), "r") as handle:
        kernels: list[bytes] = []
        handle.visititems(lambda name, obj: kernels.append(obj[...].tobytes())
                          if isinstance(obj, h5py.Dataset) and obj.ndim == 2 else None)
    data = bytearray(path.read_bytes())
    where = data.find(kernels[0][64:96])
    assert where > 0
    data[where] ^= 0x01
    path.write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["check", str(path), "--json"])
    assert result.exit_code == 1, result.output
    problems = json.loads(result.stdout)["problems"]
    assert [(p["kind"], p["where"]) for p in problems] == [("crc", "model.weights.h5")]
    assert "CRC" in problems[0]["detail"]
