"""``plan_by_name`` / ``load_weights_by_name``: the plan on every kind pair, ``--map`` rules,
mismatches, the Keras-order rules across generations, the file and live-model paths.

The plan is pure (no TensorFlow, no weight bytes): most tests here run without Keras. The ones
marked ``tf`` judge the result with Keras itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modeltool
from modeltool.artifact import ModelArtifact, WeightEntry, WeightStore
from modeltool.errors import ModelToolError, OutputExistsError, WeightMismatchError
from modeltool.ops.transfer import (
    COUNT_MISMATCH,
    LOADED,
    MISSING,
    SHAPE_MISMATCH,
    TransferMismatchError,
    TransferPlan,
    load_weights_by_name,
    parse_mapping,
    plan_by_name,
)
from tests.conftest import fixture_path, run_fresh

SOURCE_VARIANTS = ("k3.keras", "k3.h5", "k3.weights.h5", "k2.h5", "k2-weights.h5")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _plan(target: Path, source: Path, mapping: Any = None) -> TransferPlan:
    with modeltool.open(target) as t, modeltool.open(source) as s:
        return plan_by_name(t, s, mapping)


def _status(plan: TransferPlan) -> dict[str, str]:
    return {p.target: p.status for p in plan.layers}


def _entry(layer: str, name: str, shape: tuple[int, ...], value: float = 0.0,
           path: str | None = None) -> WeightEntry:
    return WeightEntry(layer, path or layer, name, shape, "float32", f"/{layer}/{name}",
                       lambda: np.full(shape, value, dtype="float32"))


def _artifact(layers: dict[str, list[WeightEntry]], kind: str = "k2-weights") -> ModelArtifact:
    return ModelArtifact(kind=kind, path=None, weights=WeightStore(layers),
                         keras_version="2.21.0")


# --- the seed-document example ----------------------------------------------------------------


@pytest.mark.parametrize("variant", SOURCE_VARIANTS)
def test_seed_example_plan_from_every_source_kind(variant: str) -> None:
    plan = _plan(fixture_path("byname_target", "k3.keras"), fixture_path("byname_source", variant))
    assert _status(plan) == {"dense_1": LOADED, "new_dense": MISSING}
    assert plan.unused == ["dense_2"]
    assert plan.layer("new_dense").describe() == "missing in source"
    assert plan.tensors == 2 and plan.bytes == (3 * 2 + 2) * 4


def test_plan_reads_no_weight_bytes() -> None:
    with modeltool.open(fixture_path("nested_vision", "k3.keras")) as t, \
            modeltool.open(fixture_path("nested_vision", "k2.h5")) as s:
        reads: list[str] = []
        for art in (t, s):
            for name, entries in art.weights.layers.items():
                art.weights.layers[name] = [
                    WeightEntry(e.layer, e.path, e.name, e.shape, e.dtype, e.location,
                                lambda e=e: reads.append(e.key) or e.read())
                    for e in entries]
        plan = plan_by_name(t, s)
        assert len(plan.loaded) == 4 and reads == []


def test_transfer_and_freeze_import_no_tensorflow(tmp_path: Path) -> None:
    """Planning, transferring between files and freezing a file stay TensorFlow-free, and so
    do the CLI modules."""
    target = fixture_path("gru_model", "k3.keras")
    code = ("import modeltool.cli.freeze, modeltool.cli.load_weights\n"
            "from modeltool.ops.transfer import load_weights_by_name\n"
            "from modeltool.ops.freeze import freeze\n"
            f"load_weights_by_name({str(target)!r}, "
            f"{str(fixture_path('gru_model', 'k2-weights.h5'))!r}, "
            f"output={str(tmp_path / 'out.h5')!r})\n"
            f"freeze({str(target)!r}, layers=['gru'], output={str(tmp_path / 'f.keras')!r})\n")
    assert run_fresh(code)[1] == []


# --- mismatches --------------------------------------------------------------------------------


def test_shape_mismatch_names_each_weight_and_both_shapes() -> None:
    plan = _plan(fixture_path("byname_target", "k3.keras"), fixture_path("byname_source", "k2.h5"),
                 ["dense_2=new_dense"])
    layer = plan.layer("new_dense")
    assert layer.status == SHAPE_MISMATCH and layer.source == "dense_2"
    assert [(m.weight, m.expected, m.received) for m in layer.mismatches] == [
        ("kernel", (2, 10), (2, 3)), ("bias", (10,), (3,))]
    assert plan.unused == [] and plan.renamed == {"dense_2": "new_dense"}


def test_count_mismatch() -> None:
    target = _artifact({"dense": [_entry("dense", "kernel", (3, 2)),
                                  _entry("dense", "bias", (2,))]})
    source = _artifact({"dense": [_entry("dense", "kernel", (3, 2))]})
    layer = plan_by_name(target, source).layer("dense")
    assert layer.status == COUNT_MISMATCH
    assert (layer.expected_count, layer.received_count) == (2, 1)
    assert "target expects 2" in layer.describe()


def test_weightless_target_layer_with_source_weights_is_a_count_mismatch() -> None:
    target = _artifact({"x": []})
    source = _artifact({"x": [_entry("x", "kernel", (2, 2))]})
    assert plan_by_name(target, source).layer("x").status == COUNT_MISMATCH


def test_gru_reset_after_mismatch_says_why() -> None:
    target = _artifact({"gru": [_entry("gru", "kernel", (6, 24)),
                                _entry("gru", "recurrent_kernel", (8, 24)),
                                _entry("gru", "bias", (2, 24))]})
    target.config = {"class_name": "Functional", "config": {"layers": [
        {"class_name": "GRU", "name": "gru", "config": {"name": "gru", "reset_after": True}}]}}
    source = _artifact({"gru": [_entry("gru", "kernel", (6, 24)),
                                _entry("gru", "recurrent_kernel", (8, 24)),
                                _entry("gru", "bias", (24,))]})
    layer = plan_by_name(target, source).layer("gru")
    assert layer.status == SHAPE_MISMATCH
    assert "GRU(reset_after=False) weights do not fit a GRU with reset_after=True" \
        in layer.describe()


# --- --map -------------------------------------------------------------------------------------


def test_map_regex_renames_source_layers() -> None:
    target = _artifact({"conv1": [_entry("conv1", "kernel", (2,))],
                        "head": [_entry("head", "kernel", (4,))]})
    source = _artifact({"base_conv1": [_entry("base_conv1", "kernel", (2,))],
                        "base_top": [_entry("base_top", "kernel", (4,))]})
    plan = plan_by_name(target, source, [r"re:^base_(.*)=\1", "base_top=head"])
    assert _status(plan) == {"conv1": LOADED, "head": LOADED}
    assert plan.renamed == {"base_conv1": "conv1", "base_top": "head"}
    assert plan.unused == []


def test_map_dict_form_and_unused_regex_note() -> None:
    target = _artifact({"b": [_entry("b", "kernel", (2,))]})
    source = _artifact({"a": [_entry("a", "kernel", (2,))]})
    plan = plan_by_name(target, source, {"a": "b"})
    assert _status(plan) == {"b": LOADED}
    plan = plan_by_name(target, source, ["re:^zzz=y"])
    assert plan.notes == ["--map re:^zzz=y matched no source layer"]


@pytest.mark.parametrize(("rules", "problem"), [
    (["nope=b"], "the source has no layer 'nope'"),
    (["a=nope"], "the target has no layer 'nope'"),
    (["a"], "is not OLD=NEW"),
    (["re:(=x"], "invalid regular expression"),
    (["re:.*=b"], "both map to target layer 'b'"),
])
def test_bad_map_rules_are_usage_errors(rules: list[str], problem: str) -> None:
    target = _artifact({"b": [_entry("b", "kernel", (2,))]})
    source = _artifact({"a": [_entry("a", "kernel", (2,))], "b": [_entry("b", "kernel", (2,))]})
    with pytest.raises(ModelToolError, match=problem.replace("(", r"\(")) as info:
        plan_by_name(target, source, rules)
    assert info.value.exit_code == 2


def test_parse_mapping_splits_on_the_last_equals_sign() -> None:
    (rule,) = parse_mapping(["re:(?=x)a=b"])
    assert (rule.old, rule.new) == ("(?=x)a", "b")


# --- Keras order rules -------------------------------------------------------------------------


def test_keras2_weights_only_nested_model_is_regrouped_by_inner_layer() -> None:
    """A Keras 2 weights-only file lists a nested model's trainable weights first; the names say
    which inner layer each belongs to, so they pair with the right target weights."""
    inner = [{"class_name": "Conv2D", "name": "conv", "config": {"name": "conv"}},
             {"class_name": "BatchNormalization", "name": "bn", "config": {"name": "bn"}}]
    target = ModelArtifact(kind="keras", path=None, config={
        "class_name": "Functional", "config": {"layers": [
            {"class_name": "Sequential", "name": "enc",
             "config": {"name": "enc", "layers": inner}}]}},
        weights=WeightStore({"enc": [
            _entry("enc", "kernel", (3, 3, 1, 2), path="enc/conv"),
            _entry("enc", "bias", (2,), path="enc/conv"),
            _entry("enc", "gamma", (2,), path="enc/bn"),
            _entry("enc", "beta", (2,), path="enc/bn"),
            _entry("enc", "moving_mean", (2,), path="enc/bn"),
            _entry("enc", "moving_variance", (2,), path="enc/bn")]}))
    # The legacy order when conv was frozen at save time: trainable (bn gamma, beta), then the
    # rest in layer order. Names, not positions, decide the pairing.
    stored = ["bn/gamma", "bn/beta", "conv/kernel", "conv/bias", "bn/moving_mean",
              "bn/moving_variance"]
    shapes = {"conv/kernel": (3, 3, 1, 2)}
    source = _artifact({"enc": [_entry("enc", n, shapes.get(n, (2,)), float(i))
                                for i, n in enumerate(stored)]})
    layer = plan_by_name(target, source).layer("enc")
    assert layer.status == LOADED
    assert [(t.path, t.name, s.location) for t, s in layer.pairs] == [
        ("enc/conv", "kernel", "/enc/conv/kernel"), ("enc/conv", "bias", "/enc/conv/bias"),
        ("enc/bn", "gamma", "/enc/bn/gamma"), ("enc/bn", "beta", "/enc/bn/beta"),
        ("enc/bn", "moving_mean", "/enc/bn/moving_mean"),
        ("enc/bn", "moving_variance", "/enc/bn/moving_variance")]


@pytest.mark.realworld
def test_keras1_per_gate_gru_weights_are_fused_for_the_target(realworld: Path,
                                                              tmp_path: Path) -> None:
    """Keras 1.1 weights-only file (9 arrays per GRU) into a Keras 3 model of that architecture:
    fused as tf_keras' preprocess_weights_for_loading does."""
    target = tmp_path / "chemts.keras"
    modeltool.convert(realworld / "tsudalab__ChemTS__model.json", target, init=True)
    source = realworld / "tsudalab__ChemTS__model.h5"
    out = tmp_path / "out.keras"
    report = load_weights_by_name(target, source, output=out)
    assert report.loaded == report.total == 4
    assert any("GRU per-gate weights" in note for note in report.notes)
    with modeltool.open(source) as raw, modeltool.open(out) as result:
        w = [e.read() for e in raw.weights.layer("gru_1")]
        got = [e.read() for e in result.weights.layer("gru_1")]
    np.testing.assert_array_equal(got[0], np.concatenate([w[0], w[3], w[6]], axis=-1))
    np.testing.assert_array_equal(got[1], np.concatenate([w[1], w[4], w[7]], axis=-1))
    np.testing.assert_array_equal(got[2], np.concatenate([w[2], w[5], w[8]], axis=-1))


