"""``check`` and ``summary`` on an architecture + weights pair (``--weights``), and ``check``'s
findings on risky content, checked against the raw files read with json and h5py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.cli import main
from tests.conftest import REALWORLD

pytestmark = [pytest.mark.realworld,
              pytest.mark.skipif(not REALWORLD.is_dir(), reason="../shared/realworld absent")]

CARND_JSON = REALWORLD / "dventimiglia__CarND-Behavioral-Cloning__k1_model.json"
CARND_H5 = REALWORLD / "dventimiglia__CarND-Behavioral-Cloning__k1_model.h5"
CATS_JSON = REALWORLD / "Adeel-Intizar__Cats-VS-Dogs__model.json"
K2CPP_JSON = REALWORLD / "pplonski__keras2cpp__my_nn_arch.json"
K2CPP_H5 = REALWORLD / "pplonski__keras2cpp__my_nn_weights.h5"


def _json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _h5_values(path: object) -> tuple[int, int]:
    """(tensors, values) of an HDF5 weights file, counted with h5py alone."""
    sizes: list[int] = []
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda _name, obj: sizes.append(int(np.prod(obj.shape)))
                          if isinstance(obj, h5py.Dataset) else None)
    return len(sizes), sum(sizes)


def _raw_layers(path: object) -> list[dict[str, Any]]:
    config = json.loads(open(path).read())["config"]  # noqa: SIM115 - small file
    return config if isinstance(config, list) else config["layers"]


def test_check_reports_a_bytecode_lambda_as_a_finding() -> None:
    data = _json("check", str(CARND_JSON))
    lambdas = [layer["config"]["name"] for layer in _raw_layers(CARND_JSON)
               if layer["class_name"] == "Lambda"]
    assert data["ok"] is True and data["tensors"] == 0
    assert [f["where"] for f in data["findings"] if f["kind"] == "lambda"] == lambdas
    text = CliRunner().invoke(main, ["check", str(CARND_JSON), "--wide"]).stdout
    assert "no weights" in text and "lambda (finding)" in text


def test_check_reports_tf_op_layers(tmp_path: Path) -> None:
    """TF-op layers modeltool rewrites for Keras 3 (Relu6 here) are no finding; one whose op
    has no rule is (the same file with one op renamed to an op no rule knows)."""
    data = _json("check", str(CATS_JSON))
    tf_ops = [layer["name"] for layer in _raw_layers(CATS_JSON)
              if layer["class_name"] == "TensorFlowOpLayer"]
    assert tf_ops and not [f for f in data["findings"] if f["kind"] == "tf-op"]
    config = json.loads(CATS_JSON.read_text())
    changed = next(layer for layer in config["config"]["layers"]
                   if layer["class_name"] == "TensorFlowOpLayer")
    changed["config"]["node_def"]["op"] = "NoSuchOpAnywhere"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(config))
    data = _json("check", str(edited))
    assert [f["where"] for f in data["findings"] if f["kind"] == "tf-op"] == [changed["name"]]


def test_check_a_pair() -> None:
    data = _json("check", str(CARND_JSON), "--weights", str(CARND_H5))
    assert (data["tensors"], data["params"]) == _h5_values(CARND_H5)
    assert data["ok"] is True


def test_summary_of_a_pair_counts_the_stored_weights() -> None:
    alone = _json("summary", str(K2CPP_JSON))
    paired = _json("summary", str(K2CPP_JSON), "--weights", str(K2CPP_H5))
    tensors, values = _h5_values(K2CPP_H5)
    assert paired["totals"]["params"] == values
    assert paired["totals"]["bytes"] == values * 4  # float32, as h5py reads them
    assert alone["totals"]["params"] == values  # the config agrees with the weights


def test_summary_of_a_pair_infers_shapes_from_the_weights() -> None:
    """Keras 1 JSON whose bytecode Lambda hides every shape after it: with the paired weights
    the Flatten output comes from the first Dense kernel (marked as inferred), and the Dense
    rows follow; the kernels are read here with h5py."""
    kernels: dict[str, tuple[int, ...]] = {}

    def visit(name: str, obj: object) -> None:  # returns None: visititems goes on
        if isinstance(obj, h5py.Dataset) and len(obj.shape) == 2:
            kernels.setdefault(name.split("/")[0], obj.shape)

    with h5py.File(CARND_H5, "r") as handle:
        handle.visititems(visit)
    alone = {row["layer"]: row for row in _json("summary", str(CARND_JSON))["rows"]}
    paired = {row["layer"]: row
              for row in _json("summary", str(CARND_JSON), "--weights", str(CARND_H5))["rows"]}
    assert alone["Flatten"]["output_shapes"] in (None, [None])
    assert paired["Flatten"]["output_shapes"] == [[None, kernels["FC2"][0]]]
    assert paired["Flatten"]["shape_source"] == "weights"
    for dense in ("FC2", "FC3", "FC4", "Readout"):
        assert paired[dense]["output_shapes"] == [[None, kernels[dense][1]]]
    assert paired["Convolution2D1"]["output_shapes"] in (None, [None])  # not guessed
    text = CliRunner().invoke(main, ["summary", str(CARND_JSON), "--weights", str(CARND_H5),
                                     "--wide"]).stdout
    assert f"(None, {kernels['FC2'][0]})*" in text and "inferred from the stored" in text
