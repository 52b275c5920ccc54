"""Progress: a spinner on stderr for work over a second, only on a terminal, never under -q
or --json, never on stdout. The delay is replaced by a timer that fires at once (no sleeps)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from modeltool.cli import _console, main
from tests.conftest import fixture_path

H5 = str(fixture_path("byname_source", "k2.h5"))


class _AtOnce:
    """A threading.Timer stand-in whose start() runs the function right away."""

    def __init__(self, _delay: float, function: Callable[[], None]) -> None:
        self.function = function
        self.daemon = True

    def start(self) -> None:
        self.function()

    def cancel(self) -> None:
        pass


@pytest.fixture()
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=80, color_system=None)
    monkeypatch.setattr(_console, "err", console)
    monkeypatch.setattr(_console, "TIMER", _AtOnce)
    seen: list[str] = []
    original = console.status

    def status(*args: Any, **kwargs: Any) -> Any:
        seen.append(str(args[0]))
        return original(*args, **kwargs)

    monkeypatch.setattr(console, "status", status)
    buffer.seen = seen  # type: ignore[attr-defined]
    return buffer


def test_spinner_on_a_terminal(terminal: io.StringIO) -> None:
    result = CliRunner().invoke(main, ["summary", H5])
    assert result.exit_code == 0
    assert terminal.seen == [f"reading {H5}"]  # type: ignore[attr-defined]
    assert "reading" not in result.stdout


@pytest.mark.parametrize("flag", ["-q", "--json"])
def test_no_spinner_under_quiet_or_json(terminal: io.StringIO, flag: str) -> None:
    result = CliRunner().invoke(main, ["summary", H5, flag])
    assert result.exit_code == 0
    assert terminal.seen == []  # type: ignore[attr-defined]


def test_no_spinner_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(_console, "err", Console(file=buffer, force_terminal=False))
    monkeypatch.setattr(_console, "TIMER", _AtOnce)
    result = CliRunner().invoke(main, ["summary", H5])
    assert result.exit_code == 0 and buffer.getvalue() == ""
