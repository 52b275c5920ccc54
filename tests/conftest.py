"""Shared test fixtures: the committed fixture manifest, the real-world folder, the CLI runner."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
MANIFEST: dict[str, Any] = json.loads((FIXTURES / "manifest.json").read_text())
REALWORLD = ROOT.parent / "shared" / "realworld"


#: The packages the core must never import (the heavy tier).
HEAVY = ("tensorflow", "keras", "tf_keras", "tf2onnx", "onnxruntime")


def run_fresh(code: str, heavy: tuple[str, ...] = HEAVY) -> tuple[list[str], list[str]]:
    """Run ``code`` in a fresh interpreter: (its stdout lines, which of ``heavy`` it loaded)."""
    probe = (code + "\nimport sys as _sys, json as _json\n"
             f"print(_json.dumps([m for m in {heavy!r} if m in _sys.modules]))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, timeout=120)
    lines = result.stdout.strip().splitlines()
    return lines[:-1], json.loads(lines[-1])


def realworld_rows() -> list[dict[str, str]]:
    """The rows of ../shared/realworld/MANIFEST.tsv (none when the folder is absent)."""
    if not REALWORLD.is_dir():
        return []
    with open(REALWORLD / "MANIFEST.tsv", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def fixture_files(*, kind: str | None = None, writer: str | None = None,
                  model: str | None = None) -> list[dict[str, Any]]:
    """Manifest entries, filtered; ``path`` is added as an absolute Path."""
    found = []
    for entry in MANIFEST["files"]:
        if kind is not None and entry["kind"] != kind:
            continue
        if writer is not None and not entry["writer"].startswith(writer):
            continue
        if model is not None and entry["model"] != model:
            continue
        found.append({**entry, "path": FIXTURES / entry["file"]})
    return found


def fixture_path(model: str, variant: str) -> Path:
    return FIXTURES / "models" / f"{model}.{variant}"


def sample_inputs(model_name: str, keras_model: Any, batch: int = 3, seed: int = 0) -> list[Any]:
    """Inputs for a live model: floats in [0, 1), integers inside the Embedding vocabulary."""
    rng = np.random.default_rng(seed)
    ints = MANIFEST["models"].get(model_name, {}).get("int_inputs", {})
    values = []
    for tensor in keras_model.inputs:
        shape = [batch, *[d if d is not None else 4 for d in tensor.shape[1:]]]
        name = tensor.name.split(":")[0]
        dtype = np.dtype(getattr(tensor.dtype, "name", tensor.dtype))
        vocab = ints.get(name) or (next(iter(ints.values())) if len(ints) == 1 else None)
        if dtype.kind in "iu" or name in ints:
            values.append(rng.integers(0, vocab or 10, size=shape).astype(dtype))
        else:
            values.append(rng.random(shape, dtype=np.float32))
    return values


def keras1_merge_model(merge_config: dict[str, Any], width: int) -> dict[str, Any]:
    """A Keras 1.2 functional config: two ``(None, width)`` inputs ``a`` and ``b`` into one
    ``Merge`` layer ``merge_1`` with ``merge_config`` (its mode and arguments)."""

    def input_layer(name: str) -> dict[str, Any]:
        return {"class_name": "InputLayer", "name": name, "inbound_nodes": [],
                "config": {"batch_input_shape": [None, width], "input_dtype": "float32",
                           "sparse": False, "name": name}}

    merge = {"class_name": "Merge", "name": "merge_1",
             "config": {"name": "merge_1", **merge_config},
             "inbound_nodes": [[["a", 0, 0], ["b", 0, 0]]]}
    return {"class_name": "Model", "keras_version": "1.2.2",
            "config": {"name": "m", "layers": [input_layer("a"), input_layer("b"), merge],
                       "input_layers": [["a", 0, 0], ["b", 0, 0]],
                       "output_layers": [["merge_1", 0, 0]]}}


#: The arguments Keras 1.2 wrote for a Merge with a named mode.
KERAS1_MERGE_ARGS = {"concat_axis": -1, "dot_axes": -1, "mode_type": "raw",
                     "output_shape": None, "output_shape_type": "raw", "output_mask": None,
                     "output_mask_type": "raw", "arguments": {}}


def as_outputs(value: Any) -> list[np.ndarray]:
    """A model's output (one tensor, a list, or a dict by name) as a list of arrays."""
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, (list, tuple)):
        value = [value]
    return [np.asarray(v) for v in value]


def predict(model: Any, inputs: list[Any]) -> list[np.ndarray]:
    single = len(inputs) == 1 and type(model).__name__ == "Sequential"
    return as_outputs(model(inputs[0] if single else list(inputs), training=False))


@pytest.fixture(scope="session")
def keras() -> Any:
    import keras as keras3

    return keras3


@pytest.fixture(scope="session")
def tf_keras() -> Any:
    import tf_keras

    return tf_keras


@pytest.fixture()
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def realworld() -> Path:
    if not REALWORLD.is_dir():
        pytest.skip(f"real-world files not found at {REALWORLD}")
    return REALWORLD
