"""TF SavedModel directories.

Detected in pure Python (``saved_model.pb`` + ``variables/``). A tf.keras SavedModel also holds
``keras_metadata.pb``, whose root object carries the Keras config as JSON: that is read with a
small protobuf wire-format reader, without TensorFlow. Keras 3's ``model.export`` records no
architecture, so modeltool's writer adds ``assets.extra/keras_config.json`` (TF Serving's folder
for files the graph does not use; TensorFlow ignores it), which the reader takes as it takes
any JSON config. Signatures and variables need TensorFlow, which is imported only inside the
functions that read them.
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .. import _optional
from ..artifact import ModelArtifact, WeightEntry, WeightStore
from ..errors import CorruptFileError, UnsafeContentError, UnsupportedError
from ..io import atomic_dir, check_output
from ..kinds import Kind
from ._protobuf import fields as _fields
from .dialects import attach_config

KIND = Kind.SAVEDMODEL
EXTENSIONS = ()
_PB = "saved_model.pb"
_KERAS_METADATA = "keras_metadata.pb"
_CONFIG_ASSET = Path("assets.extra") / "keras_config.json"
_MAX_CONFIG_ASSET = 256 << 20
#: Variables a SavedModel holds that are not model weights (Keras 3 Dropout's seed state).
_STATE_VARIABLES = frozenset({"seed_generator_state"})
_MAX_PB = 1 << 30


def sniff_kind(path: str | os.PathLike[str]) -> str | None:
    """``savedmodel`` for a directory holding saved_model.pb (never raises)."""
    p = Path(path)
    try:
        return KIND if p.is_dir() and (p / _PB).is_file() else None
    except OSError:
        return None


def keras_metadata_config(path: Path) -> dict[str, Any] | None:
    """The model config recorded in a tf.keras ``keras_metadata.pb``, if any."""
    meta = path / _KERAS_METADATA
    if not meta.is_file():
        return None
    data = meta.read_bytes()
    try:
        for number, wire, node in _fields(data):
            if number != 1 or wire != 2:
                continue
            fields = {n: v for n, w, v in _fields(node) if w == 2}
            if fields.get(3, b"") != b"root":
                continue
            metadata = json.loads(fields.get(5, b"{}").decode("utf-8"))
            if isinstance(metadata, dict) and "config" in metadata:
                return {"class_name": metadata.get("class_name"), "config": metadata["config"],
                        "keras_version": metadata.get("keras_version")}
    except (ValueError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptFileError(f"{_KERAS_METADATA} cannot be parsed ({err})",
                               path=path) from err
    return None


def _config_asset(path: Path) -> dict[str, Any] | None:
    """The Keras config modeltool's writer recorded beside the graph, if any."""
    asset = path / _CONFIG_ASSET
    if not asset.is_file():
        return None
    if asset.stat().st_size > _MAX_CONFIG_ASSET:
        raise UnsafeContentError(f"{_CONFIG_ASSET} is {asset.stat().st_size:,} bytes, over the "
                                 f"{_MAX_CONFIG_ASSET:,} a config may take", path=path)
    try:
        raw = json.loads(asset.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptFileError(f"{_CONFIG_ASSET} cannot be parsed ({err})", path=path) from err
    if not isinstance(raw, dict) or "config" not in raw:
        raise CorruptFileError(f"{_CONFIG_ASSET} holds no Keras config", path=path)
    return raw


def read_savedmodel(path: str | os.PathLike[str], *, with_tf: bool = True) -> ModelArtifact:
    """Read a SavedModel: the Keras config if recorded, signatures and variables.

    Args:
        path: the SavedModel directory.
        with_tf: also read signatures and variables (imports TensorFlow).
    """
    p = Path(path)
    artifact, locations = _read_config(p)
    if with_tf:
        _read_with_tf(artifact, p, locations)
    return artifact


def _read_config(path: Path) -> tuple[ModelArtifact, Any]:
    """The artifact with its Keras config (when one is recorded), and the variable locations
    modeltool's writer recorded beside it (None when it did not write this SavedModel)."""
    if not (path / _PB).is_file():
        raise CorruptFileError(f"directory has no {_PB}", path=path,
                               hint="this is not a SavedModel directory")
    artifact = ModelArtifact(kind=KIND, path=path)
    locations = None
    raw = keras_metadata_config(path)
    if raw is None:
        raw = _config_asset(path)
        artifact.recorded_by_modeltool = raw is not None
    if raw is not None:
        locations = raw.pop("variables", None)
        artifact.keras_version = raw.pop("keras_version", None)
        artifact.source_config = raw
        attach_config(artifact, raw, os.fspath(path))
    return artifact, locations


def read_savedmodel_light(path: str | os.PathLike[str]) -> ModelArtifact:
    """Read a SavedModel without TensorFlow: the Keras config (as ``read_savedmodel``), the
    signatures and the variables' names, shapes and dtypes from ``saved_model.pb``. Reading a
    variable's values still imports TensorFlow (on first ``read()``); a ``saved_model.pb`` the
    wire reader cannot parse falls back to TensorFlow for everything."""
    from .savedmodel_pb import read_pb

    p = Path(path)
    artifact, recorded = _read_config(p)
    try:
        if (p / _PB).stat().st_size > _MAX_PB:
            raise ValueError("too large for the wire reader")
        signatures, variables = read_pb(p)
    except (OSError, ValueError):
        _read_with_tf(artifact, p, recorded)
        return artifact
    artifact.signatures = {
        s.name: {"inputs": {t.key: {"shape": t.shape, "dtype": t.dtype} for t in s.inputs},
                 "outputs": {t.key: {"shape": t.shape, "dtype": t.dtype} for t in s.outputs}}
        for s in signatures}
    unique: dict[str, Any] = {}
    for variable in variables:
        unique.setdefault(variable.name, variable)
    kept = [v for v in unique.values()]
    locations = _recorded_locations(recorded, kept)
    layers: dict[str, list[WeightEntry]] = {}
    for variable, location in zip(kept, locations):
        place = location or _place_by_name(variable.name)
        if place is None:
            continue
        top, layer_path, name = place
        layers.setdefault(top, []).append(WeightEntry(
            layer=top, path=layer_path, name=name, shape=variable.shape,
            dtype=variable.dtype, location=variable.name,
            loader=partial(_value_with_tf, p, variable.name)))
    artifact.weights = WeightStore(layers)
    return artifact


def _value_with_tf(path: Path, name: str) -> np.ndarray:
    tf = _optional.require("tensorflow", "reading a SavedModel's variables")
    loaded = tf.saved_model.load(os.fspath(path))
    for variable in getattr(loaded, "variables", []):
        if variable.name.split(":")[0] == name:
            return np.asarray(variable.numpy())
    raise CorruptFileError(f"variable {name!r} is not in the SavedModel", path=path)


def _read_with_tf(artifact: ModelArtifact, path: Path, recorded: Any) -> None:
    tf = _optional.require("tensorflow", "reading a SavedModel's signatures and variables")
    try:
        loaded = tf.saved_model.load(os.fspath(path))
    except Exception as err:  # noqa: BLE001 - TensorFlow raises many types here
        raise CorruptFileError(f"TensorFlow cannot load this SavedModel "
                               f"({str(err).splitlines()[0][:160]})", path=path) from err
    signatures: dict[str, Any] = {}
    for name, function in loaded.signatures.items():
        inputs = function.structured_input_signature[1]
        outputs = function.structured_outputs
        signatures[name] = {
            "inputs": {k: {"shape": spec.shape.as_list(), "dtype": spec.dtype.name}
                       for k, spec in inputs.items()},
            "outputs": {k: {"shape": spec.shape.as_list(), "dtype": spec.dtype.name}
                        for k, spec in outputs.items()},
        }
    artifact.signatures = signatures
    variables = list(getattr(loaded, "variables", []))
    locations = _recorded_locations(recorded, variables)
    layers: dict[str, list[WeightEntry]] = {}
    for variable, location in zip(variables, locations):
        full = variable.name.split(":")[0]
        place = location or _place_by_name(full)
        if place is None:
            continue
        top, layer_path, name = place
        layers.setdefault(top, []).append(WeightEntry(
            layer=top, path=layer_path, name=name,
            shape=tuple(int(d) for d in variable.shape),
            dtype=variable.dtype.name, location=variable.name,
            loader=partial(_variable_value, variable)))
    artifact.weights = WeightStore(layers)
    artifact.saved_model_object = loaded


def _recorded_locations(recorded: Any, variables: list[Any]) -> list[tuple[str, str, str] | None]:
    """Where modeltool's writer said each variable belongs, when the record fits the variables
    (same count, same shapes); else None for each, and names come from the variables."""
    fallback: list[tuple[str, str, str] | None] = [None] * len(variables)
    if not isinstance(recorded, list) or len(recorded) != len(variables):
        return fallback
    locations: list[tuple[str, str, str] | None] = []
    for variable, entry in zip(variables, recorded):
        if entry is None:
            short = variable.name.split(":")[0].rpartition("/")[2]
            if short not in _STATE_VARIABLES:
                return fallback
            locations.append(None)
            continue
        if (not isinstance(entry, list) or len(entry) != 4
                or [int(d) for d in variable.shape] != list(entry[3])):
            return fallback
        locations.append((str(entry[0]), str(entry[1]), str(entry[2])))
    return locations


def _variable_value(variable: Any) -> np.ndarray:
    return np.asarray(variable.numpy())


def write_savedmodel(artifact: ModelArtifact, path: str | os.PathLike[str], *,
                     force: bool = False) -> Path:
    """Export a SavedModel (Keras ``model.export``) from any artifact Keras can build."""
    from .. import keras_bridge

    if artifact.config is None:
        raise UnsupportedError("a SavedModel needs an architecture and this model has none",
                               path=path)
    out = check_output(path, force=force, directory=True)
    artifact.weights.verify()  # damaged bytes are refused before TensorFlow loads
    model = keras_bridge.model_from_artifact(artifact)
    config = keras_bridge.model_config(model)
    with atomic_dir(out) as tmp:
        keras_bridge.export_savedmodel(model, tmp)
        (tmp / _CONFIG_ASSET).parent.mkdir(exist_ok=True)
        (tmp / _CONFIG_ASSET).write_text(json.dumps(config), encoding="utf-8")
    return out


def _place_by_name(variable_name: str) -> tuple[str, str, str] | None:
    """(top layer, layer path, weight name) from a variable's own name, or None for
    optimizer/seed state that is not a weight."""
    layer, _, short = variable_name.rpartition("/")
    if short in _STATE_VARIABLES:
        return None
    layer = layer or "variables"
    return layer.split("/")[0], layer, short
