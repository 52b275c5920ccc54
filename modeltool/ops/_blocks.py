"""Reading one weight tensor in blocks of rows, so that big tensors never sit in memory whole
(``diff``) or are read once into their final form (``convert --dtype``).

Tensors stored in HDF5 (every Keras file kind) are sliced by rows through the guarded dataset;
other sources are read whole and split.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

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


def blocks(entry: WeightEntry, rows: int) -> Iterator[np.ndarray]:
    """The tensor in blocks of ``rows`` rows (the whole tensor when it is that small)."""
    dataset = dataset_of(entry)
    if not entry.shape or entry.shape[0] <= rows:
        yield np.asarray(entry.read())
        return
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


def read_as(entry: WeightEntry, dtype: np.dtype[np.generic]) -> np.ndarray:
    """The tensor converted to ``dtype``, read block by block into the result (the source
    tensor is never whole in memory)."""
    if dataset_of(entry) is None or entry.nbytes <= BLOCK_BYTES:
        return np.asarray(entry.read()).astype(dtype)
    out = np.empty(entry.shape, dtype)
    rows = rows_per_block(entry)
    start = 0
    for block in blocks(entry, rows):
        out[start:start + len(block)] = block
        start += len(block)
    return out
