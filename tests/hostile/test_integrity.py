"""Damaged bytes are never laundered: a ``.keras`` whose weights member fails its CRC-32 (Keras
refuses it: "Bad CRC-32") is refused by every command that reads weight bytes, with one line
naming the file and no output left; an HDF5 dataset with a Fletcher32 checksum that fails is
refused naming its layer."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.cli import main
from tests.conftest import fixture_path
from tests.hostile.corpus import flip_weight_bit

SOURCE = fixture_path("batchnorm_cnn", "k3.keras")
GOOD_H5 = fixture_path("batchnorm_cnn", "k3.h5")

#: Commands that read weight bytes: each must refuse the damaged archive (exit 2), except
#: ``check``, whose job is to report it (exit 1, a "crc" problem).
READING = {
    "weights-stats": ["weights", "{src}", "--stats"],
    "check": ["check", "{src}"],
    "convert-keras": ["convert", "{src}", "-o", "{out}.keras"],
    "convert-h5": ["convert", "{src}", "-o", "{out}.h5"],
    "convert-weights": ["convert", "{src}", "-o", "{out}.weights.h5"],
    "convert-k2-weights": ["convert", "{src}", "-o", "{out}.h5", "--to", "k2-weights"],
    "load-weights-source": ["load-weights", GOOD_H5, "{src}", "--by-name", "-o", "{out}.h5"],
    "load-weights-target": ["load-weights", "{src}", GOOD_H5, "--by-name", "-o",
                            "{out}.keras"],
    "load-weights-skip": ["load-weights", "{src}", GOOD_H5, "--by-name", "--skip-mismatch",
                          "-o", "{out}.keras"],
    "freeze": ["freeze", "{src}", "--layers", "dense", "-o", "{out}.keras"],
    "freeze-in-place": ["freeze", "{src}", "--layers", "dense", "--in-place"],
    "to-onnx": ["to-onnx", "{src}", "-o", "{out}.onnx"],
}
#: Commands that read no weight bytes (the architecture and the tensor list only).
METADATA = {
    "summary": ["summary", "{src}"],
    "weights": ["weights", "{src}"],
    "config": ["config", "{src}"],
}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return flip_weight_bit(SOURCE, tmp_path_factory.mktemp("crc") / "damaged.keras")


def test_keras_itself_refuses_the_damaged_archive(damaged: Path, keras: Any) -> None:
    with pytest.raises(Exception, match="CRC"):
        keras.models.load_model(damaged)


def _lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()
            and not line.startswith("warning:")]


@pytest.mark.parametrize("command", sorted(READING))
def test_every_weight_reading_command_refuses(command: str, damaged: Path,
                                              tmp_path: Path) -> None:
    source = tmp_path / "damaged.keras"
    shutil.copy(damaged, source)
    before = source.read_bytes()
    out = tmp_path / "out"
    args = [str(a).format(src=source, out=out) for a in READING[command]]
    result = CliRunner().invoke(main, args)
    lines = _lines(result.stderr)
    assert "Traceback" not in result.output
    if command == "check":
        assert result.exit_code == 1, result.output
        assert "model.weights.h5" in result.output and "CRC-32" in result.output
    else:
        assert result.exit_code == 2, result.output
        assert len(lines) == 1 and str(source) in lines[0] and "CRC-32" in lines[0], lines
        # one CRC covers the whole member; where one flipped bit explains it, the layer is named
        assert "one flipped bit in layer 'batch_normalization' (weight gamma)" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.keras"]  # nothing written
    assert source.read_bytes() == before


@pytest.mark.parametrize("command", sorted(METADATA))
def test_metadata_commands_read_no_weight_bytes(command: str, damaged: Path) -> None:
    result = CliRunner().invoke(main, [a.format(src=damaged) for a in METADATA[command]])
    assert result.exit_code == 0, result.output


def test_an_intact_archive_passes_every_command(tmp_path: Path) -> None:
    """The same commands on the undamaged file all succeed (the refusals above are the CRC's)."""
    for command, template in READING.items():
        if command in ("to-onnx", "freeze-in-place"):
            continue
        source = tmp_path / f"{command}.keras"
        shutil.copy(SOURCE, source)
        out = tmp_path / f"{command}-out"
        result = CliRunner().invoke(main, [str(a).format(src=source, out=out)
                                           for a in template])
        assert result.exit_code == 0, (command, result.output)


def _fletcher_copy(path: Path, flip: bool) -> tuple[str, str]:
    """Rewrite the first kernel of a legacy .h5 with the Fletcher32 filter (optionally with one
    bit flipped in its stored chunk): (layer name, dataset path)."""
    with h5py.File(path, "r+") as handle:
        group = handle["model_weights"]
        layer = next(n for n in group.attrs["layer_names"]
                     if len(group[n].attrs["weight_names"]))
        layer = layer.decode() if isinstance(layer, bytes) else str(layer)
        name = group[layer].attrs["weight_names"][0]
        name = name.decode() if isinstance(name, bytes) else str(name)
        data = group[layer][name][...]
        del group[layer][name]
        ds = group[layer].create_dataset(name, data=data, fletcher32=True, chunks=data.shape)
        offset = ds.id.get_chunk_info(0).byte_offset
        location = ds.name
    if flip:
        raw = bytearray(path.read_bytes())
        raw[offset + 5] ^= 0x10
        path.write_bytes(bytes(raw))
    return layer, location


def test_fletcher32_checksums_are_verified(tmp_path: Path, keras: Any) -> None:
    good, bad = tmp_path / "good.h5", tmp_path / "bad.h5"
    shutil.copy(GOOD_H5, good)
    shutil.copy(GOOD_H5, bad)
    _fletcher_copy(good, flip=False)
    layer, _ = _fletcher_copy(bad, flip=True)
    keras.models.load_model(good, compile=False)  # the checksummed file is a valid model
    assert CliRunner().invoke(main, ["convert", str(good), "-o",
                                     str(tmp_path / "ok.keras")]).exit_code == 0
    for args in (["weights", str(bad), "--stats"],
                 ["convert", str(bad), "-o", str(tmp_path / "x.keras")],
                 ["freeze", str(bad), "--all-but-last", "1", "-o", str(tmp_path / "x.h5")]):
        result = CliRunner().invoke(main, args)
        lines = _lines(result.stderr)
        assert result.exit_code == 2, result.output
        assert len(lines) == 1 and "Fletcher32" in lines[0] and repr(layer) in lines[0], lines
    assert not (tmp_path / "x.keras").exists() and not (tmp_path / "x.h5").exists()
    result = CliRunner().invoke(main, ["check", str(bad)])
    assert result.exit_code == 1 and "Fletcher32" in result.output


def test_unknown_stored_type_names_the_layer(tmp_path: Path) -> None:
    bad = tmp_path / "odd.h5"
    shutil.copy(GOOD_H5, bad)
    with h5py.File(bad, "r+") as handle:
        group = handle["model_weights"]
        layer = next(n for n in group.attrs["layer_names"]
                     if len(group[n].attrs["weight_names"]))
        layer = layer.decode() if isinstance(layer, bytes) else str(layer)
        name = group[layer].attrs["weight_names"][0]
        name = name.decode() if isinstance(name, bytes) else str(name)
        shape = group[layer][name].shape
        del group[layer][name]
        group[layer].create_dataset(name, shape=shape, dtype=np.dtype("V3"))
    result = CliRunner().invoke(main, ["weights", str(bad)])
    lines = _lines(result.stderr)
    assert result.exit_code == 2 and len(lines) == 1 and f"layer {layer!r}" in lines[0], lines


def test_single_bit_location_matches_zlib() -> None:
    import random
    import zlib

    from modeltool.formats._crc import single_bit_position

    rng = random.Random(11)
    for size in (1, 7, 4096, 100_003):
        data = bytearray(rng.randbytes(size))
        recorded = zlib.crc32(data)
        for _ in range(4):
            bit = rng.randrange(8 * size)
            damaged = bytearray(data)
            damaged[bit // 8] ^= 1 << (bit % 8)
            assert single_bit_position(size, recorded, zlib.crc32(damaged)) == bit
    assert single_bit_position(10, 5, 5) is None
