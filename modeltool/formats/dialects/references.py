"""Tensor references in layer calls: the Keras 1/2 list forms and the Keras 3 node dicts.

A canonical inbound node is ``{"args", "kwargs"}`` whose tensors are ``__keras_tensor__`` objects
carrying ``keras_history`` ``[layer, node, tensor]``; Keras 1/2 wrote lists of such triples.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from ...errors import CorruptFileError

TENSOR = "__keras_tensor__"


def untuple_copy(value: Any, depth: int = 0) -> Any:
    """A deep copy with tf.keras' ``{"class_name": "__tuple__", "items": [...]}`` as lists."""
    if depth > 500:
        raise RecursionError("config nested too deeply")
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__" and isinstance(value.get("items"), list):
            return [untuple_copy(item, depth + 1) for item in value["items"]]
        return {key: untuple_copy(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [untuple_copy(item, depth + 1) for item in value]
    return value


def canonical_refs(value: Any, what: str, path: str | None) -> Any:
    """``input_layers``/``output_layers``: a ref ``[name, node, tensor]`` or a list of them."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise CorruptFileError(f"model config field {what!r} is not a list", path=path)
    if value and isinstance(value[0], str):
        return value[:3]
    return [list(ref[:3]) if isinstance(ref, list) else ref for ref in value]


def sequentials_with_builtin_node(layers: list[Any]) -> set[str]:
    """Nested Sequential models whose node 0 Keras 2 kept for their own input (built with an
    input shape); Keras 3 numbers a Sequential's calls from 0, so references shift by one."""
    names = set()
    for layer in layers:
        if not isinstance(layer, dict) or layer.get("class_name") != "Sequential":
            continue
        inner = layer.get("config")
        members = inner.get("layers") if isinstance(inner, dict) else inner
        if not isinstance(members, list) or not members or not isinstance(members[0], dict):
            continue
        first = members[0]
        if first.get("class_name") == "InputLayer" or "batch_input_shape" in (
                first.get("config") or {}):
            names.add(str(layer.get("name") or (inner or {}).get("name")))
    return names


def unshift_node_indices(model: dict[str, Any], names: set[str]) -> None:
    def fix(value: Any) -> None:
        if is_tensor_ref(value):
            history = value["config"]["keras_history"]
            if history[0] in names and isinstance(history[1], int) and history[1] > 0:
                history[1] -= 1
        elif isinstance(value, dict):
            for item in value.values():
                fix(item)
        elif isinstance(value, list):
            for item in value:
                fix(item)

    for layer in model.get("layers", []):
        fix(layer.get("inbound_nodes"))
    for key in ("input_layers", "output_layers"):
        refs = model.get(key) or []
        for ref in ([refs] if refs and isinstance(refs[0], str) else refs):
            if isinstance(ref, list) and len(ref) >= 2 and ref[0] in names and ref[1] > 0:
                ref[1] -= 1


def canonical_nodes(nodes: Any, path: str | None,
                     names: set[str] | None = None) -> list[dict[str, Any]]:
    """Keras 1/2 ``[[name, node, tensor, kwargs], ...]`` lists become Keras 3 node dicts.

    tf.keras 2.4+ wrote a TFOpLambda call as one bare reference ``[name, node, tensor,
    kwargs]``, with tensors among the keyword arguments as ``[name, node, tensor]``.
    """
    if not nodes:
        return []
    if not isinstance(nodes, list):
        raise CorruptFileError("inbound_nodes is not a list", path=path)
    result = []
    for node in nodes:
        if isinstance(node, dict):
            result.append(node)
            continue
        if isinstance(node, list) and node and isinstance(node[0], str):
            node = [node]
        if not isinstance(node, list) or not node:
            raise CorruptFileError(f"inbound node {node!r} is malformed", path=path)
        tensors = []
        kwargs: dict[str, Any] = {}
        for ref in node:
            if not isinstance(ref, list) or len(ref) < 3 or not isinstance(ref[0], str):
                raise CorruptFileError(f"inbound tensor reference {ref!r} is malformed",
                                       path=path)
            if len(ref) > 3 and isinstance(ref[3], dict):
                kwargs = {key: _kwarg_tensor(value, names) for key, value in ref[3].items()}
            tensors.append(tensor_ref(ref[0], ref[1], ref[2]))
        args: list[Any] = [tensors[0]] if len(tensors) == 1 else [tensors]
        result.append({"args": args, "kwargs": kwargs})
    return result


def _kwarg_tensor(value: Any, names: set[str] | None) -> Any:
    if names and isinstance(value, list) and len(value) == 3 and value[0] in names \
            and all(isinstance(v, int) for v in value[1:]):
        return tensor_ref(value[0], value[1], value[2])
    return value


def tensor_ref(layer: str, node: Any, tensor: Any, shape: Any = None,
                dtype: Any = None) -> dict[str, Any]:
    return {"class_name": TENSOR,
            "config": {"shape": shape, "dtype": dtype, "keras_history": [layer, node, tensor]}}


def is_tensor_ref(value: Any) -> bool:
    """True for a ``__keras_tensor__`` object in a canonical inbound node."""
    return isinstance(value, dict) and value.get("class_name") == TENSOR


def tensor_refs(value: Any) -> list[tuple[str, int, int]]:
    """Every ``(layer, node_index, tensor_index)`` referenced inside a node's args, in order."""
    found: list[tuple[str, int, int]] = []
    if is_tensor_ref(value):
        history = value.get("config", {}).get("keras_history") or []
        if len(history) >= 3:
            found.append((str(history[0]), int(history[1]), int(history[2])))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(tensor_refs(item))
    elif isinstance(value, (list, tuple)):
        for item in value:
            found.extend(tensor_refs(item))
    return found


def untuple(value: Any, *, limit: int = 256, depth: int = 0) -> Any:
    """``value`` with tf.keras' ``{"class_name": "__tuple__", "items": [...]}`` as lists.

    Configs from a SavedModel's Keras metadata spell tuples that way; they are lists everywhere
    else. Returns ``value`` itself when nothing changed (no copy); deeper than ``limit`` it is
    left as it is (the graph builder reports such nesting itself).
    """
    if depth > limit:
        return value
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__" and isinstance(value.get("items"), list):
            return [untuple(item, limit=limit, depth=depth + 1) for item in value["items"]]
        changed = {key: untuple(item, limit=limit, depth=depth + 1)
                   for key, item in value.items()}
        same = all(changed[key] is value[key] for key in value)
        return value if same else changed
    if isinstance(value, list):
        items = [untuple(item, limit=limit, depth=depth + 1) for item in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    return value


def is_bare_reference(value: Any, layers: Container[str]) -> bool:
    """A keyword argument written as a bare ``[layer, node, tensor]`` naming one of ``layers``.

    tf.keras 2 wrote a tensor passed by keyword that way (TFOpLambda:
    ``tf.math.multiply(x, y=other)``); Keras 3 files never do.
    """
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and value[0] in layers and all(isinstance(v, int) and not isinstance(v, bool)
                                           for v in value[1:]))


def nested_node_offset(class_name: str, calls: int, used: list[int]) -> int:
    """How a config numbers the calls of a nested model: subtract this from a node index.

    A nested Functional starts with a built-in node that configs leave out, so its first real
    call is written as node 1; a Sequential's first call is node 0 in the canonical (Keras 3)
    dialect. Keras 1/2 wrote a nested Sequential with an input from 1 as well: when every index
    in ``used`` fits only the other numbering, that one is used. ``calls`` is how many calls
    the layer has.
    """
    preferred = 0 if class_name == "Sequential" else 1
    for offset in (preferred, 1 - preferred):
        if all(0 <= i - offset < calls for i in used):
            return offset
    return preferred  # the graph builder reports the bad reference
