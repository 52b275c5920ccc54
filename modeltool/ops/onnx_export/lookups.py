"""Keras lookup tables (StringLookup, IntegerLookup) in ONNX, exactly.

A lookup layer computes ``table.lookup(keys, default)`` on a constant ``StaticHashTable``; tf2onnx
cannot convert it from a frozen graph (the table's contents are not in the graph). Here the
contents are read from the traced function's captured table (``keras_bridge.onnx_lookups``)
and the op becomes an ONNX-ML ``LabelEncoder`` (string or int64 keys; int64 or string values;
the table's default for every key outside the vocabulary), which onnxruntime implements.
Keras' other rules (the mask token, OOV indices) are ordinary TF ops around the lookup,
converted as usual; what tf2onnx cannot convert there (hashing into several OOV buckets,
TextVectorization's string splitting) stays one line naming the op's layer. tf2onnx and onnx
are imported inside functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...keras_bridge.onnx_lookups import LOOKUP_OPS, Table

#: ai.onnx.ml opset that has LabelEncoder with int64 keys and values (version 2).
ML_OPSET = 2

def lookup_handlers(tables: dict[str, Table]) -> dict[str, tuple[Callable[..., None], list[Any]]]:
    """tf2onnx custom op handlers turning the captured tables' lookups into LabelEncoder
    (``tables``: ``keras_bridge.onnx_lookups.captured_tables`` of the traced function)."""
    if not tables:
        return {}

    def handler(ctx: Any, node: Any, name: str, args: Any) -> None:
        _label_encoder(ctx, node, tables)

    return {op: (handler, []) for op in LOOKUP_OPS}


def _label_encoder(ctx: Any, node: Any, tables: dict[str, Table]) -> None:
    from onnx import TensorProto
    from tf2onnx import constants, utils

    table_node = node.inputs[0]
    while table_node.type == "Identity":
        table_node = table_node.inputs[0]
    table = tables.get(table_node.name)
    if table is None:
        raise ValueError(f"the lookup table of {node.name} is not a constant table")
    default = node.inputs[2]
    utils.make_sure(default.is_const(), "the default of lookup %s is not a constant", node.name)
    keys, values = table
    attributes: dict[str, Any] = {}
    key_type = ctx.get_dtype(node.input[1])
    value_type = ctx.get_dtype(node.output[0])
    if key_type == TensorProto.STRING:
        compared = [c for c in ctx.find_output_consumers(node.input[1])
                    if c.type in ("Equal", "NotEqual", "Cast")]
        if compared:  # the mask token: tf2onnx casts the strings to numbers to compare them
            raise ValueError(f"{node.name}: comparing strings (a lookup's mask token) has no "
                             "exact ONNX conversion at this opset")
        attributes["keys_strings"] = [_text(k) for k in keys.tolist()]
    elif key_type == TensorProto.INT64:
        attributes["keys_int64s"] = [int(k) for k in keys.tolist()]
    else:
        utils.make_sure(False, "lookup %s has keys of ONNX type %s (string or int64 only)",
                        node.name, key_type)
    fallback = default.get_tensor_value(as_list=False)
    if value_type == TensorProto.INT64:
        attributes["values_int64s"] = [int(v) for v in values.tolist()]
        attributes["default_int64"] = int(np.asarray(fallback).reshape(-1)[0])
    elif value_type == TensorProto.STRING:
        attributes["values_strings"] = [_text(v) for v in values.tolist()]
        attributes["default_string"] = _text(np.asarray(fallback).reshape(-1)[0])
    else:
        utils.make_sure(False, "lookup %s has values of ONNX type %s (string or int64 only)",
                        node.name, value_type)
    shape = ctx.get_shape(node.input[1])
    outputs = list(node.output)
    keys_input = node.input[1]
    ctx.remove_node(node.name)
    ctx.make_node("LabelEncoder", [keys_input], outputs=outputs, attr=attributes,
                  domain=constants.AI_ONNX_ML_DOMAIN, name=utils.make_name(node.name),
                  shapes=[shape], dtypes=[value_type])


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
