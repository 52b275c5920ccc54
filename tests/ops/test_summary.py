"""``summary``: parity with Keras 3 on every fixture, the issue's acceptance examples, the
TensorFlow-free fast path, golden text, real-world files and (``-m zoo``) keras.applications."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import modeltool
from modeltool.artifact import ModelArtifact
from modeltool.errors import CorruptFileError
from modeltool.graph import build_graph, infer_shapes
from modeltool.ops.summary import Summary, summarize, summary
from modeltool.render.summary import summary_dict, summary_text
from tests.conftest import (
    FIXTURES,
    MANIFEST,
    REALWORLD,
    ROOT,
    fixture_files,
    fixture_path,
    realworld_rows,
)
from tests.graph.keras_reference import compare, keras_model_for, reference_of

GOLDEN = ROOT / "tests" / "golden"
UPDATE_GOLDEN = os.environ.get("MODELTOOL_UPDATE_GOLDEN") == "1"
ARCH_KINDS = ("h5", "keras", "json", "yaml")

ARCH_FILES = [e for e in fixture_files() if e["kind"] in ARCH_KINDS]
WEIGHT_FILES = [e for e in fixture_files() if e["kind"] in ("k2-weights", "k3-weights")]


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [Path(e["file"]).name for e in entries]


def _summary(path: Path, **options: Any) -> Summary:
    return summary(path, engine="fast", **options)


# ---------------------------------------------------------------------------------------------
# Every fixture, without Keras: counts from the manifest, shapes from rules alone
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ARCH_FILES, ids=_ids(ARCH_FILES))
def test_totals_and_io_match_manifest(entry: dict[str, Any]) -> None:
    result = _summary(entry["path"])
    assert result.has_architecture
    assert result.totals.params == entry["params"]
    assert result.totals.trainable_params == entry["trainable_params"]
    assert result.totals.non_trainable_params == entry["non_trainable_params"]
    assert not result.unknown_shapes, result.unknown_shapes
    assert result.notes == []
    rows = {row.layer: row for row in result.rows}
    for io in entry["outputs"]:
        row = rows[io["name"]]
        assert row.output_shapes is not None
        first = row.output_shapes[0]
        assert first is not None and list(first) == io["shape"]
    assert sum(1 for r in result.rows if r.class_name != "InputLayer") \
        == entry["nodes"] + entry["operation_nodes"]


@pytest.mark.parametrize("entry", ARCH_FILES, ids=_ids(ARCH_FILES))
def test_rules_alone_agree_with_recorded_shapes(entry: dict[str, Any]) -> None:
    """The fast engine's rules need no help: with the shapes Keras recorded in the file
    ignored, every node still gets the same, fully known shapes."""
    with modeltool.open(entry["path"]) as artifact:
        assert artifact.config is not None
        graph = build_graph(artifact.config, dialect=artifact.dialect)
    alone, helped = infer_shapes(graph, use_recorded=False), infer_shapes(graph)

    def flat(shapes: Any, prefix: str = "") -> dict[str, Any]:
        out = {}
        for (layer, node), value in shapes.nodes.items():
            out[f"{prefix}{layer}[{node}]"] = (value.inputs, value.outputs, value.source)
            if value.inner is not None:
                out.update(flat(value.inner, f"{prefix}{layer}/"))
        return out

    a, b = flat(alone), flat(helped)
    assert a == b
    assert all(source == "rule" for _, _, source in a.values())


@pytest.mark.parametrize("entry", WEIGHT_FILES, ids=_ids(WEIGHT_FILES))
def test_weights_only_file_lists_weights(entry: dict[str, Any]) -> None:
    result = _summary(entry["path"])
    assert not result.has_architecture and not result.rows
    assert result.weights and "no architecture" in result.notes[0]
    assert result.totals.params == entry["params"]
    text = " ".join(summary_text(result).split())
    assert "weights only, no architecture" in text
    assert summary_dict(result)["has_architecture"] is False


# ---------------------------------------------------------------------------------------------
# Parity with Keras 3
# ---------------------------------------------------------------------------------------------


_REFERENCES: dict[str, Any] = {}


def _reference(path: Path, artifact: ModelArtifact) -> Any:
    key = str(path)
    if key not in _REFERENCES:
        model, how = keras_model_for(path, artifact)
        _REFERENCES[key] = reference_of(model, how)
    return _REFERENCES[key]


@pytest.mark.tf
@pytest.mark.parametrize("entry", ARCH_FILES, ids=_ids(ARCH_FILES))
def test_parity_with_keras(entry: dict[str, Any]) -> None:
    """Per node input/output shapes, per layer params and trainable params, as Keras 3 reports
    them for the same file. Files Keras 3 cannot build at all (Keras 2 configs it refuses) are
    compared with Keras 3's view of the same model written by Keras 3."""
    from modeltool.errors import KerasError

    path = entry["path"]
    with modeltool.open(path) as artifact:
        result = summarize(artifact, expand_nested=True, engine="fast")
    try:
        reference = _reference(path, artifact)
    except KerasError:
        twin = fixture_path(entry["model"], "k3.keras")
        with modeltool.open(twin) as twin_artifact:
            pass
        reference = _reference(twin, twin_artifact)
    assert compare(result, reference) == []
    assert all(row.shape_source == "rule" for row in result.rows)


