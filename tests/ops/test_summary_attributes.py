"""``summary`` attributes worth a glance and activation memory, checked against Keras' own
layers and output shapes."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import modeltool
from modeltool.cli import main
from tests.conftest import fixture_path


def _keras_attributes(layer: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, short in (("units", "units"), ("filters", "filters"), ("kernel_size", "kernel"),
                       ("strides", "strides"), ("pool_size", "pool")):
        value = getattr(layer, key, None)
        if value is None:
            continue
        value = tuple(value) if isinstance(value, (list, tuple)) else (value,)
        if key == "strides" and set(value) == {1}:
            continue
        out[short] = "\u00d7".join(str(v) for v in value)
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    if name and name != "linear":
        out["activation"] = name
    return out


@pytest.mark.tf
@pytest.mark.parametrize("model_name", ["vgg_like_cnn", "conv1d3d", "sep_transposed_depthwise"])
def test_attributes_match_keras(model_name: str, keras: Any) -> None:
    path = fixture_path(model_name, "k3.keras")
    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    rows = {row.layer: row for row in modeltool.summary(path).rows}
    checked = 0
    for layer in model.layers:
        expected = _keras_attributes(layer)
        shown = {k: v for k, v in rows[layer.name].attributes.items() if k in expected}
        assert shown == expected, layer.name
        checked += bool(expected)
    assert checked >= 3


@pytest.mark.tf
@pytest.mark.parametrize("model_name", ["news_model", "vgg_like_cnn", "siamese_lstm"])
def test_activation_memory_matches_keras_output_shapes(model_name: str, keras: Any) -> None:
    from keras.src.ops.function import make_node_key

    path = fixture_path(model_name, "k3.keras")
    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    functional = getattr(model, "_functional", None) or model
    own = set(functional._nodes)
    batch = 32
    expected = 0
    for op in functional.operations:
        for i, node in enumerate(op._inbound_nodes):
            if make_node_key(op, i) in own or type(op).__name__ == "InputLayer":
                for tensor in node.output_tensors:
                    expected += int(np.prod(tensor.shape[1:])) * batch * 4
    summary = modeltool.summary(path, batch_size=batch)
    assert summary.activation_unknown == 0
    assert summary.activation_bytes == expected


def test_cli_batch_size_and_json() -> None:
    path = str(fixture_path("news_model", "k2.h5"))
    one = json.loads(CliRunner().invoke(main, ["summary", path, "--json"]).stdout)
    many = json.loads(CliRunner().invoke(main, ["summary", path, "--json",
                                                "--batch-size", "8"]).stdout)
    assert many["totals"]["activation_bytes"] == 8 * one["totals"]["activation_bytes"]
    assert many["totals"]["batch_size"] == 8
    dense = next(r for r in one["rows"] if r["layer"] == "dense")
    assert dense["attributes"] == {"units": "16", "activation": "relu"}
    text = CliRunner().invoke(main, ["summary", path, "--batch-size", "8"]).stdout
    assert "Activation memory (batch of 8, estimated)" in text
    bad = CliRunner().invoke(main, ["summary", path, "--batch-size", "0"])
    assert bad.exit_code == 2
