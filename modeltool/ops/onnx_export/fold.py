"""Lifted weights become ONNX initializers after tf2onnx, with the layout ops tf2onnx put on
them (a Conv kernel's Transpose, BatchNormalization's arithmetic) computed in NumPy.

onnx is imported inside functions only.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ...formats.onnx_writer import Pending

#: Ops computed ahead of time when every input is a weight or a constant (tf2onnx transposes a
#: Conv kernel that is a graph input at run time instead of in numpy; BatchNormalization's
#: arithmetic on its parameters would run at every call).
_FOLDABLE = frozenset({"Transpose", "Reshape", "Cast", "Identity", "Squeeze", "Unsqueeze",
                       "Add", "Sub", "Mul", "Div", "Sqrt", "Reciprocal", "Neg"})
_ELEMENTWISE = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
                "Sqrt": np.sqrt, "Reciprocal": np.reciprocal, "Neg": np.negative}


def attach_weights(model_proto: Any, weights: dict[str, Callable[[], Any]]) -> Pending:
    """Plan the lifted weight inputs as initializers, folding the layout ops tf2onnx put on
    them (a Conv kernel's Transpose, BatchNormalization's arithmetic).

    ``weights`` maps each weight input to the function that reads its array. Nothing is read
    here: each returned initializer is computed when the file is written, one tensor at a time.
    The weight inputs leave the graph.
    """
    from onnx import helper, numpy_helper

    graph = model_proto.graph
    uses: Counter[str] = Counter()
    for node in all_nodes(graph):
        uses.update(name for name in node.input if name)
    uses.update(output.name for output in graph.output)
    constants = {init.name: init for init in graph.initializer}
    outputs = {output.name for output in graph.output}
    plans: dict[str, Callable[[], Any]] = dict(weights)
    folded_constants: set[str] = set()
    kept = []
    for node in graph.node:
        inputs = [name for name in node.input if name]
        if (node.op_type in _FOLDABLE and any(name in plans for name in inputs)
                and all(name in plans or name in constants for name in inputs)
                and not any(name in outputs for name in node.output)):
            args: list[Callable[[], Any]] = []
            for name in node.input:
                if name in plans:
                    args.append(plans[name])
                elif name in constants:
                    array = numpy_helper.to_array(constants[name])  # small: a shape, a perm
                    args.append(functools.partial(_identity, array))
                    folded_constants.add(name)
                else:
                    args.append(functools.partial(_identity, None))
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            plans[node.output[0]] = functools.partial(_fold_planned, node.op_type, attrs,
                                                      args)
            for name in inputs:
                uses[name] -= 1
            continue
        kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    for value_info in [v for v in graph.input if v.name in weights]:
        graph.input.remove(value_info)
    for name in folded_constants:
        if uses[name] <= 0:
            graph.initializer.remove(constants[name])
    return [(name, plan) for name, plan in plans.items() if uses[name] > 0]


def _identity(value: Any) -> Any:
    return value


def _fold_planned(op: str, attrs: dict[str, Any], args: list[Callable[[], Any]]) -> Any:
    return _fold(op, attrs, [arg() for arg in args])


def _fold(op: str, attrs: dict[str, Any], args: list[Any]) -> Any:
    from onnx import helper

    data = args[0]
    if op in _ELEMENTWISE:
        result = _ELEMENTWISE[op](*args)
        return np.asarray(result, dtype=np.result_type(*args))
    if op == "Transpose":
        return np.transpose(data, attrs.get("perm"))
    if op == "Reshape":
        shape = [int(d) for d in args[1]]
        shape = [data.shape[i] if d == 0 and not attrs.get("allowzero") else d
                 for i, d in enumerate(shape)]
        return np.reshape(data, shape)
    if op == "Cast":
        return data.astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))
    if op == "Identity":
        return data
    axes = attrs.get("axes")
    if axes is None and len(args) > 1 and args[1] is not None:
        axes = [int(a) for a in args[1]]
    if op == "Squeeze":
        return np.squeeze(data, axis=tuple(axes)) if axes else np.squeeze(data)
    if axes is None:  # Unsqueeze always names its axes
        raise ValueError("Unsqueeze without axes")
    rank = data.ndim + len(axes)
    result = data
    for axis in sorted(a % rank for a in axes):
        result = np.expand_dims(result, axis)
    return result


def all_nodes(graph: Any) -> Iterator[Any]:
    """Every node of an ONNX graph, those of its subgraphs (If, Loop, Scan) included."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.g.node:
                yield from all_nodes(attribute.g)
            for sub in attribute.graphs:
                yield from all_nodes(sub)