def _shared_nested_functional(k: Any) -> Any:
    L = k.layers
    inp = k.Input(shape=(6,), name="inner_in")
    inner = k.Model(inp, L.Dense(3, name="inner_dense")(L.Dense(4, name="inner_hidden")(inp)),
                    name="encoder")
    a, b = k.Input(shape=(6,), name="a"), k.Input(shape=(6,), name="b")
    merged = L.Concatenate(name="merge")([inner(a), inner(b)])
    return k.Model([a, b], L.Dense(1, name="head")(merged), name="outer")


@pytest.mark.tf
@pytest.mark.parametrize("writer", ["keras", "tf_keras"])
def test_shared_nested_functional(writer: str, tmp_path: Path) -> None:
    """A nested Functional called twice: Keras numbers its calls from 1 in the config."""
    import importlib

    k = importlib.import_module(writer)
    path = tmp_path / "outer.json"
    path.write_text(_shared_nested_functional(k).to_json())
    with modeltool.open(path) as artifact:
        result = summarize(artifact, expand_nested=True, engine="fast")
    encoder = [r for r in result.rows if r.layer == "encoder"]
    assert [(r.node, r.inbound) for r in encoder] == [(0, ["a[0][0]"]), (1, ["b[0][0]"])]
    merge = next(r for r in result.rows if r.layer == "merge")
    assert merge.inbound == ["encoder[0][0]", "encoder[1][0]"]
    assert merge.output_shapes == [(None, 6)]
    # Keras 3's own model of the same architecture (names are explicit, so they agree; Keras 3
    # cannot rebuild the tf_keras config of a nested Functional called twice).
    import keras

    assert compare(result, reference_of(_shared_nested_functional(keras), "keras")) == []


@pytest.mark.tf
def test_savedmodel_summary_matches_h5() -> None:
    saved = _summary(fixture_path("boston_housing", "k2.savedmodel"))
    h5 = _summary(fixture_path("boston_housing", "k2.h5"))
    assert saved.kind == "savedmodel" and not saved.unknown_shapes
    assert [(r.layer, r.input_shapes, r.output_shapes, r.params) for r in saved.rows] == \
        [(r.layer, r.input_shapes, r.output_shapes, r.params) for r in h5.rows]


@pytest.mark.tf
def test_keras_engine_agrees_with_fast_engine() -> None:
    for model in ("nested_vision", "siamese_lstm", "reshape_ops", "bidirectional_model"):
        path = fixture_path(model, "k3.keras")
        fast = summary(path, expand_nested=True, engine="fast")
        slow = summary(path, expand_nested=True, engine="keras")
        assert slow.engine == "keras"
        assert [(r.path, r.input_shapes, r.output_shapes, r.params, r.trainable_params)
                for r in slow.rows] == \
               [(r.path, r.input_shapes, r.output_shapes, r.params, r.trainable_params)
                for r in fast.rows]
        assert {r.shape_source for r in slow.rows if r.class_name != "InputLayer"} == {"keras"}


