"""``weights``: every weight tensor of a file, with optional statistics."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..artifact import WeightEntry
from ..formats import open_artifact

if TYPE_CHECKING:
    from .tensor_stats import Moments

PathLike = str | os.PathLike[str]


@dataclass
class WeightRow:
    """One tensor in ``modeltool weights``."""

    layer: str
    path: str
    name: str
    shape: tuple[int, ...]
    dtype: str
    bytes: int
    stats: dict[str, float | int] | None = None
    #: Whether the weight trains (None: the file holds no architecture to say).
    trainable: bool | None = None


@dataclass
class WeightsReport:
    """Every weight tensor of a file."""

    path: str
    kind: str
    keras_version: str | None
    rows: list[WeightRow]
    has_architecture: bool

    @property
    def total_bytes(self) -> int:
        return sum(row.bytes for row in self.rows)

    @property
    def total_params(self) -> int:
        return sum(int(np.prod(row.shape, dtype=np.int64)) for row in self.rows)


def weights(path: PathLike, *, stats: bool = False) -> WeightsReport:
    """List every weight tensor: layer, name, shape, dtype, bytes; with ``stats`` also min,
    max, mean, std and NaN/Inf counts (reading one tensor at a time).

    Example:
        >>> for row in modeltool.weights("model.h5").rows:  # doctest: +SKIP
        ...     print(row.path, row.name, row.shape)
    """
    from ..formats.onnx_file import sniff_kind as sniff_onnx
    from .summary import trainable_weights

    if sniff_onnx(path):
        from .onnx_inspect import onnx_weights

        return onnx_weights(path, stats=stats)
    from ..formats.savedmodel import read_savedmodel_light
    from ..formats.savedmodel import sniff_kind as sniff_savedmodel

    # Names, shapes and dtypes of a SavedModel's variables need no TensorFlow; values do.
    opener = read_savedmodel_light if not stats and sniff_savedmodel(path) else open_artifact
    with opener(path) as artifact:
        flags = trainable_weights(artifact) or {}
        rows = [WeightRow(e.layer, e.path, e.name, e.shape, e.dtype, e.nbytes,
                          tensor_stats(e) if stats else None, flags.get(e.key))
                for e in artifact.weights]
        return WeightsReport(os.fspath(path), artifact.kind, artifact.keras_version, rows,
                             artifact.has_architecture)


def tensor_stats(entry: WeightEntry) -> dict[str, float | int]:
    """min, max, mean, std (of the finite values), NaN and Inf counts of one tensor, read in
    bounded blocks (``ops.tensor_stats``)."""
    from .tensor_stats import entry_blocks, moments

    return _stats_dict(moments(entry_blocks(entry)))


def array_stats(array: np.ndarray) -> dict[str, float | int]:
    """min, max, mean, std (of the finite values), NaN and Inf counts of an array."""
    from .tensor_stats import moments

    return _stats_dict(moments([array]))


def _stats_dict(found: Moments) -> dict[str, float | int]:
    if not found.size:
        return {"min": 0.0, "max": 0.0, "mean": 0.0, "std": 0.0, "nan": 0, "inf": 0}
    if not found.count:
        return {"min": math.nan, "max": math.nan, "mean": math.nan, "std": math.nan,
                "nan": found.nan, "inf": found.inf}
    return {"min": found.min, "max": found.max, "mean": found.mean, "std": found.std,
            "nan": found.nan, "inf": found.inf}
