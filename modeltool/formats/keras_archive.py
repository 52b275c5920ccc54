"""Keras 3 ``.keras`` archives: a zip of config.json, metadata.json and model.weights.h5.

The weights member is opened in place through the zip (stored, not compressed, as Keras writes
it), so opening an archive reads no weight bytes.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..artifact import ModelArtifact, WeightEntry, WeightStore
from ..errors import CorruptFileError, UnsupportedError
from ..io import atomic_path, check_output, check_space
from ..kinds import Kind
from . import _h5, _zip
from .dialects import attach_config, keras_loadable_config
from .hdf5_legacy import WRITES_KERAS_VERSION
from .hdf5_v3 import read_v3_layers, write_v3_layers

KIND = Kind.KERAS
EXTENSIONS = (".keras",)
_CONFIG_FILENAME = "config.json"
_METADATA_FILENAME = "metadata.json"
_WEIGHTS_FILENAME = "model.weights.h5"
_ASSETS_PREFIX = "assets/"
_MAX_ASSET = 1 << 30


def sniff_kind(path: str | os.PathLike[str]) -> str | None:
    """``keras`` when the file is a zip holding config.json (never raises)."""
    try:
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as archive:
            return KIND if _CONFIG_FILENAME in archive.namelist() else None
    except Exception:  # noqa: BLE001 - sniffing never raises
        return None


def read_keras_archive(path: str | os.PathLike[str]) -> ModelArtifact:
    """Read a ``.keras`` archive: architecture, metadata and lazy weights.

    Example:
        >>> art = read_keras_archive("model.keras")  # doctest: +SKIP
    """
    display = os.fspath(path)
    archive = _zip.open_zip(path)
    handles: list[object] = [archive]

    def close() -> None:
        for handle in reversed(handles):
            handle.close()  # type: ignore[attr-defined]

    try:
        names = _zip.member_names(archive)
        if _CONFIG_FILENAME not in names:
            raise CorruptFileError(f"zip archive has no {_CONFIG_FILENAME} (members: "
                                   f"{', '.join(names[:6]) or 'none'})", path=display,
                                   hint="this is not a .keras model archive")
        artifact = ModelArtifact(kind=KIND, path=Path(path))
        if _METADATA_FILENAME in names:
            try:
                metadata = json.loads(_zip.read_text(archive, _METADATA_FILENAME, display))
            except (json.JSONDecodeError, RecursionError) as err:
                raise CorruptFileError(f"{_METADATA_FILENAME} is not valid JSON",
                                       path=display) from err
            if isinstance(metadata, dict):
                artifact.keras_version = str(metadata.get("keras_version") or "") or None
                artifact.writer_info.update(metadata)
        try:
            raw = json.loads(_zip.read_text(archive, _CONFIG_FILENAME, display))
        except (json.JSONDecodeError, RecursionError) as err:
            raise CorruptFileError(f"{_CONFIG_FILENAME} is not valid JSON", path=display) from err
        artifact.source_config = raw
        attach_config(artifact, raw, display)
        if _WEIGHTS_FILENAME in names:
            member = _zip.open_member(archive, _WEIGHTS_FILENAME, display)
            handles.append(member)
            weights_file = _h5.open_h5(member, f"{display}:{_WEIGHTS_FILENAME}")
            handles.append(weights_file)
            try:
                layers = read_v3_layers(weights_file, artifact.config, display)
            except _h5.READ_ERRORS as err:
                raise CorruptFileError(f"damaged {_WEIGHTS_FILENAME} ({_h5.short(err)})",
                                       path=display) from err
            verifier = None
            if isinstance(member, _zip.StoredMember) and not member.verified:
                describe = offset_describer(layers, weights_file)
                layers = _streaming_loaders(layers, member, weights_file, display, describe)
                verifier = partial(member.verify, describe)
            artifact.weights = WeightStore(layers, closer=close, verifier=verifier)
            if "optimizer" in weights_file:
                artifact.optimizer_weights = True
        else:
            artifact.notes.append(f"archive has no {_WEIGHTS_FILENAME}: architecture only")
            artifact.weights = WeightStore({}, closer=close)
        artifact.assets = {name: partial(_read_asset, Path(path), name) for name in names
                           if name.startswith(_ASSETS_PREFIX) and not name.endswith("/")}
        return artifact
    except BaseException:
        close()
        raise


def offset_describer(layers: dict[str, list[WeightEntry]], weights_file: h5py.File
                     ) -> Callable[[int], str | None]:
    """``offset -> "layer 'bn' (weight gamma)"`` for a byte offset in the weights member (the
    HDF5 structure around the tensors when no tensor holds it)."""
    def describe(offset: int) -> str | None:
        for entries in layers.values():
            for entry in entries:
                try:
                    ds = weights_file[entry.location]
                    start = ds.id.get_offset()
                    size = ds.id.get_storage_size()
                except _h5.READ_ERRORS:
                    continue
                if start is not None and start <= offset < start + size:
                    return f"layer {entry.path!r} (weight {entry.name})"
        return "the HDF5 structure (no tensor's bytes)"
    return describe


def locate_damage(path: str | os.PathLike[str], recorded: int, computed: int,
                  size: int) -> str:
    """The CRC problem of an archive's weights member, located where one flipped bit can
    explain it (for a writer that checked the CRC while copying the member raw)."""
    display = os.fspath(path)
    try:
        with read_keras_archive(path) as artifact:
            layers = artifact.weights.layers
            archive = _zip.open_zip(path)
            with archive, _zip.open_member(archive, _WEIGHTS_FILENAME, display) as member, \
                    h5py.File(member, "r") as weights_file:
                return _zip.crc_problem(_WEIGHTS_FILENAME, size, recorded, computed,
                                        offset_describer(layers, weights_file))
    except Exception:  # noqa: BLE001 - the message only loses its location
        return _zip.crc_problem(_WEIGHTS_FILENAME, size, recorded, computed)


def _streaming_loaders(layers: dict[str, list[WeightEntry]], member: _zip.StoredMember,
                       weights_file: h5py.File, display: str,
                       describe: Callable[[int], str | None]) -> dict[str, list[WeightEntry]]:
    """Entries whose reads feed the member's CRC-32 as the bytes go by.

    A contiguous, unfiltered dataset (what Keras writes) is read straight from the archive:
    the checksum catches up to its first byte, then covers its bytes as they are read, and they
    become the array. Anything else is read through h5py, whose reads feed the checksum where
    they reach its frontier. Once every tensor has been read (whole, or its last rows through
    ``StreamingLoader.read_rows``), the rest of the member is checksummed and compared, before
    the last read returns: a writer that reads every tensor never renames a copy of damaged
    bytes into place.
    """
    pending = {id(entry) for entries in layers.values() for entry in entries}

    def done(entry: WeightEntry) -> None:
        pending.discard(id(entry))
        if not pending:
            member.verify(describe)

    return {name: [replace(entry, loader=StreamingLoader(member, weights_file, entry, display,
                                                         done))
                   for entry in entries]
            for name, entries in layers.items()}


class StreamingLoader:
    """The loader of one tensor of a ``.keras`` archive read through a checksummed member.

    Called, it reads the whole tensor; ``read_rows(start, stop, out)`` reads rows
    ``[start, stop)`` of a contiguous dataset into ``out`` (``diff`` and ``convert --dtype``
    go through a big tensor in bounded blocks this way, the CRC-32 still checked as the bytes
    stream by)."""

    def __init__(self, member: _zip.StoredMember, weights_file: h5py.File, entry: WeightEntry,
                 display: str, done: Callable[[WeightEntry], None]) -> None:
        self._member, self._file, self._display = member, weights_file, display
        self._done = done
        # the entry before this loader replaced its loader: shape, dtype, path, location
        self.entry = entry
        self.weight_layout: tuple[h5py.Dataset, int | None, np.dtype] | None = None

    def _dataset(self) -> tuple[h5py.Dataset, int | None, np.dtype]:
        """The dataset, the offset of its bytes in the member when they are stored
        contiguously (None otherwise) and its values' dtype."""
        if self.weight_layout is None:
            entry = self.entry
            try:
                ds = self._file[entry.location]
                offset = _h5.contiguous_offset(ds)
                dtype = _h5.value_dtype(ds)
                contiguous = offset is not None and ds.size == entry.size
            except _h5.READ_ERRORS as err:
                raise CorruptFileError(f"cannot read the weights of layer {entry.path!r} "
                                       f"({_h5.short(err)})", path=self._display) from err
            _h5.check_dataset(ds, self._display, entry.path)
            self.weight_layout = (ds, offset if contiguous else None, dtype)
        return self.weight_layout

    @property
    def values_dtype(self) -> np.dtype:
        """The dtype of the values (bfloat16 for Keras' opaque 2-byte type)."""
        return self._dataset()[2]

    @property
    def contiguous(self) -> bool:
        """True when rows can be read straight from the archive (``read_rows``)."""
        return self._dataset()[1] is not None

    def __call__(self) -> np.ndarray:
        ds, offset, dtype = self._dataset()
        if offset is None:
            array = self.entry.read()
        else:
            array = np.empty(self.entry.shape, dtype=dtype)  # not zero-filled: the read fills it
            self._member.read_range(offset, array.reshape(-1).view(np.uint8))
        self._done(self.entry)
        return array

    def credit_rows(self, start: int, stop: int, crc: int) -> None:
        """Count rows ``[start, stop)``, read with ``checksum=False``, into the member's
        CRC-32 (``crc`` is theirs); after the last rows, the member is verified as by a
        read."""
        _, offset, dtype = self._dataset()
        if offset is None:
            raise ValueError("not a contiguous dataset")
        row_bytes = self._row_bytes(dtype)
        self._member.credit_crc(offset + start * row_bytes, (stop - start) * row_bytes, crc)
        if stop >= self.entry.shape[0]:
            self._done(self.entry)

    def _row_bytes(self, dtype: np.dtype) -> int:
        return int(np.prod(self.entry.shape[1:], dtype=np.int64)) * dtype.itemsize

    def read_rows(self, start: int, stop: int, out: np.ndarray | None = None, *,
                  checksum: bool = True) -> np.ndarray:
        """Rows ``[start, stop)`` of a contiguous dataset (``out``: a C-contiguous array of
        that shape and the values' dtype to fill, or None for a new one).

        ``checksum=False`` (safe in any thread) leaves the CRC-32 to the caller, who computes
        it over the rows and passes it to ``credit_rows``, in order."""
        _, offset, dtype = self._dataset()
        if offset is None:
            raise ValueError("not a contiguous dataset")
        shape = (stop - start, *self.entry.shape[1:])
        if out is None:
            out = np.empty(shape, dtype=dtype)
        where = offset + start * self._row_bytes(dtype)
        if not checksum:
            self._member.read_unchecked(where, out.reshape(-1).view(np.uint8))
            return out
        self._member.read_range(where, out.reshape(-1).view(np.uint8))
        if stop >= self.entry.shape[0]:
            self._done(self.entry)
        return out