def _without_recorded_shapes(config: dict[str, Any]) -> dict[str, Any]:
    for layer in config["config"]["layers"]:
        layer.pop("build_config", None)
    return config


def _with_layer(replacement: dict[str, Any], *, recorded: bool) -> ModelArtifact:
    with modeltool.open(fixture_path("mnist_mlp_small", "k3.json")) as artifact:
        config = artifact.config
    assert config is not None
    config["config"]["layers"][2] = replacement
    if not recorded:
        _without_recorded_shapes(config)
    return ModelArtifact(kind="json", path=None, config=config, dialect=3)


MYSTERY = {"module": "my_package.layers", "class_name": "Mystery", "config": {"name": "mystery"},
           "registered_name": "my_package>Mystery"}
EINSUM = {"module": "keras.layers", "class_name": "EinsumDense",
          "config": {"name": "einsum", "equation": "ab,bc->ac", "output_shape": [32]},
          "registered_name": None}


def test_unknown_layer_is_question_mark_with_fast_engine() -> None:
    result = summarize(_with_layer(MYSTERY, recorded=False), engine="fast")
    row = next(r for r in result.rows if r.layer == "mystery")
    assert row.output_shapes is None and row.params is None
    assert "no shape rule answers for mystery (Mystery)" in result.notes[0]
    assert "?" in summary_text(result)
    assert result.totals.params is None
    after = result.rows[result.rows.index(row) + 1]
    assert after.input_shapes == [None] and after.output_shapes is None


def test_unrecorded_input_shape_is_said() -> None:
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "d", "units": 3}}]}}
    result = summarize(ModelArtifact(kind="json", path=None, config=config, dialect=2),
                       engine="fast")
    assert result.rows[0].output_shapes is None and result.rows[0].params is None
    assert "does not record the shape of input" in result.notes[0]


def test_unknown_layer_shape_recorded_in_the_file_is_used() -> None:
    # A Keras 3 file records every layer's input shape: the custom layer's output is known.
    result = summarize(_with_layer(MYSTERY, recorded=True), engine="fast")
    row = next(r for r in result.rows if r.layer == "mystery")
    assert row.output_shapes == [(None, 32)] and row.shape_source == "file"
    assert row.params is None and not result.notes


@pytest.mark.tf
def test_auto_engine_says_when_keras_cannot_help() -> None:
    result = summarize(_with_layer(MYSTERY, recorded=False), engine="auto")
    row = next(r for r in result.rows if r.layer == "mystery")
    assert row.output_shapes is None
    assert "Keras could not help" in result.notes[0]


@pytest.mark.tf
def test_auto_engine_falls_back_to_keras_for_unknown_classes() -> None:
    # EinsumDense has no rule here; Keras knows it.
    result = summarize(_with_layer(EINSUM, recorded=False), engine="auto")
    row = next(r for r in result.rows if r.layer == "einsum")
    assert row.output_shapes == [(None, 32)] and row.shape_source == "keras"
    assert row.params == 32 * 32
    assert result.engine == "auto" and "came from Keras" in result.notes[0]
    assert not result.unknown_shapes


# ---------------------------------------------------------------------------------------------
# The acceptance examples
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["k3.keras", "k2.h5", "k2.json", "k3.yaml"])
def test_news_model_shows_both_inputs_and_outputs(variant: str) -> None:
    result = _summary(fixture_path("news_model", variant))
    rows = {row.layer: row for row in result.rows}
    assert rows["main_input"].output_shapes == [(None, 100)]
    assert rows["aux_input"].output_shapes == [(None, 5)]
    assert result.inputs == ["main_input[0][0]", "aux_input[0][0]"]
    assert sorted(result.outputs) == ["aux_output[0][0]", "main_output[0][0]"]
    assert rows["main_output"].output_shapes == [(None, 1)]
    assert rows["aux_output"].output_shapes == [(None, 1)]
    assert rows["concatenate"].inbound == ["lstm[0][0]", "aux_input[0][0]"]


