"""RNN calls with initial states: Keras 2 node lists -> Keras 3 ``initial_state`` keyword.

Keras 2 and tf.keras recorded ``LSTM(...)(x, initial_state=[h, c])`` as one node whose inbound
tensors are ``[x, h, c]`` (the states appended to the input). Keras 3 records the call as it
was made: ``args=[x]``, ``kwargs={"initial_state": [h, c]}``. Called from the dialect layer on
nodes already in the canonical dict form.
"""

from __future__ import annotations

import copy
from typing import Any

#: Layers whose extra inbound tensors are initial states in a Keras 1/2 node.
STATEFUL_CALL_CLASSES = frozenset({
    "LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
    "Bidirectional",
})

_TENSOR = "__keras_tensor__"


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == _TENSOR


def split_initial_states(layer: dict[str, Any], notes: list[str]) -> None:
    """Move the states of a recurrent layer's calls from its inputs to ``initial_state``.

    ``layer`` is a canonical layer entry (its nodes already dicts); it is changed in place. A
    layer built with ``num_constants`` (Keras 2 ``constants=``) is left alone: Keras 3 has no
    such argument.
    """
    class_name = layer.get("class_name")
    config = layer.get("config") or {}
    if class_name not in STATEFUL_CALL_CLASSES or config.get("num_constants"):
        return
    result = []
    moved = 0
    for node in layer.get("inbound_nodes") or []:
        args = node.get("args") if isinstance(node, dict) else None
        if not (isinstance(args, list) and len(args) == 1 and isinstance(args[0], list)
                and len(args[0]) > 1 and all(_is_tensor(t) for t in args[0])):
            result.append(node)
            continue
        kwargs = {key: value for key, value in (node.get("kwargs") or {}).items()
                  if not (key in ("initial_state", "constants") and value is None)}
        kwargs["initial_state"] = list(args[0][1:])
        result.append({"args": [args[0][0]], "kwargs": kwargs})
        moved += 1
    if not moved:
        return
    layer["inbound_nodes"] = result
    build = layer.get("build_config")
    shapes = build.get("input_shape") if isinstance(build, dict) else None
    if isinstance(build, dict) and isinstance(shapes, list) and shapes \
            and isinstance(shapes[0], list):
        # tf.keras recorded the build shapes of input and states together; Keras 3 builds
        # the layer from the input's shape alone.
        build["input_shape"] = shapes[0]
    notes.append(f"layer {config.get('name', layer.get('name'))!r} ({class_name}): initial "
                 "states stored as extra inputs (Keras 2) passed as initial_state")


def needs_dict_form(node: dict[str, Any]) -> bool:
    """True when a canonical node cannot be written in Keras' list form: it passes a tensor by
    keyword (``initial_state``), several positional arguments or a constant (operation nodes:
    ``multiply(x, y)``, ``x * 2``); the list form calls the layer with one argument."""
    def has_tensor(value: Any) -> bool:
        if _is_tensor(value):
            return True
        if isinstance(value, dict):
            return any(has_tensor(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return any(has_tensor(v) for v in value)
        return False

    def only_tensors(value: Any) -> bool:
        if isinstance(value, list):
            return all(only_tensors(v) for v in value)
        return _is_tensor(value)

    args = node.get("args") or []
    return has_tensor(node.get("kwargs")) or len(args) > 1 or not only_tensors(args)


def with_placeholder_shapes(node: dict[str, Any]) -> dict[str, Any]:
    """The node with a placeholder shape on every tensor whose shape was not recorded.

    Keras 3 resolves each ``__keras_tensor__`` to the real output of the layer its history
    names; the recorded shape only has to be a valid shape for the placeholder it builds first.
    Keras' list form cannot carry tensors passed by keyword, so such nodes stay dicts.
    """
    result = copy.deepcopy(node)

    def fill(value: Any) -> None:
        if _is_tensor(value):
            inner = value.setdefault("config", {})
            if inner.get("shape") is None:
                inner["shape"] = []
        elif isinstance(value, dict):
            for item in value.values():
                fill(item)
        elif isinstance(value, list):
            for item in value:
                fill(item)

    fill(result.get("args"))
    fill(result.get("kwargs"))
    return result


def called_like_op(layer: dict[str, Any]) -> bool:
    """True when a layer entry without a module (Keras 3's legacy ``.h5``) is an operation
    sharing a layer's class name (``x + y`` records ``Add``): it was called with several
    positional arguments, where the merge layer takes one list."""
    return any(isinstance(node, dict) and len(node.get("args") or []) > 1
               for node in layer.get("inbound_nodes") or [])