def test_dtype_is_cast_to_the_target_and_noted() -> None:
    target = _artifact({"d": [_entry("d", "kernel", (2,))]})
    source_entry = WeightEntry("d", "d", "kernel", (2,), "float64", "/d/kernel",
                               lambda: np.array([0.5, 1.5]))
    plan = plan_by_name(target, _artifact({"d": [source_entry]}))
    ((_, moved),) = plan.layer("d").pairs
    assert moved.dtype == "float32" and moved.read().dtype == np.float32
    assert plan.notes == ["layer 'd': float64 weights cast to float32"]


# --- applying the plan to files ----------------------------------------------------------------


def test_mismatch_without_skip_writes_nothing_and_lists_every_mismatch(tmp_path: Path) -> None:
    target, source = fixture_path("byname_target", "k3.keras"), fixture_path("byname_source",
                                                                              "k3.keras")
    hashes = (_sha(target), _sha(source))
    out = tmp_path / "out.keras"
    with pytest.raises(WeightMismatchError) as info:
        load_weights_by_name(target, source, mapping=["dense_2=new_dense"], output=out)
    assert info.value.exit_code == 1
    assert "new_dense: shape mismatch: kernel expects (2, 10), source has (2, 3)" in str(info.value)
    assert isinstance(info.value, TransferMismatchError) and info.value.report is not None
    assert info.value.report.failed
    assert list(tmp_path.iterdir()) == []
    assert (_sha(target), _sha(source)) == hashes


