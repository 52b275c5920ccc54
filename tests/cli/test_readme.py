"""The README's command synopsis is checked against the commands' own options: each command
has a line, every option a command takes is on it, and nothing on it is an option the command
lacks. The shared flags are documented once, beside the synopsis."""

from __future__ import annotations

import re

import click
import pytest

from modeltool.cli import COMMANDS, SHARED_HELP, main
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def _synopsis() -> dict[str, str]:
    block = README.split("## Commands", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    lines = {}
    for line in block.strip().splitlines():
        words = line.split()
        assert words[0] == "modeltool", line
        lines[words[1]] = line
    return lines


def _own_options(name: str) -> list[list[str]]:
    command = main.get_command(click.Context(main), name)
    assert command is not None
    return [list(param.opts) for param in command.params
            if isinstance(param, click.Option) and not getattr(param, "shared", False)]


def test_every_command_has_a_line() -> None:
    assert sorted(_synopsis()) == sorted(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_synopsis_matches_the_options(name: str) -> None:
    line = _synopsis()[name]
    mentioned = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line))
    options = _own_options(name)
    known = {opt for opts in options for opt in opts}
    assert mentioned <= known, f"README mentions options {name} lacks: {mentioned - known}"
    missing = [opts for opts in options if not set(opts) & mentioned]
    assert not missing, f"README synopsis of {name} leaves out {missing}"


def test_shared_flags_are_documented() -> None:
    text = README.split("## Commands", 1)[1]
    for flag in ("--json", "-q/--quiet", "--debug", "--wide"):
        assert flag in text
    assert set(SHARED_HELP) == {"debug", "quiet", "json", "wide"}
