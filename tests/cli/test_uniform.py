"""One behaviour for every command: ``-q``, ``--debug``, ``--json`` and ``--wide`` before or
after the subcommand; the report (data) on stdout and nothing else there; diagnostics on stderr;
``--json`` a single valid document with the schema field.

A command added to ``cli.COMMANDS`` must get a line in ``COMMAND_LINES`` (the first test says
so), so it is held to the same behaviour."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from modeltool.cli import COMMANDS, main
from modeltool.errors import ModelToolError
from modeltool.render import SCHEMA
from tests.conftest import fixture_path

KERAS = str(fixture_path("byname_target", "k3.keras"))
H5 = str(fixture_path("byname_source", "k2.h5"))

#: For each command: a working command line, given a fresh output path.
COMMAND_LINES: dict[str, Callable[[Path], list[str]]] = {
    "summary": lambda out: ["summary", H5],
    "weights": lambda out: ["weights", KERAS, "--stats"],
    "config": lambda out: ["config", H5],
    "check": lambda out: ["check", KERAS],
    "convert": lambda out: ["convert", H5, "-o", str(out / "model.keras")],
    "load-weights": lambda out: ["load-weights", KERAS, H5, "--skip-mismatch", "-o",
                                 str(out / "loaded.keras")],
    "freeze": lambda out: ["freeze", KERAS, "--all-but-last", "1", "-o",
                           str(out / "frozen.keras")],
    "to-onnx": lambda out: ["to-onnx", KERAS, "-o", str(out / "model.onnx"), "--no-verify"],
    "diff": lambda out: ["diff", KERAS, KERAS],
    "plot": lambda out: ["plot", KERAS, "-o", str(out / "model.svg")],
    "report": lambda out: ["report", KERAS, "-o", str(out / "report.html")],
}
#: Commands that import TensorFlow (tests marked ``tf``).
HEAVY = {"to-onnx"}


def _params() -> list[object]:
    return [pytest.param(name, marks=[pytest.mark.tf] if name in HEAVY else [])
            for name in sorted(COMMAND_LINES)]


def _run(args: list[str]) -> Result:
    return CliRunner().invoke(main, args)


def _fresh(tmp_path: Path, label: str) -> Path:
    folder = tmp_path / label
    folder.mkdir()
    return folder


def test_every_command_is_covered() -> None:
    assert sorted(COMMAND_LINES) == sorted(COMMANDS), \
        "add a working command line for each new command to COMMAND_LINES"


@pytest.mark.parametrize("command", _params())
def test_json_before_or_after_the_command(command: str, tmp_path: Path) -> None:
    line = COMMAND_LINES[command]
    for label, args in (("after", [*line(_fresh(tmp_path, "after")), "--json"]),
                        ("before", ["--json", *line(_fresh(tmp_path, "before"))])):
        result = _run(args)
        assert result.exit_code == 0, (label, result.output)
        document = json.loads(result.stdout)  # the whole of stdout is one JSON document
        assert isinstance(document, dict) and document["schema"] == SCHEMA, label
        assert next(iter(document)) == "schema"


@pytest.mark.parametrize("command", _params())
def test_quiet_before_or_after_leaves_stderr_empty(command: str, tmp_path: Path) -> None:
    line = COMMAND_LINES[command]
    loud = _run(line(_fresh(tmp_path, "loud")))
    assert loud.exit_code == 0, loud.output
    assert loud.stdout.strip(), "the report goes to stdout"
    for label, args in (("after", [*line(_fresh(tmp_path, "after")), "-q"]),
                        ("before", ["-q", *line(_fresh(tmp_path, "before"))])):
        quiet = _run(args)
        assert quiet.exit_code == 0, (label, quiet.output)
        assert quiet.stderr == "", (label, quiet.stderr)
        assert quiet.stdout.strip(), label
        assert len(quiet.stdout) <= len(loud.stdout), label


@pytest.mark.parametrize("command", _params())
def test_debug_after_the_command(command: str, tmp_path: Path) -> None:
    """``--debug`` anywhere: accepted on a good run; on a missing input the error is raised
    (the traceback) instead of the one line."""
    line = COMMAND_LINES[command](_fresh(tmp_path, "ok"))
    assert _run([*line, "--debug"]).exit_code == 0
    broken = [str(tmp_path / "missing.h5") if arg in (KERAS, H5) else arg
              for arg in COMMAND_LINES[command](_fresh(tmp_path, "broken"))]
    plain = _run(broken)
    assert plain.exit_code == 2 and "missing.h5" in plain.stderr
    assert "Traceback" not in plain.output and len(plain.stderr.strip().splitlines()) == 1
    debug = _run([*broken, "--debug"])
    assert isinstance(debug.exception, ModelToolError), debug.output


def test_wide_shows_every_column(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 60 columns the summary leaves columns out and says so; --wide (after the command)
    shows them all."""
    monkeypatch.setenv("COLUMNS", "60")
    from modeltool.cli import _console

    monkeypatch.setattr(_console.out, "_width", 60)
    narrow = _run(["summary", H5]).stdout
    wide = _run(["summary", H5, "--wide"]).stdout
    assert "not shown:" in narrow and "--wide shows all" in narrow
    header = next(line for line in narrow.splitlines() if line.startswith("Layer"))
    wide_header = next(line for line in wide.splitlines() if line.startswith("Layer"))
    assert "Input shape" not in header and "MACs" not in header
    assert "Input shape" in wide_header and "MACs" in wide_header
    assert "not shown:" not in wide
    assert all(len(line) <= 60 for line in narrow.splitlines())


