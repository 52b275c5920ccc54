"""Reading one weight tensor in blocks of rows, so that big tensors never sit in memory whole
(``diff``) or are read once into their final form (``convert --dtype``).

Tensors of a ``.keras`` archive are read by rows straight from the archive (its CRC-32 checked
as they stream by); other tensors stored in HDF5 are sliced by rows through the guarded dataset;
other sources are read whole and split.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, cast

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
    from . import _h5

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
        from .half import float32_to_float16

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
    rows = rows_per_block(entry)
    start = 0
    for block in blocks(entry, rows):
        cast_into(block, out[start:start + len(block)])
        start += len(block)
    return out


class CastLoader:
    """The loader of a cast tensor: called, the whole tensor converted (``read_as``);
    ``write_into(dataset)`` converts a big tensor block by block into reused buffers and
    writes each block to the new HDF5 dataset (the cast tensor is never whole in memory; when
    its bytes lie as they are in a ``.keras`` archive or an HDF5 file, worker threads read and
    convert blocks while the ones before are written)."""

    def __init__(self, entry: WeightEntry, dtype: np.dtype[Any]) -> None:
        self.entry, self.dtype = entry, dtype

    def __call__(self) -> np.ndarray:
        return read_as(self.entry, self.dtype)

    def write_into(self, dataset: h5py.Dataset) -> None:
        """Fill ``dataset`` (the entry's shape, this dtype) with the converted tensor."""
        entry = self.entry
        archive_rows = row_reader(entry) is not None
        if entry.nbytes <= BLOCK_BYTES or (not archive_rows and dataset_of(entry) is None):
            dataset[...] = self()
            return
        rows = rows_per_block(entry)
        source = entry.loader if archive_rows else _hdf5_rows(entry)
        if source is not None:
            _cast_rows_overlapped(source, entry.shape[0], rows, dataset, self.dtype)
            return
        buffer = np.empty((rows, *entry.shape[1:]), self.dtype)
        start = 0
        for block in blocks(entry, rows):
            out = buffer[:len(block)]
            cast_into(block, out)
            dataset[start:start + len(block)] = out
            start += len(block)


#: Bytes per write of a worker. The file system serialises writes to one file: two workers
#: writing 4 MB shares wait on each other far more than in 256 KB pieces (measured: the
#: float16 cast of a 1 GB model takes 1.1-1.3 s with whole shares, 0.9-1.05 s in pieces).
WRITE_PIECE = 256 << 10

#: The cast's worker threads, kept for the process (by process id: a forked child starts its
#: own) with their buffers, and each calling thread's block buffers (big tensors follow one
#: another: fresh threads and buffers for each would page-fault their memory anew each time).
_POOLS: dict[tuple[int, int], Any] = {}
_PER_THREAD = threading.local()


def _thread_array(name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    """A C-contiguous array of ``shape`` and ``dtype`` over this thread's buffer ``name``,
    kept and grown as needed."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer: np.ndarray | None = getattr(_PER_THREAD, name, None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = np.empty(nbytes, np.uint8)
        setattr(_PER_THREAD, name, buffer)
    return buffer[:nbytes].view(dtype).reshape(shape)


def _pool(workers: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    key = (os.getpid(), workers)
    pool = _POOLS.get(key)
    if pool is None:
        pool = _POOLS[key] = ThreadPoolExecutor(max_workers=workers,
                                                thread_name_prefix="modeltool-cast")
    return pool


def _block_buffers(shape: tuple[int, ...], dtype: np.dtype[Any]) -> list[np.ndarray]:
    """Two C-contiguous arrays of ``shape`` and ``dtype`` over this thread's kept buffers."""
    return [_thread_array(f"block{index}", shape, dtype) for index in range(2)]


def _workers() -> int:
    """Conversion threads: one per CPU this process may use, at most two."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(2, cpus))


def _cast_rows_overlapped(loader: Any, length: int, rows: int, dataset: h5py.Dataset,
                          dtype: np.dtype[Any]) -> None:
    """Cast rows ``[0, length)`` of a tensor into ``dataset``, block by block. ``loader`` reads
    rows in any thread (a ``.keras`` archive's StreamingLoader, or _HDF5Rows). Worker threads
    (one per CPU, at most two) each read a share of a block into their own buffer, take its
    CRC-32 where the source keeps one, convert it and write it in place in the new file
    (``os.pwrite`` at the dataset's allocated bytes, see ``_placement``), while this thread
    counts the CRCs into the archive member's checksum in order. numpy, the CRC-32, the
    reads and the writes all release the GIL. (Reading costs what mapping the file does, and
    a file cut short by another process is then an error, not a SIGBUS.)

    Where the dataset cannot be written in place, the workers convert into two alternating
    buffers and this thread writes each block through h5py while the next is converted."""
    from concurrent.futures import Future, wait

    workers = _workers()
    pool = _pool(workers)
    tail = tuple(dataset.shape[1:])
    placement = _placement(dataset)
    buffers = _block_buffers((rows, *tail), dtype) if placement is None else None
    in_flight: list[tuple[list[tuple[int, int, Future[int]]], np.ndarray | None, int, int]] = []
    try:
        for index, start in enumerate(range(0, length, rows)):
            stop = min(start + rows, length)
            cuts = [start + (stop - start) * part // workers for part in range(workers + 1)]
            shares = [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
            if buffers is None:
                out = None
                jobs = [(a, b, pool.submit(_convert_rows_in_place, loader, a, b, tail, dtype,
                                           placement)) for a, b in shares]
            else:
                out = buffers[index % 2][:stop - start]
                jobs = [(a, b, pool.submit(_convert_rows, loader, a, b,
                                           out[a - start:b - start])) for a, b in shares]
            in_flight.append((jobs, out, start, stop))
            if len(in_flight) == 2:
                _finish_block(loader, in_flight[0], dataset)
                in_flight.pop(0)  # only once done: a failure still waits for its jobs
        while in_flight:
            _finish_block(loader, in_flight[0], dataset)
            in_flight.pop(0)
        if placement is not None and placement.window is not None:
            placement.window.wrote_directly(placement.offset + dataset.id.get_storage_size())
    finally:  # on failure: no worker may still fill a buffer or write
        pending = [future for jobs, _, _, _ in in_flight for _, _, future in jobs]
        for future in pending:
            future.cancel()
        wait(pending)


class _Placement(NamedTuple):
    """Where a dataset's bytes go in the file being written: ``position`` of its first byte
    for ``os.pwrite`` on ``descriptor``; ``offset`` within the HDF5 file, and the zip member
    ``window`` it is written through (None for an HDF5 file of its own)."""

    descriptor: int
    position: int
    offset: int
    row_bytes: int
    window: Any


def _placement(dataset: h5py.Dataset) -> _Placement | None:
    """Where ``dataset`` (created by ``_h5.write_entry``: allocated at once, never filled) can
    be written in place, else None: a file HDF5 writes by path, or a ``.keras`` archive's
    weights member (``_zip.direct_writes``)."""
    from . import _h5, _zip

    offset = _h5.contiguous_offset(dataset)
    if offset is None or not dataset.shape:
        return None
    row_bytes = int(np.prod(dataset.shape[1:], dtype=np.int64)) * dataset.dtype.itemsize
    if dataset.file.driver == "sec2":
        return _Placement(dataset.file.id.get_vfd_handle(), offset, offset, row_bytes, None)
    window = _zip.window_of(dataset.file.id.id)
    if window is None:
        return None
    descriptor, position = window.direct(offset)
    return _Placement(descriptor, position, offset, row_bytes, window)


class _HDF5Rows:
    """Rows of a contiguous, unfiltered dataset of an HDF5 file opened by path, read with
    pread on the file's own descriptor (safe in any thread; HDF5 keeps no checksum of the
    values, so there is nothing to credit)."""

    checksummed = False

    def __init__(self, dataset: h5py.Dataset, descriptor: int, offset: int,
                 values_dtype: np.dtype[Any], display: str | None) -> None:
        self.dataset, self.descriptor, self.offset, self.display = (dataset, descriptor,
                                                                    offset, display)
        self.values_dtype = values_dtype
        self.row_bytes = int(np.prod(dataset.shape[1:], dtype=np.int64)) \
            * self.values_dtype.itemsize

    def read_rows(self, start: int, stop: int, out: np.ndarray, *,
                  checksum: bool = False) -> np.ndarray:
        from ._zip import read_at

        view = out.reshape(-1).view(np.uint8).data
        if read_at(self.descriptor, view, self.offset + start * self.row_bytes) < len(view):
            raise CorruptFileError(f"weights {self.dataset.name} are cut short",
                                   path=self.display, hint="the file may be truncated")
        return out

    def credit_rows(self, start: int, stop: int, crc: int) -> None:
        """Nothing to count: HDF5 datasets carry no checksum."""


def _hdf5_rows(entry: WeightEntry) -> _HDF5Rows | None:
    """A thread-safe row reader for ``entry``'s dataset when its bytes lie as they are in a
    file HDF5 opened by path (the sec2 driver), else None (it is then read through h5py).
    The first row read both ways must agree."""
    from . import _h5

    dataset = dataset_of(entry)
    if dataset is None or not dataset.shape or dataset.file.driver != "sec2":
        return None
    try:
        _h5.check_dataset(dataset, entry.location)
        offset = _h5.contiguous_offset(dataset)
        if offset is None:
            return None
        rows = _HDF5Rows(dataset, dataset.file.id.get_vfd_handle(), offset,
                         _h5.value_dtype(dataset), entry.location)
        first = _h5.as_bfloat16(dataset, np.asarray(dataset[:1]))
        raw = rows.read_rows(0, 1, np.empty(first.shape, rows.values_dtype))
    except (CorruptFileError, OSError, ValueError, TypeError, *_h5.READ_ERRORS):
        return None
    return rows if raw.tobytes() == first.tobytes() else None


def _convert_rows(loader: Any, start: int, stop: int, out: np.ndarray) -> int:
    """Rows ``[start, stop)`` read into this thread's buffer and converted into ``out``;
    returns their CRC-32 (0 when the source keeps none)."""
    from ._zip import crc32

    dtype = loader.values_dtype
    source = _thread_array("source", out.shape, dtype)
    block = loader.read_rows(start, stop, source, checksum=False)
    crc = crc32(block) if getattr(loader, "checksummed", True) else 0
    cast_into(block, out)
    return int(crc)


def _convert_rows_in_place(loader: Any, start: int, stop: int, tail: tuple[int, ...],
                           dtype: np.dtype[Any], placement: _Placement) -> int:
    """Rows ``[start, stop)`` converted into this thread's output buffer and written at their
    place in the new file; returns their CRC-32 as ``_convert_rows`` does."""
    block = _thread_array("converted", (stop - start, *tail), dtype)
    crc = _convert_rows(loader, start, stop, block)
    view = block.reshape(-1).view(np.uint8).data
    nbytes = len(view)
    position, done = placement.position + start * placement.row_bytes, 0
    while done < nbytes:
        done += os.pwrite(placement.descriptor, view[done:done + WRITE_PIECE], position + done)
    return crc


def _finish_block(loader: Any, job: tuple[list[Any], np.ndarray | None, int, int],
                  dataset: h5py.Dataset) -> None:
    """Count a block's CRC-32s in order; write it through h5py when it was not written in
    place."""
    jobs, out, start, stop = job
    for a, b, converted in jobs:
        loader.credit_rows(a, b, converted.result())
    if out is not None:
        dataset[start:stop] = out
