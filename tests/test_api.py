"""The public API: ``modeltool.__all__`` is ``api.__all__`` and every name resolves; what the CLI
does on an ``.onnx`` file (summary, weights, check) is reachable from Python, and agrees with the
onnx library's own reading of the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import modeltool
from modeltool import api
from modeltool.cli import main
from modeltool.kinds import Kind


def test_public_names_are_the_api_names() -> None:
    assert set(modeltool.__all__) == {"__version__", *api.__all__}
    for name in api.__all__:
        assert getattr(modeltool, name) is getattr(api, name), name
    # once missing from modeltool.__all__ (AttributeError on use)
    assert callable(modeltool.attach_weights) and callable(modeltool.tensor_stats)
    assert modeltool.WeightRow.__name__ == "WeightRow"
    with pytest.raises(AttributeError):
        modeltool.not_a_public_name  # noqa: B018


def _onnx_file(path: Path, *, poison: bool = False) -> tuple[Path, dict[str, np.ndarray]]:
    """x[batch, 4] -> Gemm(W, B) -> Relu -> y[batch, 3], written with the onnx library."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    arrays = {"dense/kernel": rng.standard_normal((4, 3)).astype(np.float32),
              "dense/bias": rng.standard_normal(3).astype(np.float32)}
    if poison:
        arrays["dense/bias"][1] = np.nan
    nodes = [helper.make_node("Gemm", ["x", "dense/kernel", "dense/bias"], ["h"], name="gemm"),
             helper.make_node("Relu", ["h"], ["y"], name="relu")]
    graph = helper.make_graph(
        nodes, "api", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[numpy_helper.from_array(a, n) for n, a in arrays.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path, arrays


def test_summary_weights_and_check_of_an_onnx_file(tmp_path: Path) -> None:
    import onnx

    path, arrays = _onnx_file(tmp_path / "m.onnx")
    reference = onnx.load(path)

    summary = modeltool.summary(path)
    assert isinstance(summary, modeltool.OnnxSummary)
    assert [t.name for t in summary.inputs] == [i.name for i in reference.graph.input]
    assert [t.name for t in summary.outputs] == [o.name for o in reference.graph.output]
    assert [n.op_type for n in summary.nodes] == [n.op_type for n in reference.graph.node]
    assert summary.params == sum(a.size for a in arrays.values())

    report = modeltool.weights(path, stats=True)
    assert report.kind == Kind.ONNX
    assert {f"{r.path}/{r.name}": r.shape for r in report.rows} == {
        n: a.shape for n, a in arrays.items()}
    for row in report.rows:
        array = arrays[f"{row.path}/{row.name}"]
        assert row.stats is not None and row.stats["max"] == pytest.approx(float(array.max()))

    assert modeltool.check(path).ok
    poisoned, _ = _onnx_file(tmp_path / "nan.onnx", poison=True)
    assert not modeltool.check(poisoned).ok


def test_cli_summary_of_onnx_is_the_api_report(tmp_path: Path, cli) -> None:
    from modeltool.render.onnx import onnx_summary_dict

    path, _ = _onnx_file(tmp_path / "m.onnx")
    result = cli.invoke(main, ["summary", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(
        json.dumps(onnx_summary_dict(modeltool.summary(path))))
