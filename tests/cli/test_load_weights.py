"""``modeltool load-weights``: the issue's acceptance cases, with Keras as the judge.

After each transfer ``keras.models.load_model(OUT)`` must hold, for every layer the report calls
loaded, the weights Keras (or tf_keras, for Keras 2 files) reads from SOURCE, and for every
other layer TARGET's weights; the new head keeps its shape. Inputs never change; a mismatch
without ``--skip-mismatch`` exits 1 and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.cli import main
from tests.conftest import ROOT, fixture_path
from tests.hostile import corpus

_REFERENCES: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leaf_weights(model: Any, prefix: str = "") -> dict[str, list[np.ndarray]]:
    """Layer path -> its weights, for every layer that is not a model (nested models and
    wrapped models are walked: ``vision_model/conv2d``)."""
    found: dict[str, list[np.ndarray]] = {}
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        inner = layer if hasattr(layer, "layers") else getattr(layer, "layer", None)
        if inner is not None and hasattr(inner, "layers"):
            found.update(leaf_weights(inner, f"{path}/"))
        else:
            found[path] = [np.asarray(w) for w in layer.get_weights()]
    return found


def source_weights(keras: Any, tf_keras: Any, model: str, variant: str
                   ) -> dict[str, list[np.ndarray]]:
    """What Keras itself reads from a fixture (tf_keras for the Keras 2 files)."""
    key = (model, variant)
    if key not in _REFERENCES:
        if variant.startswith("k2"):
            live = tf_keras.models.load_model(fixture_path(model, "k2.h5"), compile=False)
        else:
            live = keras.models.load_model(fixture_path(model, "k3.keras"), compile=False)
        if variant.endswith("weights.h5"):
            live.load_weights(fixture_path(model, variant))
        _REFERENCES[key] = leaf_weights(live)
    return _REFERENCES[key]


def new_head_target(keras: Any, model: str, path: Path, head: str = "head",
                    units: int = 7) -> dict[str, list[np.ndarray]]:
    """The fixture's Keras 3 architecture with a new ``units``-unit head and weights unlike any
    fixture's, saved at ``path``; returns its weights."""
    base = keras.models.load_model(fixture_path(model, "k3.keras"), compile=False)
    out = keras.layers.Dense(units, name=head)(base.layers[-1].input)
    target = keras.Model(base.inputs, out)
    rng = np.random.default_rng(7)
    for variable in target.weights:
        variable.assign(rng.standard_normal(variable.shape).astype(variable.dtype))
    target.save(path)
    return leaf_weights(target)


def judge(keras: Any, out: Path, report: dict[str, Any], source: dict[str, list[np.ndarray]],
          target: dict[str, list[np.ndarray]]) -> None:
    """Keras loads OUT; loaded layers hold SOURCE's weights, the others TARGET's."""
    loaded = {layer["target"] for layer in report["layers"] if layer["status"] == "loaded"}
    got = leaf_weights(keras.models.load_model(out, compile=False))
    assert set(got) == set(target)
    for path, arrays in got.items():
        want = source[path] if path.split("/")[0] in loaded else target[path]
        assert len(arrays) == len(want), path
        for a, b in zip(arrays, want):
            np.testing.assert_array_equal(a, b, err_msg=path)


def run(args: list[str]) -> Any:
    return CliRunner().invoke(main, ["load-weights", *args], catch_exceptions=False)


# (model, source variant, target/output extension)
ACCEPTANCE = [
    ("gru_model", "k2.h5", ".keras"),             # tf-keras 2.21 .h5 -> Keras 3 .keras: GRU
    ("bidirectional_model", "k2.h5", ".keras"),   # ... Bidirectional(LSTM), Bidirectional(GRU)
    ("batchnorm_cnn", "k2.h5", ".keras"),         # ... BatchNormalization (one frozen)
    ("nested_vision", "k2.h5", ".keras"),         # ... a nested model, LSTM
    ("siamese_lstm", "k2.h5", ".keras"),          # ... a shared LSTM
    ("time_distributed_model", "k3.keras", ".keras"),  # .keras -> .keras
    ("nested_vision", "k3.weights.h5", ".h5"),    # .weights.h5 -> legacy .h5
    ("bidirectional_model", "k2-weights.h5", ".keras"),  # Keras 2 weights-only -> .keras
    ("gru_model", "k2-weights.h5", ".keras"),
]


