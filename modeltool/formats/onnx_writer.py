"""The ONNX file writer (the reader is ``onnx_file.py``): a ModelProto, with large
initializers streamed in one at a time rather than serialized with the graph.

``onnx`` is imported inside the functions that need it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import _optional
from ..errors import UnsupportedError
from ._protobuf import encode_varint, field_key

#: ONNX files are protobufs: 2 GiB is a hard limit without external data.
PROTOBUF_LIMIT = 2**31 - 1
#: An initializer written when the file is (name, function computing its array).
Pending = list[tuple[str, Callable[[], Any]]]


def write_onnx_model(model_proto: Any, path: Path, pending: Pending | None = None) -> None:
    """Write the model, streaming ``pending`` initializers in one tensor at a time.

    The graph's own part is serialized as usual; each pending initializer is computed,
    encoded as a TensorProto straight from its array's buffer into an anonymous scratch file,
    and released. The file is then ModelProto-without-graph + the graph field, whose payload is
    the serialized graph followed by the initializer records (protobuf concatenates repeated
    fields), so the whole model is never held in memory twice.
    """
    onnx = _optional.require("onnx", "ONNX export")
    if not pending:
        if model_proto.ByteSize() >= PROTOBUF_LIMIT:
            raise UnsupportedError("the ONNX model is over the 2 GiB protobuf limit",
                                   path=path, hint="models this large are not supported yet")
        onnx.save_model(model_proto, os.fspath(path))
        return
    graph_bytes = model_proto.graph.SerializeToString()
    model_proto.ClearField("graph")
    head = model_proto.SerializeToString()
    with tempfile.TemporaryFile(dir=path.parent) as scratch:
        size = len(graph_bytes)
        for name, compute in pending or ():
            size += _write_initializer(scratch, name, compute())
            if len(head) + size >= PROTOBUF_LIMIT:
                raise UnsupportedError("the ONNX model is over the 2 GiB protobuf limit",
                                       path=path, hint="models this large are not supported yet")
        scratch.seek(0)
        with open(path, "wb") as handle:
            handle.write(head)
            handle.write(field_key(_MODEL_GRAPH) + encode_varint(size))
            handle.write(graph_bytes)
            shutil.copyfileobj(scratch, handle, 16 << 20)


_MODEL_GRAPH = 7  # ModelProto.graph
_GRAPH_INITIALIZER = 5  # GraphProto.initializer
_TENSOR_RAW_DATA = 9  # TensorProto.raw_data


def _write_initializer(handle: Any, name: str, array: Any) -> int:
    """One GraphProto.initializer record, the data written from the array's own buffer."""
    from onnx import TensorProto, helper

    array = np.ascontiguousarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    header = TensorProto(name=name, dims=list(array.shape),
                         data_type=helper.np_dtype_to_tensor_dtype(array.dtype))
    head = header.SerializeToString()
    data = memoryview(array).cast("B")
    body = (len(head) + len(field_key(_TENSOR_RAW_DATA)) + len(encode_varint(data.nbytes))
            + data.nbytes)
    prefix = field_key(_GRAPH_INITIALIZER) + encode_varint(body)
    handle.write(prefix)
    handle.write(head)
    handle.write(field_key(_TENSOR_RAW_DATA) + encode_varint(data.nbytes))
    handle.write(data)
    return len(prefix) + body
