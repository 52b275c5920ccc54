"""What the flat weight files (safetensors, npz) share: one tensor per Keras path, and metadata.

A flat file maps a key to a tensor. modeltool writes each weight under its Keras path
(``WeightEntry.key``: ``dense_1/kernel``, ``vision_model/conv2d/bias``,
``bidirectional/forward_gru/gru_cell/kernel``) and records, in text metadata:

``format``           ``modeltool-weights``
``format_version``   ``1``
``source_kind``      the kind of the file the weights came from
``keras_version``    the Keras version that wrote that file (empty when unknown)
``dtype``            the dtypes of the tensors, comma-separated (``float32``)
``layer_classes``    JSON ``{layer path: class name}`` (when the source had an architecture)
``weights``          JSON ``[[key, layer, path, name], ...]`` in Keras' weight order

A flat file without ``weights`` (written by another tool) is read with the key split at its
last ``/``: the path before it, the weight name after it, the first segment as the layer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import __version__
from ..artifact import ModelArtifact, WeightEntry, WeightStore
from ..errors import CorruptFileError, UnsupportedError
from .dialects.walk import layer_configs, layer_name

FORMAT_NAME = "modeltool-weights"
FORMAT_VERSION = "1"
#: Low-precision float dtypes numpy only knows through ml_dtypes (imported when one is met).
EXTRA_DTYPES = frozenset({"bfloat16"})


#: The order Keras creates the usual weights in, within one layer or cell.
_KERAS_ORDER = {name: rank for rank, name in enumerate((
    "embeddings", "depthwise_kernel", "pointwise_kernel", "kernel", "recurrent_kernel", "bias",
    "gamma", "beta", "moving_mean", "moving_variance", "alpha"))}


def metadata_for(artifact: ModelArtifact) -> dict[str, str]:
    """The text metadata written beside the tensors."""
    entries = list(artifact.weights)
    keys = [entry.key for entry in entries]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise UnsupportedError(f"two weights share the path {dup!r}", path=artifact.path)
    dtypes = sorted({entry.dtype for entry in entries})
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "writer": f"modeltool {__version__}",
        "source_kind": str(artifact.kind),
        "keras_version": artifact.keras_version or "",
        "dtype": ",".join(dtypes),
        "layer_classes": json.dumps(layer_classes(artifact.config)),
        "weights": json.dumps([[e.key, e.layer, e.path, e.name] for e in entries]),
    }


def layer_classes(config: dict[str, Any] | None, prefix: str = "") -> dict[str, str]:
    """``{layer path: class name}`` for every layer of a config, nested models included."""
    if config is None:
        return {}
    found: dict[str, str] = {}
    for layer in layer_configs(config):
        path = f"{prefix}{layer_name(layer)}"
        found[path] = str(layer.get("class_name"))
        if layer.get("class_name") in ("Functional", "Sequential", "Model"):
            found.update(layer_classes(layer, f"{path}/"))
    return found


def numpy_dtype(name: str) -> np.dtype[Any]:
    """A dtype by name, bfloat16 included."""
    if name in EXTRA_DTYPES:
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


def store_from_table(keys: list[str], metadata: dict[str, str] | None,
                     spec: Callable[[str], tuple[tuple[int, ...], str]],
                     loader: Callable[[str], Callable[[], np.ndarray]], display: str,
                     closer: Callable[[], None] | None) -> WeightStore:
    """A WeightStore over a flat table, in the recorded Keras order when there is one."""
    placed: list[tuple[str, str, str, str]] = []
    recorded = _recorded(metadata, display)
    if recorded is not None:
        if sorted(r[0] for r in recorded) != sorted(keys):
            raise CorruptFileError("the weights listed in the metadata are not the tensors the "
                                   "file holds", path=display)
        placed = recorded
    else:
        for key in keys:
            path, _, name = key.rpartition("/")
            path = path or key
            placed.append((key, path.split("/", 1)[0], path, name or key))
        # Other tools list keys alphabetically; Keras matches a layer's weights by position,
        # so put the usual names in Keras' order (kernel before bias, gamma before beta...).
        first = {layer: i for i, (_, layer, _, _) in reversed(list(enumerate(placed)))}
        placed.sort(key=lambda row: (first[row[1]], row[2],
                                     _KERAS_ORDER.get(row[3], len(_KERAS_ORDER)), row[0]))
    layers: dict[str, list[WeightEntry]] = {}
    for key, layer, path, name in placed:
        shape, dtype = spec(key)
        layers.setdefault(layer, []).append(WeightEntry(
            layer=layer, path=path, name=name, shape=shape, dtype=dtype, location=key,
            loader=loader(key)))
    return WeightStore(layers, closer=closer)


def _recorded(metadata: dict[str, str] | None,
              display: str) -> list[tuple[str, str, str, str]] | None:
    if not metadata or metadata.get("format") != FORMAT_NAME or "weights" not in metadata:
        return None
    try:
        rows = json.loads(metadata["weights"])
    except (json.JSONDecodeError, RecursionError) as err:
        raise CorruptFileError("the weights metadata is not valid JSON", path=display) from err
    if not isinstance(rows, list) or not all(
            isinstance(r, list) and len(r) == 4 and all(isinstance(x, str) for x in r)
            for r in rows):
        raise CorruptFileError("the weights metadata is not a list of [key, layer, path, name]",
                               path=display)
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def artifact_fields(artifact: ModelArtifact, metadata: dict[str, str] | None) -> None:
    """Fill the artifact's facts from modeltool metadata."""
    if not metadata or metadata.get("format") != FORMAT_NAME:
        return
    artifact.keras_version = metadata.get("keras_version") or None
    artifact.writer_info.update({"source_kind": metadata.get("source_kind"),
                                 "writer": metadata.get("writer")})
    try:
        classes = json.loads(metadata.get("layer_classes") or "{}")
    except (json.JSONDecodeError, RecursionError):
        classes = {}
    if isinstance(classes, dict):
        artifact.layer_classes = {str(k): str(v) for k, v in classes.items()}
