"""Bad input: one line on stderr naming the file and the problem, exit 2, no traceback, and no
output file left behind."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.cli import main
from modeltool.errors import ModelToolError
from tests.conftest import fixture_path

SOURCE = fixture_path("mnist_mlp_small", "k3.h5")


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    cases: dict[str, tuple[Path, str]] = {}
    cases["missing"] = (tmp / "nope.h5", "no such file")
    folder = tmp / "not_a_savedmodel"
    folder.mkdir()
    cases["directory"] = (folder, "not a SavedModel")
    plain = tmp / "plain.h5"
    with h5py.File(plain, "w") as handle:
        handle.create_dataset("x", data=np.arange(4))
    cases["hdf5 not keras"] = (plain, "not a Keras model file")
    truncated = tmp / "truncated.h5"
    data = SOURCE.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    cases["truncated"] = (truncated, "truncated")
    fake = tmp / "fake.keras"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("readme.txt", "hello")
    cases["zip not keras"] = (fake, "not a Keras model file")
    evil = tmp / "evil.yaml"
    evil.write_text("class_name: Sequential\nconfig: !!python/object/apply:os.system "
                    "['touch marker']\n")
    cases["yaml python tag"] = (evil, "Python object tag")
    empty = tmp / "empty.h5"
    empty.write_bytes(b"")
    cases["empty"] = (empty, "empty")
    return cases


@pytest.mark.parametrize("case", ["missing", "directory", "hdf5 not keras", "truncated",
                                  "zip not keras", "yaml python tag", "empty"])
@pytest.mark.parametrize("command", ["weights", "config", "convert"])
def test_bad_input_one_line_exit_2(case: str, command: str, tmp_path: Path) -> None:
    path, problem = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out" / "result.keras"
    out.parent.mkdir()
    args = [command, str(path)] + (["-o", str(out)] if command == "convert" else [])
    os.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and problem.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.output
    assert list(out.parent.iterdir()) == []
    assert not (tmp_path / "marker").exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    """Without --debug the error is one line and a clean exit; with it the exception propagates
    (click's runner then holds the ModelToolError itself, which prints its traceback)."""
    missing = str(tmp_path / "nope.h5")
    plain = CliRunner().invoke(main, ["weights", missing])
    assert plain.exit_code == 2 and isinstance(plain.exception, SystemExit)
    debug = CliRunner().invoke(main, ["--debug", "weights", missing])
    assert isinstance(debug.exception, ModelToolError), debug.exception
    assert debug.exception.exit_code == 2


def test_convert_refuses_to_overwrite_and_keeps_input(tmp_path: Path) -> None:
    source = tmp_path / "m.h5"
    shutil.copy(SOURCE, source)
    before = source.read_bytes()
    existing = tmp_path / "exists.keras"
    existing.write_bytes(b"keep me")
    result = CliRunner().invoke(main, ["convert", str(source), "-o", str(existing)])
    assert result.exit_code == 2
    assert "--force" in result.stderr
    assert existing.read_bytes() == b"keep me"
    result = CliRunner().invoke(main, ["convert", str(source), "-o", str(existing), "--force"])
    assert result.exit_code == 0, result.output
    assert zipfile.is_zipfile(existing)
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.keras", "m.h5"]


def test_convert_over_its_own_input_needs_force(tmp_path: Path) -> None:
    source = tmp_path / "m.h5"
    shutil.copy(SOURCE, source)
    result = CliRunner().invoke(main, ["convert", str(source), "-o", str(source)])
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["convert", str(source), "-o", str(source), "--force"])
    assert result.exit_code == 0, result.output
    with h5py.File(source) as handle:
        assert "model_config" in handle.attrs


def test_misleading_extension_works_with_a_warning(tmp_path: Path) -> None:
    renamed = tmp_path / "really_h5.keras"
    shutil.copy(SOURCE, renamed)
    result = CliRunner().invoke(main, ["weights", str(renamed), "--json"])
    assert result.exit_code == 0, result.output
    assert "extension suggests keras but the content is h5" in result.stderr
    assert '"kind": "h5"' in result.stdout


def test_quiet_keeps_stderr_for_problems_only(tmp_path: Path) -> None:
    out = tmp_path / "m.keras"
    source = str(fixture_path("news_model", "k2.h5"))
    loud = CliRunner().invoke(main, ["convert", source, "-o", str(out)])
    # The report is data: stdout; stderr stays empty when nothing went wrong.
    assert loud.exit_code == 0 and "changed:" in loud.stdout and loud.stderr == ""
    for line in (["-q", "convert", source, "-o", str(out), "--force"],
                 ["convert", source, "-o", str(out), "--force", "-q"]):
        quiet = CliRunner().invoke(main, line)
        assert quiet.exit_code == 0 and quiet.stderr == ""
        assert quiet.stdout.strip() == str(out)
    failed = CliRunner().invoke(main, ["convert", source, "-o", str(out), "-q"])
    assert failed.exit_code == 2 and "already exists" in failed.stderr
