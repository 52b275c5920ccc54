"""Atomic output: write beside the target, rename into place.

Durability policy: when the rename replaces a file that exists (``--force``, ``--in-place``),
the new bytes are fsynced first, so a power cut cannot leave an empty file where a good one
was. A new output is not fsynced, as ``cp``, h5py and Keras do not: a crash can at worst leave
that new file incomplete, never damage one that existed. The rename itself is atomic either way,
so an interrupted run never leaves a partial file under the output's name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ModelToolError, OutputExistsError

TEMP_PREFIX = ".modeltool-tmp-"


#: What a SavedModel export writes at its top level (anything else there is someone else's).
SAVEDMODEL_ENTRIES = frozenset({"saved_model.pb", "saved_model.pbtxt", "variables", "assets",
                                "assets.extra", "fingerprint.pb", "keras_metadata.pb"})
#: errno values that mean "this output cannot be written here" (not a bug, not the input).
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EACCES, errno.EPERM,
                            errno.EROFS, errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG,
                            errno.EEXIST, errno.ELOOP})


def check_output(path: str | os.PathLike[str], *, force: bool = False,
                 inputs: tuple[str | os.PathLike[str], ...] = (),
                 directory: bool = False) -> Path:
    """Apply the overwrite policy: refuse an existing output unless ``force``; refuse, even
    with ``force``, to replace what modeltool would not have written (a folder where a file is
    to go; for a SavedModel, anything but a SavedModel folder holding only SavedModel files);
    refuse a folder that cannot be written in."""
    out = Path(path)
    if out.exists() and not force:
        raise OutputExistsError("output already exists", path=out,
                                hint="pass --force to replace it")
    for src in inputs:
        if out.exists() and Path(src).exists() and os.path.samefile(out, src) and not force:
            raise OutputExistsError("output is the input", path=out,
                                    hint="pass --force (or --in-place) to replace the input")
    if out.is_dir() and not directory:
        raise OutputExistsError("output is a directory", path=out,
                                hint="name a file to write (--force never replaces a folder)")
    if directory and out.exists():
        _check_replaceable_savedmodel(out)
    folder = out.resolve().parent if out.is_symlink() else out.parent
    if not folder.exists():
        raise ModelToolError("output folder does not exist", path=folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ModelToolError("cannot write in the output folder (permission denied or a "
                             "read-only file system)", path=folder)
    return out


def _check_replaceable_savedmodel(out: Path) -> None:
    if not out.is_dir() or out.is_symlink():
        raise OutputExistsError("output exists and is not a SavedModel folder", path=out,
                                hint="--force replaces only a SavedModel folder")
    entries = {entry.name for entry in out.iterdir()}
    if "saved_model.pb" not in entries:
        raise OutputExistsError("output folder is not a SavedModel (no saved_model.pb)",
                                path=out, hint="--force replaces only a SavedModel folder; "
                                               "choose another name")
    others = sorted(entries - SAVEDMODEL_ENTRIES)
    if others:
        raise OutputExistsError(f"output folder holds files a SavedModel does not "
                                f"({', '.join(others[:5])})", path=out,
                                hint="--force never deletes what modeltool did not write; "
                                     "move them or choose another name")


def output_error(err: OSError | RuntimeError, target: Path) -> ModelToolError | None:
    """The one-line error for an OSError that means ``target`` cannot be written, else None."""
    code = getattr(err, "errno", None)
    if code is None:  # h5py puts the errno in its message only
        found = re.search(r"errno = (\d+)", str(err))
        code = int(found.group(1)) if found else None
    if code not in _OUTPUT_ERRNOS:
        return None
    reason = {errno.ENOSPC: "no space left on the device", errno.EFBIG: "file too large "
              "(the disk is full or a file size limit was reached)",
              errno.EDQUOT: "disk quota exceeded"}.get(code) or os.strerror(code).lower()
    return ModelToolError(f"cannot write the output ({reason})", path=target)


def check_space(target: Path, file_bytes: int, total_bytes: int | None = None) -> None:
    """Refuse before writing when the output cannot fit: the largest file is ``file_bytes``
    (checked against the process' file size limit) and ``total_bytes`` land in the target's
    folder at once (checked against its free space).

    HDF5 can crash the process when a write fails on a full disk, so writers ask first.
    """
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY and file_bytes > soft:
        raise ModelToolError(f"cannot write the output (file too large: about {file_bytes:,} "
                             f"bytes, over this process' file size limit of {soft:,})",
                             path=target)
    try:
        stats = os.statvfs(resolve_target(target).parent)
    except OSError:
        return
    free = stats.f_bavail * stats.f_frsize
    if (total_bytes or file_bytes) > free:
        raise ModelToolError(f"cannot write the output (no space left on the device: about "
                             f"{total_bytes or file_bytes:,} bytes needed, {free:,} free)",
                             path=target)


def resolve_target(path: str | os.PathLike[str]) -> Path:
    """Where an output really goes: a symlink's file (written beside it, the link kept)."""
    target = Path(path)
    if target.is_symlink():
        return Path(os.path.realpath(target))
    return target


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
    file is removed and ``path`` is left as it was. A ``path`` that is a symlink has its file
    replaced (beside that file), and the link is kept. An OSError that means the output
    cannot be written (no space, permission, read-only) becomes one ModelToolError naming it.
    """
    target = resolve_target(path)
    remove_stale_temporaries(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(target),
                                        suffix=suffix or target.suffix, dir=target.parent)
    except OSError as err:
        raise (output_error(err, target) or err) from err
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # the name is ours (pid and random part); the writer creates the file
    try:
        yield tmp
        _stop_hook(tmp)
        if target.exists():  # replacing bytes that exist: make the new ones durable first
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        else:
            os.replace(tmp, target)
    except (OSError, RuntimeError) as err:  # h5py raises RuntimeError for failed writes too
        with contextlib.suppress(OSError):
            tmp.unlink()
        translated = output_error(err, target)
        if translated is None:
            raise
        raise translated from err
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _umask() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    current = os.umask(0o022)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success it replaces ``path``.

    The directory gets the umask's permissions (``mkdtemp`` makes it private), like any other
    output. Output errors become one ModelToolError naming ``path``, as in ``atomic_path``.
    """
    target = Path(path)
    remove_stale_temporaries(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), dir=target.parent))
        tmp.chmod(0o777 & ~_umask())
    except OSError as err:
        raise (output_error(err, target) or err) from err
    try:
        yield tmp
        _stop_hook(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(target), dir=target.parent))
            old.rmdir()
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        translated = output_error(err, target)
        if translated is None:
            raise
        raise translated from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


