"""The layer tree ``freeze`` plans on: each layer's path, class, where its ``trainable`` flag is
written and its own flag, with its parent and children. ``ops.freeze.plan`` builds it from a
stored config (``formats.dialects.trainable`` says where flags live in each dialect) and
``keras_bridge.trainable`` from a live model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class LayerNode:
    """One layer in the tree ``freeze`` plans on: its path, where its flag is written
    (``holders``: config dicts, or the live layer), and its own flag."""

    path: str
    class_name: str
    weight_class: str
    holders: list[Any]
    own: bool
    parent: LayerNode | None = None
    children: list[LayerNode] = field(default_factory=list)

    def walk(self) -> Iterator[LayerNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def ancestors(self) -> list[LayerNode]:
        found = []
        node = self.parent
        while node is not None:
            found.append(node)
            node = node.parent
        return found[::-1]
