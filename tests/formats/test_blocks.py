"""Big tensors of a ``.keras`` archive are read in bounded blocks straight from the archive
(``diff``) or read, checksummed and cast by worker threads into the new file block by block
(``convert --dtype``), the archive's CRC-32 still checked: blocks are forced tiny here, the
results compared with what Keras loads, and a damaged archive is still refused."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from click.testing import CliRunner

import modeltool
from modeltool.cli import main
from modeltool.formats import blocks as block_reader
from modeltool.formats.keras_archive import StreamingLoader
from tests.conftest import fixture_files, fixture_path
from tests.hostile.corpus import flip_weight_bit

BLOCK = 512


@pytest.fixture()
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Blocks of at most BLOCK bytes; records the bytes of every whole-tensor read and of
    every block read from an archive."""
    seen: dict[str, list[int]] = {"whole": [], "rows": [], "unchecked": []}
    monkeypatch.setattr(block_reader, "BLOCK_BYTES", BLOCK)
    whole, rows = StreamingLoader.__call__, StreamingLoader.read_rows

    def call(self: StreamingLoader) -> np.ndarray:
        seen["whole"].append(self.entry.nbytes)
        return whole(self)

    def read_rows(self: StreamingLoader, start: int, stop: int, out: Any = None,
                  **options: Any) -> np.ndarray:
        array = rows(self, start, stop, out, **options)
        seen["rows" if options.get("checksum", True) else "unchecked"].append(array.nbytes)
        return array

    monkeypatch.setattr(StreamingLoader, "__call__", call)
    monkeypatch.setattr(StreamingLoader, "read_rows", read_rows)
    return seen


CASTS = [("keras", "float16"), ("keras", "bfloat16"), ("h5", "float16"),
         ("k3-weights", "bfloat16"), ("k3-weights", "float16")]


