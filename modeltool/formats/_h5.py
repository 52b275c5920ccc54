"""Guarded HDF5 access shared by every HDF5-based format.

No soft or external links are followed, no virtual or external datasets are read, and a dataset
whose declared size is far beyond what the file stores is refused (a "shape bomb"). Long string
lists are stored by Keras as chunked attributes (``layer_names0``, ``layer_names1``, ...).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from typing import IO, Any, TypeVar

import h5py
import numpy as np

from ..errors import CorruptFileError, IntegrityError, UnsafeContentError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Keras' limit for one attribute in an object header; longer lists are chunked.
HDF5_OBJECT_HEADER_LIMIT = 64512
#: What h5py (or a zip member read through it) raises on damaged input.
READ_ERRORS = (OSError, RuntimeError, ValueError, TypeError, KeyError, EOFError,
               zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError)
#: A dataset may declare at most this many bytes more than the file can hold.
_MAX_UNBACKED_BYTES = 1 << 30


def is_hdf5(path: str | os.PathLike[str]) -> bool:
    """True when the file starts with the HDF5 signature (at offset 0, 512, 1024, ...)."""
    try:
        with open(path, "rb") as handle:
            for offset in (0, 512, 1024, 2048):
                handle.seek(offset)
                if handle.read(8) == HDF5_SIGNATURE:
                    return True
    except OSError:
        return False
    return False


def open_h5(source: str | os.PathLike[str] | IO[bytes], display: str | os.PathLike[str],
            mode: str = "r") -> h5py.File:
    """Open an HDF5 file for reading, translating h5py's errors into CorruptFileError."""
    try:
        return h5py.File(source, mode)
    except READ_ERRORS as err:
        raise CorruptFileError(f"not a readable HDF5 file ({short(err)})", path=display,
                               hint="the file may be truncated or damaged") from err


T = TypeVar("T")


def read_or_close(handle: h5py.File, display: str | os.PathLike[str],
                  read: Callable[[], T]) -> T:
    """``read()``; on any failure close ``handle``, and h5py's errors become CorruptFileError."""
    try:
        return read()
    except READ_ERRORS as err:
        handle.close()
        raise CorruptFileError(f"damaged HDF5 structure ({short(err)})", path=display,
                               hint="the file may be truncated or damaged") from err
    except BaseException:
        handle.close()
        raise


def short(err: BaseException) -> str:
    """The first clause of an h5py error message."""
    text = str(err).split("(")[0].strip().rstrip(":") or type(err).__name__
    return text[:160]


def check_link(parent: h5py.Group, name: str, display: str | os.PathLike[str]) -> None:
    """Refuse soft and external links: a Keras file never needs them."""
    try:
        link = parent.get(name, getlink=True)
    except READ_ERRORS as err:
        raise CorruptFileError(f"cannot read HDF5 object {parent.name}/{name} ({short(err)})",
                               path=display) from err
    if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
        kind = "external" if isinstance(link, h5py.ExternalLink) else "soft"
        raise UnsafeContentError(f"HDF5 {kind} link at {_join(parent.name, name)}", path=display,
                                 hint="modeltool never follows links inside model files")


def _join(parent: str, name: str) -> str:
    return f"{parent.rstrip('/')}/{name}"


def child(parent: h5py.Group, name: str, display: str | os.PathLike[str]) -> Any:
    """``parent[name]`` after the link check, with errors translated."""
    for i, part in enumerate(name.split("/")):
        if not part:
            continue
        check_link(parent, part, display)
        try:
            parent = parent[part]
        except READ_ERRORS as err:
            raise CorruptFileError(f"cannot read HDF5 object {_join(parent.name, part)} "
                                   f"({short(err)})", path=display) from err
        if i < len(name.split("/")) - 1 and not isinstance(parent, h5py.Group):
            raise CorruptFileError(f"{parent.name} is not an HDF5 group", path=display)
    return parent


def group(parent: h5py.Group, name: str, display: str | os.PathLike[str]) -> h5py.Group:
    obj = child(parent, name, display)
    if not isinstance(obj, h5py.Group):
        raise CorruptFileError(f"{obj.name} should be an HDF5 group", path=display)
    return obj