#: Test-only hook: ``<point>:<fifo>`` makes a writer stop at a known point and wait there for
#: a signal (the kill tests' SIGKILL): ``<point>`` is a number of weight bytes written, or
#: ``rename`` (the output complete under its temporary name). On reaching it the writer writes
#: one line to the FIFO ``<fifo>`` (which the test is blocked reading), then waits.
STOP_ENV = "MODELTOOL_TEST_STOP"
_written = [0]
#: Depth of ``scratch_writes`` blocks: writes there are not outputs, the stop hook ignores them.
_scratch = [0]


@contextlib.contextmanager
def scratch_writes() -> Iterator[None]:
    """Writes inside this block are scratch copies (a model checked before its output is
    written), not outputs: the test-only stop hook does not count or stop them."""
    _scratch[0] += 1
    try:
        yield
    finally:
        _scratch[0] -= 1


def wrote(nbytes: int) -> None:
    """Writers report the weight bytes they have written (for the test-only stop hook)."""
    spec = os.environ.get(STOP_ENV)
    if not spec or _scratch[0]:
        return
    point, _, fifo = spec.partition(":")
    _written[0] += nbytes
    if point.isdigit() and _written[0] >= int(point):
        _stop(fifo, f"after {_written[0]} bytes")


def _stop_hook(tmp: Path) -> None:
    spec = os.environ.get(STOP_ENV)
    if spec and not _scratch[0] and spec.partition(":")[0] == "rename":
        _stop(spec.partition(":")[2], f"before renaming {tmp.name}")


def _stop(fifo: str, where: str) -> None:
    import signal

    with open(fifo, "w") as handle:
        handle.write(f"{os.getpid()} stopped {where}\n")
    while True:
        signal.pause()
