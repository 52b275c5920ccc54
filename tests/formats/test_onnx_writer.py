"""formats.onnx_writer: initializers streamed into the file after the graph read back by onnx
itself, bytes for bytes, and the result runs in onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modeltool.formats.onnx_writer import write_onnx_model

onnx = pytest.importorskip("onnx")


def _model(names: list[str]) -> object:
    """y = x + a + b (+ c ...), the addends being graph inputs to stream as initializers."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 200])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 200])
    nodes, previous = [], "x"
    for index, name in enumerate(names):
        out = "y" if index == len(names) - 1 else f"sum{index}"
        nodes.append(helper.make_node("Add", [previous, name], [out]))
        previous = out
    graph = helper.make_graph(nodes, "streamed", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_streamed_initializers_read_back_by_onnx(tmp_path: Path) -> None:
    import onnxruntime as ort
    from onnx import numpy_helper

    rng = np.random.default_rng(0)
    # 200 floats: 800 bytes of data, so every length is a varint of more than one byte; a
    # big-endian array is stored little-endian as ONNX requires.
    arrays = {"a": rng.standard_normal((2, 200)).astype(np.float32),
              "b": rng.standard_normal((1, 200)).astype(">f4")}
    path = tmp_path / "streamed.onnx"
    write_onnx_model(_model(list(arrays)), path,
                     [(name, lambda array=array: array) for name, array in arrays.items()])

    loaded = onnx.load_model(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    stored = {init.name: numpy_helper.to_array(init) for init in loaded.graph.initializer}
    assert sorted(stored) == ["a", "b"]
    for name, array in arrays.items():
        assert stored[name].dtype == np.float32
        np.testing.assert_array_equal(stored[name], array.astype(np.float32))
    x = rng.standard_normal((2, 200)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(["y"], {"x": x})[0],
                               x + arrays["a"] + arrays["b"].astype(np.float32), rtol=1e-6)


def test_without_pending_initializers_the_model_is_saved_by_onnx(tmp_path: Path) -> None:
    from onnx import numpy_helper

    model = _model(["a"])
    model.graph.initializer.append(  # type: ignore[attr-defined]
        numpy_helper.from_array(np.ones((2, 200), np.float32), "a"))
    path = tmp_path / "plain.onnx"
    write_onnx_model(model, path)
    assert path.read_bytes() == model.SerializeToString()  # type: ignore[attr-defined]
