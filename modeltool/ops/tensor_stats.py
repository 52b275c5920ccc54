"""Statistics of weight tensors in bounded blocks: the one home of ``weights --stats`` and the
report's weight table.

A tensor is read in blocks of rows (``formats.blocks``: 16 MB at a time, straight from a
``.keras`` archive with its CRC-32 checked, or sliced from an HDF5 dataset), never whole and
never copied whole to float64. Each block gives its count, min, max, NaN/Inf/zero counts and,
in float64, its mean and sum of squared deviations; blocks are merged with Chan's formula
(exact for one block: the same operations as numpy's ``mean`` and ``std``). The report's
histogram, which needs the range first, is a second pass over the blocks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..artifact import WeightEntry


@dataclass
class Moments:
    """What one pass over a tensor's values gives: counts, range, mean and the sum of squared
    deviations (``m2``) of its finite values."""

    size: int = 0
    count: int = 0
    min: float = math.inf
    max: float = -math.inf
    mean: float = 0.0
    m2: float = 0.0
    nan: int = 0
    inf: int = 0
    zeros: int = 0

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.count) if self.count else math.nan

    def add(self, block: np.ndarray) -> None:
        """Take in one block of values (any shape)."""
        finite = finite_values(block, self)
        self.size += int(block.size)
        count = int(finite.size)
        if not count:
            return
        self.zeros += count - int(np.count_nonzero(finite))
        self.min = min(self.min, float(finite.min()))
        self.max = max(self.max, float(finite.max()))
        values = finite.astype(np.float64)
        mean = float(np.add.reduce(values)) / count
        np.subtract(values, mean, out=values)
        np.multiply(values, values, out=values)
        m2 = float(np.add.reduce(values))
        if not self.count:
            self.count, self.mean, self.m2 = count, mean, m2
            return
        total = self.count + count
        delta = mean - self.mean
        self.mean += delta * count / total
        self.m2 += m2 + delta * delta * self.count * count / total
        self.count = total


def finite_values(block: np.ndarray, moments: Moments | None = None) -> np.ndarray:
    """The finite values of a block, flat (complex values by magnitude); counts its NaN and
    Inf into ``moments``. ValueError for values that are not numbers."""
    values = np.asarray(block).reshape(-1)
    kind = _kind(values.dtype)
    if kind == "c":
        values = np.abs(values)
    elif kind != "f":
        return values  # integers and booleans are all finite
    finite_mask = np.isfinite(values)
    if finite_mask.all():
        return values
    if moments is not None:
        nan = int(np.count_nonzero(np.isnan(values)))
        moments.nan += nan
        moments.inf += int(values.size - np.count_nonzero(finite_mask)) - nan
    return values[finite_mask]


def _kind(dtype: np.dtype) -> str:
    """``f`` (floats, ml-dtypes' bfloat16 and float8 too), ``c``, or ``i`` (integers and
    booleans, ml-dtypes' int4 too); ValueError for anything else."""
    if dtype.kind in "fc":
        return dtype.kind
    if dtype.kind in "iub":
        return "i"
    if dtype.kind == "V" and dtype.names is None:  # ml-dtypes' types
        if dtype.name.startswith(("bfloat", "float")):
            return "f"
        if dtype.name.startswith(("int", "uint")):
            return "i"
    raise ValueError(f"{dtype} values are not numbers")


def entry_blocks(entry: WeightEntry) -> Iterator[np.ndarray]:
    """A tensor's values in bounded blocks of rows (each valid until the next is asked for)."""
    from ..formats.blocks import blocks, rows_per_block

    if not entry.shape:
        yield np.asarray(entry.read())
        return
    yield from blocks(entry, rows_per_block(entry))


def moments(blocks: Iterable[np.ndarray]) -> Moments:
    """One pass over ``blocks``."""
    result = Moments()
    for block in blocks:
        result.add(block)
    return result


def histogram(blocks: Iterable[np.ndarray], low: float, high: float, bins: int) -> list[int]:
    """Counts of the finite values of ``blocks`` in ``bins`` equal bins over ``[low, high]``
    (numpy's ``histogram`` of the values as float64)."""
    counts = np.zeros(bins, dtype=np.int64)
    for block in blocks:
        finite = finite_values(block)
        if finite.size:
            counts += np.histogram(finite.astype(np.float64), bins=bins, range=(low, high))[0]
    return [int(c) for c in counts]
