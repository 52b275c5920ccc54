"""Architecture JSON (``model.to_json()``), any dialect in, canonical Keras 3 out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..artifact import ModelArtifact
from ..errors import CorruptFileError, UnsupportedError
from ..io import atomic_path, check_output
from ..kinds import Kind
from .dialects import attach_config, keras_loadable_config
from .dialects.keras0 import is_keras0_config, keras1_from_keras0
from .dialects.keras0_graph import is_keras0_graph, keras1_from_keras0_graph

KIND = Kind.JSON
EXTENSIONS = (".json",)
_MAX_BYTES = 256 << 20


def sniff_kind(path: str | os.PathLike[str]) -> str | None:
    """``json`` when the file starts like a JSON object naming a ``class_name``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).lstrip()
    except OSError:
        return None
    if head.startswith(b"{") and (b'"class_name"' in head or _keras0_head(head)):
        return KIND
    return None


def _keras0_head(head: bytes) -> bool:
    """A Keras 0.x architecture: ``"name": "Sequential"`` and a layer list, no class_name."""
    return (b'"name": "Sequential"' in head and b'"layers"' in head) \
        or b'"node_config"' in head or b'"name": "Graph"' in head


def load_text(path: str | os.PathLike[str]) -> str:
    display = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if size > _MAX_BYTES:
            raise CorruptFileError(f"{size} bytes is too large for an architecture file",
                                   path=display)
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise CorruptFileError(f"cannot read the file ({err.strerror})", path=display) from err
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorruptFileError("the file is not UTF-8 text", path=display) from err


def read_config_json(path: str | os.PathLike[str]) -> ModelArtifact:
    """Read an architecture JSON file (Keras 1, 2 or 3 dialect).

    Example:
        >>> art = read_config_json("model.json")  # doctest: +SKIP
    """
    display = os.fspath(path)
    text = load_text(path)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise CorruptFileError(f"not valid JSON (line {err.lineno}: {err.msg})",
                               path=display) from err
    except RecursionError as err:
        raise CorruptFileError("JSON is nested too deeply", path=display) from err
    return artifact_from_raw(raw, KIND, Path(path))


def artifact_from_raw(raw: Any, kind: Kind, path: Path) -> ModelArtifact:
    """A config-only artifact from decoded JSON/YAML content."""
    display = os.fspath(path)
    if is_keras0_config(raw):
        raw = keras1_from_keras0(raw)
    elif is_keras0_graph(raw):
        try:
            raw = keras1_from_keras0_graph(raw)
        except CorruptFileError as err:
            raise CorruptFileError(err.problem, path=display) from None
    if not isinstance(raw, dict) or "class_name" not in raw:
        raise CorruptFileError("no Keras model architecture here (no top-level class_name)",
                               path=display)
    artifact = ModelArtifact(kind=kind, path=path, source_config=raw,
                             keras_version=_str_or_none(raw.get("keras_version")),
                             backend=_str_or_none(raw.get("backend")))
    attach_config(artifact, raw, display)
    if artifact.config is None:
        raise UnsupportedError(artifact.config_error or "architecture not usable",
                               path=display)
    return artifact


def _str_or_none(value: Any) -> str | None:
    return str(value) if value is not None else None


def config_for_file(artifact: ModelArtifact) -> dict[str, Any]:
    """The config as written to JSON/YAML files (what Keras 3 ``model_from_json`` loads)."""
    if artifact.config is None:
        raise UnsupportedError("this file has no architecture to write", path=artifact.path)
    return keras_loadable_config(artifact.config)


def write_config_json(artifact: ModelArtifact, path: str | os.PathLike[str], *,
                      force: bool = False) -> Path:
    """Write the architecture as JSON (weights are not part of this kind)."""
    out = check_output(path, force=force)
    text = json.dumps(config_for_file(artifact), indent=2)
    with atomic_path(out) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return out
