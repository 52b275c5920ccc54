"""Every hint is runnable: each command an error suggests (between backticks) works for that
file. Placeholders (ARCH, WEIGHTS) are replaced by the file a user would name."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from modeltool.cli import main
from tests.conftest import fixture_path

M = fixture_path

#: (failing command line, placeholder -> file, command run afterwards on the hint's output
#: to show the original intent now works; "{out}" is the hint's -o file)
CASES = {
    "freeze a weights-only file": (
        ["freeze", str(M("mnist_mlp_small", "k2-weights.h5")), "--all-but-last", "1",
         "-o", "frozen.keras"],
        {"ARCH": str(M("mnist_mlp_small", "k2.json"))},
        ["freeze", "{out}", "--all-but-last", "1", "-o", "frozen.keras"]),
    "freeze an architecture file": (
        ["freeze", str(M("mnist_mlp_small", "k3.json")), "--all-but-last", "1",
         "-o", "frozen.keras"],
        {"WEIGHTS": str(M("mnist_mlp_small", "k3.weights.h5"))},
        ["freeze", "{out}", "--all-but-last", "1", "-o", "frozen.keras"]),
    "convert a SavedModel without architecture to .keras": (
        ["convert", str(M("boston_housing", "savedmodel")), "-o", "model.keras"],
        {"ARCH": str(M("boston_housing", "k3.json"))},
        ["weights", "{out}"]),
    "convert an architecture without weights": (
        ["convert", str(M("mnist_mlp_small", "k3.json")), "-o", "model.keras"],
        {},
        ["summary", "{out}"]),
    "load weights into an architecture file": (
        ["load-weights", str(M("mnist_mlp_small", "k3.json")),
         str(M("mnist_mlp_small", "k3.keras")), "-o", "loaded.keras"],
        {},
        ["load-weights", "{out}", str(M("mnist_mlp_small", "k3.keras")), "-o",
         "loaded.keras"]),
}


def _hints(stderr: str) -> list[list[str]]:
    return [shlex.split(text) for text in re.findall(r"`(modeltool [^`]+)`", stderr)]


@pytest.mark.tf
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_suggested_command_works(case: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    line, placeholders, then = CASES[case]
    monkeypatch.chdir(tmp_path)
    failed = CliRunner().invoke(main, line)
    assert failed.exit_code == 2, failed.output
    hints = _hints(failed.stderr)
    assert hints, f"no runnable hint in: {failed.stderr}"
    for index, hint in enumerate(hints):
        assert hint[0] == "modeltool"
        args = [placeholders.get(arg, arg) for arg in hint[1:]]
        assert not {"ARCH", "WEIGHTS"} & set(args), f"unfilled placeholder in {hint}"
        folder = tmp_path / f"hint{index}"
        folder.mkdir()
        monkeypatch.chdir(folder)
        ran = CliRunner().invoke(main, args)
        assert ran.exit_code == 0, (hint, ran.output)
        out = args[args.index("-o") + 1]
        follow = [out if arg == "{out}" else arg for arg in then]
        done = CliRunner().invoke(main, follow)
        assert done.exit_code == 0, (hint, follow, done.output)
