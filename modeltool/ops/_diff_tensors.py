"""``diff``, weights side: one pair of tensors compared in blocks of bounded size. Identical
blocks are told by a hash of their bytes (no float comparison, NaN-safe); the others get max
abs / max rel difference and cosine similarity, accumulated block by block (float32 arithmetic
for float32 or narrower data, dot products summed in float64)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..artifact import WeightEntry
from ..formats.blocks import blocks, rows_per_block
from .diff_report import TensorDiff

#: Elements per step of the statistics (keeps the temporaries small and in cache).
_STAT_ELEMENTS = 1 << 18
#: Elements per dot product: float32 BLAS within a chunk, float64 across chunks.
_DOT_ELEMENTS = 1 << 14


def _same_head(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the first bytes agree: blocks that differ there need no hash to tell."""
    head_a = np.ascontiguousarray(a).reshape(-1).view(np.uint8)[:4096]
    head_b = np.ascontiguousarray(b).reshape(-1).view(np.uint8)[:4096]
    return head_a.shape == head_b.shape and bool(np.array_equal(head_a, head_b))


def _block_digest(block: np.ndarray) -> bytes:
    return hashlib.sha1(np.ascontiguousarray(block).view(np.uint8).data,
                        usedforsecurity=False).digest()


def digest(entry: WeightEntry) -> str:
    """The SHA-1 of a tensor's bytes, read block by block (renames are matched by it)."""
    hasher = hashlib.sha1(usedforsecurity=False)
    for block in blocks(entry, rows_per_block(entry)):
        hasher.update(np.ascontiguousarray(block).view(np.uint8).data)
    return hasher.hexdigest()