def write_keras_archive(artifact: ModelArtifact, path: str | os.PathLike[str], *,
                        force: bool = False) -> Path:
    """Write a ``.keras`` archive that ``keras.models.load_model`` loads."""
    if artifact.config is None:
        raise UnsupportedError("a .keras archive needs an architecture and this model has none",
                               path=path, hint="write k3-weights instead")
    out = check_output(path, force=force)
    size = _h5.estimated_size(artifact.weights.total_bytes, len(artifact.weights))
    check_space(out, size)  # the weights are written straight into the archive
    metadata = {"keras_version": WRITES_KERAS_VERSION,
                "date_saved": datetime.now(timezone.utc).strftime("%Y-%m-%d@%H:%M:%S"),
                "writer": f"modeltool {__version__}"}
    with atomic_path(out, suffix=".keras") as tmp, \
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_METADATA_FILENAME, json.dumps(metadata))
        archive.writestr(_CONFIG_FILENAME, json.dumps(keras_loadable_config(artifact.config)))
        # the weights are written straight into the archive (no scratch copy to add)
        with _zip.StoredMemberWriter(archive, _WEIGHTS_FILENAME) as window, \
                h5py.File(window, "w") as handle, _zip.direct_writes(handle.id.id, window):
            write_v3_layers(handle, artifact)
        for name, load in sorted(artifact.assets.items()):
            archive.writestr(name, load())
    return out


def _read_asset(path: Path, name: str) -> bytes:
    """One asset member (a vocabulary), size-checked against what the archive declares."""
    with _zip.open_zip(path) as archive:
        info = archive.getinfo(name)
        if info.file_size > _MAX_ASSET:
            raise CorruptFileError(f"asset {name} declares {info.file_size} bytes", path=path)
        with archive.open(info) as handle:
            data = handle.read(_MAX_ASSET + 1)
    if len(data) != info.file_size:
        raise CorruptFileError(f"asset {name} is not the size it declares", path=path)
    return data


def crc_failures(path: str | os.PathLike[str], skip: tuple[str, ...] = ()
                 ) -> list[tuple[str, str]]:
    """``(member, problem)`` for each member (but ``skip``) whose bytes do not match the CRC-32
    the archive records (reading goes through members one chunk at a time)."""
    failures = []
    with _zip.open_zip(path) as archive:
        for info in archive.infolist():
            if info.filename in skip:
                continue
            try:
                with archive.open(info) as member:
                    while member.read(16 << 20):
                        pass
            except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as err:
                failures.append((info.filename, str(err)))
    return failures
