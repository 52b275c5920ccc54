"""ModelArtifact: what every reader produces and every writer consumes.

A ModelArtifact holds the architecture as a canonical (Keras 3 dialect) config, facts about the
file, and a WeightStore whose entries know their shape and dtype but read their bytes only when
asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .kinds import Kind

#: Classes whose config holds a whole model (a model used as a layer).
MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})


@dataclass(frozen=True)
class WeightEntry:
    """One weight tensor: where it belongs, what it looks like, and how to read it.

    ``layer`` is the top-level layer name (the key Keras matches by name); ``path`` is the real
    layer path, nested models included (``vision_model/conv2d_1``); ``name`` is the weight's name
    relative to ``path`` (``kernel``, ``forward_gru/gru_cell/bias``), without ``:0``.
    """

    layer: str
    path: str
    name: str
    shape: tuple[int, ...]
    dtype: str
    location: str
    loader: Callable[[], np.ndarray] = field(repr=False, compare=False)

    def read(self) -> np.ndarray:
        """Read the array from the file (the only place weight bytes are read)."""
        return self.loader()

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * _itemsize(self.dtype)

    @property
    def short_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def key(self) -> str:
        return f"{self.path}/{self.name}"


def _itemsize(dtype: str) -> int:
    try:
        return np.dtype(dtype).itemsize
    except TypeError:  # bfloat16 / float8 names before ml-dtypes registered them
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, dtype)).itemsize


class LoadedSavedModel(Protocol):
    """What ``tf.saved_model.load`` returns, as far as modeltool uses it (kept so that
    ``to-onnx`` runs the SavedModel the reader already loaded)."""

    signatures: Mapping[str, Any]
    variables: Sequence[Any]


class WeightStore:
    """Ordered weights grouped by top-level layer name, in Keras' per-layer order."""

    def __init__(self, layers: dict[str, list[WeightEntry]] | None = None,
                 closer: Callable[[], None] | None = None,
                 verifier: Callable[[], None] | None = None) -> None:
        self.layers: dict[str, list[WeightEntry]] = dict(layers or {})
        self._closer = closer
        self._verifier = verifier

    @property
    def checksummed(self) -> bool:
        """True when reading this store verifies a checksum as the bytes stream by."""
        return self._verifier is not None

    def verify(self) -> None:
        """Finish checking the stored bytes against the file's checksums (a ``.keras``
        archive's CRC-32), reading only what no tensor read has covered yet.

        Raises:
            IntegrityError: the bytes do not match.
        """
        if self._verifier is not None:
            self._verifier()

    def __iter__(self) -> Iterator[WeightEntry]:
        for entries in self.layers.values():
            yield from entries

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.layers.values())

    def __bool__(self) -> bool:
        return len(self) > 0

    def layer(self, name: str) -> list[WeightEntry]:
        return self.layers.get(name, [])

    @property
    def total_bytes(self) -> int:
        return sum(entry.nbytes for entry in self)

    @property
    def total_params(self) -> int:
        return sum(entry.size for entry in self)

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None


@dataclass
class ModelArtifact:
    """A model file read as data.

    Attributes:
        kind: the file kind.
        path: where it was read from (None for an artifact built in memory).
        config: the architecture in the canonical Keras 3 dialect, or None (weights-only).
        weights: the lazy WeightStore (empty for a config file).
        keras_version: the Keras version that wrote the file, when it says.
        dialect: the Keras generation the stored config was written in (1, 2 or 3).
        source_config: the config exactly as stored, before canonicalisation.
        notes: what the reader changed or noticed, one sentence each (the migration log).
        config_error: why the stored architecture could not be used (``config`` is then None).
        optimizer_weights: the file also stores optimizer state (writers leave it out).
        writer_info: what the file says about the program that wrote it (a ``.keras``
            archive's metadata.json; a flat weights file's ``writer`` and ``source_kind``).
        layer_classes: a flat weights file's record of each top-level layer's class.
        recorded_by_modeltool: a SavedModel carries modeltool's ``keras_config.json``.
        saved_model_object: the SavedModel as TensorFlow loaded it, when the reader did.
    """

    kind: Kind
    path: Path | None
    config: dict[str, Any] | None = None
    weights: WeightStore = field(default_factory=WeightStore)
    keras_version: str | None = None
    backend: str | None = None
    dialect: int | None = None
    source_config: Any = None
    training_config: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    signatures: dict[str, Any] | None = None
    config_error: str | None = None
    optimizer_weights: bool = False
    writer_info: dict[str, Any] = field(default_factory=dict)
    layer_classes: dict[str, str] = field(default_factory=dict)
    recorded_by_modeltool: bool = False
    saved_model_object: LoadedSavedModel | None = None
    #: Files a layer keeps beside its weights (a TextVectorization vocabulary), by their
    #: ``.keras`` member name (``assets/layers/...``), read on demand.
    assets: dict[str, Callable[[], bytes]] = field(default_factory=dict)

    @property
    def has_architecture(self) -> bool:
        return self.config is not None

    @property
    def name(self) -> str | None:
        if self.config is None:
            return None
        return str(self.config.get("config", {}).get("name") or "") or None

    def close(self) -> None:
        """Close any file handle held for lazy weight reads."""
        self.weights.close()

    def __enter__(self) -> ModelArtifact:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
