"""Guarded zip access for .keras archives: members are read in memory, never extracted."""

from __future__ import annotations

import contextlib
import copy
import io
import mmap
import os
import shutil
import struct
import zipfile
from collections.abc import Callable, Iterator
from typing import IO, Any, BinaryIO, cast

from ..errors import CorruptFileError, IntegrityError, UnsafeContentError
from ..io import wrote

_LOCAL_HEADER_MAGIC = b"PK\x03\x04"
_LOCAL_HEADER_SIZE = 30
_ENCRYPTED_FLAG = 0x1
MAX_MEMBERS = 10_000
#: Text members (config.json, metadata.json) larger than this are refused.
MAX_TEXT_MEMBER = 256 << 20
#: A member may expand at most this much (zip bombs).
MAX_RATIO = 1_000
#: How much is read at a time when the CRC-32 catches up on bytes nobody asked for yet.
CRC_CHUNK = 8 << 20
#: Bit 3 of a member's flags: sizes and CRC trail the data in a descriptor.
DATA_DESCRIPTOR_FLAG = 0x08
#: Buffer size of a member copy that cannot run in the kernel.
COPY_CHUNK = 16 << 20

try:  # ISA-L's CRC-32 (the zip polynomial, same values) runs 4x faster than zlib's
    from isal.isal_zlib import crc32 as crc32
    from isal.isal_zlib import crc32_combine as crc32_combine
except ImportError:  # pragma: no cover - a platform without isal wheels
    from zlib import crc32 as crc32

    from ._crc import combine as crc32_combine


def read_at(descriptor: int, view: memoryview, position: int) -> int:
    """Fill ``view`` from ``position`` of a file with ``pread`` (no file position: any thread);
    returns how many bytes there were (less than ``len(view)`` at the end of the file)."""
    done = 0
    while done < len(view):
        count = os.preadv(descriptor, [view[done:]], position + done)
        if count <= 0:
            break
        done += count
    return done


