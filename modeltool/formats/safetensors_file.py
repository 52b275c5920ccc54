"""safetensors: weights only, one tensor per Keras path, read through the ``safetensors``
package's numpy API (``safe_open`` reads one tensor at a time).

The keys and metadata are described in ``_tensor_table``. A file written by another tool loads
too: its keys are split at the last ``/`` into layer path and weight name.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from .. import _optional
from ..artifact import ModelArtifact
from ..errors import CorruptFileError, MissingDependencyError
from ..io import atomic_path, check_output
from ..kinds import Kind
from . import _tensor_table

KIND = Kind.SAFETENSORS
EXTENSIONS = (".safetensors",)
#: safetensors' own limit on the JSON header.
_MAX_HEADER = 100 << 20
_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
           "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U64": "uint64",
           "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
           "C64": "complex64"}


def _safetensors() -> Any:
    try:
        import safetensors
        import safetensors.numpy
    except ImportError as err:
        raise MissingDependencyError("reading or writing safetensors needs the safetensors "
                                     "package", hint=_optional.install_hint("safetensors")) from err
    return safetensors


def sniff_kind(path: str | os.PathLike[str]) -> str | None:
    """``safetensors`` when the file starts with a plausible header length and JSON."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return None
    if len(head) < 9 or head[8:9] != b"{":
        return None
    (length,) = struct.unpack("<Q", head[:8])
    return KIND if 2 <= length <= min(_MAX_HEADER, size - 8) else None


def read_safetensors(path: str | os.PathLike[str]) -> ModelArtifact:
    """Read a safetensors file lazily: shapes and dtypes now, tensors when asked.

    Raises:
        CorruptFileError: the header or the tensor table is damaged.

    Example:
        >>> art = read_safetensors("model.safetensors")  # doctest: +SKIP
    """
    lib = _safetensors()
    display = os.fspath(path)
    try:
        handle = lib.safe_open(display, framework="np")
        handle.__enter__()
    except Exception as err:  # noqa: BLE001 - SafetensorError and friends from the Rust core
        raise CorruptFileError(f"not a readable safetensors file ({_first(err)})", path=display,
                               hint="the file may be truncated or damaged") from err

    def close() -> None:
        handle.__exit__(None, None, None)

    try:
        metadata = handle.metadata() or {}
        keys = list(handle.keys())

        def spec(key: str) -> tuple[tuple[int, ...], str]:
            view = handle.get_slice(key)
            code = view.get_dtype()
            if code not in _DTYPES:
                raise CorruptFileError(f"tensor {key!r} has dtype {code}, which modeltool does "
                                       "not read", path=display)
            _tensor_table.numpy_dtype(_DTYPES[code])  # bfloat16: numpy learns the name
            return tuple(int(d) for d in view.get_shape()), _DTYPES[code]

        def loader(key: str) -> Any:
            def load() -> np.ndarray:
                try:
                    return np.asarray(handle.get_tensor(key))
                except Exception as err:  # noqa: BLE001
                    raise CorruptFileError(f"cannot read tensor {key!r} ({_first(err)})",
                                           path=display) from err
            return load

        store = _tensor_table.store_from_table(keys, metadata, spec, loader, display, close)
    except BaseException:
        close()
        raise
    artifact = ModelArtifact(kind=KIND, path=Path(path), weights=store, dialect=3)
    _tensor_table.artifact_fields(artifact, metadata)
    return artifact


def write_safetensors(artifact: ModelArtifact, path: str | os.PathLike[str], *,
                      force: bool = False) -> Path:
    """Write every weight under its Keras path, with modeltool metadata.

    The ``safetensors`` numpy API takes every tensor at once, so this holds the weights in
    memory while writing (``npz`` streams one tensor at a time).

    Example:
        >>> write_safetensors(modeltool.open("model.keras"), "w.safetensors")  # doctest: +SKIP
    """
    lib = _safetensors()
    out = check_output(path, force=force)
    metadata = _tensor_table.metadata_for(artifact)
    tensors = {entry.key: np.ascontiguousarray(entry.read()) for entry in artifact.weights}
    with atomic_path(out) as tmp:
        lib.numpy.save_file(tensors, tmp, metadata=metadata)
    return out


def _first(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:200]
