"""``modeltool to-onnx`` through click: exit codes, the one-line error, JSON, help, no output
left behind on failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.ops.onnx_export import verify as verify_steps
from tests.conftest import HEAVY, fixture_path, run_fresh


@pytest.fixture()
def main() -> Any:
    """The modeltool command group."""
    from modeltool.cli import main as group

    return group


def _run(main: Any, *args: str) -> Any:
    return CliRunner().invoke(main, ["to-onnx", *args])


def _errors(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_help_lists_examples_without_heavy_imports() -> None:
    code = ("from click.testing import CliRunner\n"
            "from modeltool.cli.to_onnx import to_onnx_command\n"
            "r = CliRunner().invoke(to_onnx_command, ['--help'])\n"
            "assert r.exit_code == 0 and 'Examples:' in r.output and '--input-shape' in r.output\n")
    assert run_fresh(code, (*HEAVY, "onnx"))[1] == []


@pytest.mark.tf
def test_converts_and_reports(main: Any, tmp_path: Path) -> None:
    out = tmp_path / "news.onnx"
    result = _run(main, str(fixture_path("news_model", "k2.h5")), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.is_file()
    text = result.stdout
    assert str(out) in text
    assert "main_input int32 [batch, 100]; aux_input float32 [batch, 5]" in text
    assert "main_output float32 [batch, 1]; aux_output float32 [batch, 1]" in text
    assert "latency (batch 1)" in text and "onnxruntime" in text
    assert "ONNX vs Keras (atol 0.0001, rtol 0.001)" in text


@pytest.mark.tf
def test_json(main: Any, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    result = _run(main, str(fixture_path("nested_vision", "k3.keras")), "-o", str(out),
                  "--batch", "2", "--opset", "17", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == 1 and data["opset"] == 17
    assert [(i["name"], i["dtype"], i["shape"]) for i in data["inputs"]] == [
        ("image_input", "float32", [2, 32, 32, 3]), ("question_input", "int32", [2, 100])]
    assert data["verification"]["passed"] is True
    assert {c["batch"] for c in data["verification"]["checks"]} == {2}
    assert data["latency_ms"]["batch"] == 2
    assert data["node_count"] == sum(data["op_histogram"].values())
    assert data["file_size"] == out.stat().st_size


@pytest.mark.tf
def test_weights_and_input_shape_options(main: Any, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    result = _run(main, str(fixture_path("news_model", "k3.json")), "--weights",
                  str(fixture_path("news_model", "k3.weights.h5")), "-o", str(out),
                  "--input-shape", "aux_input=5", "--no-verify", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verification"] is None and data["latency_ms"] is None
    assert [i["name"] for i in data["outputs"]] == ["main_output", "aux_output"]


@pytest.mark.tf
def test_failed_check_exits_1_with_one_line_and_no_file(main: Any, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    real_verify_compare = verify_steps.compare

    def skewed(name: str, batch: int, got: np.ndarray, want: np.ndarray, atol: float,
               rtol: float) -> Any:
        return real_verify_compare(name, batch, got + 0.01, want, atol, rtol)

    monkeypatch.setattr(verify_steps, "compare", skewed)
    out = tmp_path / "bad.onnx"
    source = fixture_path("gru_model", "k3.keras")
    result = _run(main, str(source), "-o", str(out))
    assert result.exit_code == 1, result.output
    lines = _errors(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {source}: output 'dense' differs from Keras at batch 1: "
                               "max abs diff 0.01 (atol 0.0001)")
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []

    result = _run(main, str(source), "-o", str(out), "--keep-failed")
    assert result.exit_code == 1
    assert "kept at" in _errors(result)[0]
    assert [p.name for p in tmp_path.iterdir()] == ["bad.onnx"]


@pytest.mark.tf
def test_existing_output_and_bad_usage_exit_2(main: Any, tmp_path: Path) -> None:
    source = str(fixture_path("boston_housing", "k3.keras"))
    existing = tmp_path / "exists.onnx"
    existing.write_bytes(b"keep me")
    result = _run(main, source, "-o", str(existing))
    assert result.exit_code == 2 and "--force" in _errors(result)[0]
    assert existing.read_bytes() == b"keep me"

    for bad in (["--batch", "0"], ["--input-shape", "nope=3"], ["--input-shape", "13"],
                ["--opset", "99"]):
        result = _run(main, source, "-o", str(tmp_path / "x.onnx"), *bad)
        assert result.exit_code == 2, (bad, result.output)
        assert len(_errors(result)) >= 1 and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.onnx"]


def test_missing_input_is_one_line_exit_2_without_tensorflow(tmp_path: Path) -> None:
    code = ("from click.testing import CliRunner\n"
            "from modeltool.cli import main\n"
            f"r = CliRunner().invoke(main, ['to-onnx', {str(tmp_path / 'nope.h5')!r}, '-o', "
            f"{str(tmp_path / 'x.onnx')!r}])\n"
            "print(r.exit_code, repr(r.stderr))\n")
    lines, heavy = run_fresh(code)
    status = lines[-1]
    assert status.startswith("2 ") and "nope.h5: no such file" in status
    assert heavy == []


@pytest.mark.tf
def test_weights_only_file_is_one_line_exit_2(main: Any, tmp_path: Path) -> None:
    source = fixture_path("news_model", "k2-weights.h5")
    result = _run(main, str(source), "-o", str(tmp_path / "x.onnx"))
    assert result.exit_code == 2
    lines = _errors(result)
    assert len(lines) == 1 and str(source) in lines[0] and "no architecture" in lines[0]
    assert list(tmp_path.iterdir()) == []
