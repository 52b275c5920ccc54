"""``plot``: every fixture with an architecture drawn as SVG and HTML, read back and checked the
way a person would look at it (one box per layer call, one arrow per connection, nested boxes,
no overlaps, no arrow through a box), with counts measured by Keras at generation time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import modeltool
from modeltool.cli import main
from tests.conftest import MANIFEST, fixture_files, fixture_path
from tests.render.svg_check import (
    edges_through_boxes,
    nesting_errors,
    overlaps,
    page_data,
    read_svg,
)


def _has_architecture(entry: dict[str, Any]) -> bool:
    if entry["kind"] in ("k2-weights", "k3-weights") or entry.get("nodes") is None:
        return False
    with modeltool.open(entry["path"]) as artifact:
        return artifact.config is not None  # a SavedModel without Keras metadata has none


WITH_ARCHITECTURE = [e for e in fixture_files() if _has_architecture(e)]


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["file"].split("/", 1)[1] for e in entries]


@pytest.mark.parametrize("entry", WITH_ARCHITECTURE, ids=_ids(WITH_ARCHITECTURE))
def test_every_fixture_svg(entry: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "model.svg"
    report = modeltool.plot(entry["path"], out, shapes=True, params=True)
    picture = read_svg(out.read_text())
    by_kind: dict[str, list[str]] = {}
    for node in picture.nodes:
        by_kind.setdefault(node.kind, []).append(node.id)
    # One box per layer call (Keras' own count: calls in the graph plus keras.ops calls).
    calls = len(by_kind.get("layer", [])) + len(by_kind.get("model", []))
    assert calls == entry["nodes"] + entry["operation_nodes"]
    assert len(by_kind.get("input", [])) == len(entry["inputs"])
    names = [report.graph.node(i).name for i in by_kind.get("output", [])]
    assert names == [o["name"] for o in entry["outputs"]]
    # One arrow per connection, each between two drawn boxes.
    drawn = {n.id for n in picture.nodes}
    assert len(picture.edges) == len(report.graph.edges)
    assert all(e.source in drawn and e.target in drawn for e in picture.edges)
    assert overlaps(picture) == []
    assert edges_through_boxes(picture) == []


@pytest.mark.parametrize("entry", WITH_ARCHITECTURE, ids=_ids(WITH_ARCHITECTURE))
def test_every_fixture_expanded_and_html(entry: dict[str, Any], tmp_path: Path) -> None:
    svg = tmp_path / "open.svg"
    report = modeltool.plot(entry["path"], svg, expand_nested=True, rankdir="LR")
    picture = read_svg(svg.read_text())
    nested = [node for node, depth in report.graph.walk() if node.inner is not None]
    assert {n.id for n in picture.nests} == {n.id for n in nested}
    assert overlaps(picture) == []
    assert edges_through_boxes(picture) == []
    assert nesting_errors(picture) == []
    page = tmp_path / "open.html"
    modeltool.plot(entry["path"], page)
    data = page_data(page.read_text())
    assert set(data["nodes"]) == {node.id for node, _ in report.graph.walk()}
    assert set(data["levels"]) == {"", *(n.id for n in nested if n.inner and n.inner.nodes)}


def test_nested_model_box_holds_its_layers(tmp_path: Path) -> None:
    out = tmp_path / "nested.svg"
    modeltool.plot(fixture_path("nested_vision", "k3.keras"), out, expand_nested=True)
    picture = read_svg(out.read_text())
    (nest,) = picture.nests
    inside = [n for n in picture.nodes if n.ancestors == (nest.id,)]
    # The Sequential's layers as the file lists them (its InputLayer included).
    import zipfile

    with zipfile.ZipFile(fixture_path("nested_vision", "k3.keras")) as archive:
        config = json.loads(archive.read("config.json"))
    (vision,) = [layer for layer in config["config"]["layers"]
                 if layer["config"]["name"] == "vision_model"]
    assert len(inside) == len(vision["config"]["layers"])
    assert all(nest.contains(n) for n in inside)
    assert 'vision_model (Sequential)' in out.read_text()


def test_depth_zero_keeps_nested_models_closed(tmp_path: Path) -> None:
    out = tmp_path / "closed.svg"
    modeltool.plot(fixture_path("nested_vision", "k3.keras"), out, depth=0)
    picture = read_svg(out.read_text())
    assert picture.nests == []
    assert [n.id for n in picture.nodes if n.kind == "model"] == ["vision_model#0"]


def test_shared_layer_drawn_once_per_call(tmp_path: Path) -> None:
    out = tmp_path / "siamese.svg"
    report = modeltool.plot(fixture_path("siamese_lstm", "k2.h5"), out)
    calls = [n for n in report.graph.nodes if n.name == "lstm"]
    assert [n.node for n in calls] == [0, 1]
    assert sorted(e.source for e in report.graph.edges if e.target.startswith("concatenate")) \
        == ["lstm#0", "lstm#1"]


def test_unknown_shapes_shown_as_unknown(tmp_path: Path) -> None:
    # A Sequential whose first layer never got an input shape: Keras does not know the shapes.
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "d", "units": 3}}]}}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(config))
    report = modeltool.plot(path, tmp_path / "m.svg", shapes=True)
    text = (tmp_path / "m.svg").read_text()
    assert "out: ?" in text and "in: ?" in text and "(None, 3)" not in text
    assert report.graph.node("d#0").input_shapes == [None]


@pytest.mark.tf
def test_connections_match_keras(keras: Any) -> None:
    from keras.src.ops.function import make_node_key

    for name in ("news_model", "siamese_lstm", "nested_vision", "conv1d3d", "reshape_ops",
                 "bidirectional_model", "mnist_mlp"):
        path = fixture_path(name, "k3.keras")
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        functional = getattr(model, "_functional", None) or model
        own = set(functional._nodes)
        connections = sum(len(node.input_tensors) for op in functional.operations
                          for i, node in enumerate(op._inbound_nodes)
                          if make_node_key(op, i) in own)
        report = modeltool.plot(path)
        drawn = [e for e in report.graph.edges if not e.target.startswith("output:")]
        assert len(drawn) == connections, name
        assert sum(e.target.startswith("output:") for e in report.graph.edges) == \
            len(model.outputs)


def test_onnx_file(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
         helper.make_node("Relu", ["h"], ["r"], name="relu"),
         helper.make_node("Add", ["r", "h"], ["y"], name="add")],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [weight])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph), path)
    out = tmp_path / "tiny.svg"
    report = modeltool.plot(path, out, shapes=True)
    picture = read_svg(out.read_text())
    assert sorted(n.kind for n in picture.nodes) == ["input", "op", "op", "op", "output"]
    # x->matmul, h->relu, r->add, h->add, y->output (initializers are not boxes).
    assert len(picture.edges) == 5
    assert report.kind == "onnx" and "out: (None, 3)" in out.read_text()


def test_layout_as_data() -> None:
    layout = modeltool.layout(fixture_path("news_model", "k2.h5"))
    boxes = {box.id: box for box, _ in layout.walk()}
    assert boxes["embedding#0"].y > boxes["main_input#0"].y
    route = next(r for r in layout.routes if r.target == "concatenate#0"
                 and r.source == "aux_input#0")
    first, last = route.points[0], route.points[-1]
    assert first[1] == pytest.approx(boxes["aux_input#0"].y + boxes["aux_input#0"].height)
    assert last[1] == pytest.approx(boxes["concatenate#0"].y)


# -- the command line ---------------------------------------------------------------------------


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("suffix", ["svg", "html", "dot", "png"])
def test_cli_formats(suffix: str, tmp_path: Path) -> None:
    out = tmp_path / f"news.{suffix}"
    result = _run("plot", str(fixture_path("news_model", "k3.keras")), "-o", str(out),
                  "--shapes", "--dtype", "--trainable", "--activations", "--params", "--macs")
    if suffix == "png" and result.exit_code == 2 and "cairo" in result.stderr:
        pytest.skip(result.stderr.strip())
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    if suffix == "svg":
        text = data.decode()
        for needle in ("activation: relu", "dtype: float32", "params: 16,000", "MACs: 76,800",
                       "trainable", "main_output"):
            assert needle in text
    elif suffix == "dot":
        text = data.decode()
        assert text.startswith("digraph model {") and text.count(" -> ") == 11
    elif suffix == "html":
        assert len(page_data(data.decode())["nodes"]) == 12
    else:
        from PIL import Image

        image = Image.open(out)
        assert image.format == "PNG" and image.width > 200 and image.height > 400
        pixels = np.asarray(image.convert("L"))
        assert pixels.min() < 100 and pixels.max() > 200  # boxes and text on white


def test_cli_weights_only_file_is_one_line(tmp_path: Path) -> None:
    path = fixture_path("news_model", "k3.weights.h5")
    result = _run("plot", str(path), "-o", str(tmp_path / "x.svg"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "no architecture" in lines[0]
    assert "Traceback" not in result.output and not (tmp_path / "x.svg").exists()


def test_cli_refuses_unknown_extension_and_existing_output(tmp_path: Path) -> None:
    src = str(fixture_path("mnist_mlp", "k3.keras"))
    result = _run("plot", src, "-o", str(tmp_path / "x.gif"))
    assert result.exit_code == 2 and "x.gif" in result.stderr
    out = tmp_path / "x.svg"
    out.write_text("mine")
    result = _run("plot", src, "-o", str(out))
    assert result.exit_code == 2 and out.read_text() == "mine"
    assert _run("plot", src, "-o", str(out), "--force").exit_code == 0
    assert out.read_text().startswith("<svg")


def test_plot_imports_no_tensorflow() -> None:
    from tests.conftest import run_fresh

    _, heavy = run_fresh(
        "import modeltool, tempfile, os\n"
        "d = tempfile.mkdtemp()\n"
        f"modeltool.plot({str(fixture_path('nested_vision', 'k2.h5'))!r}, "
        "os.path.join(d, 'm.svg'), expand_nested=True)\n"
        f"modeltool.report({str(fixture_path('news_model', 'k2.h5'))!r}, "
        "os.path.join(d, 'r.html'))\n")
    assert heavy == []


def test_manifest_has_seed_models() -> None:
    assert {"news_model", "siamese_lstm", "nested_vision"} <= set(MANIFEST["models"])


def test_dot_output_is_valid_for_graphviz(tmp_path: Path) -> None:
    import shutil
    import subprocess

    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("graphviz is not installed (modeltool never needs it; this checks .dot)")
    for name, options in (("nested_vision", {"expand_nested": True}), ("news_model", {})):
        out = tmp_path / f"{name}.dot"
        report = modeltool.plot(fixture_path(name, "k3.keras"), out, shapes=True, **options)
        rendered = subprocess.run([dot, "-Tsvg", str(out)], capture_output=True, text=True,
                                  timeout=60)
        assert rendered.returncode == 0, rendered.stderr
        assert rendered.stdout.count('class="node"') == sum(
            1 for node, _ in report.graph.walk() if node.inner is None or not options)
