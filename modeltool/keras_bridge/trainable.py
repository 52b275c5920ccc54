"""Trainable flags and parameter counts of a live ``keras.Model`` (for ``freeze`` on a model)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..graph.layer_tree import LayerNode
from ..graph.params import Params
from ..layer_classes import WRAPPER_CLASSES


def live_tree(model: Any) -> LayerNode:
    """The layer tree of a live model; each node's holder is the layer itself."""
    return _live_node(model, "", None)


def _live_node(layer: Any, path: str, parent: LayerNode | None) -> LayerNode:
    wrapped = getattr(layer, "layer", None)
    weight_class = type(wrapped).__name__ if wrapped is not None and \
        type(layer).__name__ in WRAPPER_CLASSES else type(layer).__name__
    node = LayerNode(path, type(layer).__name__, weight_class, [layer], bool(layer.trainable),
                 parent)
    inner = getattr(layer, "layers", None)
    if inner is None and wrapped is not None and hasattr(wrapped, "layers"):
        inner = wrapped.layers
    for sub in inner or []:
        node.children.append(_live_node(sub, f"{path}/{sub.name}" if path else sub.name, node))
    return node


def live_params(node: LayerNode) -> int:
    """The parameters of the layer a node stands for (its own weights, nested ones included)."""
    return sum(int(np.prod(w.shape)) for h in node.holders[:1] for w in getattr(h, "weights", []))


def live_counts(model: Any) -> Params:
    """The model's parameter totals as Keras counts them."""
    def total(weights: Iterable[Any]) -> int:
        return sum(int(np.prod(w.shape)) for w in weights)

    trainable = total(model.trainable_weights)
    return Params(trainable + total(model.non_trainable_weights), trainable)


def set_live_flags(root: LayerNode, flags: dict[LayerNode, bool]) -> None:
    """Set every layer's ``trainable`` to its planned flag.

    Keras' setter recurses into what a layer holds: the flags are set top-down so each ends as
    planned.
    """
    for node in root.walk():
        for holder in node.holders:
            holder.trainable = flags[node]
