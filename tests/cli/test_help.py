"""Every command's --help (its docstring) shows examples."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from modeltool.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_has_examples(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and f"modeltool {command}" in result.output


def test_group_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    for command in COMMANDS:
        assert command in result.output


def test_every_command_loads() -> None:
    for name in COMMANDS:
        command = main.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.name == name