@pytest.mark.parametrize("variant", ["k3.keras", "k2.h5", "k2.json"])
def test_siamese_shared_lstm_has_two_nodes(variant: str) -> None:
    result = _summary(fixture_path("siamese_lstm", variant))
    lstm = [row for row in result.rows if row.layer == "lstm"]
    assert [(r.node, r.inbound, r.shared) for r in lstm] == [
        (0, ["tweet_a[0][0]"], False), (1, ["tweet_b[0][0]"], True)]
    assert [r.output_shapes for r in lstm] == [[(None, 8)], [(None, 8)]]
    assert lstm[0].params == 4 * 8 * (256 + 8 + 1) and lstm[1].params == 0
    concat = next(row for row in result.rows if row.layer == "concatenate")
    assert concat.inbound == ["lstm[0][0]", "lstm[1][0]"]
    assert "lstm #1" in summary_text(result)


@pytest.mark.parametrize("variant", ["k3.keras", "k2.h5", "k3.json", "k2.yaml"])
def test_nested_model_collapsed_then_expanded(variant: str) -> None:
    path = fixture_path("nested_vision", variant)
    collapsed = _summary(path)
    assert [r.layer for r in collapsed.rows if r.depth > 0] == []
    vision = next(r for r in collapsed.rows if r.layer == "vision_model")
    assert vision.class_name == "Sequential" and vision.output_shapes == [(None, 16)]
    assert vision.params == 6948
    expanded = _summary(path, expand_nested=True)
    inner = [r for r in expanded.rows if r.depth == 1]
    assert [r.path for r in inner][:2] == ["vision_model/conv2d", "vision_model/conv2d_1"]
    assert inner[-1].output_shapes == [(None, 16)]
    assert sum(r.params or 0 for r in inner) == vision.params
    assert expanded.totals == collapsed.totals
    assert [r.layer for r in _summary(path, depth=0).rows] == [r.layer for r in collapsed.rows]
    assert len(_summary(path, depth=1).rows) == len(expanded.rows)


def test_time_distributed_model_expands_per_step() -> None:
    result = _summary(fixture_path("time_distributed_model", "k2.h5"), expand_nested=True)
    rows = {r.path: r for r in result.rows}
    assert rows["time_distributed"].output_shapes == [(None, 4, 8)]
    assert rows["time_distributed/conv2d"].input_shapes == [(None, 12, 12, 3)]
    assert rows["time_distributed"].macs == 4 * sum(
        rows[p].macs or 0 for p in ("time_distributed/conv2d", "time_distributed/dense"))


def test_mnist_mlp_first_dense_macs() -> None:
    result = _summary(fixture_path("mnist_mlp", "k3.keras"))
    dense = result.rows[0]
    assert (dense.class_name, dense.input_shapes, dense.output_shapes) == \
        ("Dense", [(None, 784)], [(None, 500)])
    assert dense.macs == 392_000 and dense.params == 392_500
    assert result.totals.params == 648_010
    assert "392,000" in summary_text(result)


def test_batchnorm_non_trainable_counts() -> None:
    for variant in ("k3.keras", "k2.h5", "k3.json"):
        result = _summary(fixture_path("batchnorm_cnn", variant))
        rows = {r.layer: r for r in result.rows}
        assert (rows["batch_normalization"].params,
                rows["batch_normalization"].trainable_params) == (32, 16)
        assert (rows["batch_normalization_1"].trainable_params,
                rows["batch_normalization_1"].trainable) == (0, False)


def test_json_schema() -> None:
    data = summary_dict(_summary(fixture_path("siamese_lstm", "k3.keras")))
    assert data["schema"] == 1 and data["kind"] == "keras"
    assert data["keras_version"] == "3.15.1"
    row_keys = {"layer", "class", "node", "depth", "input_shapes", "output_shapes", "params",
                "trainable_params", "trainable", "inbound", "macs"}
    assert all(row_keys <= set(row) for row in data["rows"])
    assert data["rows"][2]["input_shapes"] == [[None, 140, 256]]
    assert set(data["totals"]) >= {"params", "trainable_params", "non_trainable_params", "macs",
                                   "bytes"}
    assert data["totals"]["bytes"] == data["totals"]["params"] * 4
    json.dumps(data)


