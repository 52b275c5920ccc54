"""The layered layout as data: boxes never overlap, edges never pass through a box, opened
nested models keep both true; and on the real keras.applications graphs (built on demand),
few crossings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modeltool
from modeltool.graph.layout import Layout, layered_layout
from modeltool.graph.nesting import expand
from tests.render.svg_check import (
    Edge,
    Picture,
    Rect,
    edges_through_boxes,
    nesting_errors,
    overlaps,
    read_svg,
)
from tests.zoo_cache import zoo_model

#: Crossings allowed on ResNet50 (177 layers, 16 residual joins): a layered drawing can have
#: none, and this one has none; a small slack keeps the test about readability, not a number.
RESNET50_MAX_CROSSINGS = 5


def _picture(layout: Layout, ancestors: tuple[str, ...] = (),
             into: Picture | None = None) -> Picture:
    picture = into or Picture()
    for box in layout.boxes.values():
        rect = Rect(box.id, "nest" if box.inner else "layer", box.x, box.y, box.width,
                    box.height, ancestors)
        if box.inner is not None:
            picture.nests.append(rect)
            _picture(box.inner, (*ancestors, box.id), picture)
        else:
            picture.nodes.append(rect)
    for route in layout.routes:
        picture.edges.append(Edge(route.source, route.target, route.points, ancestors))
    return picture


def _random_dag(rng: np.random.Generator, n: int, extra: int) -> tuple[dict[str, tuple[float,
                                                                                          float]],
                                                                      list[tuple[str, str]]]:
    sizes = {f"n{i}": (float(rng.integers(40, 160)), float(rng.integers(20, 70)))
             for i in range(n)}
    edges = [(f"n{int(rng.integers(0, i))}", f"n{i}") for i in range(1, n)]
    for _ in range(extra):
        a, b = sorted(int(v) for v in rng.choice(n, size=2, replace=False))
        edges.append((f"n{a}", f"n{b}"))
    return sizes, edges


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_random_graphs(seed: int, rankdir: str) -> None:
    rng = np.random.default_rng(seed)
    sizes, edges = _random_dag(rng, int(rng.integers(5, 60)), int(rng.integers(0, 40)))
    layout = layered_layout(sizes, edges, rankdir)
    picture = _picture(layout)
    assert len(picture.nodes) == len(sizes)
    assert len(layout.routes) == len([e for e in edges if e[0] != e[1]])
    assert overlaps(picture) == []
    assert edges_through_boxes(picture) == []
    # Every edge runs forward: from the source's far side to the target's near side.
    axis = 0 if rankdir == "LR" else 1
    for route in layout.routes:
        assert route.points[-1][axis] > route.points[0][axis]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_opening_nested_drawings_keeps_the_guarantees(seed: int, rankdir: str) -> None:
    rng = np.random.default_rng(100 + seed)
    sizes, edges = _random_dag(rng, 25, 15)
    outer = layered_layout(sizes, edges, rankdir)
    opened = [f"n{int(i)}" for i in rng.choice(25, size=3, replace=False)]
    for name in opened:
        inner_sizes, inner_edges = _random_dag(rng, int(rng.integers(2, 12)), 3)
        inner_sizes = {f"{name}/{k}": v for k, v in inner_sizes.items()}
        inner_edges = [(f"{name}/{a}", f"{name}/{b}") for a, b in inner_edges]
        expand(outer, name, layered_layout(inner_sizes, inner_edges, rankdir))
    picture = _picture(outer)
    assert sorted(n.id for n in picture.nests) == sorted(opened)
    assert overlaps(picture) == []
    assert edges_through_boxes(picture) == []
    assert nesting_errors(picture) == []
    assert min(b.x for b, _ in outer.walk()) >= 0 and min(b.y for b, _ in outer.walk()) >= 0
    assert max(b.x + b.width for b, _ in outer.walk()) <= outer.width + 1e-6
    assert max(b.y + b.height for b, _ in outer.walk()) <= outer.height + 1e-6


def test_a_second_input_enters_next_to_its_consumer() -> None:
    sizes = {k: (60.0, 20.0) for k in ("a", "b", "c", "d", "aux", "join")}
    layout = layered_layout(sizes, [("a", "b"), ("b", "c"), ("c", "d"), ("d", "join"),
                                    ("aux", "join")])
    assert layout.boxes["aux"].rank == layout.boxes["join"].rank - 1


@pytest.fixture(scope="module")
def resnet50() -> Path:
    return zoo_model("ResNet50", weights=False)


@pytest.mark.tf
def test_resnet50(resnet50: Path, tmp_path: Path, keras: Any) -> None:
    out = tmp_path / "resnet50.svg"
    report = modeltool.plot(resnet50, out)
    model = keras.models.model_from_json(resnet50.read_text())
    picture = read_svg(out.read_text())
    calls = [n for n in picture.nodes if n.kind in ("layer", "model", "input")]
    assert len(calls) == len(model.layers) == 177
    joins = [layer for layer in model.layers if type(layer).__name__ == "Add"]
    assert sum(1 for e in picture.edges if e.target.split("#")[0] in
               {j.name for j in joins}) == 2 * len(joins)
    assert overlaps(picture) == []
    assert edges_through_boxes(picture) == []
    assert report.layout.crossings <= RESNET50_MAX_CROSSINGS


@pytest.mark.zoo
@pytest.mark.parametrize("name", ["InceptionV3", "DenseNet201"])
def test_big_applications(name: str, tmp_path: Path, keras: Any) -> None:
    path = zoo_model(name, weights=False)
    out = tmp_path / f"{name}.svg"
    report = modeltool.plot(path, out)
    model = keras.models.model_from_json(path.read_text())
    picture = read_svg(out.read_text())
    assert len([n for n in picture.nodes if n.kind != "output"]) == len(model.layers)
    assert overlaps(picture) == []
    assert edges_through_boxes(picture) == []
    assert report.layout.crossings <= 10
