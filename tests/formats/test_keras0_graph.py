"""Keras 0.x ``Graph`` models (a JSON with ``input_config``/``node_config``/``output_config``/
``nodes`` and no ``class_name``; weights as one ``graph`` group of ``param_<j>`` arrays), written
by hand as Keras 0.3 wrote them (no library can today). The reference is the Keras 0.x maths in
numpy: a node reads one input or the merge of several; an LSTM with per-gate weights and
``hard_sigmoid`` gates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import modeltool

_NODE = {"input": None, "inputs": [], "merge_mode": "concat", "concat_axis": -1,
         "dot_axes": -1, "create_output": False}


def _dense(inputs: int, units: int, activation: str) -> dict[str, Any]:
    return {"name": "Dense", "input_dim": inputs, "output_dim": units,
            "init": "glorot_uniform", "activation": activation, "W_regularizer": None,
            "b_regularizer": None, "activity_regularizer": None, "W_constraint": None,
            "b_constraint": None, "cache_enabled": True}


def _graph() -> dict[str, Any]:
    """seq -> LSTM 'enc'; vec -> Dense 'side' -> Dropout 'drop'; 'joined' = Dense(softmax) of
    sum(enc, drop); outputs 'out' (joined), 'both' (concat of enc and side) and 'gate'
    (a node marked create_output)."""
    lstm = {"name": "LSTM", "input_dim": 2, "input_length": 4, "output_dim": 3,
            "init": "glorot_uniform", "inner_init": "orthogonal", "forget_bias_init": "one",
            "activation": "tanh", "inner_activation": "hard_sigmoid",
            "return_sequences": False, "truncate_gradient": -1, "cache_enabled": True}
    return {
        "name": "Graph", "loss": {"out": "categorical_crossentropy"},
        "input_config": [{"name": "seq", "input_shape": [4, 2], "dtype": "float"},
                         {"name": "vec", "input_shape": [3], "dtype": "float"}],
        "node_config": [
            {**_NODE, "name": "enc", "input": "seq"},
            {**_NODE, "name": "side", "input": "vec"},
            {**_NODE, "name": "drop", "input": "side"},
            {**_NODE, "name": "joined", "inputs": ["enc", "drop"], "merge_mode": "sum"},
            {**_NODE, "name": "gate", "input": "side", "create_output": True}],
        "output_config": [{**_NODE, "name": "out", "input": "joined"},
                          {**_NODE, "name": "both", "inputs": ["enc", "side"]}],
        "input_order": ["seq", "vec"], "output_order": ["out", "both", "gate"],
        "nodes": {"enc": lstm, "side": _dense(3, 3, "tanh"),
                  "drop": {"name": "Dropout", "p": 0.5},
                  "joined": _dense(3, 2, "softmax"),
                  "gate": {"name": "Activation", "activation": "sigmoid"}}}


def test_keras0_graph_summary(tmp_path: Path) -> None:
    """Read without TensorFlow: a node merging several inputs becomes a Merge layer before it;
    shapes and parameter counts follow."""
    (tmp_path / "graph.json").write_text(json.dumps(_graph()))
    rows = {row.layer: row for row in modeltool.summary(tmp_path / "graph.json").rows}
    assert rows["joined_merge"].class_name == "Add"
    assert rows["joined_merge"].inbound == ["enc[0][0]", "drop[0][0]"]
    assert rows["both"].class_name == "Concatenate"
    assert rows["both"].output_shapes == [(None, 6)]
    assert rows["enc"].params == 4 * (2 * 3 + 3 * 3 + 3)
    assert rows["joined"].output_shapes == [(None, 2)]


def test_keras0_graph_bad_reference_is_one_line(cli: Any, tmp_path: Path) -> None:
    from modeltool.cli import main

    graph = _graph()
    graph["node_config"][3]["inputs"] = ["enc", "nowhere"]
    (tmp_path / "graph.json").write_text(json.dumps(graph))
    result = cli.invoke(main, ["summary", str(tmp_path / "graph.json")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "graph.json" in result.stderr and "'nowhere'" in result.stderr


@pytest.mark.tf
def test_keras0_graph_with_weights_predicts_as_keras0(keras: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    gates = {g: (rng.normal(size=(2, 3)), rng.normal(size=(3, 3)), rng.normal(size=3))
             for g in "icfo"}
    side_w, side_b = rng.normal(size=(3, 3)), rng.normal(size=3)
    joined_w, joined_b = rng.normal(size=(3, 2)), rng.normal(size=2)
    # Keras 0.3 Graph.get_weights: node by node; its LSTM lists W, U, b per gate i, c, f, o
    params = [gates[g][k] for g in "icfo" for k in range(3)]
    params += [side_w, side_b, joined_w, joined_b]
    (tmp_path / "graph.json").write_text(json.dumps(_graph()))
    with h5py.File(tmp_path / "graph.h5", "w") as handle:
        group = handle.create_group("graph")
        group.attrs["nb_params"] = len(params)
        for j, value in enumerate(params):
            group.create_dataset(f"param_{j}", data=value.astype("float32"))
    out = tmp_path / "graph.keras"
    modeltool.convert(tmp_path / "graph.json", out, weights=tmp_path / "graph.h5")

    seq = rng.normal(size=(2, 4, 2)).astype("float32")
    vec = rng.normal(size=(2, 3)).astype("float32")

    def hard_sigmoid(x: np.ndarray) -> np.ndarray:
        return np.clip(0.2 * x + 0.5, 0, 1)

    h = np.zeros((2, 3))
    c = np.zeros((2, 3))
    for t in range(4):
        def lin(g: str, t: int = t, h: np.ndarray = h) -> np.ndarray:
            return seq[:, t] @ gates[g][0] + h @ gates[g][1] + gates[g][2]
        i, f, o = hard_sigmoid(lin("i")), hard_sigmoid(lin("f")), hard_sigmoid(lin("o"))
        c = f * c + i * np.tanh(lin("c"))
        h = o * np.tanh(c)
    side = np.tanh(vec @ side_w + side_b)
    logits = (h + side) @ joined_w + joined_b
    want = [np.exp(logits) / np.exp(logits).sum(-1, keepdims=True),
            np.concatenate([h, side], -1), 1 / (1 + np.exp(-side))]
    from modeltool.keras_bridge.legacy_layers import register

    register()  # the migrated LSTM names modeltool>legacy_hard_sigmoid
    model = keras.models.load_model(out, compile=False)
    got = [np.asarray(g) for g in model([seq, vec])]
    assert len(got) == 3
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5)