def test_markup_in_names_is_shown_verbatim() -> None:
    with modeltool.open(fixture_path("byname_source", "k3.json")) as artifact:
        config = artifact.config
    assert config is not None
    config["config"]["layers"][1]["config"]["name"] = "[bold]dense[/bold] [None, 3]"
    artifact = ModelArtifact(kind="json", path=None, config=config, dialect=3)
    assert "[bold]dense[/bold] [None, 3]" in str(summarize(artifact))


def test_damaged_graph_is_a_corrupt_file_error() -> None:
    with modeltool.open(fixture_path("news_model", "k3.json")) as artifact:
        config = artifact.config
    assert config is not None
    layer = config["config"]["layers"][-1]
    layer["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["ghost", 0, 0]
    with pytest.raises(CorruptFileError, match="ghost"):
        summarize(ModelArtifact(kind="json", path=Path("x.json"), config=config))


def test_summary_never_reads_weight_bytes() -> None:
    with modeltool.open(fixture_path("vgg_like_cnn", "k3.h5")) as artifact:
        def refuse() -> Any:
            raise AssertionError("weight bytes were read")

        for entries in artifact.weights.layers.values():
            entries[:] = [dataclasses.replace(e, loader=refuse) for e in entries]
        result = summarize(artifact)
    entry = next(e for e in fixture_files(model="vgg_like_cnn") if e["variant"] == "k3.h5")
    assert result.totals.params == entry["params"] == 9266


def test_weights_that_do_not_fit_the_config_are_said() -> None:
    with modeltool.open(fixture_path("byname_source", "k3.h5")) as artifact:
        config = artifact.config
        assert config is not None
        config["config"]["layers"][1]["config"]["units"] = 5
        result = summarize(artifact)
    assert "the weights of 'dense_1' do not fit its config" in result.notes[0]
    assert result.rows[0].params == 3 * 2 + 2  # what the file holds


def test_negative_input_dimension_is_corrupt() -> None:
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"name": "i", "batch_shape": [None, -5]}},
        {"class_name": "Dense", "config": {"name": "d", "units": 3}}]}}
    with pytest.raises(CorruptFileError, match="negative dimension"):
        summarize(ModelArtifact(kind="json", path=Path("m.json"), config=config))


def test_hostile_corpus_never_an_internal_error(tmp_path: Path) -> None:
    from modeltool.errors import ModelToolError
    from tests.hostile.corpus import MARKER, build_corpus

    for case in build_corpus(tmp_path):
        try:
            result = summary(case.path, engine="fast")
        except ModelToolError as err:
            assert case.name in str(err)
            continue
        summary_text(result)
        summary_dict(result)
        assert not (tmp_path / MARKER).exists()


# ---------------------------------------------------------------------------------------------
# TensorFlow stays out
# ---------------------------------------------------------------------------------------------


