"""SavedModel read without TensorFlow: signatures and variables from saved_model.pb match what
TensorFlow itself loads; ``summary`` of a SavedModel imports no TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from modeltool.cli import main
from modeltool.formats.savedmodel_pb import read_pb
from tests.conftest import fixture_path, run_fresh

SAVEDMODELS = [fixture_path("boston_housing", "savedmodel"),
               fixture_path("boston_housing", "k2.savedmodel")]


@pytest.mark.tf
@pytest.mark.parametrize("path", SAVEDMODELS, ids=lambda p: p.name)
def test_signatures_and_variables_match_tensorflow(path: Path) -> None:
    tf: Any = pytest.importorskip("tensorflow")
    loaded = tf.saved_model.load(str(path))
    signatures, variables = read_pb(path)
    assert sorted(s.name for s in signatures) == sorted(loaded.signatures)
    for signature in signatures:
        function = loaded.signatures[signature.name]
        inputs = function.structured_input_signature[1]
        outputs = function.structured_outputs
        assert {t.key: (t.dtype, t.shape) for t in signature.inputs} == \
            {k: (s.dtype.name, s.shape.as_list()) for k, s in inputs.items()}
        assert {t.key: (t.dtype, t.shape) for t in signature.outputs} == \
            {k: (s.dtype.name, s.shape.as_list()) for k, s in outputs.items()}
    reference = {v.name.split(":")[0]: (tuple(v.shape.as_list()), v.dtype.name, v.trainable)
                 for v in loaded.variables}
    assert {v.name: (v.shape, v.dtype, v.trainable) for v in variables} == reference


@pytest.mark.parametrize("path", SAVEDMODELS, ids=lambda p: p.name)
def test_summary_shows_signatures_without_tensorflow(path: Path) -> None:
    lines, heavy = run_fresh(
        "import json\nfrom click.testing import CliRunner\nfrom modeltool.cli import main\n"
        f"r = CliRunner().invoke(main, ['summary', {str(path)!r}, '--json'])\n"
        "print(json.dumps(json.loads(r.stdout)['signatures']))")
    assert heavy == []
    signatures = json.loads(lines[-1])
    assert "serving_default" in signatures
    serving = signatures["serving_default"]
    assert [t["shape"] for t in serving["inputs"]] == [[None, 13]]
    assert [t["dtype"] for t in serving["outputs"]] == ["float32"]
    text = CliRunner().invoke(main, ["summary", str(path)]).stdout
    assert "Signature serving_default:" in text and "(None, 13)" in text


@pytest.mark.parametrize("path", SAVEDMODELS, ids=lambda p: p.name)
def test_weights_listing_without_tensorflow_matches_the_tensorflow_reading(path: Path) -> None:
    """``weights`` (no --stats) lists the variables from saved_model.pb without TensorFlow;
    ``weights --stats`` (which reads values through TensorFlow) lists the same tensors."""
    lines, heavy = run_fresh(
        "import json\nfrom click.testing import CliRunner\nfrom modeltool.cli import main\n"
        f"r = CliRunner().invoke(main, ['weights', {str(path)!r}, '--json'])\n"
        "print(json.dumps(json.loads(r.stdout)['weights']))")
    assert heavy == []
    light = [(w["path"], w["name"], w["shape"], w["dtype"]) for w in json.loads(lines[-1])]
    result = CliRunner().invoke(main, ["weights", str(path), "--stats", "--json"])
    full = [(w["path"], w["name"], w["shape"], w["dtype"])
            for w in json.loads(result.stdout)["weights"]]
    assert sorted(light) == sorted(full) and light
