"""``weights`` and ``check`` on an ONNX file: its initializers as weight rows (name, shape,
dtype, bytes, stats), and an integrity report (``onnx.checker``, shape inference, NaN/Inf in
initializers). Reads with the ``onnx`` package only; nothing in the file is run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import CorruptFileError
from ..formats.onnx_file import load_onnx_model
from ..kinds import Kind
from .check import CheckReport, Problem, value_problems
from .weights import WeightRow, WeightsReport, array_stats

PathLike = str | os.PathLike[str]
KIND = Kind.ONNX


def _initializers(onnx: Any, model: Any, path: PathLike) -> Iterator[tuple[Any, Any | None]]:
    """(TensorProto, array or None when its bytes are external) for each initializer."""
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            yield init, None
            continue
        try:
            yield init, onnx.numpy_helper.to_array(init)
        except Exception as err:  # noqa: BLE001 - malformed raw_data and friends
            raise CorruptFileError(f"initializer {init.name!r} cannot be read ({err})",
                                   path=path) from err


def _dtype_name(onnx: Any, data_type: int) -> str:
    try:
        return str(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(data_type)))
    except Exception:  # noqa: BLE001 - strings, unknown types
        return str(onnx.TensorProto.DataType.Name(data_type)).lower()


def _itemsize(dtype: str) -> int:
    try:
        return int(np.dtype(dtype).itemsize)
    except TypeError:
        return 0


def onnx_weights(path: PathLike, *, stats: bool = False) -> WeightsReport:
    """Every initializer of an ONNX file as a weight row (``layer`` is the name up to its last
    ``/``); stats read one tensor at a time."""
    onnx, model = load_onnx_model(path)
    rows = []
    for init, array in _initializers(onnx, model, path):
        shape = tuple(int(d) for d in init.dims)
        count = int(np.prod(shape, dtype=np.int64))
        dtype = _dtype_name(onnx, init.data_type)
        itemsize = array.dtype.itemsize if array is not None else _itemsize(dtype)
        layer, _, name = init.name.rpartition("/")
        rows.append(WeightRow(layer, layer, name, shape, dtype, count * itemsize,
                              array_stats(array) if stats and array is not None else None))
    return WeightsReport(os.fspath(path), KIND, None, rows, False)


def onnx_check(path: PathLike) -> CheckReport:
    """``onnx.checker`` (full check, with shape inference) and NaN/Inf in initializers."""
    onnx, model = load_onnx_model(path)
    report = CheckReport(os.fspath(path), KIND, None, True)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as err:  # noqa: BLE001 - ValidationError, InferenceError
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        report.problems.append(Problem("checker", "model", first))
    try:
        onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as err:  # noqa: BLE001 - InferenceError and friends
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        report.problems.append(Problem("shapes", "graph", first))
    for init, array in _initializers(onnx, model, path):
        report.tensors += 1
        report.params += int(np.prod([int(d) for d in init.dims], dtype=np.int64))
        if array is None:
            report.notes.append(f"{init.name}: stored as external data, values not read")
            continue
        report.problems += value_problems(init.name, array)
    return report
