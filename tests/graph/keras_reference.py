"""What Keras 3 itself reports about a model: per-node shapes and per-layer params.

Shared by the parity tests (fixtures, real-world files, keras.applications). Keras is imported
by the callers; nothing here imports it at module level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Shape = tuple[Any, ...]


@dataclass
class Reference:
    """Keras' view, keyed by layer path (``vision_model/conv2d``)."""

    nodes: dict[str, list[tuple[list[Shape], list[Shape]]]] = field(default_factory=dict)
    params: dict[str, tuple[int, int]] = field(default_factory=dict)
    operations: set[str] = field(default_factory=set)
    how: str = ""


def _shape(tensor: Any) -> Shape:
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _size(weights: list[Any]) -> int:
    return int(sum(int(np.prod(w.shape)) if len(w.shape) else 1 for w in weights))


def reference_of(model: Any, how: str = "") -> Reference:
    """Walk a live Keras 3 model (nested models included) into a Reference."""
    from keras.src import tree
    from keras.src.backend import KerasTensor
    from keras.src.ops.function import make_node_key

    ref = Reference(how=how)

    def walk(m: Any, prefix: str) -> None:
        functional = getattr(m, "_functional", None) or m
        own = set(getattr(functional, "_nodes", set()))
        operations = list(getattr(functional, "operations", None) or m.layers)
        if type(m).__name__ == "Sequential":
            operations = [op for op in operations if type(op).__name__ != "InputLayer"]
        for op in operations:
            path = f"{prefix}{op.name}"
            calls = []
            for i, node in enumerate(op._inbound_nodes):
                if make_node_key(op, i) not in own:
                    continue
                ins = [_shape(t) for t in tree.flatten(node.arguments.args)
                       if isinstance(t, KerasTensor)]
                outs = [_shape(t) for t in node.output_tensors]
                calls.append((ins, outs))
            ref.nodes[path] = calls
            if not hasattr(op, "weights"):
                ref.operations.add(path)  # a keras.ops call, not a Layer
            if hasattr(op, "weights"):
                ref.params[path] = (_size(op.weights), _size(op.trainable_weights))
            inner = op if hasattr(op, "layers") and hasattr(op, "inputs") else None
            wrapped = getattr(op, "layer", None)
            if inner is None and wrapped is not None and hasattr(wrapped, "layers"):
                inner = wrapped
            if inner is not None:
                walk(inner, f"{path}/")

    walk(model, "")
    return ref


def keras_model_for(path: Path, artifact: Any) -> tuple[Any, str]:
    """Keras 3's model for the file: loaded directly when Keras can, else built from the
    canonical config through modeltool's bridge (files Keras 3 refuses).

    Close ``artifact`` first: h5py refuses a second open of a file modeltool holds open
    without locking ("file locking flag values don't match").
    """
    import keras

    name = path.name
    try:
        if name.endswith((".keras", ".h5")):
            return keras.models.load_model(path, compile=False), "keras.load_model"
        if name.endswith(".json"):
            return keras.models.model_from_json(path.read_text()), "keras.model_from_json"
    except Exception:  # noqa: BLE001, S110 - Keras 3 refuses many Keras 1/2 files
        pass
    from modeltool import keras_bridge

    return keras_bridge.model_from_artifact(artifact, with_weights=False), "bridge"


def compare(summary: Any, reference: Reference, *, check_params: bool = True) -> list[str]:
    """Differences between a modeltool Summary (expanded) and Keras' Reference."""
    problems: list[str] = []
    rows: dict[str, list[Any]] = {}
    for row in summary.rows:
        rows.setdefault(row.path, []).append(row)
    for path, calls in reference.nodes.items():
        mine = rows.get(path)
        if mine is None:
            if path not in reference.operations:
                problems.append(f"{path}: no row")
            continue
        if len(calls) != len([r for r in mine if r.node is not None]):
            problems.append(f"{path}: {len(mine)} rows, Keras has {len(calls)} nodes")
            continue
        for row, (ins, outs) in zip(mine, calls):
            got_in = [tuple(s) if s is not None else None for s in row.input_shapes]
            got_out = None if row.output_shapes is None \
                else [tuple(s) if s is not None else None for s in row.output_shapes]
            if got_in != ins:
                problems.append(f"{path}[{row.node}] inputs {got_in} != keras {ins}")
            if got_out != outs:
                problems.append(f"{path}[{row.node}] outputs {got_out} != keras {outs}")
        if check_params and path in reference.params:
            first = mine[0]
            want = reference.params[path]
            if (first.params, first.trainable_params) != want:
                problems.append(f"{path} params {(first.params, first.trainable_params)} "
                                f"!= keras {want}")
    for path in rows:
        if path not in reference.nodes:
            problems.append(f"{path}: row without a Keras layer")
    return problems
