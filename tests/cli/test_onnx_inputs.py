"""``weights`` and ``check`` on ``.onnx`` files, against what the onnx package itself reads
(numpy_helper arrays, onnx.checker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.cli import main

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(path: Path, *, weight: np.ndarray | None = None, broken: bool = False) -> Path:
    rng = np.random.default_rng(0)
    w = weight if weight is not None else rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "dense/kernel"], ["h"], name="dense/MatMul"),
             helper.make_node("Add", ["h", "dense/bias" if not broken else "nowhere"], ["y"],
                              name="dense/BiasAdd")]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[numpy_helper.from_array(w, "dense/kernel"),
                     numpy_helper.from_array(b, "dense/bias")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return path


def _run(*args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(main, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout else None


def test_weights_lists_initializers(tmp_path: Path) -> None:
    path = _model(tmp_path / "m.onnx")
    code, data = _run("weights", str(path), "--stats")
    assert code == 0 and data["kind"] == "onnx"
    reference = {init.name: numpy_helper.to_array(init)
                 for init in onnx.load(str(path)).graph.initializer}
    got = {f"{row['path']}/{row['name']}": row for row in data["weights"]}
    assert set(got) == set(reference)
    for name, array in reference.items():
        row = got[name]
        assert tuple(row["shape"]) == array.shape and row["bytes"] == array.nbytes
        assert row["dtype"] == str(array.dtype)
        assert row["stats"]["max"] == pytest.approx(float(array.max()))
        assert row["stats"]["min"] == pytest.approx(float(array.min()))
    text = CliRunner().invoke(main, ["weights", str(path)]).stdout
    assert "kernel" in text and "(4, 3)" in text and "not a Keras model" not in text


def test_check_good_nan_and_broken(tmp_path: Path) -> None:
    good = _model(tmp_path / "good.onnx")
    onnx.checker.check_model(onnx.load(str(good)), full_check=True)  # the reference agrees
    code, data = _run("check", str(good))
    assert code == 0 and data["ok"] is True and data["tensors"] == 2 and data["params"] == 15

    weight = np.ones((4, 3), np.float32)
    weight[0, 0], weight[1, 1] = np.nan, np.inf
    code, data = _run("check", str(_model(tmp_path / "nan.onnx", weight=weight)))
    assert code == 1
    assert {(p["kind"], p["where"]) for p in data["problems"]} == \
        {("nan", "dense/kernel"), ("inf", "dense/kernel")}

    broken = _model(tmp_path / "broken.onnx", broken=True)
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(onnx.load(str(broken)), full_check=True)
    code, data = _run("check", str(broken))
    assert code == 1 and "checker" in {p["kind"] for p in data["problems"]}