def test_fast_path_imports_no_tensorflow() -> None:
    paths = [str(e["path"]) for e in fixture_files() if e["kind"] != "savedmodel"]
    code = (
        "import sys, json\n"
        "import modeltool\n"
        "from modeltool.ops.summary import summary\n"
        "from modeltool.render.summary import summary_dict, summary_text\n"
        "summarize = getattr(modeltool, 'summary', summary)\n"
        f"for p in {paths!r}:\n"
        "    s = summarize(p, expand_nested=True)\n"
        "    summary_text(s)\n"
        "json.dumps(summary_dict(s))\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules]\n"
        "print(json.dumps(heavy))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


# ---------------------------------------------------------------------------------------------
# Golden text (regenerate with MODELTOOL_UPDATE_GOLDEN=1)
# ---------------------------------------------------------------------------------------------


GOLDEN_CASES = [
    ("mnist_mlp", "k3.keras", {}),
    ("siamese_lstm", "k2.json", {}),
    ("nested_vision", "k3.keras", {"expand_nested": True}),
    ("news_model", "k3.weights.h5", {}),
]


@pytest.mark.parametrize("model, variant, options", GOLDEN_CASES,
                         ids=[f"{m}.{v}" for m, v, _ in GOLDEN_CASES])
def test_golden_text(model: str, variant: str, options: dict[str, Any]) -> None:
    result = _summary(fixture_path(model, variant), **options)
    result.path = f"fixtures/models/{model}.{variant}"
    text = summary_text(result)
    suffix = ".expanded" if options.get("expand_nested") else ""
    golden = GOLDEN / f"{model}.{variant}{suffix}.txt"
    if UPDATE_GOLDEN:
        golden.write_text(text)
    assert golden.exists(), f"missing {golden}; run with MODELTOOL_UPDATE_GOLDEN=1"
    expected = golden.read_text()
    assert text.splitlines() == expected.splitlines()


# ---------------------------------------------------------------------------------------------
# Real-world files
# ---------------------------------------------------------------------------------------------


REALWORLD_ROWS = realworld_rows()
#: Files whose shapes cannot be known without running code from the file.
REALWORLD_UNKNOWABLE = {
    "dventimiglia__CarND-Behavioral-Cloning__k1_model.json":
        "a Lambda without output_shape whose function is raw Python bytecode (never run)",
}


@pytest.mark.realworld
@pytest.mark.skipif(not REALWORLD.is_dir(), reason=f"real-world files not found at {REALWORLD}")
@pytest.mark.parametrize("row", REALWORLD_ROWS, ids=[r["local_name"] for r in REALWORLD_ROWS])
def test_realworld_summary(row: dict[str, str]) -> None:
    path = REALWORLD / row["local_name"]
    result = _summary(path)
    text = summary_text(result)
    if row["kind"].startswith("weights-"):
        assert not result.has_architecture and result.weights
        return
    assert result.has_architecture and result.rows and text
    if row["local_name"] in REALWORLD_UNKNOWABLE:
        assert result.unknown_shapes
        assert any("Lambda" in note for note in result.notes)
        pytest.xfail(REALWORLD_UNKNOWABLE[row["local_name"]])
    assert not result.unknown_shapes, result.unknown_shapes
    assert result.notes == []
    if result.bytes_from_weights:
        with modeltool.open(path) as artifact:
            assert result.totals.params == artifact.weights.total_params


# ---------------------------------------------------------------------------------------------
# keras.applications (slow; `pytest -m zoo` or MODELTOOL_ZOO=1)
# ---------------------------------------------------------------------------------------------


#: Every architecture in keras.applications (Keras 3.15).
ZOO = ["ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
       "DenseNet121", "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1",
       "EfficientNetB2", "EfficientNetB3", "EfficientNetB4", "EfficientNetB5", "EfficientNetB6",
       "EfficientNetB7", "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2",
       "EfficientNetV2B3", "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S",
       "InceptionResNetV2", "InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Large",
       "MobileNetV3Small", "NASNetLarge", "NASNetMobile", "ResNet101", "ResNet101V2",
       "ResNet152", "ResNet152V2", "ResNet50", "ResNet50V2", "VGG16", "VGG19", "Xception"]


def _zoo_enabled(config: pytest.Config) -> bool:
    return "zoo" in (config.getoption("markexpr") or "") or os.environ.get("MODELTOOL_ZOO") == "1"


@pytest.mark.zoo
@pytest.mark.tf
@pytest.mark.parametrize("name", ZOO)
def test_zoo_parity(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if not _zoo_enabled(request.config):
        pytest.skip("slow: run with `pytest -m zoo` (or MODELTOOL_ZOO=1)")
    import keras

    model = getattr(keras.applications, name)(weights=None)
    path = tmp_path / f"{name}.json"
    path.write_text(model.to_json())
    with modeltool.open(path) as artifact:
        result = summarize(artifact, expand_nested=True, engine="fast")
    assert compare(result, reference_of(model, "keras.applications")) == []
    assert all(row.shape_source == "rule" for row in result.rows)
    assert result.totals.params == model.count_params()


def test_manifest_is_consistent() -> None:
    assert MANIFEST["models"] and FIXTURES.is_dir()
