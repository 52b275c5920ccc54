"""Guarded zip access for .keras archives: members are read in memory, never extracted."""

from __future__ import annotations

import os
import zipfile
from typing import IO

from ..errors import CorruptFileError, UnsafeContentError

MAX_MEMBERS = 10_000
#: Text members (config.json, metadata.json) larger than this are refused.
MAX_TEXT_MEMBER = 256 << 20
#: A member may expand at most this much (zip bombs).
MAX_RATIO = 1_000


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
    """A seekable file object over a member (h5py reads the weights through it lazily)."""
    try:
        return archive.open(name)
    except KeyError as err:
        raise CorruptFileError(f"archive has no {name}", path=path) from err
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise CorruptFileError(f"cannot read {name} from the archive ({err})", path=path) from err
