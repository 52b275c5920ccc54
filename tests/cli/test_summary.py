"""``modeltool summary`` through click: exit codes, table, JSON, options, help."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from modeltool.cli import main
from tests.conftest import fixture_path


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, ["summary", *args])


def test_table() -> None:
    result = _invoke(str(fixture_path("siamese_lstm", "k3.keras")))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "tweet_a[0][0]" in out and "lstm #1" in out and "Total params: 8,497" in out
    assert "Traceback" not in out


def test_json() -> None:
    result = _invoke(str(fixture_path("news_model", "k2.h5")), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == 1 and data["kind"] == "h5"
    assert [r["layer"] for r in data["rows"] if r["class"] == "InputLayer"] == \
        ["main_input", "aux_input"]
    assert data["rows"][1]["output_shapes"] == [[None, 100, 16]]


def test_expand_nested_and_depth() -> None:
    path = str(fixture_path("nested_vision", "k3.keras"))
    collapsed = json.loads(_invoke(path, "--json").stdout)
    expanded = json.loads(_invoke(path, "--json", "--expand-nested").stdout)
    depth1 = json.loads(_invoke(path, "--json", "--depth", "1").stdout)
    depth0 = json.loads(_invoke(path, "--json", "--depth", "0").stdout)
    assert _invoke(path, "--expand-nested", "--depth", "0").exit_code == 2  # contradictory
    assert max(r["depth"] for r in collapsed["rows"]) == 0
    assert max(r["depth"] for r in expanded["rows"]) == 1
    assert expanded["rows"] == depth1["rows"]
    assert depth0["rows"] == collapsed["rows"]
    assert "  conv2d_1" in _invoke(path, "--expand-nested").stdout


def test_no_shapes() -> None:
    result = _invoke(str(fixture_path("mnist_mlp", "k3.keras")), "--no-shapes")
    assert result.exit_code == 0
    assert "Output shape" not in result.stdout and "392,000" in result.stdout


def test_weights_only_file() -> None:
    result = _invoke(str(fixture_path("news_model", "k2-weights.h5")))
    assert result.exit_code == 0
    assert "no architecture" in result.stdout and "embedding" in result.stdout


def test_fast_engine_option() -> None:
    result = _invoke(str(fixture_path("mnist_mlp", "k3.json")), "--engine", "fast", "--json")
    assert json.loads(result.stdout)["engine"] == "fast"
    assert _invoke(str(fixture_path("mnist_mlp", "k3.json")), "--engine", "nope").exit_code == 2


def test_missing_file_is_one_line_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["summary", str(tmp_path / "nope.h5")])
    assert result.exit_code == 2
    assert "nope.h5" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1

