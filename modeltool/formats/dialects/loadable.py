"""The canonical config in the form Keras 3 loads from a file it is handed."""

from __future__ import annotations

import copy
from typing import Any

from .node_states import needs_dict_form, with_placeholder_shapes
from .references import is_tensor_ref, tensor_refs


def keras_loadable_config(config: dict[str, Any]) -> dict[str, Any]:
    """The canonical config as Keras 3 wants it in a file it will load.

    Keras 3 rebuilds ``__keras_tensor__`` arguments with their recorded shape; a node read from
    a Keras 1/2 file has none, so such nodes are written in the list form Keras 3 also reads.
    """
    result = copy.deepcopy(config)
    _loadable_model(result)
    return result


def _loadable_model(value: Any, functional: frozenset[str] = frozenset()) -> None:
    """Every ``inbound_nodes`` list in the tree, nested models and wrapped models included.

    ``functional`` names the sibling layers that are Functional models: Keras 3 numbers their
    calls from 1 and subtracts 1 when it reads node dicts, but not when it reads the list form.
    """
    if isinstance(value, dict):
        nodes = value.get("inbound_nodes")
        if isinstance(nodes, list) and nodes:
            value["inbound_nodes"] = [_loadable_node(node, functional) for node in nodes]
        inner = value.get("config")
        members = inner.get("layers") if isinstance(inner, dict) else None
        names = frozenset(str(m.get("name")) for m in members
                          if isinstance(m, dict) and m.get("class_name") == "Functional") \
            if isinstance(members, list) else frozenset()
        for key, item in value.items():
            if key != "inbound_nodes":
                _loadable_model(item, names if key == "config" else functional)
    elif isinstance(value, list):
        for item in value:
            _loadable_model(item, functional)


def _loadable_node(node: Any, functional: frozenset[str]) -> Any:
    if not isinstance(node, dict):
        return node

    def shapes_known(value: Any) -> bool:
        if is_tensor_ref(value):
            return value.get("config", {}).get("shape") is not None
        if isinstance(value, dict):
            return all(shapes_known(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return all(shapes_known(v) for v in value)
        return True

    if shapes_known(node.get("args")) and shapes_known(node.get("kwargs")):
        return node
    if needs_dict_form(node):
        return with_placeholder_shapes(node)
    kwargs = node.get("kwargs") or {}
    return [[layer, index - 1 if layer in functional and index > 0 else index, tensor, kwargs]
            for layer, index, tensor in tensor_refs(node.get("args"))]
