"""Atomic output: what a writer sees, and when the new bytes are made durable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modeltool import io


def test_writer_gets_a_fresh_name_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "out.keras"
    with io.atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".keras" and not tmp.exists()
        tmp.write_bytes(b"new")
        assert not target.exists()
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.keras"]


def test_new_output_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with io.atomic_path(tmp_path / "out.h5") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.h5").stat().st_mode) == 0o640


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.h5"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]


def test_only_a_replacement_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[-1])
    target = tmp_path / "out.h5"
    with io.atomic_path(target) as tmp:
        tmp.write_bytes(b"first")
    assert synced == []  # a new file: nothing that existed can be lost
    with io.atomic_path(target) as tmp:
        tmp.write_bytes(b"second")
    assert len(synced) >= 1 and target.read_bytes() == b"second"
