"""``weights``: every weight tensor of a file, with optional statistics."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..artifact import WeightEntry
from ..formats import open_artifact

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
    """min, max, mean, std, NaN and Inf counts of one tensor."""
    return array_stats(np.asarray(entry.read()))


def array_stats(array: np.ndarray) -> dict[str, float | int]:
    """min, max, mean, std (of the finite values), NaN and Inf counts of an array."""
    if array.dtype.kind not in "fc" or array.size == 0:
        finite = array.astype(np.float64) if array.size else np.zeros(1)
        return {"min": float(finite.min()), "max": float(finite.max()),
                "mean": float(finite.mean()), "std": float(finite.std()), "nan": 0, "inf": 0}
    nan = int(np.isnan(array).sum())
    inf = int(np.isinf(array).sum())
    finite = array[np.isfinite(array)].astype(np.float64)
    if finite.size == 0:
        return {"min": math.nan, "max": math.nan, "mean": math.nan, "std": math.nan,
                "nan": nan, "inf": inf}
    return {"min": float(finite.min()), "max": float(finite.max()), "mean": float(finite.mean()),
            "std": float(finite.std()), "nan": nan, "inf": inf}