@pytest.mark.parametrize(("kind", "dtype"), CASTS, ids=[f"{k}-{d}" for k, d in CASTS])
@pytest.mark.parametrize("workers", [1, 2])
def test_blockwise_cast_into_hdf5_kinds(kind: str, dtype: str, workers: int, tmp_path: Path,
                                        keras: Any, tiny_blocks: dict[str, list[int]],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The cast file Keras loads holds exactly numpy's / ml-dtypes' cast of every weight,
    with each block converted by one worker thread or split between two and written in place
    (into the archive's member, or the HDF5 file) in pieces of a few bytes."""
    monkeypatch.setattr(block_reader, "_workers", lambda: workers)
    monkeypatch.setattr(block_reader, "WRITE_PIECE", 100)
    in_place: list[int] = []
    convert = block_reader._convert_rows_in_place

    def record(loader: Any, start: int, stop: int, *rest: Any) -> int:
        in_place.append(stop - start)
        return convert(loader, start, stop, *rest)

    monkeypatch.setattr(block_reader, "_convert_rows_in_place", record)
    source = fixture_files(model="mnist_mlp_small", kind="keras")[0]["path"]
    suffix = {"keras": ".keras", "h5": ".h5", "k3-weights": ".weights.h5"}[kind]
    out = tmp_path / f"cast{suffix}"
    modeltool.convert(source, out, kind, dtype=dtype, verify=False)
    assert tiny_blocks["unchecked"] and max(tiny_blocks["unchecked"]) <= BLOCK
    assert all(size <= BLOCK for size in tiny_blocks["whole"])  # big tensors never whole
    assert len(in_place) == len(tiny_blocks["unchecked"])
    target = np.float16 if dtype == "float16" else ml_dtypes.bfloat16
    reference = keras.models.load_model(source, compile=False)
    if kind == "k3-weights":  # loaded into the float32 model: the float32 values round-trip
        loaded = keras.models.load_model(source, compile=False)
        loaded.load_weights(out)
    else:
        loaded = keras.models.load_model(out, compile=False)
    got = {w.path: np.asarray(w.numpy()).astype(target) for w in loaded.weights}
    for weight in reference.weights:
        expected = np.asarray(weight.numpy()).astype(target)
        assert got[weight.path].tobytes() == expected.tobytes(), weight.path


@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_blockwise_cast_written_through_h5py(kind: str, tmp_path: Path, keras: Any,
                                             tiny_blocks: dict[str, list[int]],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a dataset cannot be written in place, the converted blocks go through h5py from
    two alternating buffers: Keras loads numpy's float16 of every weight."""
    monkeypatch.setattr(block_reader, "_placement", lambda dataset: None)
    written: list[int] = []
    finish = block_reader._finish_block

    def record(loader: Any, job: Any, dataset: Any) -> None:
        written.append(job[1] is not None)
        finish(loader, job, dataset)

    monkeypatch.setattr(block_reader, "_finish_block", record)
    source = fixture_files(model="mnist_mlp_small", kind="keras")[0]["path"]
    out = tmp_path / f"cast.{kind}"
    modeltool.convert(source, out, kind, dtype="float16", verify=False)
    assert len(written) > 2 and all(written)
    reference = keras.models.load_model(source, compile=False)
    loaded = keras.models.load_model(out, compile=False)
    for a, b in zip(reference.weights, loaded.weights):
        assert np.asarray(b.numpy()).tobytes() == \
            np.asarray(a.numpy()).astype(np.float16).tobytes(), a.path


@pytest.mark.parametrize("workers", [1, 2])
def test_blockwise_cast_from_a_legacy_h5(workers: int, tmp_path: Path, keras: Any,
                                         tiny_blocks: dict[str, list[int]],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """From an HDF5 source, the workers read the datasets' rows straight from the file (pread
    on HDF5's own descriptor); Keras loads the cast model with numpy's float16 of each
    weight."""
    monkeypatch.setattr(block_reader, "_workers", lambda: workers)
    read: list[int] = []
    rows = block_reader._HDF5Rows.read_rows

    def record(self: Any, start: int, stop: int, out: np.ndarray, **options: Any) -> np.ndarray:
        read.append(out.nbytes)
        return rows(self, start, stop, out, **options)

    monkeypatch.setattr(block_reader._HDF5Rows, "read_rows", record)
    source = fixture_path("mnist_mlp_small", "k3.h5")
    out = tmp_path / "cast.keras"
    modeltool.convert(source, out, "keras", dtype="float16", verify=False)
    assert len(read) > 2 and max(read) <= BLOCK
    reference = keras.models.load_model(source, compile=False)
    loaded = keras.models.load_model(out, compile=False)
    for a, b in zip(reference.weights, loaded.weights):
        assert np.asarray(b.numpy()).tobytes() == \
            np.asarray(a.numpy()).astype(np.float16).tobytes(), a.path


def test_diff_reads_big_tensors_in_bounded_blocks(tmp_path: Path, keras: Any,
                                                  tiny_blocks: dict[str, list[int]]) -> None:
    paths = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((64,))
        model = keras.Model(inputs, keras.layers.Dense(32, name="d")(inputs))
        paths.append(tmp_path / f"m{seed}.keras")
        model.save(paths[-1])
    report = modeltool.diff(*paths)
    (kernel,) = [t for t in report.tensors if t.name == "kernel"]
    assert kernel.status == "different"
    assert tiny_blocks["rows"] and max(tiny_blocks["rows"]) <= BLOCK
    assert all(size <= BLOCK for size in tiny_blocks["whole"])
    a, b = (keras.models.load_model(p).get_layer("d").kernel.numpy() for p in paths)
    assert kernel.max_abs == pytest.approx(float(np.max(np.abs(a - b))), rel=1e-6)


@pytest.mark.parametrize("command", ["diff", "cast"])
def test_damaged_archive_is_refused_when_read_in_blocks(
        command: str, tmp_path: Path, tiny_blocks: dict[str, list[int]]) -> None:
    good = fixture_path("batchnorm_cnn", "k3.keras")
    damaged = flip_weight_bit(good, tmp_path / "damaged.keras")
    intact = tmp_path / "intact.keras"
    shutil.copy(good, intact)
    args = {"diff": ["diff", str(intact), str(damaged)],
            "cast": ["convert", str(damaged), "-o", str(tmp_path / "half.keras"), "--dtype",
                     "float16", "--no-verify"]}[command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(damaged) in lines[0] and "CRC-32" in lines[0], lines
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.keras", "intact.keras"]
    assert tiny_blocks["rows"] or tiny_blocks["unchecked"]


def test_crc_combination_matches_zlib() -> None:
    """The pure-Python fallback of ``crc32_combine`` (used without ISA-L) against zlib over
    the two parts at once."""
    import zlib

    from modeltool.formats._crc import combine

    rng = np.random.default_rng(3)
    for first_size, second_size in ((0, 5), (7, 0), (1, 1), (1000, 4096), (65536, 12345)):
        first = rng.integers(0, 256, first_size, dtype=np.uint8).tobytes()
        second = rng.integers(0, 256, second_size, dtype=np.uint8).tobytes()
        assert combine(zlib.crc32(first), zlib.crc32(second), second_size) \
            == zlib.crc32(first + second)


def test_credited_crcs_verify_a_member_like_reading_it(tmp_path: Path) -> None:
    """CRC-32s of ranges computed elsewhere and credited in order (with gaps the member reads
    itself, and a range it already covers) give the archive's CRC: a right one verifies, a
    wrong one is refused."""
    import zipfile
    import zlib

    from modeltool.errors import IntegrityError
    from modeltool.formats._zip import StoredMember, stored_data_offset

    payload = np.random.default_rng(4).integers(0, 256, 10_000, dtype=np.uint8).tobytes()
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("m", payload)
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        info = archive.getinfo("m")
        start = stored_data_offset(raw, info, path)
    for wrong in (False, True):
        member = StoredMember(path, start, len(payload), info.CRC, "m")
        try:
            for a, b in ((100, 2000), (2000, 6000), (5000, 5500), (7000, 9000)):
                crc = zlib.crc32(payload[a:b]) ^ (wrong and a == 2000)
                read = bytearray(b - a)
                member.read_unchecked(a, read)
                assert bytes(read) == payload[a:b]
                member.credit_crc(a, b - a, crc)
            if wrong:
                with pytest.raises(IntegrityError):
                    member.verify()
            else:
                member.verify()
                assert member.verified
        finally:
            member.close()


def test_archive_cut_short_while_cast_is_an_error(tmp_path: Path,
                                                  tiny_blocks: dict[str, list[int]]) -> None:
    """An archive truncated by someone else after it was opened: the blocks the workers read
    come up short, and the cast stops with CorruptFileError (no crash, nothing written)."""
    from modeltool.errors import ModelToolError
    from modeltool.formats.keras_archive import write_keras_archive
    from modeltool.ops.cast import cast_artifact

    source = tmp_path / "m.keras"
    shutil.copy(fixture_files(model="mnist_mlp_small", kind="keras")[0]["path"], source)
    out = tmp_path / "half.keras"
    with modeltool.open(source) as artifact:
        half = cast_artifact(artifact, "float16")
        with open(source, "r+b") as handle:
            handle.truncate(source.stat().st_size // 2)
        with pytest.raises(ModelToolError) as raised:
            write_keras_archive(half, out)
    assert "cut short" in str(raised.value) and str(source) in str(raised.value)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]
