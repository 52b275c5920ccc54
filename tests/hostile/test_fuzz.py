"""Fuzzing ``modeltool.open`` and the config dialect layer: anything other than a ModelToolError
is a bug. The default run is bounded; ``MODELTOOL_FUZZ_EXAMPLES=20000`` runs longer."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modeltool
from modeltool.errors import ModelToolError
from modeltool.formats.dialects import canonical_model_config
from tests.conftest import fixture_path

EXAMPLES = int(os.environ.get("MODELTOOL_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))

SOURCES = [fixture_path("mnist_mlp_small", v) for v in
           ("k2.h5", "k3.h5", "k3.keras", "k3.weights.h5", "k2-weights.h5", "k3.json", "k2.yaml")]


def _open_and_touch(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with modeltool.open(path) as artifact:
                for entry in artifact.weights:
                    entry.read()
        except ModelToolError:
            pass


@FUZZ
@given(source=st.sampled_from(SOURCES), edits=st.lists(
    st.tuples(st.floats(0, 1, allow_nan=False), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.floats(0, 1, allow_nan=False)))
def test_mutated_files_raise_only_modeltool_errors(source: Path, edits: list[tuple[float, int]],
                                                   cut: float | None, tmp_path_factory:
                                                   pytest.TempPathFactory) -> None:
    data = bytearray(source.read_bytes())
    for where, value in edits:
        data[min(int(where * len(data)), len(data) - 1)] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    folder = tmp_path_factory.mktemp("fuzz")
    target = folder / source.name
    target.write_bytes(bytes(data))
    _open_and_touch(target)
    shutil.rmtree(folder, ignore_errors=True)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(
        ["", "x", "dense", "InputLayer", "Dense", "Sequential", "Functional", "Model",
         "__keras_tensor__", "th", "same"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["class_name", "config", "layers", "name", "inbound_nodes", "args",
                         "kwargs", "keras_history", "layer", "input_layers", "output_layers",
                         "batch_input_shape", "batch_shape", "units", "function", "module"]),
        children, max_size=5),
    max_leaves=25)


@FUZZ
@given(raw=JSON_VALUES)
def test_random_configs_raise_only_modeltool_errors(raw: Any) -> None:
    try:
        canonical_model_config(raw)
    except ModelToolError:
        pass


@FUZZ
@given(raw=JSON_VALUES)
def test_random_config_files_open_or_refuse(raw: Any, tmp_path_factory:
                                            pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("cfg")
    path = folder / "model.json"
    path.write_text(json.dumps({"class_name": "Sequential", "config": raw}))
    _open_and_touch(path)
    shutil.rmtree(folder, ignore_errors=True)
