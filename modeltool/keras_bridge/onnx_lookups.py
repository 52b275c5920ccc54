"""The contents of the lookup tables a traced Keras function captures (StringLookup,
IntegerLookup), read from the live TensorFlow tables for the ONNX export
(``ops.onnx_export.lookups`` turns them into ONNX-ML ``LabelEncoder`` nodes)."""

from __future__ import annotations

from typing import Any

import numpy as np

#: TF lookup op -> its key and value dtype attributes.
LOOKUP_OPS = {"LookupTableFindV2": ("Tin", "Tout")}

Table = tuple[np.ndarray, np.ndarray]


def captured_tables(function: Any) -> dict[str, Table]:
    """The contents of every lookup table the traced ``function`` captures, by the name of the
    placeholder its lookup ops read the table from (the name the frozen graph keeps)."""
    from tensorflow.python.ops import lookup_ops

    concrete = function.get_concrete_function()
    captured = list(concrete.captured_inputs)
    if not captured:
        return {}
    placeholders = concrete.graph.inputs[-len(captured):]
    dtypes: dict[str, tuple[Any, Any]] = {}
    for op in concrete.graph.get_operations():
        attributes = LOOKUP_OPS.get(op.type)
        if attributes is not None and op.inputs:
            dtypes[op.inputs[0].name] = (op.get_attr(attributes[0]), op.get_attr(attributes[1]))
    tables: dict[str, Table] = {}
    for placeholder, handle in zip(placeholders, captured):
        kinds = dtypes.get(placeholder.name)
        if kinds is None:
            continue
        try:
            keys, values = lookup_ops.lookup_table_export_v2(handle, kinds[0], kinds[1])
        except Exception:  # noqa: BLE001 - not an exportable table: tf2onnx reports the op
            continue
        tables[placeholder.op.name] = (keys.numpy(), values.numpy())
    return tables