_BUFFERS: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _buffers(work: np.dtype[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three scratch arrays of _STAT_ELEMENTS, made once per dtype and reused."""
    if work.name not in _BUFFERS:
        _BUFFERS[work.name] = (np.empty(_STAT_ELEMENTS, work), np.empty(_STAT_ELEMENTS, work),
                               np.empty(_STAT_ELEMENTS, work))
    return _BUFFERS[work.name]


@dataclass
class _Stats:
    max_abs: float = 0.0
    max_rel: float = 0.0
    dot: float = 0.0
    norm_a: float = 0.0
    norm_b: float = 0.0
    outside: int = 0
    nan: bool = False

    def add(self, a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> None:
        """Fold one pair of blocks in: float32 arithmetic where the data is float32 or
        narrower (float64 otherwise), dot products per chunk summed in float64. The
        temporaries are three reused buffers (fresh ones would cost page faults per chunk)."""
        flat_a = a.reshape(-1)
        flat_b = b.reshape(-1)
        wide = a.dtype.itemsize > 4 or b.dtype.itemsize > 4 or a.dtype.kind not in "fV" \
            or b.dtype.kind not in "fV"
        work = np.dtype(np.float64 if wide else np.float32)
        tiny = np.finfo(np.float64).tiny if wide else np.finfo(np.float32).tiny
        delta_buf, scale_buf, spare_buf = _buffers(work)
        for start in range(0, flat_a.size, _STAT_ELEMENTS):
            x = flat_a[start:start + _STAT_ELEMENTS].astype(work, copy=False)
            y = flat_b[start:start + _STAT_ELEMENTS].astype(work, copy=False)
            count = x.size
            delta, scale, spare = delta_buf[:count], scale_buf[:count], spare_buf[:count]
            np.subtract(x, y, out=delta)
            np.abs(delta, out=delta)
            peak = float(delta.max()) if count else 0.0
            if math.isnan(peak):
                self._add_nonfinite(x, y, delta.copy(), atol, rtol)
                continue
            self.max_abs = max(self.max_abs, peak)
            np.abs(y, out=spare)
            if atol == 0.0 and rtol == 0.0:
                self.outside += int(np.count_nonzero(delta))
            else:
                np.multiply(spare, rtol, out=scale)
                scale += atol
                self.outside += int(np.count_nonzero(np.greater(delta, scale, out=scale)))
            # where both values are 0 the difference is 0 too: tiny keeps 0/0 out
            np.abs(x, out=scale)
            np.maximum(scale, spare, out=scale)
            scale += tiny
            np.divide(delta, scale, out=delta)
            self.max_rel = max(self.max_rel, float(delta.max()) if count else 0.0)
            self._dots(x, y)

    def _dots(self, x: np.ndarray, y: np.ndarray) -> None:
        for start in range(0, x.size, _DOT_ELEMENTS):
            u = x[start:start + _DOT_ELEMENTS]
            v = y[start:start + _DOT_ELEMENTS]
            self.dot += float(np.dot(u, v))
            self.norm_a += float(np.dot(u, u))
            self.norm_b += float(np.dot(v, v))

    def _add_nonfinite(self, x: np.ndarray, y: np.ndarray, delta: np.ndarray, atol: float,
                       rtol: float) -> None:
        """The slow path for blocks holding NaN: NaN counts as outside any tolerance."""
        self.nan = True
        self.outside += int(np.count_nonzero(~(delta <= atol + rtol * np.abs(y))))
        finite = np.isfinite(x) & np.isfinite(y)
        x, y, delta = x[finite], y[finite], delta[finite]
        if delta.size:
            self.max_abs = max(self.max_abs, float(delta.max()))
            scale = np.maximum(np.abs(x), np.abs(y)) + np.finfo(x.dtype).tiny
            self.max_rel = max(self.max_rel, float((delta / scale).max()))
        self._dots(x, y)

    @property
    def cosine(self) -> float:
        if self.norm_a == 0.0 and self.norm_b == 0.0:
            return 1.0
        if self.norm_a == 0.0 or self.norm_b == 0.0:
            return 0.0
        return self.dot / math.sqrt(self.norm_a * self.norm_b)


def compare_tensors(layer: str, ea: WeightEntry, eb: WeightEntry, atol: float,
                    rtol: float) -> TensorDiff:
    """One pair of tensors compared block by block (the status and, for differing ones, the
    statistics)."""
    result = TensorDiff(layer, ea.name, "identical", ea.shape, eb.shape, ea.dtype, eb.dtype)
    if ea.shape != eb.shape:
        result.status = "shape"
        return result
    stats = _Stats()
    numeric = True
    identical = ea.dtype == eb.dtype
    rows = rows_per_block(ea, eb)
    for block_a, block_b in zip(blocks(ea, rows), blocks(eb, rows)):
        if ea.dtype == eb.dtype and _same_head(block_a, block_b) \
                and _block_digest(block_a) == _block_digest(block_b):
            _accumulate_norms(stats, block_a)  # an identical block: no float comparison
            continue
        identical = False
        try:
            stats.add(block_a, block_b, atol, rtol)
        except (TypeError, ValueError):
            numeric = False
    if identical:
        return result
    if numeric:
        result.max_abs, result.max_rel, result.cosine = \
            stats.max_abs, stats.max_rel, stats.cosine
    if ea.dtype != eb.dtype:
        result.status = "close" if numeric and not stats.outside and not stats.nan \
            and (atol or rtol) else "dtype"
    else:
        result.status = "close" if numeric and not stats.outside and not stats.nan \
            else "different"
    return result


def _accumulate_norms(stats: _Stats, block: np.ndarray) -> None:
    """An identical block adds to both norms and to the dot product equally."""
    flat = block.reshape(-1)
    if flat.dtype.kind not in "fiubV" or flat.dtype.kind == "V" and flat.dtype.name != "bfloat16":
        return
    work = np.float32 if flat.dtype.kind in "fV" and flat.dtype.itemsize <= 4 else np.float64
    for start in range(0, flat.size, _STAT_ELEMENTS):
        x = flat[start:start + _STAT_ELEMENTS].astype(work, copy=False)
        if not np.isfinite(x).all():
            x = x[np.isfinite(x)]
        for part in range(0, x.size, _DOT_ELEMENTS):
            u = x[part:part + _DOT_ELEMENTS]
            value = float(np.dot(u, u))
            stats.dot += value
            stats.norm_a += value
            stats.norm_b += value
