"""The changes made to read a Keras 1/2 file as Keras 3 are shown by ``convert``, ``config`` and
the text ``summary`` (not only by ``--json``)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from modeltool.cli import main
from tests.conftest import fixture_path

SOURCE = fixture_path("siamese_lstm", "k2.json")  # tf_keras wrote time_major=False


def test_config_shows_the_changes_on_stderr() -> None:
    result = CliRunner().invoke(main, ["config", str(SOURCE)])
    assert result.exit_code == 0, result.output
    assert "changed: layer 'lstm': argument time_major=False dropped" in result.stderr
    json.loads(result.stdout)  # stdout stays pure data


def test_config_to_a_file_shows_the_changes(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    result = CliRunner().invoke(main, ["config", str(SOURCE), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "time_major=False dropped" in result.stderr and out.exists()


def test_text_summary_says_a_migration_happened() -> None:
    result = CliRunner().invoke(main, ["summary", str(SOURCE)])
    assert result.exit_code == 0, result.output
    assert "Read as Keras 3 with 1 change(s)" in result.stdout
    assert "time_major=False dropped" in result.stdout


def test_keras3_file_summary_has_no_migration_section() -> None:
    result = CliRunner().invoke(main, ["summary", str(fixture_path("mnist_mlp", "k3.keras"))])
    assert result.exit_code == 0 and "Read as Keras 3" not in result.stdout