def test_skip_mismatch_keeps_the_targets_weights(tmp_path: Path) -> None:
    target, source = fixture_path("byname_target", "k3.keras"), fixture_path("byname_source",
                                                                              "k2.h5")
    out = tmp_path / "out.keras"
    report = load_weights_by_name(target, source, mapping=["dense_2=new_dense"], output=out,
                                  skip_mismatch=True)
    assert report.output == str(out) and report.output_kind == "keras"
    with modeltool.open(target) as t, modeltool.open(source) as s, modeltool.open(out) as o:
        for a, b in zip(o.weights.layer("dense_1"), s.weights.layer("dense_1")):
            np.testing.assert_array_equal(a.read(), b.read())
        for a, b in zip(o.weights.layer("new_dense"), t.weights.layer("new_dense")):
            np.testing.assert_array_equal(a.read(), b.read())


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    report = load_weights_by_name(fixture_path("byname_target", "k3.keras"),
                                  fixture_path("byname_source", "k3.keras"), dry_run=True,
                                  output=tmp_path / "out.keras")
    assert report.dry_run and report.output is None and report.loaded == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "kind", "expected"), [
    ("out.keras", None, "keras"), ("out.h5", None, "h5"), ("out.weights.h5", None, "k3-weights"),
    ("out.bin", None, "keras"), ("out.h5", "k2-weights", "k2-weights")])
