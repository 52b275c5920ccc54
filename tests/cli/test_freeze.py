"""``modeltool freeze``, with Keras as the judge: the chosen layers load non-trainable, the
trainable param count is the one reported, and every weight equals the input's bit for bit."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.cli import main
from tests.conftest import fixture_path
from tests.hostile import corpus


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(args: list[str]) -> Any:
    return CliRunner().invoke(main, ["freeze", *args], catch_exceptions=False)


def effective_trainable(model: Any, prefix: str = "", parent: bool = True) -> dict[str, bool]:
    """Path of each layer holding weights itself -> does Keras train it (its own flag and
    every enclosing model's)."""
    found: dict[str, bool] = {}
    for layer in model.layers:
        path, on = f"{prefix}{layer.name}", parent and layer.trainable
        inner = layer if hasattr(layer, "layers") else getattr(layer, "layer", None)
        if inner is not None and hasattr(inner, "layers"):
            found.update(effective_trainable(inner, f"{path}/", on))
        elif layer.weights:
            found[path] = on
    return found


def count(weights: list[Any]) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


# (model, variant, options, layers Keras must report frozen)
VISION = [f"vision_model/conv2d{s}" for s in ("", "_1", "_2", "_3", "_4", "_5")]
CASES = [
    ("nested_vision", "k3.keras",
     ["--layers", "vision_model", "--unfreeze", "vision_model/conv2d_6"], VISION),
    ("nested_vision", "k3.h5",
     ["--layers", "vision_model", "--unfreeze", "vision_model/conv2d_6"], VISION),
    ("nested_vision", "k2.h5", ["--until", "vision_model/conv2d_3"],
     ["embedding", "lstm", *VISION[:4]]),
    ("batchnorm_cnn", "k2.h5", ["--all-but-last", "2"],
     ["conv2d", "batch_normalization", "batch_normalization_1", "conv2d_1", "dense"]),
    ("bidirectional_model", "k3.keras", ["--layers", "bidirectional*"],
     ["bidirectional", "bidirectional_1"]),
    ("time_distributed_model", "k3.h5", ["--layers", "re:time_distributed/.*"],
     ["time_distributed/conv2d", "time_distributed/dense"]),
]


@pytest.mark.tf
@pytest.mark.parametrize(("model", "variant", "options", "frozen"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2][0]}" for c in CASES])
def test_freeze_judged_by_keras(model: str, variant: str, options: list[str],
                                frozen: list[str], tmp_path: Path, keras: Any,
                                tf_keras: Any) -> None:
    source = fixture_path(model, variant)
    before = _sha(source)
    out = tmp_path / f"out.{variant.split('.', 1)[1]}"
    result = run([str(source), *options, "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["schema"] == 1 and report["output"] == str(out)
    assert _sha(source) == before
    # Keras 2 files are judged by the Keras that wrote them.
    loader = tf_keras if variant.startswith("k2") else keras
    got = loader.models.load_model(out, compile=False)
    original = loader.models.load_model(source, compile=False)
    flags = effective_trainable(got)
    was = effective_trainable(original)
    assert {p for p, on in flags.items() if not on} == set(frozen)
    assert {p for p, on in was.items() if not on} <= set(frozen)
    assert count(got.trainable_weights) == report["params"]["after"]["trainable"]
    assert count(got.non_trainable_weights) == report["params"]["after"]["non_trainable"]
    assert count(original.trainable_weights) == report["params"]["before"]["trainable"]
    for layer in original.layers:
        for a, b in zip(layer.get_weights(), got.get_layer(layer.name).get_weights()):
            assert a.tobytes() == b.tobytes(), layer.name


@pytest.mark.tf
def test_in_place_judged_by_keras(tmp_path: Path, keras: Any) -> None:
    path = tmp_path / "model.keras"
    shutil.copyfile(fixture_path("batchnorm_cnn", "k3.keras"), path)
    result = run([str(path), "--layers", "re:batch_norm.*", "--in-place"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "BatchNormalization: inference mode when frozen" in text
    assert "trainable params: 932 -> 908" in text
    model = keras.models.load_model(path)
    assert [layer.name for layer in model.layers if "batch" in layer.name and layer.trainable] \
        == []
    assert count(model.trainable_weights) == 908
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_bad_pattern_exits_2_with_one_line_and_no_output(tmp_path: Path) -> None:
    source = fixture_path("nested_vision", "k3.keras")
    out = tmp_path / "out.keras"
    result = run([str(source), "--layers", "vision_model/nope", "-o", str(out)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {source}: --layers 'vision_model/nope' matched")
    assert list(tmp_path.iterdir()) == []


def test_output_or_in_place_is_required(tmp_path: Path) -> None:
    source = fixture_path("nested_vision", "k3.keras")
    assert run([str(source), "--layers", "dense"]).exit_code == 2
    assert run([str(source), "--layers", "dense", "--in-place", "-o",
                str(tmp_path / "o.keras")]).exit_code == 2
    assert list(tmp_path.iterdir()) == []



def test_hostile_inputs_exit_2_with_one_line(tmp_path: Path) -> None:
    """Every hostile input: never an internal error, one line naming the file on a refusal,
    nothing written, nothing from the file executed."""
    problems = []
    for case in corpus.build_corpus(tmp_path / "corpus"):
        out = tmp_path / f"{case.name}.out"
        result = run([str(case.path), "--all-but-last", "1", "-o", str(out)])
        problems += corpus.judge(case, result.exit_code, result.stderr, result.output, [out],
                                 uses_model=False)
    assert not (tmp_path / "corpus" / corpus.MARKER).exists()
    assert not problems, "\n".join(problems)