def open_zip(path: str | os.PathLike[str]) -> zipfile.ZipFile:
    """Open a zip archive and check its directory, translating errors."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as err:
        raise CorruptFileError(f"not a readable zip archive ({err})", path=path,
                               hint="the file may be truncated or damaged") from err
    try:
        check_members(archive, path)
    except BaseException:
        archive.close()
        raise
    return archive


def check_members(archive: zipfile.ZipFile, path: str | os.PathLike[str]) -> None:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise UnsafeContentError(f"zip archive has {len(infos)} members", path=path)
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise UnsafeContentError(f"zip member {name!r} points outside the archive", path=path)
        if info.compress_size and info.file_size > MAX_RATIO * info.compress_size \
                and info.file_size > (64 << 20):
            raise UnsafeContentError(
                f"zip member {name!r} declares {info.file_size} bytes from "
                f"{info.compress_size} compressed (a zip bomb)", path=path)


#: Members larger than this are not searched for a single flipped bit (seconds of work).
_LOCATE_LIMIT = 1 << 30


def crc_problem(name: str, size: int, recorded: int, computed: int,
                describe: Callable[[int], str | None] | None = None) -> str:
    """The one-line problem for a member failing its CRC-32, with where one flipped bit would
    have to be when one can explain it (``describe`` names what holds a byte offset)."""
    from ._crc import single_bit_position

    text = (f"archive member {name} fails its CRC-32 check (recorded {recorded:08x}, "
            f"computed {computed:08x})")
    if describe is None or size > _LOCATE_LIMIT:
        return text
    position = single_bit_position(size, recorded, computed)
    where = describe(position // 8) if position is not None else None
    if where:
        text += f"; the damage is consistent with one flipped bit in {where}"
    return text


def member_names(archive: zipfile.ZipFile) -> list[str]:
    return [info.filename for info in archive.infolist()]


def read_text(archive: zipfile.ZipFile, name: str, path: str | os.PathLike[str]) -> str:
    """Read a small text member, refusing oversized ones."""
    try:
        info = archive.getinfo(name)
    except KeyError as err:
        raise CorruptFileError(f"archive has no {name}", path=path) from err
    if info.file_size > MAX_TEXT_MEMBER:
        raise UnsafeContentError(f"archive member {name} declares {info.file_size} bytes",
                                 path=path)
    try:
        with archive.open(info) as handle:
            data = handle.read(MAX_TEXT_MEMBER + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise CorruptFileError(f"cannot read {name} from the archive ({err})", path=path) from err
    if len(data) > MAX_TEXT_MEMBER:
        raise UnsafeContentError(f"archive member {name} is larger than it declares", path=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorruptFileError(f"{name} in the archive is not UTF-8 text", path=path) from err


def open_member(archive: zipfile.ZipFile, name: str, path: str | os.PathLike[str]) -> IO[bytes]:
    """A seekable file object over a member (h5py reads the weights through it lazily).

    A stored (uncompressed) member, as Keras writes its weights, is read through a window on
    the archive file; a compressed one through zipfile.
    """
    try:
        info = archive.getinfo(name)
        if info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & _ENCRYPTED_FLAG \
                and archive.filename:
            with open(archive.filename, "rb") as raw:
                start = stored_data_offset(raw, info, path)
            size = os.path.getsize(archive.filename)
            if start + info.file_size > size:
                raise CorruptFileError(f"archive member {name} is cut short", path=path,
                                       hint="the file may be truncated")
            return StoredMember(archive.filename, start, info.file_size,  # type: ignore[return-value]
                                expected_crc=info.CRC, name=name, display=path)
        return archive.open(name)
    except KeyError as err:
        raise CorruptFileError(f"archive has no {name}", path=path) from err
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise CorruptFileError(f"cannot read {name} from the archive ({err})", path=path) from err


class _Window(io.RawIOBase):
    """A seekable window over part of a file: the position is the window's own, from 0 to
    ``_end()``; subclasses read (and write) the bytes."""

    _pos = 0

    def _end(self) -> int:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._end()}[whence]
        self._pos = max(0, base + offset)
        return self._pos


class StoredMember(_Window):
    """A read-only, seekable window over a stored (uncompressed) zip member's bytes.

    ``zipfile``'s own member files (Python 3.11) re-read the member from its start on every
    backward seek, and h5py seeks back and forth: opening the weights of a 1 GB archive that
    way reads gigabytes. This window seeks in the archive file itself.

    Integrity: the CRC-32 the archive records is computed while the bytes stream by. The
    checksum covers ``[0, crc_position)``; every read that reaches that frontier extends it,
    ``advance(upto)`` reads forward to ``upto`` itself, and ``verify()`` completes the pass and
    raises IntegrityError on a mismatch. A reader that goes through the member in order (as
    weights are stored, layer after layer) reads each byte once.
    """

    def __init__(self, path: str | os.PathLike[str], start: int, size: int,
                 expected_crc: int | None = None, name: str = "",
                 display: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._start, self._size, self._pos = start, size, 0
        self.expected_crc, self.name = expected_crc, name
        self._display = os.fspath(display if display is not None else path)
        self.crc, self.crc_position = 0, 0
        self.verified = expected_crc is None

    def _end(self) -> int:
        return self._size

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self._size - self._pos)
        if count <= 0:
            return 0
        self._file.seek(self._start + self._pos)
        view = memoryview(buffer).cast("B")[:count]
        done = self._file.readinto(view) or 0
        self._extend_crc(self._pos, view[:done])
        self._pos += done
        return done

    def _extend_crc(self, offset: int, data: memoryview | bytes) -> None:
        if self.verified or not offset <= self.crc_position < offset + len(data):
            return
        self.crc = crc32(data[self.crc_position - offset:], self.crc)
        self.crc_position = offset + len(data)

    def read_range(self, offset: int, buffer: Any) -> None:
        """Fill ``buffer`` with the bytes from ``offset`` (the checksum catches up to
        ``offset`` first, then covers these bytes as they are read)."""
        self.advance(offset)
        view = memoryview(buffer).cast("B")
        self._file.seek(self._start + offset)
        done = self._file.readinto(view) or 0
        if done != len(view):
            raise CorruptFileError(f"archive member {self.name} is cut short",
                                   path=self._display, hint="the file may be truncated")
        self._extend_crc(offset, view)

    def read_unchecked(self, offset: int, buffer: Any) -> None:
        """Fill ``buffer`` with the bytes from ``offset``, leaving the checksum (and this
        member's file position) alone, so any thread may call it: the caller computes the
        CRC-32 of the bytes and hands it to ``credit_crc``, in the member's order."""
        view = memoryview(buffer).cast("B")
        if offset < 0 or offset + len(view) > self._size:
            raise CorruptFileError(f"archive member {self.name} is cut short",
                                   path=self._display, hint="the file may be truncated")
        if read_at(self._file.fileno(), view, self._start + offset) < len(view):
            raise CorruptFileError(f"archive member {self.name} is cut short",
                                   path=self._display, hint="the file may be truncated")

    def credit_crc(self, offset: int, size: int, crc: int) -> None:
        """Extend the checksum with bytes ``[offset, offset + size)`` whose CRC-32 (``crc``) was
        computed elsewhere (``read_unchecked``): the checksum catches up to ``offset`` first,
        then the two CRCs are combined. Bytes it already covers are not counted twice (the
        rest is read)."""
        if self.verified:
            return
        self.advance(offset)
        if self.crc_position == offset and offset + size <= self._size:
            self.crc = crc32_combine(self.crc, crc, size)
            self.crc_position = offset + size
        else:
            self.advance(offset + size)

    def advance(self, upto: int) -> None:
        """Extend the checksum to ``upto`` by reading forward (no-op when already past it)."""
        upto = min(upto, self._size)
        while not self.verified and self.crc_position < upto:
            chunk = min(upto - self.crc_position, CRC_CHUNK)
            self._file.seek(self._start + self.crc_position)
            data = self._file.read(chunk)
            if len(data) != chunk:
                raise CorruptFileError(f"archive member {self.name} is cut short",
                                       path=self._display, hint="the file may be truncated")
            self._extend_crc(self.crc_position, data)

    def verify(self, describe: Callable[[int], str | None] | None = None) -> None:
        """Finish the checksum; IntegrityError when it does not match the archive's record
        (``describe`` names what holds a byte offset, to say where one flipped bit would be).

        The member keeps no reference to ``describe``: h5py's file over this member must not
        be part of a reference cycle (collected at interpreter exit, it crashes HDF5)."""
        if self.verified:
            return
        self.advance(self._size)
        if self.crc != self.expected_crc:
            raise IntegrityError(
                crc_problem(self.name, self._size, self.expected_crc or 0, self.crc,
                            describe), path=self._display,
                hint="the file is damaged; Keras refuses it too")
        self.verified = True

    def close(self) -> None:
        self._file.close()
        super().close()


@contextlib.contextmanager
def mapped_range(fileno: int, offset: int, size: int) -> Iterator[memoryview]:
    """``size`` bytes of a file from ``offset`` (a multiple of ALLOCATIONGRANULARITY), mapped
    read-only and read in at once (MAP_POPULATE where there is one); unmapped on exit."""
    flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
    mapping = mmap.mmap(fileno, size, flags=flags, prot=mmap.PROT_READ, offset=offset)
    view = memoryview(mapping)
    try:
        yield view
    finally:
        try:
            view.release()
            mapping.close()
        except BufferError:
            pass  # an array over it is still held: unmapped when the last one goes


#: Bytes mapped at a time when a written member's CRC-32 is computed.
_MAP_BLOCK = 64 << 20


def _written_crc(raw: Any, start: int, size: int) -> int:
    """The CRC-32 of ``size`` bytes just written at ``start`` of ``raw``: mapped from the file
    in blocks (no copy into buffers), or read back where the file cannot be mapped."""
    raw.flush()
    crc = 0
    try:
        fileno = raw.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        fileno = None
    if fileno is not None and size:
        position = start - start % mmap.ALLOCATIONGRANULARITY
        end = start + size
        while position < end:
            length = min(_MAP_BLOCK, end - position)
            with mapped_range(fileno, position, length) as view:
                crc = crc32(view[max(0, start - position):], crc)
            position += length
        return crc
    raw.seek(start)
    left = size
    while left:
        chunk = raw.read(min(left, 16 << 20))
        if not chunk:
            raise OSError("the member's bytes cannot be read back")
        crc = crc32(chunk, crc)
        left -= len(chunk)
    return crc


def stored_data_offset(raw: BinaryIO, info: zipfile.ZipInfo,
                       display: str | os.PathLike[str]) -> int:
    """Where a member's stored bytes start: after its local header."""
    raw.seek(info.header_offset)
    header = raw.read(_LOCAL_HEADER_SIZE)
    if len(header) != _LOCAL_HEADER_SIZE or header[:4] != _LOCAL_HEADER_MAGIC:
        raise CorruptFileError(f"zip member {info.filename!r} has no local header", path=display)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return int(info.header_offset + _LOCAL_HEADER_SIZE + name_len + extra_len)


class _WriteWindow(_Window):
    """A seekable read/write window on ``raw`` from ``start`` on: what h5py writes through it
    lands in the archive file itself, at the member's place."""

    def __init__(self, raw: BinaryIO, start: int) -> None:
        super().__init__()
        self._raw, self._start, self._pos, self.size = raw, start, 0, 0

    def _end(self) -> int:
        return self.size

    def writable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.size - self._pos)
        if count <= 0:
            return 0
        self._raw.seek(self._start + self._pos)
        done = self._raw.readinto(memoryview(buffer).cast("B")[:count]) or 0  # type: ignore[attr-defined]
        self._pos += done
        return done

    def write(self, data: Any) -> int:
        self._raw.seek(self._start + self._pos)
        done = self._raw.write(data)
        self._pos += done
        self.size = max(self.size, self._pos)
        return done

    def truncate(self, size: int | None = None) -> int:
        self.size = self._pos if size is None else size
        self._raw.truncate(self._start + self.size)
        return self.size

    def flush(self) -> None:
        self._raw.flush()

    def direct(self, offset: int) -> tuple[int, int]:
        """``(descriptor, file position)`` of the window's ``offset``, for writes that bypass
        it (``os.pwrite`` from worker threads); ``wrote_directly`` records how far they went."""
        self._raw.flush()
        return self._raw.fileno(), self._start + offset

    def wrote_directly(self, end: int) -> None:
        """Bytes up to ``end`` were written past the window (``direct``)."""
        self.size = max(self.size, end)