def test_output_kind(tmp_path: Path, name: str, kind: str | None, expected: str) -> None:
    report = load_weights_by_name(fixture_path("byname_target", "k3.keras"),
                                  fixture_path("byname_source", "k2.h5"), output=tmp_path / name,
                                  kind=kind)
    assert report.output_kind == expected
    with modeltool.open(tmp_path / name) as written:
        assert written.kind == expected


def test_existing_output_and_the_inputs_themselves_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "t.keras"
    target.write_bytes(fixture_path("byname_target", "k3.keras").read_bytes())
    before = _sha(target)
    with pytest.raises(OutputExistsError):
        load_weights_by_name(target, fixture_path("byname_source", "k2.h5"), output=target)
    assert _sha(target) == before
    report = load_weights_by_name(target, fixture_path("byname_source", "k2.h5"), output=target,
                                  force=True)
    assert report.loaded == 1 and _sha(target) != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.keras"]


def test_source_without_weights_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelToolError, match="holds no weights"):
        load_weights_by_name(fixture_path("byname_target", "k3.keras"),
                             fixture_path("byname_source", "k3.json"), output=tmp_path / "o.keras")


# --- live models -------------------------------------------------------------------------------


@pytest.mark.tf
def test_live_model_is_loaded_in_memory_through_keras(keras: Any, tf_keras: Any) -> None:
    """The seed workflow: a pretrained body, a new head, weights set in memory."""
    model = keras.models.load_model(fixture_path("nested_vision", "k3.keras"), compile=False)
    head = keras.layers.Dense(7, name="head")(model.layers[-1].input)
    model = keras.Model(model.inputs, head)
    for variable in model.weights:
        variable.assign(np.full(variable.shape, 0.25, dtype="float32"))
    report = load_weights_by_name(model, fixture_path("nested_vision", "k2-weights.h5"))
    assert {p.target for p in report.plan.loaded} == {"embedding", "lstm", "vision_model"}
    assert report.unused == ["dense"] and report.output is None
    reference = tf_keras.models.load_model(fixture_path("nested_vision", "k2.h5"), compile=False)
    reference.load_weights(fixture_path("nested_vision", "k2-weights.h5"))
    for name in ("embedding", "lstm", "vision_model"):
        for got, want in zip(model.get_layer(name).get_weights(),
                             reference.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)
    assert all(np.all(w == 0.25) for w in model.get_layer("head").get_weights())


@pytest.mark.tf
def test_live_model_mismatch_leaves_the_model_untouched(keras: Any) -> None:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense_1"),
                              keras.layers.Dense(10, name="new_dense")])
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(WeightMismatchError):
        load_weights_by_name(model, fixture_path("byname_source", "k3.keras"),
                             mapping={"dense_2": "new_dense"})
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("variant", ["k3.json", "k2.json"])
def test_target_without_weights_is_refused(variant: str, tmp_path: Path) -> None:
    with pytest.raises(ModelToolError, match="holds no weights") as info:
        load_weights_by_name(fixture_path("byname_target", variant),
                             fixture_path("byname_source", "k3.keras"),
                             output=tmp_path / "o.keras")
    assert info.value.exit_code == 2
    assert list(tmp_path.iterdir()) == []
