"""Legacy HDF5: full models (``model.save("m.h5")``) and Keras 2 weights-only files.

A full model has ``model_config`` (JSON) on the root and its weights under ``model_weights``;
a Keras 2 weights-only file (``save_weights("w.h5")``) has the same weight layout on the root:
``layer_names`` lists the layers, each layer group's ``weight_names`` lists its datasets.
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Any

import h5py

from .. import __version__
from ..artifact import ModelArtifact, WeightEntry, WeightStore
from ..dtypes import is_quantized, policy_name
from ..errors import CorruptFileError, UnsupportedError
from ..io import atomic_path, check_output, check_space, wrote
from ..kinds import Kind
from . import _h5
from .dialects import attach_config, keras_loadable_config
from .dialects.keras0 import is_keras0_weights, read_keras0_weights
from .dialects.keras0_graph import is_keras0_graph_weights, read_keras0_graph_weights
from .dialects.walk import inner_model, layer_configs, layer_name
from .migrate import migrate_weights
from .weight_layout import canonical_order, legacy_order, saveable_layers, split_legacy_weight_name

KIND = Kind.H5
WEIGHTS_KIND = Kind.K2_WEIGHTS
EXTENSIONS = (".h5", ".hdf5", ".keras.h5")
#: The Keras version whose legacy format modeltool writes.
WRITES_KERAS_VERSION = "3.15.1"


def sniff_kind(path: str | os.PathLike[str]) -> str | None:
    """``h5`` or ``k2-weights`` if the file is one of them, else None (never raises)."""
    if not _h5.is_hdf5(path):
        return None
    try:
        with h5py.File(path, "r") as handle:
            if "model_config" in handle.attrs:
                return KIND
            if "layer_names" in handle.attrs or "layer_names0" in handle.attrs \
                    or is_keras0_weights(handle) or is_keras0_graph_weights(handle):
                return WEIGHTS_KIND
            if "model_weights" in handle and "layers" not in handle:
                return KIND
    except Exception:  # noqa: BLE001 - sniffing never raises
        return None
    return None


def read_hdf5_legacy(path: str | os.PathLike[str],
                     architecture: ModelArtifact | None = None) -> ModelArtifact:
    """Read a legacy full-model HDF5 file or a Keras 2 weights-only HDF5 file.

    Args:
        path: the ``.h5`` file.
        architecture: for a weights-only file, the architecture it belongs to: names nested
            layers and tells how to migrate old layouts.

    Returns:
        A ModelArtifact whose weights are read lazily.

    Raises:
        CorruptFileError: the file is damaged or is not a Keras HDF5 file.

    Example:
        >>> art = read_hdf5_legacy("model.h5")  # doctest: +SKIP
    """
    display = os.fspath(path)
    handle = _h5.open_h5(path, display)
    return _h5.read_or_close(handle, display,
                             lambda: _read_open(handle, Path(path), display, architecture))


def _read_open(handle: h5py.File, path: Path, display: str,
               architecture: ModelArtifact | None) -> ModelArtifact:
    raw_config = _h5.attr_str(handle, "model_config", display)
    if raw_config is None and "model_weights" in handle:
        kind = KIND
    else:
        kind = KIND if raw_config is not None else WEIGHTS_KIND
    weights_root = _h5.group(handle, "model_weights", display) if "model_weights" in handle \
        else handle
    keras_version = _h5.attr_str(weights_root, "keras_version", display) \
        or _h5.attr_str(handle, "keras_version", display)
    backend = _h5.attr_str(weights_root, "backend", display) \
        or _h5.attr_str(handle, "backend", display)
    artifact = ModelArtifact(kind=kind, path=path, keras_version=keras_version, backend=backend)
    if raw_config is not None:
        try:
            artifact.source_config = json.loads(raw_config)
        except json.JSONDecodeError as err:
            raise CorruptFileError(f"model_config is not valid JSON ({err.msg})",
                                   path=display) from err
        attach_config(artifact, artifact.source_config, display)
    training = _h5.attr_str(handle, "training_config", display)
    if training is not None:
        try:
            artifact.training_config = json.loads(training)
        except json.JSONDecodeError:
            artifact.notes.append("training_config is not valid JSON; ignored")
    layer_names = _h5.read_str_list(weights_root, "layer_names", display)
    if layer_names is None and is_keras0_weights(weights_root):
        artifact.weights = WeightStore(read_keras0_weights(weights_root, display),
                                       closer=handle.close)
        artifact.notes.append("Keras 0.x weights (nb_layers/layer_k/param_j), placed by "
                              "position")
        return _keras0_migrated(artifact, architecture, keras_version, backend)
    if layer_names is None and is_keras0_graph_weights(weights_root):
        graph = architecture.source_config if architecture is not None else None
        artifact.weights = WeightStore(read_keras0_graph_weights(weights_root, display, graph),
                                       closer=handle.close)
        artifact.notes.append("Keras 0.x Graph weights (graph/param_j), split over the layers "
                              "in node order")
        return _keras0_migrated(artifact, architecture, keras_version, backend)
    if layer_names is None:
        if kind == WEIGHTS_KIND:
            raise CorruptFileError("HDF5 file has no layer_names", path=display)
        layer_names = []
    if artifact.config is None and architecture is not None:
        artifact.config = architecture.config
        artifact.dialect = architecture.dialect
        artifact.source_config = architecture.source_config
    layers = read_weight_groups(weights_root, layer_names, artifact.config, display)
    artifact.weights = WeightStore(layers, closer=handle.close)
    migrate_weights(artifact, weights_version=keras_version, weights_backend=backend)
    if "optimizer_weights" in handle:
        artifact.optimizer_weights = True
    return artifact


def _keras0_migrated(artifact: ModelArtifact, architecture: ModelArtifact | None,
                     keras_version: str | None, backend: str | None) -> ModelArtifact:
    """Keras 0.x weights read against their architecture are in the Keras 1 layout (per-gate
    RNN arrays, ``th`` kernels): migrated like Keras 1 weights."""
    if architecture is None or architecture.config is None:
        return artifact
    artifact.config = architecture.config
    artifact.dialect = architecture.dialect
    artifact.source_config = architecture.source_config
    migrate_weights(artifact, weights_version=keras_version, weights_backend=backend)
    return artifact


def read_weight_groups(root: h5py.Group, layer_names: list[str],
                       config: dict[str, Any] | None,
                       display: str) -> dict[str, list[WeightEntry]]:
    """The ``layer_names`` / ``weight_names`` layout, keyed by layer name, read lazily."""
    by_name = {layer_name(layer): layer for layer in layer_configs(config)} if config else {}
    layers: dict[str, list[WeightEntry]] = {}
    for name in layer_names:
        layer_group = _h5.group(root, name, display)
        weight_names = _h5.read_str_list(layer_group, "weight_names", display) or []
        layer_cfg = by_name.get(name)
        model = inner_model(layer_cfg) if layer_cfg else None
        inner = [layer_name(x) for x in _all_inner(model)] if model else None
        entries = []
        for weight_name in weight_names:
            ds = _h5.dataset(layer_group, weight_name, display, name)
            layer_path, short = split_legacy_weight_name(name, weight_name, inner)
            entries.append(WeightEntry(
                layer=name, path=layer_path, name=short, shape=tuple(int(d) for d in ds.shape),
                dtype=str(_h5.value_dtype(ds)), location=ds.name,
                loader=partial(_h5.read_array, ds, display, layer_path)))
        if len({(e.path, e.name) for e in entries}) < len(entries):
            entries = [WeightEntry(e.layer, e.path, wn.split(":")[0], e.shape, e.dtype,
                                   e.location, e.loader) for e, wn in zip(entries, weight_names)]
        layers[name] = canonical_order(layer_cfg, entries)
    return layers


def _all_inner(model: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for layer in layer_configs(model):
        found.append(layer)
        sub = inner_model(layer)
        if sub is not None:
            found.extend(_all_inner(sub))
    return found


def write_hdf5_legacy(artifact: ModelArtifact, path: str | os.PathLike[str], *,
                      force: bool = False) -> Path:
    """Write a legacy full-model HDF5 file (config + weights) that Keras 3 and tf.keras load.

    Raises:
        UnsupportedError: the artifact has no architecture.
    """
    if artifact.config is None:
        raise UnsupportedError("a full-model .h5 needs an architecture and this model has none",
                               path=path, hint="write k2-weights or k3-weights instead")
    out = check_output(path, force=force)
    check_space(out, _h5.estimated_size(artifact.weights.total_bytes, len(artifact.weights)))
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as handle:
        handle.attrs["backend"] = artifact.backend or "tensorflow"
        handle.attrs["keras_version"] = WRITES_KERAS_VERSION
        handle.attrs["model_config"] = json.dumps(keras_loadable_config(artifact.config))
        group = handle.create_group("model_weights")
        _write_weight_groups(group, artifact)
    return out


def write_k2_weights(artifact: ModelArtifact, path: str | os.PathLike[str], *,
                     force: bool = False) -> Path:
    """Write a Keras 2 weights-only HDF5 file (``layer_names`` / ``weight_names``)."""
    out = check_output(path, force=force)
    check_space(out, _h5.estimated_size(artifact.weights.total_bytes, len(artifact.weights)))
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as handle:
        _write_weight_groups(handle, artifact)
    return out


def _write_weight_groups(root: h5py.Group, artifact: ModelArtifact) -> None:
    root.attrs["backend"] = artifact.backend or "tensorflow"
    root.attrs["keras_version"] = WRITES_KERAS_VERSION
    root.attrs["modeltool_version"] = __version__
    if artifact.config is not None:
        layers = saveable_layers(artifact.config)
        names = [layer_name(layer) for layer in layers]
        configs = dict(zip(names, layers))
        # Layers without weights may be missing (tf.keras listed its TF-op layers, which
        # became operation nodes).
        extra = [name for name, entries in artifact.weights.layers.items()
                 if entries and name not in configs]
        if extra:
            raise UnsupportedError(f"weights for layers not in the architecture: "
                                   f"{', '.join(extra[:5])}", path=artifact.path)
    else:
        names = list(artifact.weights.layers)
        configs = {}
    _h5.write_str_list(root, "layer_names", names)
    for name in names:
        layer_config = (configs.get(name) or {}).get("config")
        if is_quantized(layer_config) and artifact.weights.layer(name):
            # Keras orders a legacy file's weights by trainable flags, which for quantized
            # variables depend on the quantization mode: refuse rather than misplace them.
            raise UnsupportedError(
                f"layer {name!r} is quantized ({policy_name((layer_config or {}).get('dtype'))}"
                "), which a legacy HDF5 file cannot hold in the order Keras expects",
                path=artifact.path, hint="write .keras or .weights.h5 instead")
    for name in names:
        group = root.create_group(name)
        entries = legacy_order(configs.get(name), artifact.weights.layer(name))
        weight_names = [_stored_name(entry) for entry in entries]
        _h5.write_str_list(group, "weight_names", weight_names)
        for entry, weight_name in zip(entries, weight_names):
            if entry.dtype == "bfloat16":
                # Keras' legacy HDF5 loader cannot cast the opaque type back ("No cast
                # function available"): refuse rather than write a file Keras refuses.
                raise UnsupportedError(
                    f"layer {entry.path!r} stores bfloat16 weights, which Keras cannot load "
                    "from a legacy HDF5 file", path=artifact.path,
                    hint="write .keras or .weights.h5 instead")
            wrote(_h5.write_entry(group, weight_name, entry, artifact.path))


def _stored_name(entry: WeightEntry) -> str:
    return f"{entry.path}/{entry.name}"
