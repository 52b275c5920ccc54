"""ONNX model files, read as data: interface, op histogram, and a node table with shapes.

Sniffed in pure Python (the first protobuf field of a ModelProto); read with the ``onnx``
package, imported inside the functions that need it. Shapes come from ONNX shape inference. No
TensorFlow, Keras or onnxruntime is imported, and nothing in the file is run. Weights stored as
external data are not read (their size comes from the tensor's dims).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _optional
from ..errors import CorruptFileError, InputNotFoundError
from ..kinds import Kind
from ._protobuf import varint

KIND = Kind.ONNX
EXTENSIONS = (".onnx",)

#: ModelProto field numbers and their wire types (onnx.proto3): ir_version, producer_name,
#: producer_version, domain, model_version, doc_string, graph, opset_import, metadata_props,
#: training_info, functions, configuration.
_MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}
_DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass
class OnnxTensor:
    """A graph input or output: name, element type, shape (a str is a symbolic dimension)."""

    name: str
    dtype: str
    shape: list[int | str | None] | None


@dataclass
class OnnxNode:
    """One node of the main graph, with the inferred shapes of its outputs."""

    name: str
    op_type: str
    domain: str
    inputs: list[str]
    outputs: list[str]
    output_shapes: list[list[int | str | None] | None]
    subgraph_nodes: int = 0


@dataclass
class OnnxSummary:
    """An ONNX file described as data (what ``summarize_onnx`` returns)."""

    path: str
    file_size: int
    ir_version: int
    opsets: dict[str, int]
    producer: str
    graph_name: str
    inputs: list[OnnxTensor]
    outputs: list[OnnxTensor]
    op_histogram: dict[str, int]
    nodes: list[OnnxNode]
    initializers: int
    params: int
    initializer_bytes: int
    external_data: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def node_count(self) -> int:
        """All nodes, those inside subgraphs (Loop, If, Scan bodies) included."""
        return sum(self.op_histogram.values())

    @property
    def opset(self) -> int | None:
        for domain in _DEFAULT_DOMAINS:
            if domain in self.opsets:
                return self.opsets[domain]
        return None


def sniff_kind(path: str | os.PathLike[str]) -> str | None:
    """``onnx`` when the file starts like an ONNX ModelProto (never raises).

    A ModelProto written by onnx starts with ``ir_version`` (field 1, a small varint). Other
    first fields are accepted only with the ``.onnx`` extension, since protobuf has no magic.
    """
    p = Path(path)
    try:
        if not p.is_file():
            return None
        with open(p, "rb") as handle:
            head = handle.read(64)
        tag, pos = varint(head, 0)
        number, wire = tag >> 3, tag & 7
        if number == 1 and wire == 0:
            version, _ = varint(head, pos)
            return KIND if 1 <= version <= 64 else None
        if _MODEL_FIELDS.get(number) == wire and p.name.lower().endswith(EXTENSIONS):
            return KIND
    except (OSError, ValueError):
        return None
    return None


def summarize_onnx(path: str | os.PathLike[str]) -> OnnxSummary:
    """Describe an ONNX file: interface, opsets, op histogram, nodes with inferred shapes.

    Args:
        path: the ``.onnx`` file.

    Returns:
        An OnnxSummary; shapes the inference cannot tell are None.

    Raises:
        InputNotFoundError: nothing at ``path``.
        CorruptFileError: the file is not a readable ONNX model.
        MissingDependencyError: the ``onnx`` package is not installed.

    Example:
        >>> s = summarize_onnx("model.onnx")  # doctest: +SKIP
        >>> [(t.name, t.shape) for t in s.inputs], s.op_histogram  # doctest: +SKIP
    """
    p = Path(path)
    onnx, model = load_onnx_model(p)
    notes: list[str] = []
    inferred = model
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception as err:  # noqa: BLE001 - shape inference raises several types
        notes.append(f"shape inference failed: {_first_line(err)}")
    graph = inferred.graph
    shapes: dict[str, list[int | str | None] | None] = {}
    for value in [*graph.value_info, *graph.input, *graph.output]:
        shapes[value.name] = _shape(value)
    for init in graph.initializer:
        shapes.setdefault(init.name, [int(d) for d in init.dims])
    initializer_names = {init.name for init in graph.initializer}
    nodes = []
    for node in graph.node:
        inner = list(_subgraph_nodes(node))
        nodes.append(OnnxNode(name=node.name, op_type=node.op_type, domain=node.domain,
                              inputs=list(node.input), outputs=list(node.output),
                              output_shapes=[shapes.get(out) for out in node.output],
                              subgraph_nodes=len(inner)))
    params = 0
    nbytes = 0
    external = False
    for init in graph.initializer:
        count = 1
        for dim in init.dims:
            count *= int(dim)
        params += count
        nbytes += count * _itemsize(onnx, init.data_type)
        external = external or init.data_location == onnx.TensorProto.EXTERNAL
    return OnnxSummary(
        path=os.fspath(p), file_size=p.stat().st_size, ir_version=int(model.ir_version),
        opsets={o.domain or "": int(o.version) for o in model.opset_import},
        producer=" ".join(x for x in (model.producer_name, model.producer_version) if x),
        graph_name=graph.name,
        inputs=[tensor_info(v) for v in graph.input if v.name not in initializer_names],
        outputs=[tensor_info(v) for v in graph.output],
        op_histogram=op_histogram(graph),
        nodes=nodes, initializers=len(graph.initializer), params=params,
        initializer_bytes=nbytes, external_data=external,
        metadata={prop.key: prop.value for prop in model.metadata_props}, notes=notes)


def op_histogram(graph: Any) -> dict[str, int]:
    """Op type -> count over a GraphProto, subgraphs included, most frequent first.

    Ops outside the default domain are prefixed with it (``com.microsoft.FusedConv``).
    """
    histogram: Counter[str] = Counter()
    for node in graph.node:
        for each in (node, *_subgraph_nodes(node)):
            histogram[_op_name(each)] += 1
    return dict(sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0])))


def _op_name(node: Any) -> str:
    return node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}.{node.op_type}"


def _subgraph_nodes(node: Any) -> Any:
    for attribute in node.attribute:
        graphs = ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs)
        for graph in graphs:
            for inner in graph.node:
                yield inner
                yield from _subgraph_nodes(inner)


def _shape(value: Any) -> list[int | str | None] | None:
    tensor_type = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        return None
    dims: list[int | str | None] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        elif dim.HasField("dim_param"):
            dims.append(dim.dim_param)
        else:
            dims.append(None)
    return dims


def tensor_info(value: Any) -> OnnxTensor:
    """An OnnxTensor from a ValueInfoProto (``float`` is called ``float32``)."""
    onnx = _optional.require("onnx", "reading ONNX files")
    elem = value.type.tensor_type.elem_type
    try:
        dtype = onnx.TensorProto.DataType.Name(elem).lower()
    except ValueError:
        dtype = f"type {elem}"
    if dtype == "float":
        dtype = "float32"
    elif dtype == "double":
        dtype = "float64"
    return OnnxTensor(value.name, dtype, _shape(value))


def _itemsize(onnx: Any, data_type: int) -> int:
    try:
        import numpy as np

        return int(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(data_type)).itemsize)
    except Exception:  # noqa: BLE001 - strings and unknown types count as 0 bytes
        return 0


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


def load_onnx_model(path: str | os.PathLike[str]) -> tuple[Any, Any]:
    """``(the onnx module, the ModelProto)`` of an ONNX file, external data left unread.

    Raises:
        InputNotFoundError, CorruptFileError (not a readable model, or one without a graph),
        MissingDependencyError (no ``onnx`` package).
    """
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError("no such file or directory", path=p)
    onnx = _optional.require("onnx", "reading ONNX files")
    try:
        model = onnx.load_model(os.fspath(p), load_external_data=False)
    except Exception as err:  # noqa: BLE001 - protobuf DecodeError and friends
        raise CorruptFileError(f"not a readable ONNX model ({_first_line(err)})",
                               path=p) from err
    if not model.HasField("graph"):
        raise CorruptFileError("ONNX file without a graph", path=p)
    return onnx, model
