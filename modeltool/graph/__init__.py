"""The model graph read from a canonical config, and shape inference without TensorFlow."""

from __future__ import annotations

from .model import Graph, LayerInfo, Node, Shape, TensorRef, build_graph
from .params import Params
from .shapes import NodeShapes, ShapeMap, infer_shapes, known_class

__all__ = [
    "Graph",
    "LayerInfo",
    "Node",
    "NodeShapes",
    "Params",
    "Shape",
    "ShapeMap",
    "TensorRef",
    "build_graph",
    "infer_shapes",
    "known_class",
]
