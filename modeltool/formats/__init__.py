"""The file kinds modeltool reads and writes, and how a kind is told from content."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..artifact import ModelArtifact
from ..errors import InputNotFoundError, ModelToolError, UnknownFormatError, UnsupportedError
from ..kinds import LEGACY_HDF5_KINDS, Kind
from . import (
    _h5,
    config_json,
    config_yaml,
    hdf5_keras2,
    hdf5_legacy,
    hdf5_v3,
    keras_archive,
    npz_file,
    safetensors_file,
    savedmodel,
)


@dataclass(frozen=True)
class Format:
    """One file kind: how to read it, write it, and what it is called."""

    kind: Kind
    description: str
    extensions: tuple[str, ...]
    read: Callable[[Path], ModelArtifact]
    write: Callable[..., Path]
    holds_architecture: bool
    holds_weights: bool


FORMATS: dict[Kind, Format] = {f.kind: f for f in (
    Format(Kind.KERAS, "Keras 3 .keras archive", (".keras",), keras_archive.read_keras_archive,
           keras_archive.write_keras_archive, True, True),
    Format(Kind.H5, "legacy HDF5 full model", (".h5", ".hdf5"), hdf5_legacy.read_hdf5_legacy,
           hdf5_legacy.write_hdf5_legacy, True, True),
    Format(Kind.K3_WEIGHTS, "Keras 3 .weights.h5", (".weights.h5",), hdf5_v3.read_weights_h5,
           hdf5_v3.write_weights_h5, False, True),
    Format(Kind.K2_WEIGHTS, "Keras 2 weights-only HDF5", (".h5", ".hdf5"),
           hdf5_legacy.read_hdf5_legacy, hdf5_legacy.write_k2_weights, False, True),
    Format(Kind.JSON, "architecture JSON", (".json",), config_json.read_config_json,
           config_json.write_config_json, True, False),
    Format(Kind.YAML, "architecture YAML", (".yaml", ".yml"), config_yaml.read_config_yaml,
           config_yaml.write_config_yaml, True, False),
    Format(Kind.SAVEDMODEL, "TF SavedModel directory", (), savedmodel.read_savedmodel,
           savedmodel.write_savedmodel, True, True),
    Format(Kind.K2_H5, "Keras 2 (tf.keras / tf_keras) legacy HDF5 full model", (),
           hdf5_legacy.read_hdf5_legacy, hdf5_keras2.write_hdf5_keras2, True, True),
    Format(Kind.SAFETENSORS, "safetensors weights (Keras paths as keys)", (".safetensors",),
           safetensors_file.read_safetensors, safetensors_file.write_safetensors, False, True),
    Format(Kind.NPZ, "NumPy .npz weights (Keras paths as keys)", (".npz",), npz_file.read_npz,
           npz_file.write_npz, False, True),
)}

_SNIFFERS = (keras_archive.sniff_kind, hdf5_legacy.sniff_kind, hdf5_v3.sniff_kind,
             savedmodel.sniff_kind, npz_file.sniff_kind, safetensors_file.sniff_kind,
             config_json.sniff_kind, config_yaml.sniff_kind)


def detect_kind(path: str | os.PathLike[str]) -> Kind:
    """The kind of the file at ``path``, from its content.

    Raises:
        InputNotFoundError: nothing at ``path``.
        UnknownFormatError: content of no known kind (the message says what was seen).
    """
    p = Path(path)
    if not os.path.lexists(p):
        raise InputNotFoundError("no such file or directory", path=p)
    try:
        if p.is_dir():
            kind = savedmodel.sniff_kind(p)
            if kind is None:
                raise UnknownFormatError("directory is not a SavedModel (no saved_model.pb)",
                                         path=p)
            return Kind(kind)
        if not p.is_file():
            raise UnknownFormatError("not a regular file", path=p)
        with open(p, "rb") as handle:
            head = handle.read(16)
    except PermissionError as err:
        raise ModelToolError("permission denied", path=p) from err
    except OSError as err:
        raise ModelToolError(f"cannot read ({err.strerror or err})", path=p) from err
    if not head:
        raise UnknownFormatError("file is empty", path=p)
    for sniff in _SNIFFERS:
        kind = sniff(p)
        if kind is not None:
            return Kind(kind)
    raise UnknownFormatError(f"not a Keras model file ({_describe(p, head)})", path=p)


def _describe(path: Path, head: bytes) -> str:
    if head.startswith(_h5.HDF5_SIGNATURE) or _h5.is_hdf5(path):
        return ("HDF5 file without model_config, layer_names or layers/vars "
                "(or damaged beyond reading)")
    if head.startswith(b"PK"):
        return "zip archive without config.json, or a damaged zip"
    if head.lstrip().startswith((b"{", b"[")):
        return "JSON without a top-level class_name"
    return f"starts with bytes {head[:8]!r}"


def kind_from_extension(path: str | os.PathLike[str]) -> Kind | None:
    """The kind an output name suggests (``.weights.h5`` before ``.h5``)."""
    name = Path(path).name.lower()
    if name.endswith(".weights.h5"):
        return Kind.K3_WEIGHTS
    for fmt in FORMATS.values():
        if fmt.kind == Kind.K2_WEIGHTS:
            continue
        if any(name.endswith(ext) for ext in fmt.extensions):
            return fmt.kind
    if not Path(path).suffix:
        return Kind.SAVEDMODEL
    return None


def open_artifact(path: str | os.PathLike[str]) -> ModelArtifact:
    """Read any supported file into a ModelArtifact, sniffing the kind from content.

    A misleading extension still works, with a warning.
    """
    kind = detect_kind(path)
    hinted = kind_from_extension(path)
    if hinted is not None and hinted != kind and not (
            {hinted, kind} <= LEGACY_HDF5_KINDS or Path(path).is_dir()):
        warnings.warn(f"{os.fspath(path)}: extension suggests {hinted} but the content is "
                      f"{kind}; reading it as {kind}", stacklevel=2)
    return FORMATS[kind].read(Path(path))


def write_artifact(artifact: ModelArtifact, path: str | os.PathLike[str],
                   kind: str | None = None, *, force: bool = False) -> Path:
    """Write ``artifact`` as ``kind`` (default: from the output name)."""
    kind = kind or kind_from_extension(path)
    if kind is None:
        raise UnsupportedError("cannot tell the output kind from the name", path=path,
                               hint=f"pass --to with one of: {', '.join(FORMATS)}")
    if kind not in FORMATS:
        raise UnsupportedError(f"unknown kind {str(kind)!r}", path=path,
                               hint=f"choose one of: {', '.join(FORMATS)}")
    return FORMATS[Kind(kind)].write(artifact, path, force=force)