def dataset(parent: h5py.Group, name: str, display: str | os.PathLike[str],
            layer: str | None = None) -> h5py.Dataset:
    """A dataset checked for external storage, virtual sources and absurd declared sizes."""
    obj = child(parent, name, display)
    if not isinstance(obj, h5py.Dataset):
        raise CorruptFileError(f"{obj.name} should be an HDF5 dataset", path=display)
    check_dataset(obj, display, layer)
    return obj


def bfloat16() -> np.dtype:
    """numpy's view of bfloat16 (ml-dtypes, loaded on first use)."""
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def value_dtype(ds: h5py.Dataset) -> np.dtype:
    """The dtype of a dataset's values: Keras 3 stores bfloat16 as a 2-byte opaque type (with a
    ``dtype`` attribute saying so; a 2-byte opaque type means nothing else in a Keras file)."""
    dtype = ds.dtype
    if dtype.kind == "V" and dtype.itemsize == 2 and dtype.names is None:
        return bfloat16()
    return dtype


def _where(ds: h5py.Dataset, layer: str | None) -> str:
    return f"layer {layer!r} (HDF5 dataset {ds.name})" if layer else f"HDF5 dataset {ds.name}"


def contiguous_offset(ds: h5py.Dataset) -> int | None:
    """Where a dataset's bytes start in its file when they are stored there as they are
    (contiguous, no filter, not external, every byte allocated), else None."""
    offset = ds.id.get_offset()
    if offset is None or ds.chunks is not None or ds.external:
        return None
    if ds.shape is None:  # a null dataspace holds no values
        return None
    expected = int(np.prod(ds.shape, dtype=np.int64)) * ds.dtype.itemsize
    return int(offset) if ds.id.get_storage_size() == expected else None


def check_dataset(ds: h5py.Dataset, display: str | os.PathLike[str],
                  layer: str | None = None) -> None:
    try:
        if ds.is_virtual:
            raise UnsafeContentError(f"virtual HDF5 dataset {ds.name}", path=display)
        if ds.external:
            raise UnsafeContentError(f"HDF5 dataset {ds.name} stores its data in another file",
                                     path=display)
        shape = ds.shape
        dtype = value_dtype(ds)
    except UnsafeContentError:
        raise
    except READ_ERRORS as err:
        raise CorruptFileError(f"cannot read {_where(ds, layer)} ({short(err)})",
                               path=display) from err
    if dtype.kind not in "biufc?" and dtype != bfloat16():
        raise CorruptFileError(f"{_where(ds, layer)} has non-numeric type {ds.dtype}",
                               path=display)
    if shape is not None:
        declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if declared > _MAX_UNBACKED_BYTES:
            stored = ds.id.get_storage_size()
            file_size = os.fstat(ds.file.id.get_vfd_handle()).st_size \
                if ds.file.driver == "sec2" else None
            limit = max(stored * 2000, file_size or 0) if ds.compression else (file_size or stored)
            if declared > limit + _MAX_UNBACKED_BYTES:
                raise CorruptFileError(
                    f"{_where(ds, layer)} declares shape {tuple(shape)} ({declared} bytes) "
                    f"but the file holds only {stored} bytes for it", path=display)


def read_array(ds: h5py.Dataset, display: str | os.PathLike[str],
               layer: str | None = None) -> np.ndarray:
    """Read a whole dataset (after check_dataset); bfloat16 comes back as ml-dtypes' bfloat16.

    Raises:
        IntegrityError: the dataset has a Fletcher32 checksum and its bytes do not match it.
        CorruptFileError: the bytes cannot be read.
    """
    check_dataset(ds, display, layer)
    try:
        array = np.asarray(ds[()]) if ds.shape == () else np.asarray(ds[...])
    except READ_ERRORS as err:
        if ds.fletcher32:
            raise IntegrityError(f"{_where(ds, layer)} fails its Fletcher32 checksum",
                                 path=display, hint="the file is damaged") from err
        raise CorruptFileError(f"cannot read the weights of {_where(ds, layer)} "
                               f"({short(err)})", path=display,
                               hint="the file may be truncated or damaged") from err
    dtype = value_dtype(ds)
    return array.view(dtype) if array.dtype != dtype else array


def estimated_size(tensor_bytes: int, tensors: int) -> int:
    """About how large an HDF5 file holding these tensors gets (an upper bound in practice)."""
    return tensor_bytes + (64 << 10) + tensors * (4 << 10)


