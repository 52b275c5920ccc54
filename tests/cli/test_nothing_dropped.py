"""Nothing dropped quietly: contradictory flags are refused in one line, a transfer that loads
nothing writes nothing, and freezing a compiled model says its optimizer state goes."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.cli import main
from tests.conftest import fixture_path

KERAS = fixture_path("mnist_mlp_small", "k3.keras")
JSON = fixture_path("mnist_mlp_small", "k3.json")
OTHER = fixture_path("news_model", "k3.keras")


def _refused(args: list[str], *words: str) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    lines = [x for x in result.stderr.splitlines() if x.strip() and not x.startswith("warning")]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and all(w in lines[0] for w in words), lines
    return lines[0]


def _first_layer(keras: Any) -> str:
    return str(keras.models.load_model(KERAS).layers[0].name)


@pytest.mark.parametrize("case", ["to-other-kind", "init-and-weights", "init-with-weights",
                                  "load-weights-to-other-kind"])
def test_contradictory_convert_flags(case: str, tmp_path: Path) -> None:
    out = tmp_path / "x.keras"
    args = {
        "to-other-kind": (["convert", KERAS, "-o", out, "--to", "h5"], "--to"),
        "init-and-weights": (["convert", JSON, "-o", out, "--init", "--weights", KERAS],
                             "--init"),
        "init-with-weights": (["convert", KERAS, "-o", out, "--init"], "--init"),
        "load-weights-to-other-kind": (["load-weights", KERAS, KERAS, "--by-name", "-o", out,
                                        "--to", "h5"], "--to"),
    }[case]
    _refused(args[0], args[1])
    assert not list(tmp_path.iterdir())


def test_hdf5_names_take_any_hdf5_kind(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["convert", str(KERAS), "-o", str(tmp_path / "w.h5"),
                                       "--to", "k2-weights"])
    assert result.exit_code == 0, result.output


def test_freeze_and_unfreeze_the_same_layer(tmp_path: Path, keras: Any) -> None:
    name = _first_layer(keras)
    _refused(["freeze", KERAS, "--layers", name, "--unfreeze", name, "-o",
              tmp_path / "f.keras"], "--layers", "--unfreeze", name)
    assert not list(tmp_path.iterdir())


def test_expand_nested_with_depth_zero() -> None:
    _refused(["summary", fixture_path("nested_vision", "k3.keras"), "--expand-nested",
              "--depth", "0"], "--expand-nested", "--depth 0")


def test_skip_mismatch_that_loads_nothing_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.keras"
    result = CliRunner().invoke(main, ["load-weights", str(KERAS), str(OTHER), "--by-name",
                                       "--skip-mismatch", "-o", str(out)])
    errors = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert result.exit_code == 1, result.output  # the plan table is shown, then the reason
    assert len(errors) == 1 and "no layer" in errors[0] and "nothing was written" in errors[0]
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.tf
def test_freeze_says_a_compiled_models_optimizer_state_goes(tmp_path: Path, keras: Any) -> None:
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, name="b")(
        keras.layers.Dense(3, name="a")(inputs)))
    model.compile("adam", "mse")
    model.fit(np.ones((8, 4)), np.ones((8, 2)), verbose=0)
    model.save(tmp_path / "compiled.keras")
    result = CliRunner().invoke(main, ["freeze", str(tmp_path / "compiled.keras"), "--layers",
                                       "a", "-o", str(tmp_path / "frozen.keras")])
    assert result.exit_code == 0, result.output
    assert "optimizer state" in " ".join(result.output.split())
    # Keras agrees: it skips the stored optimizer variables when loading the frozen model.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keras.models.load_model(tmp_path / "frozen.keras")
    assert any("optimizer" in str(w.message) for w in caught)
