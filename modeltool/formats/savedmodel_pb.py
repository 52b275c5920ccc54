"""What ``saved_model.pb`` says about a SavedModel, read with the protobuf wire reader (no
TensorFlow): the signatures (inputs and outputs: names, dtypes, shapes) and the variables
(names, dtypes, shapes, trainable flags) of the object graph.

Field numbers (tensorflow/core/protobuf): SavedModel.meta_graphs = 2; MetaGraphDef
.signature_def = 5 (map<string, SignatureDef>), .object_graph_def = 7; SignatureDef.inputs = 1,
.outputs = 2, .method_name = 3; TensorInfo.name = 1, .dtype = 2, .tensor_shape = 3;
TensorShapeProto.dim = 2, .unknown_rank = 3; Dim.size = 1; SavedObjectGraph.nodes = 1;
SavedObject.variable = 7; SavedVariable.dtype = 1, .shape = 2, .trainable = 3, .name = 6.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._protobuf import fields

#: tensorflow/core/framework/types.proto DataType values.
DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8",
          7: "string", 8: "complex64", 9: "int64", 10: "bool", 14: "bfloat16",
          17: "uint16", 18: "complex128", 19: "float16", 20: "resource", 21: "variant",
          22: "uint32", 23: "uint64"}

Dims = list[int | None] | None


@dataclass
class SignatureTensor:
    """One input or output of a signature."""

    key: str
    name: str
    dtype: str
    shape: Dims


@dataclass
class Signature:
    """A SavedModel signature (``serving_default`` and friends)."""

    name: str
    method: str
    inputs: list[SignatureTensor]
    outputs: list[SignatureTensor]


@dataclass
class SavedVariable:
    """A variable of the object graph: its shape and dtype, never its values."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    trainable: bool


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _one(data: bytes, number: int, default: Any = None) -> Any:
    for n, _, value in fields(data):
        if n == number:
            return value
    return default


def _shape(data: bytes | None) -> Dims:
    if data is None:
        return None
    dims: list[int | None] = []
    for number, _, value in fields(data):
        if number == 3 and value:
            return None
        if number == 2:
            size = _signed(_one(value, 1, 0))
            dims.append(None if size < 0 else size)
    return dims


def _map(data_items: list[bytes]) -> list[tuple[str, bytes]]:
    entries = []
    for entry in data_items:
        key = _one(entry, 1, b"").decode("utf-8", "replace")
        entries.append((key, _one(entry, 2, b"")))
    return entries


def _tensor(key: str, data: bytes) -> SignatureTensor:
    found = {n: v for n, _, v in fields(data)}
    name = found.get(1, b"").decode("utf-8", "replace")
    return SignatureTensor(key, name, DTYPES.get(int(found.get(2, 0)), "unknown"),
                           _shape(found.get(3)))


def _meta_graph(path: Path) -> bytes:
    data = (path / "saved_model.pb").read_bytes()
    graphs = [value for number, wire, value in fields(data) if number == 2 and wire == 2]
    if not graphs:
        raise ValueError("no meta graph")
    return graphs[0]


def read_pb(path: str | os.PathLike[str]) -> tuple[list[Signature], list[SavedVariable]]:
    """Signatures and variables of the SavedModel at ``path``.

    Raises:
        ValueError: the protobuf is malformed (the caller may fall back to TensorFlow).
    """
    meta = _meta_graph(Path(path))
    signatures: list[Signature] = []
    variables: list[SavedVariable] = []
    for number, wire, value in fields(meta):
        if wire != 2:
            continue
        if number == 5:
            for name, body in _map([value]):
                parts = fields(body)
                inputs = [_tensor(k, v) for k, v in _map([x for n, _, x in parts if n == 1])]
                outputs = [_tensor(k, v) for k, v in _map([x for n, _, x in parts if n == 2])]
                method = next((x.decode("utf-8", "replace") for n, _, x in parts if n == 3), "")
                if name.startswith("__"):
                    continue  # __saved_model_init_op and other internals
                signatures.append(Signature(name, method, sorted(inputs, key=lambda t: t.key),
                                            sorted(outputs, key=lambda t: t.key)))
        elif number == 7:
            for n, w, node in fields(value):
                if n != 1 or w != 2:
                    continue
                variable = _one(node, 7)
                if variable is None:
                    continue
                found = {k: v for k, _, v in fields(variable)}
                shape = _shape(found.get(2)) or []
                variables.append(SavedVariable(
                    found.get(6, b"").decode("utf-8", "replace"),
                    DTYPES.get(int(found.get(1, 0)), "unknown"),
                    tuple(0 if d is None else d for d in shape), bool(found.get(3, 1))))
    return sorted(signatures, key=lambda s: s.name), variables
