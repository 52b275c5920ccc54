"""Outputs that cannot be written: one line naming the path, exit 2, nothing left behind; what
modeltool did not write is never deleted; symlinks and the umask are respected."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from modeltool.cli import main
from tests.conftest import fixture_path

KERAS = fixture_path("mnist_mlp_small", "k3.keras")
H5 = fixture_path("mnist_mlp_small", "k2.h5")

#: Every command that writes a file, with the output name it writes.
WRITERS = {
    "convert-keras": ["convert", KERAS, "-o", "{out}.keras"],
    "convert-h5": ["convert", KERAS, "-o", "{out}.h5"],
    "convert-weights": ["convert", H5, "-o", "{out}.weights.h5"],
    "convert-json": ["convert", KERAS, "-o", "{out}.json"],
    "config": ["config", KERAS, "-o", "{out}.yaml", "--format", "yaml"],
    "load-weights": ["load-weights", KERAS, H5, "--by-name", "-o", "{out}.keras"],
    "freeze-keras": ["freeze", KERAS, "--all-but-last", "1", "-o", "{out}.keras"],
    "freeze-h5": ["freeze", H5, "--all-but-last", "1", "-o", "{out}.h5"],
    "to-onnx": ["to-onnx", KERAS, "-o", "{out}.onnx", "--no-verify"],
    "savedmodel": ["convert", KERAS, "-o", "{out}", "--to", "savedmodel"],
}


def _args(name: str, out: Path) -> list[str]:
    return [str(a).format(out=out) for a in WRITERS[name]]


def _one_line(result: Any, names: str) -> str:
    lines = [x for x in result.stderr.splitlines() if x.strip() and not x.startswith("warning")]
    assert "Traceback" not in result.output
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and names in lines[0], lines
    return lines[0]


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """A folder nobody can write in: mode 0555, or for root (whom modes do not stop) the
    immutable attribute."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root without chattr +i: cannot make a folder unwritable")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_read_only_folder(command: str, tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    with read_only(folder):
        result = CliRunner().invoke(main, _args(command, folder / "out"))
        _one_line(result, str(folder))
        assert not list(folder.iterdir())


@pytest.mark.parametrize("command", sorted(set(WRITERS) - {"savedmodel"}))
def test_output_is_a_directory(command: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = _args(command, out)
    target = Path(next(a for a in args if a.startswith(str(out))))
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = CliRunner().invoke(main, [*args, "--force"])
    line = _one_line(result, str(target))
    assert "directory" in line
    assert (target / "keep.txt").read_text() == "mine"


def _limited(limit: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
    return apply


@pytest.mark.parametrize("command", sorted(set(WRITERS) - {"to-onnx", "savedmodel"}))
def test_full_disk(command: str, tmp_path: Path) -> None:
    """A file size limit (RLIMIT_FSIZE) stands for a full disk: the write fails part way."""
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "modeltool", *_args(command, out)],
                            preexec_fn=_limited(2000), capture_output=True, text=True,
                            timeout=300)
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and str(out) in lines[0] and "file too large" in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_force_never_deletes_a_folder_modeltool_did_not_write(tmp_path: Path) -> None:
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, [*_args("savedmodel", folder), "--force"])
    _one_line(result, str(folder))
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]


@pytest.mark.tf
def test_savedmodel_follows_the_umask_and_force_keeps_other_files(tmp_path: Path) -> None:
    out = tmp_path / "exported"
    old = os.umask(0o027)
    try:
        assert CliRunner().invoke(main, _args("savedmodel", out)).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    (out / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, [*_args("savedmodel", out), "--force"])
    assert "notes.txt" in _one_line(result, str(out))
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    assert CliRunner().invoke(main, [*_args("savedmodel", out), "--force"]).exit_code == 0


def test_in_place_on_a_symlink_replaces_its_file_and_keeps_the_link(tmp_path: Path,
                                                                    keras: Any) -> None:
    real = tmp_path / "store" / "model.keras"
    real.parent.mkdir()
    shutil.copy(KERAS, real)
    link = tmp_path / "link.keras"
    link.symlink_to(real)
    first = keras.models.load_model(KERAS).layers[0].name
    result = CliRunner().invoke(main, ["freeze", str(link), "--layers", first, "--in-place"])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert not keras.models.load_model(real).get_layer(first).trainable
    assert sorted(p.name for p in real.parent.iterdir()) == ["model.keras"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.keras", "store"]