@pytest.mark.tf
@pytest.mark.parametrize(("model", "variant", "ext"), ACCEPTANCE,
                         ids=[f"{m}-{v}-to{e}" for m, v, e in ACCEPTANCE])
def test_transfer_judged_by_keras(model: str, variant: str, ext: str, tmp_path: Path,
                                  keras: Any, tf_keras: Any) -> None:
    target = tmp_path / f"target{ext}"
    before = new_head_target(keras, model, target)
    source = fixture_path(model, variant)
    hashes = (_sha(source), _sha(target))
    out = tmp_path / f"out{ext}"
    result = run([str(target), str(source), "--by-name", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["schema"] == 1 and report["output"] == str(out) and report["ok"]
    statuses = {layer["target"]: layer["status"] for layer in report["layers"]}
    assert statuses.pop("head") == "missing"
    assert set(statuses.values()) == {"loaded"}
    old_head = {"batchnorm_cnn": "dense_1", "time_distributed_model": "dense_2"}.get(model,
                                                                                  "dense")
    assert report["unused_source_layers"] == [old_head]
    judge(keras, out, report, source_weights(keras, tf_keras, model, variant), before)
    head = keras.models.load_model(out, compile=False).get_layer("head")
    assert head.get_weights()[0].shape[-1] == 7
    assert (_sha(source), _sha(target)) == hashes


@pytest.mark.tf
def test_same_named_head_of_another_size_needs_skip_mismatch(tmp_path: Path, keras: Any,
                                                             tf_keras: Any) -> None:
    target = tmp_path / "target.keras"
    before = new_head_target(keras, "batchnorm_cnn", target, head="dense_1")
    source = fixture_path("batchnorm_cnn", "k3.keras")
    hashes = (_sha(source), _sha(target))
    out = tmp_path / "out.keras"
    failed = run([str(target), str(source), "--by-name", "-o", str(out)])
    assert failed.exit_code == 1
    assert "dense_1: shape mismatch: kernel expects (8, 7), source has (8, 4)" in failed.stderr
    assert "Traceback" not in failed.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target.keras"]
    result = run([str(target), str(source), "--by-name", "--skip-mismatch", "-o", str(out),
                  "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(x["target"], x["status"]) for x in report["layers"] if x["status"] != "loaded"] == [
        ("dense_1", "shape_mismatch")]
    judge(keras, out, report, source_weights(keras, tf_keras, "batchnorm_cnn", "k3.keras"),
          before)
    assert keras.models.load_model(out).get_layer("dense_1").kernel.shape == (8, 7)
    assert (_sha(source), _sha(target)) == hashes


@pytest.mark.tf
@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")
def test_tf_keras_weights_only_nested_model_with_batchnorm(tmp_path: Path, keras: Any,
                                                           tf_keras: Any) -> None:
    """tf_keras writes a nested model's trainable weights before its BatchNormalization
    statistics; they land on the right Keras 3 variables."""
    # The nested layers get generated names (conv2d_<n>): both libraries count from zero here,
    # whatever other tests built before in this process.
    tf_keras.backend.clear_session()
    keras.backend.clear_session()

    def build(k: Any, units: int, head: str) -> Any:
        layers = k.layers
        encoder = k.Sequential([layers.Conv2D(4, 3, input_shape=(8, 8, 3)),
                                layers.BatchNormalization(), layers.Conv2D(4, 3),
                                layers.BatchNormalization()], name="encoder")
        x = k.Input((8, 8, 3))
        return k.Model(x, layers.Dense(units, name=head)(layers.Flatten()(encoder(x))))

    source_model = build(tf_keras, 3, "dense")
    rng = np.random.default_rng(3)
    for variable in source_model.weights:
        variable.assign(rng.standard_normal(variable.shape).astype("float32"))
    source = tmp_path / "source.h5"
    source_model.save_weights(source)
    target_model = build(keras, 7, "head")
    target = tmp_path / "target.keras"
    target_model.save(target)
    out = tmp_path / "out.keras"
    result = run([str(target), str(source), "--by-name", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    judge(keras, out, json.loads(result.stdout), leaf_weights(source_model),
          leaf_weights(target_model))


@pytest.mark.tf
def test_seed_document_example(tmp_path: Path, keras: Any, tf_keras: Any) -> None:
    """dense_1 (2 units, input 3) and dense_2 saved; a new model with dense_1 and new_dense
    (10 units) loads only dense_1; new_dense is missing in the source, dense_2 unused."""
    target, source = fixture_path("byname_target", "k3.keras"), fixture_path("byname_source",
                                                                              "k2.h5")
    out = tmp_path / "out.keras"
    result = run([str(target), str(source), "--by-name", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "layers loaded 1/2" in text
    assert "skipped: new_dense (missing in source)" in text
    assert "unused in source: dense_2" in text
    model = keras.models.load_model(out)
    src = tf_keras.models.load_model(source, compile=False)
    tgt = keras.models.load_model(target)
    for got, want in zip(model.get_layer("dense_1").get_weights(),
                         src.get_layer("dense_1").get_weights()):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(model.get_layer("new_dense").get_weights(),
                         tgt.get_layer("new_dense").get_weights()):
        np.testing.assert_array_equal(got, want)
    assert model.get_layer("new_dense").kernel.shape == (2, 10)


def test_mismatch_json_report_and_exit_1(tmp_path: Path) -> None:
    target, source = fixture_path("byname_target", "k3.keras"), fixture_path("byname_source",
                                                                              "k3.keras")
    out = tmp_path / "out.keras"
    result = run([str(target), str(source), "--by-name", "--map", "dense_2=new_dense", "-o",
                  str(out), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert not report["ok"] and report["output"] is None
    (bad,) = [x for x in report["layers"] if x["status"] == "shape_mismatch"]
    assert bad["mismatches"] == [
        {"index": 0, "weight": "kernel", "expected": [2, 10], "received": [2, 3]},
        {"index": 1, "weight": "bias", "expected": [10], "received": [3]}]
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: {target}")
    assert not out.exists()


def test_dry_run_and_usage_errors(tmp_path: Path) -> None:
    target, source = fixture_path("byname_target", "k3.keras"), fixture_path("byname_source",
                                                                              "k3.keras")
    result = run([str(target), str(source), "--by-name", "--dry-run"])
    assert result.exit_code == 0 and "nothing written (dry run)" in result.stdout
    # --by-name is the default (still accepted): without it the transfer runs the same way.
    plain = run([str(target), str(source), "--dry-run"])
    assert plain.exit_code == 0 and plain.stdout == result.stdout
    assert run([str(target), str(source), "--by-name"]).exit_code == 2
    bad_map = run([str(target), str(source), "--by-name", "--map", "nope=dense_1", "--dry-run"])
    assert bad_map.exit_code == 2 and "the source has no layer 'nope'" in bad_map.stderr
    assert list(tmp_path.iterdir()) == []



SEED_DRY_RUN = """\
dry run: fixtures/models/byname_source.k2.h5 (h5) -> fixtures/models/byname_target.k3.keras (keras)
layer      from     status             tensors  bytes  detail
─────────────────────────────────────────────────────────────
dense_1    dense_1  loaded                   2     32
new_dense  -        missing in source        -      -
layers would load 1/2; 2 tensors, 32 B to move
skipped: new_dense (missing in source)
unused in source: dense_2
nothing written (dry run)
"""


def test_seed_example_table_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = run(["fixtures/models/byname_target.k3.keras",
                  "fixtures/models/byname_source.k2.h5", "--by-name", "--dry-run"])
    assert result.exit_code == 0
    assert "\n".join(line.rstrip() for line in result.stdout.splitlines()) + "\n" \
        == SEED_DRY_RUN


@pytest.mark.parametrize("side", ["target", "source"])
def test_hostile_inputs_exit_2_with_one_line(side: str, tmp_path: Path) -> None:
    """Every hostile input as TARGET or SOURCE: never an internal error, one line naming the
    file on a refusal, nothing written, nothing from the file executed."""
    cases = corpus.build_corpus(tmp_path / "corpus")
    good = fixture_path("nested_vision", "k3.keras")
    problems = []
    for case in cases:
        out = tmp_path / f"{case.name}.out.keras"
        pair = [str(case.path), str(good)] if side == "target" else [str(good), str(case.path)]
        result = CliRunner().invoke(main, ["load-weights", *pair, "--by-name",
                                           "--skip-mismatch", "-o", str(out)])
        problems += corpus.judge(case, result.exit_code, result.stderr, result.output, [out],
                                 uses_model=False)
    assert not (tmp_path / "corpus" / corpus.MARKER).exists()
    assert not problems, "\n".join(problems)
