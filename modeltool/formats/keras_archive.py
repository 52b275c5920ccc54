"""Keras 3 ``.keras`` archives: a zip of config.json, metadata.json and model.weights.h5.

The weights member is opened in place through the zip (stored, not compressed, as Keras writes
it), so opening an archive reads no weight bytes.
"""

from __future__ import annotations

import json
import os
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import h5py

from .. import __version__
from ..artifact import ModelArtifact, WeightStore
from ..errors import CorruptFileError, UnsupportedError
from ..io import atomic_path, check_output
from . import _h5, _zip
from ._dialects import attach_config, keras_loadable_config
from .hdf5_legacy import WRITES_KERAS_VERSION
from .hdf5_v3 import read_v3_layers, write_v3_layers

KIND = "keras"
EXTENSIONS = (".keras",)
_CONFIG_FILENAME = "config.json"
_METADATA_FILENAME = "metadata.json"
_WEIGHTS_FILENAME = "model.weights.h5"


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
                artifact.metadata.update(metadata)
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
            artifact.weights = WeightStore(layers, closer=close)
            if "optimizer" in weights_file:
                artifact.metadata["optimizer_weights"] = True
        else:
            artifact.notes.append(f"archive has no {_WEIGHTS_FILENAME}: architecture only")
            artifact.weights = WeightStore({}, closer=close)
        return artifact
    except BaseException:
        close()
        raise


def write_keras_archive(artifact: ModelArtifact, path: str | os.PathLike[str], *,
                        force: bool = False) -> Path:
    """Write a ``.keras`` archive that ``keras.models.load_model`` loads."""
    if artifact.config is None:
        raise UnsupportedError("a .keras archive needs an architecture and this model has none",
                               path=path, hint="write k3-weights instead")
    out = check_output(path, force=force)
    metadata = {"keras_version": WRITES_KERAS_VERSION,
                "date_saved": datetime.now(timezone.utc).strftime("%Y-%m-%d@%H:%M:%S"),
                "writer": f"modeltool {__version__}"}
    with atomic_path(out, suffix=".keras") as tmp, \
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_METADATA_FILENAME, json.dumps(metadata))
        archive.writestr(_CONFIG_FILENAME, json.dumps(keras_loadable_config(artifact.config)))
        # the weights are written straight into the archive (no scratch copy to add)
        with _zip.StoredMemberWriter(archive, _WEIGHTS_FILENAME) as window, \
                h5py.File(window, "w") as handle:
            write_v3_layers(handle, artifact)
    return out