def write_array(group: h5py.Group, name: str, array: np.ndarray) -> h5py.Dataset:
    """Store ``array`` as Keras does (bfloat16: its 2-byte opaque type plus a ``dtype``
    attribute saying what it is), so the bytes are kept exactly."""
    ds = group.create_dataset(name, data=array)
    if array.dtype.kind == "V" and array.dtype.itemsize == 2 and array.dtype.names is None:
        ds.attrs["dtype"] = "bfloat16"
    return ds


def write_entry(group: h5py.Group, name: str, entry: Any,
                display: str | os.PathLike[str] | None) -> int:
    """Store one weight (a WeightEntry) as ``write_array`` does; returns its bytes.

    A loader with a ``write_into(dataset)`` method (``convert --dtype``'s cast of a big tensor)
    fills the new dataset block by block: the tensor is never whole in memory. Its storage is
    allocated at once and never filled by HDF5, so its blocks may be written in place
    (``contiguous_offset``)."""
    write_into = getattr(entry.loader, "write_into", None)
    if write_into is not None:
        dtype = bfloat16() if entry.dtype == "bfloat16" else np.dtype(entry.dtype)
        creation = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        creation.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        ds = group.create_dataset(name, shape=tuple(entry.shape), dtype=dtype, dcpl=creation,
                                  fill_time="never")
        if entry.dtype == "bfloat16":
            ds.attrs["dtype"] = "bfloat16"
        write_into(ds)
        return int(entry.nbytes)
    array = np.asarray(entry.read())
    if tuple(array.shape) != tuple(entry.shape):
        raise CorruptFileError(f"weight {entry.key} has shape {array.shape}, "
                               f"expected {entry.shape}", path=display)
    write_array(group, name, array)
    return int(array.nbytes)


def as_bfloat16(ds: h5py.Dataset, array: np.ndarray) -> np.ndarray:
    """``array`` read from ``ds`` as its values' dtype (bfloat16 for Keras' opaque type)."""
    dtype = value_dtype(ds)
    return array.view(dtype) if array.dtype != dtype else array


def to_str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return to_str(value[()])
    return str(value)


def attr(obj: h5py.HLObject, name: str, display: str | os.PathLike[str]) -> Any:
    """An attribute, or None; errors translated."""
    try:
        if name not in obj.attrs:
            return None
        return obj.attrs[name]
    except READ_ERRORS as err:
        raise CorruptFileError(f"cannot read attribute {name!r} of {obj.name} ({short(err)})",
                               path=display) from err


def attr_str(obj: h5py.HLObject, name: str, display: str | os.PathLike[str]) -> str | None:
    value = attr(obj, name, display)
    return None if value is None else to_str(value)


def read_str_list(obj: h5py.HLObject, name: str,
                  display: str | os.PathLike[str]) -> list[str] | None:
    """A list of strings stored as ``name`` or as chunks ``name0``, ``name1``, ..."""
    value = attr(obj, name, display)
    if value is None:
        if attr(obj, f"{name}0", display) is None:
            return None
        values: list[Any] = []
        index = 0
        while (chunk := attr(obj, f"{name}{index}", display)) is not None:
            values.extend(np.atleast_1d(chunk).tolist())
            index += 1
        return [to_str(v) for v in values]
    if isinstance(value, (str, bytes)):
        return [to_str(value)]
    return [to_str(v) for v in np.atleast_1d(value).tolist()]


def write_str_list(obj: h5py.HLObject, name: str, values: list[str]) -> None:
    """Write ``values`` as Keras does: one attribute, or chunks when over the header limit."""
    if not values:
        obj.attrs[name] = np.array([], dtype=np.float64)  # what Keras writes for an empty list
        return
    encoded = np.array([v.encode("utf-8") for v in values])
    if encoded.nbytes <= HDF5_OBJECT_HEADER_LIMIT:
        obj.attrs[name] = encoded
        return
    chunks = 1
    while True:
        parts = np.array_split(encoded, chunks)
        if all(part.nbytes <= HDF5_OBJECT_HEADER_LIMIT for part in parts):
            break
        chunks += 1
        if chunks > len(values):
            raise CorruptFileError(f"a single {name} entry is longer than "
                                   f"{HDF5_OBJECT_HEADER_LIMIT} bytes")
    for index, part in enumerate(parts):
        obj.attrs[f"{name}{index}"] = part
