"""NumPy ``.npz``: weights only, one ``<Keras path>.npy`` member per tensor.

Written one tensor at a time (bounded memory) with ``numpy.lib.format``; read lazily, the
``.npy`` headers first (shape and dtype, no data), each tensor when asked. Pickled (object)
arrays are refused, never loaded. The metadata of ``_tensor_table`` is the member
``__metadata__.npy``, a 0-d string holding JSON. bfloat16, which ``.npy`` cannot name, is stored
as its raw 16-bit pattern (``uint16``) and listed in the metadata's ``views``; ``np.load`` then
gives ``uint16`` arrays (``.view(ml_dtypes.bfloat16)`` restores them).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..artifact import ModelArtifact
from ..errors import CorruptFileError, UnsafeContentError
from ..io import atomic_path, check_output
from ..kinds import Kind
from . import _tensor_table, _zip

KIND = Kind.NPZ
EXTENSIONS = (".npz",)
METADATA_MEMBER = "__metadata__"
_NPY = ".npy"
_NPY_MAGIC = b"\x93NUMPY"


def sniff_kind(path: str | os.PathLike[str]) -> str | None:
    """``npz`` when the file is a zip whose members are all ``.npy`` arrays (never raises)."""
    try:
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except Exception:  # noqa: BLE001 - sniffing never raises
        return None
    return KIND if names and all(name.endswith(_NPY) for name in names) else None


def _header(handle: IO[bytes], name: str,
            display: str) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as err:
        raise CorruptFileError(f"member {name} is not a readable .npy array ({err})",
                               path=display) from err
    if dtype.hasobject:
        raise UnsafeContentError(f"member {name} holds Python objects (pickle), which modeltool "
                                 "never loads", path=display)
    return tuple(int(d) for d in shape), bool(fortran), dtype


def read_npz(path: str | os.PathLike[str]) -> ModelArtifact:
    """Read an ``.npz`` of weights lazily.

    Raises:
        CorruptFileError: a damaged archive or member.
        UnsafeContentError: a pickled member.

    Example:
        >>> art = read_npz("weights.npz")  # doctest: +SKIP
    """
    display = os.fspath(path)
    archive = _zip.open_zip(path)
    try:
        metadata: dict[str, str] | None = None
        specs: dict[str, tuple[tuple[int, ...], str]] = {}
        views: dict[str, str] = {}
        for info in archive.infolist():
            if not info.filename.endswith(_NPY):
                raise CorruptFileError(f"member {info.filename!r} is not a .npy array",
                                       path=display)
            key = info.filename[:-len(_NPY)]
            with _zip.open_member(archive, info.filename, display) as member:
                shape, _, dtype = _header(member, info.filename, display)
                if key == METADATA_MEMBER:
                    metadata = _metadata(member, display)
                    continue
            declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if declared > info.file_size:
                raise CorruptFileError(f"member {info.filename} declares {declared} bytes but "
                                       f"holds {info.file_size}", path=display,
                                       hint="the file may be truncated or damaged")
            specs[key] = (shape, dtype.name)
        if metadata is not None:
            views = _views(metadata, display)
            for view in set(views.values()):
                _tensor_table.numpy_dtype(view)  # bfloat16: numpy learns the name
            specs = {k: (shape, views.get(k, dtype)) for k, (shape, dtype) in specs.items()}

        def loader(key: str) -> Any:
            def load() -> np.ndarray:
                name = f"{key}{_NPY}"
                try:
                    with _zip.open_member(archive, name, display) as member:
                        array = np.lib.format.read_array(member, allow_pickle=False)
                except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
                    raise CorruptFileError(f"cannot read member {name} ({err})",
                                           path=display) from err
                view = views.get(key)
                return array.view(_tensor_table.numpy_dtype(view)) if view else array
            return load

        store = _tensor_table.store_from_table(list(specs), metadata, specs.__getitem__,
                                               loader, display, archive.close)
    except BaseException:
        archive.close()
        raise
    artifact = ModelArtifact(kind=KIND, path=Path(path), weights=store, dialect=3)
    _tensor_table.artifact_fields(artifact, metadata)
    return artifact


def _metadata(member: IO[bytes], display: str) -> dict[str, str]:
    member.seek(0)
    try:
        value = np.lib.format.read_array(member, allow_pickle=False)
        data = json.loads(str(value[()]))
    except (ValueError, OSError, EOFError, json.JSONDecodeError, RecursionError) as err:
        raise CorruptFileError(f"{METADATA_MEMBER} is not readable ({err})", path=display) from err
    if not isinstance(data, dict):
        raise CorruptFileError(f"{METADATA_MEMBER} is not a JSON object", path=display)
    return {str(k): str(v) for k, v in data.items()}


def _views(metadata: dict[str, str], display: str) -> dict[str, str]:
    try:
        views = json.loads(metadata.get("views") or "{}")
    except (json.JSONDecodeError, RecursionError) as err:
        raise CorruptFileError("the views metadata is not valid JSON", path=display) from err
    if not isinstance(views, dict) or not all(
            isinstance(v, str) and v in _tensor_table.EXTRA_DTYPES for v in views.values()):
        raise CorruptFileError("the views metadata names unknown dtypes", path=display)
    return {str(k): v for k, v in views.items()}


def write_npz(artifact: ModelArtifact, path: str | os.PathLike[str], *,
              force: bool = False) -> Path:
    """Write every weight as ``<Keras path>.npy`` in an uncompressed ``.npz``, one tensor at a
    time, with modeltool metadata (``np.load`` reads it).

    Example:
        >>> write_npz(modeltool.open("model.keras"), "weights.npz")  # doctest: +SKIP
    """
    out = check_output(path, force=force)
    metadata = _tensor_table.metadata_for(artifact)
    views = {e.key: e.dtype for e in artifact.weights if e.dtype in _tensor_table.EXTRA_DTYPES}
    metadata["views"] = json.dumps(views)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED,
                                                  allowZip64=True) as archive:
        for entry in artifact.weights:
            array = np.ascontiguousarray(entry.read())
            if entry.key in views:
                array = array.view(np.uint16)
            with archive.open(f"{entry.key}{_NPY}", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
        with archive.open(f"{METADATA_MEMBER}{_NPY}", "w") as member:
            np.lib.format.write_array(member, np.array(json.dumps(metadata)),
                                      allow_pickle=False)
    return out
