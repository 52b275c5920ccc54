"""Activation memory: the bytes of every layer call's outputs, nested models included."""

from __future__ import annotations

from typing import Any

from ...graph.attributes import activation_bytes, compute_itemsize, layer_attributes
from ...graph.model import Graph, LayerInfo
from ...graph.shapes import ShapeMap
from .report import SummaryRow


def activation_memory(graph: Graph, shapes: ShapeMap, rows: list[SummaryRow],
                      batch_size: int) -> tuple[int, int]:
    """Fill each row's attributes and output bytes; total the output bytes of every layer
    call, inside nested models too (a nested model's own outputs are its last layers')."""
    for row in rows:
        row.attributes = layer_attributes(row.class_name, _config_at(graph, row.path))
    by_key = {(row.path, row.node): row for row in rows}
    total = unknown = 0

    def walk(g: Graph, sm: ShapeMap | None, prefix: str) -> None:
        nonlocal total, unknown
        for info in g.layers.values():
            path = f"{prefix}{info.name}"
            if info.synthetic:
                continue
            for node in info.nodes:
                ns = sm.nodes.get(node.key) if sm is not None else None
                if info.graph is not None:
                    walk(info.graph, ns.inner if ns is not None else None, f"{path}/")
                    continue
                size = activation_bytes(ns.outputs if ns is not None else None,
                                        compute_itemsize(info.config), batch_size)
                row = by_key.get((path, node.index))
                if row is not None:
                    row.activation_bytes = size
                if size is None:
                    unknown += 1
                else:
                    total += size

    walk(graph, shapes, "")
    for row in rows:  # a nested model's row: the bytes of its own outputs
        if row.activation_bytes is None and row.output_shapes is not None:
            info = _layer_at(graph, row.path)
            if info is not None and info.graph is not None:
                row.activation_bytes = activation_bytes(row.output_shapes,
                                                        compute_itemsize(info.config), batch_size)
    return total, unknown


def _layer_at(graph: Graph, path: str) -> LayerInfo | None:
    info: LayerInfo | None = None
    current: Graph | None = graph
    for part in path.split("/"):
        if current is None or part not in current.layers:
            return None
        info = current.layers[part]
        current = info.graph
    return info


def _config_at(graph: Graph, path: str) -> dict[str, Any]:
    info = _layer_at(graph, path)
    return info.config if info is not None else {}