#: The member windows h5py files are being written through, by HDF5 file id (see
#: ``direct_writes``): a writer of big datasets can then write their bytes in place.
_WINDOWS: dict[int, _WriteWindow] = {}


@contextlib.contextmanager
def direct_writes(file_id: int, window: _WriteWindow) -> Iterator[None]:
    """While inside, ``window_of(file_id)`` is ``window`` (the HDF5 file ``file_id`` is written
    through it)."""
    _WINDOWS[file_id] = window
    try:
        yield
    finally:
        _WINDOWS.pop(file_id, None)


def window_of(file_id: int) -> _WriteWindow | None:
    """The member window HDF5 file ``file_id`` is written through, if registered."""
    return _WINDOWS.get(file_id)


class StoredMemberWriter:
    """Write one stored (uncompressed) member of a zip archive being written, in place.

    ``zipfile`` streams a member through a non-seekable writer, so a file that needs seeking
    (an HDF5 file) would have to be written elsewhere first and copied in: for a 1 GB model,
    one more write and read of the whole file. This writes a local header of fixed size (zip64
    form), hands out a window for the member's bytes, then computes the CRC-32, rewrites the
    header and registers the member where ``ZipFile.close()`` writes the central directory
    (``start_dir``, ``filelist``, ``NameToInfo``).

    Example:
        >>> with zipfile.ZipFile(tmp, "w") as archive:  # doctest: +SKIP
        ...     with StoredMemberWriter(archive, "model.weights.h5") as window:
        ...         with h5py.File(window, "w") as handle: ...
    """

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        import time

        self.archive = archive
        self.info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
        self.info.compress_type = zipfile.ZIP_STORED
        self.info.external_attr = 0o600 << 16
        self.info.CRC = self.info.file_size = self.info.compress_size = 0
        self.window: _WriteWindow | None = None

    def __enter__(self) -> _WriteWindow:
        raw = self.archive.fp
        if raw is None:
            raise ValueError("the archive is closed")
        raw.seek(self.archive.start_dir)
        self.info.header_offset = raw.tell()
        self._header_size = len(self.info.FileHeader(zip64=True))
        raw.write(self.info.FileHeader(zip64=True))
        self.window = _WriteWindow(raw, raw.tell())  # type: ignore[arg-type]
        return self.window

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is not None or self.window is None:
            return
        raw = self.archive.fp
        if raw is None:
            raise ValueError("the archive is closed")
        start, size = self.info.header_offset + self._header_size, self.window.size
        self.info.CRC = _written_crc(raw, start, size)
        self.info.file_size = self.info.compress_size = size
        header = self.info.FileHeader(zip64=True)
        if len(header) != self._header_size:
            raise OSError("zip local header changed size")
        raw.seek(self.info.header_offset)
        raw.write(header)
        self.archive.start_dir = start + size
        raw.seek(self.archive.start_dir)
        self.archive.filelist.append(self.info)
        self.archive.NameToInfo[self.info.filename] = self.info


