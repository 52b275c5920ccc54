"""ONNX files read as data: sniffing, the summary (interface, op histogram, node shapes from ONNX
shape inference), bad files, rendering, and no TensorFlow import."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modeltool.errors import CorruptFileError, InputNotFoundError
from modeltool.formats.onnx_file import sniff_kind, summarize_onnx
from modeltool.render.onnx import onnx_summary_dict, onnx_summary_table
from tests.conftest import fixture_files, fixture_path, run_fresh


def _small_model(path: Path) -> Path:
    """x[batch, 4] -> MatMul(W[4, 3]) -> Relu -> y[batch, 3], plus a Loop-free Add chain."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 3), np.float32), "W")
    bias = numpy_helper.from_array(np.zeros(3, np.float32), "B")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="dense/MatMul"),
             helper.make_node("Add", ["h", "B"], ["z"], name="dense/BiasAdd"),
             helper.make_node("Relu", ["z"], ["y"], name="dense/Relu")]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[weight, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="test")
    onnx.save(model, path)
    return path


def test_summary_of_a_small_model(tmp_path: Path) -> None:
    summary = summarize_onnx(_small_model(tmp_path / "tiny.onnx"))
    assert summary.opset == 17 and summary.opsets == {"": 17}
    assert summary.producer == "test" and summary.graph_name == "tiny"
    assert [(t.name, t.dtype, t.shape) for t in summary.inputs] == [
        ("x", "float32", ["batch", 4])]
    assert [(t.name, t.shape) for t in summary.outputs] == [("y", ["batch", 3])]
    assert summary.op_histogram == {"Add": 1, "MatMul": 1, "Relu": 1}
    assert summary.node_count == 3
    assert [(n.name, n.op_type, n.output_shapes) for n in summary.nodes] == [
        ("dense/MatMul", "MatMul", [["batch", 3]]), ("dense/BiasAdd", "Add", [["batch", 3]]),
        ("dense/Relu", "Relu", [["batch", 3]])]
    assert summary.initializers == 2 and summary.params == 15
    assert summary.initializer_bytes == 60


def test_sniff(tmp_path: Path) -> None:
    assert sniff_kind(_small_model(tmp_path / "tiny.onnx")) == "onnx"
    renamed = tmp_path / "tiny.bin"
    renamed.write_bytes((tmp_path / "tiny.onnx").read_bytes())
    assert sniff_kind(renamed) == "onnx"  # content, not the extension
    for entry in fixture_files():
        assert sniff_kind(entry["path"]) is None, entry["file"]
    assert sniff_kind(tmp_path / "missing.onnx") is None
    assert sniff_kind(tmp_path) is None


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        summarize_onnx(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\xfe not a protobuf at all \x00\x01")
    with pytest.raises(CorruptFileError, match="not a readable ONNX model"):
        summarize_onnx(garbage)
    truncated = tmp_path / "truncated.onnx"
    data = _small_model(tmp_path / "whole.onnx").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError):
        summarize_onnx(truncated)
    keras_file = fixture_path("mnist_mlp_small", "k3.keras")
    with pytest.raises(CorruptFileError):
        summarize_onnx(keras_file)


def test_render(tmp_path: Path) -> None:
    from rich.console import Console

    summary = summarize_onnx(_small_model(tmp_path / "tiny.onnx"))
    data = onnx_summary_dict(summary)
    assert data["schema"] == 1 and data["kind"] == "onnx"
    assert data["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["batch", 4]}]
    assert data["nodes"][0]["output_shapes"] == [["batch", 3]]
    json.dumps(data)
    console = Console(width=120, record=True, markup=False, color_system=None)
    console.print(onnx_summary_table(summary))
    text = console.export_text()
    assert "x float32 [batch, 4]" in text and "3 nodes: Add 1, MatMul 1, Relu 1" in text
    assert "dense/BiasAdd" in text and "[batch, 3]" in text
    console = Console(width=120, record=True, markup=False, color_system=None)
    console.print(onnx_summary_table(summary, show_shapes=False))
    assert "output shape" not in console.export_text()


def test_summary_imports_no_tensorflow(tmp_path: Path) -> None:
    path = _small_model(tmp_path / "tiny.onnx")
    code = ("from modeltool.formats.onnx_file import summarize_onnx\n"
            "from modeltool.render.onnx import onnx_summary_dict\n"
            f"onnx_summary_dict(summarize_onnx({str(path)!r}))\n")
    assert run_fresh(code)[1] == []


@pytest.mark.tf
def test_summary_of_a_converted_model(tmp_path: Path) -> None:
    from modeltool.ops.onnx_export import to_onnx

    out = tmp_path / "news.onnx"
    report = to_onnx(fixture_path("news_model", "k3.keras"), out, verify=False)
    summary = summarize_onnx(out)
    assert [(t.name, t.dtype, t.shape) for t in summary.inputs] == [
        ("main_input", "int32", ["batch", 100]), ("aux_input", "float32", ["batch", 5])]
    assert [t.name for t in summary.outputs] == ["main_output", "aux_output"]
    assert summary.op_histogram == report.op_histogram
    assert summary.producer.startswith("modeltool")
    # Shape inference reaches the last node (the main output's Sigmoid).
    assert summary.nodes[-1].output_shapes[-1] is not None


def test_api_summary_of_an_onnx_file(tmp_path: Path) -> None:
    """``modeltool.summary`` answers for an ONNX file as ``modeltool summary`` does: the
    interface and nodes the ``onnx`` library reads from the same file."""
    import onnx

    import modeltool

    path = _small_model(tmp_path / "tiny.onnx")
    model = onnx.load(path)
    summary = modeltool.summary(path)
    assert [t.name for t in summary.inputs] == [i.name for i in model.graph.input]
    assert [t.name for t in summary.outputs] == [o.name for o in model.graph.output]
    assert [n.name for n in summary.nodes] == [n.name for n in model.graph.node]
