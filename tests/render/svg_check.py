"""Read a rendered SVG back as geometry and check what a person would: no box overlaps another,
no edge passes through a box, nested boxes hold their contents; and read an HTML page's data."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

SVG = "{http://www.w3.org/2000/svg}"


@dataclass
class Rect:
    id: str
    kind: str
    x: float
    y: float
    w: float
    h: float
    ancestors: tuple[str, ...] = ()

    def contains(self, other: Rect) -> bool:
        return (self.x <= other.x + 1e-6 and self.y <= other.y + 1e-6
                and other.x + other.w <= self.x + self.w + 1e-6
                and other.y + other.h <= self.y + self.h + 1e-6)


@dataclass
class Edge:
    source: str
    target: str
    points: list[tuple[float, float]]
    ancestors: tuple[str, ...] = ()


@dataclass
class Picture:
    nodes: list[Rect] = field(default_factory=list)
    nests: list[Rect] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def read_svg(text: str) -> Picture:
    """Boxes, nested-model boxes and edge polylines of a modeltool SVG."""
    root = ET.fromstring(text)
    picture = Picture()

    def walk(element: ET.Element, ancestors: tuple[str, ...]) -> None:
        for child in element:
            cls = (child.get("class") or "").split()
            if child.tag == f"{SVG}g" and "node" in cls:
                rect = child.find(f"{SVG}rect")
                assert rect is not None
                picture.nodes.append(_rect(child.get("data-id", ""), child.get("data-kind", ""),
                                           rect, ancestors))
            elif child.tag == f"{SVG}g" and "nest" in cls:
                rect = child.find(f"{SVG}rect")
                assert rect is not None
                nest = _rect(child.get("data-id", ""), "nest", rect, ancestors)
                picture.nests.append(nest)
                walk(child, (*ancestors, nest.id))
            elif child.tag == f"{SVG}path" and "edge" in cls:
                numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", child.get("d", ""))]
                points = list(zip(numbers[::2], numbers[1::2]))
                picture.edges.append(Edge(child.get("data-source", ""),
                                          child.get("data-target", ""), points, ancestors))
            else:
                walk(child, ancestors)

    walk(root, ())
    return picture


def _rect(ident: str, kind: str, rect: ET.Element, ancestors: tuple[str, ...]) -> Rect:
    return Rect(ident, kind, float(rect.get("x", 0)), float(rect.get("y", 0)),
                float(rect.get("width", 0)), float(rect.get("height", 0)), ancestors)


def overlaps(picture: Picture) -> list[tuple[str, str]]:
    """Pairs of boxes that share area: leaf boxes with each other and with nested-model boxes
    they are not inside (a sweep over x keeps this fast on big models)."""
    boxes = picture.nodes + picture.nests
    boxes.sort(key=lambda r: r.x)
    found = []
    active: list[Rect] = []
    for box in boxes:
        active = [a for a in active if a.x + a.w > box.x + 0.5]
        for other in active:
            if box.id in other.ancestors or other.id in box.ancestors:
                continue
            if (box.y < other.y + other.h - 0.5 and other.y < box.y + box.h - 0.5
                    and box.x < other.x + other.w - 0.5):
                found.append((other.id, box.id))
        active.append(box)
    return found


def _segment_hits(p: tuple[float, float], q: tuple[float, float], r: Rect,
                  margin: float = 0.5) -> bool:
    """Whether segment pq enters the interior of r (shrunk by ``margin``): Liang-Barsky."""
    x0, y0, x1, y1 = r.x + margin, r.y + margin, r.x + r.w - margin, r.y + r.h - margin
    if x1 <= x0 or y1 <= y0:
        return False
    dx, dy = q[0] - p[0], q[1] - p[1]
    t0, t1 = 0.0, 1.0
    for edge_p, edge_q in ((-dx, p[0] - x0), (dx, x1 - p[0]), (-dy, p[1] - y0),
                           (dy, y1 - p[1])):
        if edge_p == 0:
            if edge_q < 0:
                return False
            continue
        t = edge_q / edge_p
        if edge_p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return t1 - t0 > 1e-9


def edges_through_boxes(picture: Picture) -> list[tuple[str, str, str]]:
    """(source, target, box) for every edge that passes through a box other than a nested-model
    box it runs inside."""
    found = []
    boxes = picture.nodes + picture.nests
    for edge in picture.edges:
        segments = list(zip(edge.points, edge.points[1:]))
        for box in boxes:
            if box.kind == "nest" and box.id in edge.ancestors:
                continue
            lo_x = min(p[0] for p in edge.points)
            hi_x = max(p[0] for p in edge.points)
            if hi_x < box.x or lo_x > box.x + box.w:
                continue
            if any(_segment_hits(p, q, box) for p, q in segments):
                found.append((edge.source, edge.target, box.id))
    return found


def nesting_errors(picture: Picture) -> list[str]:
    """Boxes drawn inside a nested-model box that stick out of it."""
    by_id = {nest.id: nest for nest in picture.nests}
    errors = []
    for box in picture.nodes + picture.nests:
        if box.ancestors:
            parent = by_id[box.ancestors[-1]]
            if not parent.contains(box):
                errors.append(f"{box.id} outside {parent.id}")
    return errors


def page_data(html: str) -> dict[str, Any]:
    """The JSON a viewer or report page embeds (``#model-data``)."""
    match = re.search(r'<script type="application/json" id="model-data">(.*?)</script>', html,
                      re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data