# -- raw member copy (a new archive with unchanged members copied as stored bytes) --


def append_raw_member(new: zipfile.ZipFile, raw: BinaryIO, info: zipfile.ZipInfo,
                      display: str | os.PathLike[str]) -> None:
    """Append ``info``'s local header and data to ``new`` as they are in ``raw``.

    zipfile has no public way to add an already-compressed member; its writer keeps the end of
    the data in ``start_dir`` and the central directory in ``filelist``/``NameToInfo``, which
    ``close()`` writes (with zip64 records wherever the new offsets need them).
    """
    if info.flag_bits & DATA_DESCRIPTOR_FLAG:
        # Sizes trail the data in a descriptor: copy through zipfile instead.
        copy_info = zipfile.ZipInfo(info.filename, date_time=info.date_time)
        copy_info.compress_type = info.compress_type
        copy_info.external_attr = info.external_attr
        copy_info.file_size = info.file_size
        with zipfile.ZipFile(raw) as archive, archive.open(info) as src, new.open(
                copy_info, "w", force_zip64=info.file_size > zipfile.ZIP64_LIMIT) as dst:
            shutil.copyfileobj(src, dst, COPY_CHUNK)
        return
    data_offset = stored_data_offset(raw, info, display)
    copied = copy.copy(info)
    out = cast(BinaryIO, new.fp)
    out.seek(new.start_dir)
    copied.header_offset = out.tell()
    header_size = data_offset - info.header_offset
    padding = _alignment_padding(copied.header_offset + header_size, data_offset) \
        if info.compress_size >= ALIGN_FROM else 0
    if padding:
        raw.seek(info.header_offset)
        header = bytearray(raw.read(header_size))
        extra_len = struct.unpack("<H", header[28:30])[0]
        if extra_len + padding > 0xFFFF:
            padding = 0
        else:
            header[28:30] = struct.pack("<H", extra_len + padding)
            header += struct.pack("<HH", ALIGNMENT_EXTRA_ID, padding - 4) + bytes(padding - 4)
            out.write(header)
            _copy_range(raw, out, data_offset, info.compress_size)
    if not padding:
        _copy_range(raw, out, info.header_offset, header_size + info.compress_size)
    wrote(header_size + padding + info.compress_size)
    new.start_dir = out.tell()
    new.filelist.append(copied)
    new.NameToInfo[copied.filename] = copied


