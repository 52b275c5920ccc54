"""Atomic output: write beside the target, rename into place.

Durability policy: when the rename replaces a file that exists (``--force``, ``--in-place``),
the new bytes are fsynced first, so a power cut cannot leave an empty file where a good one
was. A new output is not fsynced, as ``cp``, h5py and Keras do not: a crash can at worst leave
that new file incomplete, never damage one that existed. The rename itself is atomic either way,
so an interrupted run never leaves a partial file under the output's name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ModelToolError, OutputExistsError

TEMP_PREFIX = ".modeltool-tmp-"


def check_output(path: str | os.PathLike[str], *, force: bool = False,
                 inputs: tuple[str | os.PathLike[str], ...] = ()) -> Path:
    """Apply the overwrite policy: refuse an existing output unless ``force``."""
    out = Path(path)
    if out.exists() and not force:
        raise OutputExistsError("output already exists", path=out,
                                hint="pass --force to replace it")
    for src in inputs:
        if out.exists() and Path(src).exists() and os.path.samefile(out, src) and not force:
            raise OutputExistsError("output is the input", path=out,
                                    hint="pass --force (or --in-place) to replace the input")
    if not out.parent.exists():
        raise ModelToolError("output folder does not exist", path=out.parent)
    return out


def temp_prefix(target: Path) -> str:
    """Temporary names carry the target's name and our pid, so a rerun can tell whose they are."""
    return f"{TEMP_PREFIX}{target.name}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(target: Path) -> None:
    """Delete temporaries left beside ``target`` by a modeltool process that was killed."""
    for stale in target.parent.glob(f"{TEMP_PREFIX}{target.name}-*"):
        pid_text = stale.name[len(f"{TEMP_PREFIX}{target.name}-"):].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                stale.unlink()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = "") -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; on success it replaces ``path``.

    The temporary name keeps ``suffix`` (some writers, such as Keras, look at the extension).
    Nothing exists under it yet: the writer creates the file (with the umask's permissions).
    A writer that truncated an existing file would make ext4 flush all of it on close
    (``auto_da_alloc``), which costs a 1 GB copy half a second. On any failure the temporary
    file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    remove_stale_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(target), suffix=suffix or target.suffix,
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # the name is ours (pid and random part); the writer creates the file
    try:
        yield tmp
        if target.exists():  # replacing bytes that exist: make the new ones durable first
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        else:
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success it replaces ``path``."""
    target = Path(path)
    remove_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(target), dir=target.parent))
            old.rmdir()
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
