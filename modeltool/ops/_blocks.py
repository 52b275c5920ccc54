"""Reading one weight tensor in blocks of rows, so that big tensors never sit in memory whole
(``diff``) or are read once into their final form (``convert --dtype``).

Tensors of a ``.keras`` archive are read by rows straight from the archive (its CRC-32 checked
as they stream by); other tensors stored in HDF5 are sliced by rows through the guarded dataset;
other sources are read whole and split.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import cast

import h5py
import numpy as np

from ..artifact import WeightEntry
from ..errors import CorruptFileError

#: Largest block of one tensor held in memory at a time. 16 MB stays under glibc's largest
#: mmap threshold, so a freed block's memory is reused by the next (no fresh page faults).
BLOCK_BYTES = 16 << 20


def _row_bytes(entry: WeightEntry) -> int:
    return max(1, entry.nbytes // entry.shape[0]) if entry.shape and entry.shape[0] else 1


def rows_per_block(*entries: WeightEntry, block_bytes: int | None = None) -> int:
    """Rows per block so that no block of any of ``entries`` exceeds ``block_bytes``."""
    limit = block_bytes if block_bytes is not None else BLOCK_BYTES
    return max(1, limit // max(_row_bytes(e) for e in entries))


def dataset_of(entry: WeightEntry) -> h5py.Dataset | None:
    """The HDF5 dataset behind ``entry``, when its loader reads one."""
    loader = entry.loader
    if isinstance(loader, functools.partial) and loader.args \
            and isinstance(loader.args[0], h5py.Dataset):
        return loader.args[0]
    return None


def row_reader(entry: WeightEntry) -> Callable[[int, int, np.ndarray | None], np.ndarray] | None:
    """``read_rows(start, stop, out)`` when ``entry`` streams from a ``.keras`` archive's
    contiguous dataset (see formats.keras_archive.StreamingLoader), else None."""
    read_rows = getattr(entry.loader, "read_rows", None)
    if read_rows is None or not getattr(entry.loader, "contiguous", False):
        return None
    return cast(Callable[[int, int, "np.ndarray | None"], np.ndarray], read_rows)


def blocks(entry: WeightEntry, rows: int) -> Iterator[np.ndarray]:
    """The tensor in blocks of ``rows`` rows (the whole tensor when it is that small).

    A block may be overwritten by the next one: use it before asking for the next."""
    if not entry.shape or entry.shape[0] <= rows:
        yield np.asarray(entry.read())
        return
    read_rows = row_reader(entry)
    if read_rows is not None:
        buffer: np.ndarray | None = None
        for start in range(0, entry.shape[0], rows):
            stop = min(start + rows, entry.shape[0])
            if buffer is None or stop - start != len(buffer):
                buffer = None  # the last, shorter block gets its own array
            buffer = read_rows(start, stop, buffer)
            yield buffer
        return
    dataset = dataset_of(entry)
    if dataset is None:
        whole = np.asarray(entry.read())
        for start in range(0, entry.shape[0], rows):
            yield whole[start:start + rows]
        return
    from ..formats import _h5

    _h5.check_dataset(dataset, entry.location)
    for start in range(0, entry.shape[0], rows):
        try:
            yield _h5.as_bfloat16(dataset, np.asarray(dataset[start:start + rows]))
        except _h5.READ_ERRORS as err:
            raise CorruptFileError(f"cannot read weights {dataset.name} ({_h5.short(err)})",
                                   path=entry.location) from err


def cast_into(source: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = source`` converted, float32 -> float16 through the fast exact path."""
    if source.dtype == np.float32 and out.dtype == np.float16 and source.flags.c_contiguous \
            and out.flags.c_contiguous:
        from ._half import float32_to_float16

        float32_to_float16(source, out)
    else:
        np.copyto(out, source, casting="unsafe")


def read_as(entry: WeightEntry, dtype: np.dtype[np.generic]) -> np.ndarray:
    """The tensor converted to ``dtype``, read block by block into the result (the source
    tensor is never whole in memory; a ``.keras`` archive's blocks are read into one reused
    buffer)."""
    if entry.nbytes <= BLOCK_BYTES or (row_reader(entry) is None and dataset_of(entry) is None):
        source = np.ascontiguousarray(entry.read())
        out = np.empty(source.shape, dtype)
        cast_into(source, out)
        return out
    out = np.empty(entry.shape, dtype)
    start = 0
    for block in blocks(entry, rows_per_block(entry)):
        cast_into(block, out[start:start + len(block)])
        start += len(block)
    return out