#: Stored members from this size on are copied to the same offset modulo the page size as in
#: their source: the kernel's copy_file_range then moves whole pages (a 1 GB member copied 4
#: bytes out of step takes about twice as long).
ALIGN_FROM = 1 << 20
#: Page size the copy keeps (4 KB pages; larger pages are multiples of it).
ALIGNMENT = 4096
#: Header id of the zero-filled extra field that pads a local header (as ``zipalign`` does;
#: readers skip extra fields they do not know).
ALIGNMENT_EXTRA_ID = 0xD935


def _alignment_padding(data_offset: int, source_data_offset: int) -> int:
    """Bytes of extra field that put ``data_offset`` at ``source_data_offset`` modulo the
    page size (0, or at least 4: an extra field's own header)."""
    padding = (source_data_offset - data_offset) % ALIGNMENT
    return padding + ALIGNMENT if 0 < padding < 4 else padding


def _copy_range(src: BinaryIO, dst: BinaryIO, offset: int, length: int) -> None:
    """Copy ``length`` bytes of ``src`` from ``offset`` to ``dst``'s position, in the kernel
    when it can (``copy_file_range``), else through a buffer."""
    dst.flush()
    position = dst.tell()
    try:
        while length > 0:
            done = os.copy_file_range(src.fileno(), dst.fileno(), length, offset, position)
            if done == 0:
                break
            offset, position, length = offset + done, position + done, length - done
    except (AttributeError, OSError):
        pass  # no copy_file_range here (or across these file systems): copy the rest below
    dst.seek(position)
    src.seek(offset)
    while length > 0:
        chunk = src.read(min(length, COPY_CHUNK))
        if not chunk:
            raise EOFError("archive ends inside a member")
        dst.write(chunk)
        length -= len(chunk)
