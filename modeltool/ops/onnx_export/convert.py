"""The frozen TensorFlow graph through tf2onnx, and the ONNX graph tidied after it: unconverted
ops refused by name, the interface checked, open dimensions named, weights attached.

tf2onnx and onnx are imported inside functions only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ... import _optional
from ...errors import UnsupportedError
from ...formats.onnx_writer import PROTOBUF_LIMIT, Pending
from .fold import all_nodes, attach_weights
from .report import first_line

if TYPE_CHECKING:
    from ...keras_bridge.onnx_source import Dims, ExportSource


def _lifted(source: ExportSource) -> set[int]:
    """Which weights stay graph inputs through tf2onnx and become initializers afterwards.

    tf2onnx rewrites every Const node's proto after each of its optimizers (a dozen per pass,
    two passes or more) and by default deep-copies the whole graph before each, and protobuf
    keeps the replaced bytes: a model's weights were copied some 25 to 50 times, which is what
    made VGG16 need 14 to 24 GB and ResNet50 6.7 GB. Weights kept out of the TF graph cost
    nothing there and are written once, folded with the layout ops tf2onnx puts on them.
    Only layers whose ops take the weight as a plain input are lifted: tf2onnx turns an RNN
    into an ONNX LSTM/GRU only when its kernels are constants.
    """
    return set(source.liftable)


@contextlib.contextmanager
def _optimizer_guard(guarded: bool) -> Iterator[None]:
    """Whether tf2onnx deep-copies its graph before each optimizer (to skip one that raises).

    The copies are most of tf2onnx's time on a small model (37 copies for a GRU). Unguarded
    runs first; on an error the whole conversion runs again guarded. tf2onnx reads the choice
    from ``TF2ONNX_CATCH_ERRORS``; 1.17 compares the variable's name rather than its value, so
    any value means "off" and only its absence means "on" (the default): "FALSE" for off and
    no variable for on hold whether or not that gets fixed.
    """
    name = "TF2ONNX_CATCH_ERRORS"
    before = os.environ.get(name)
    if guarded:
        os.environ.pop(name, None)
    else:
        os.environ[name] = "FALSE"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def convert_graph(source: ExportSource, function: Any, shapes: list[Dims], opset: int
                  ) -> tuple[Any, Pending]:
    """The traced model through tf2onnx: an ONNX ModelProto with exactly the source's inputs
    and outputs (by name and order), and the lifted weights still to write as initializers."""
    from ...keras_bridge.onnx_source import lifted_bytes
    from ...keras_bridge.onnx_trace import freeze_for_tf2onnx, weight_loaders
    from ...keras_bridge.quiet import LogCollector

    tf2onnx = _optional.require("tf2onnx", "ONNX export")
    lifted = _lifted(source)
    kept_bytes = source.weight_bytes - lifted_bytes(source, lifted)
    if kept_bytes >= PROTOBUF_LIMIT:
        raise UnsupportedError(
            f"the model has {source.weight_bytes / 2**30:.1f} GiB of weights, over the 2 GiB "
            "limit of a TensorFlow graph and an ONNX protobuf", path=source.label,
            hint="models this large are not supported yet")
    frozen = freeze_for_tf2onnx(source, function, lifted)
    input_tensors, output_tensors = frozen.input_tensors, frozen.output_tensors
    weight_tensors = frozen.weight_tensors
    graph_def = frozen.graph_def
    rename = dict(zip(input_tensors, source.input_names))
    rename.update(zip(output_tensors, source.output_names))
    rename.update(zip(weight_tensors, frozen.weight_names))
    del frozen
    errors = LogCollector()
    from ...keras_bridge.onnx_lookups import captured_tables
    from .lookups import ML_OPSET, lookup_handlers

    handlers = {**_custom_op_handlers(), **lookup_handlers(captured_tables(function))}
    extra_opset = [tf2onnx.utils.make_opsetid("ai.onnx.ml", ML_OPSET)] \
        if len(handlers) > len(_custom_op_handlers()) else None

    def convert(graph: Any, guarded: bool) -> Any:
        with errors.attached("tf2onnx"), _optimizer_guard(guarded):
            return tf2onnx.convert.from_graph_def(
                graph, name=source.name, input_names=input_tensors + weight_tensors,
                output_names=output_tensors, opset=opset, tensors_to_rename=rename,
                custom_op_handlers=handlers, extra_opset=extra_opset)[0]

    try:
        try:
            model_proto = convert(graph_def, guarded=False)
        except Exception:  # noqa: BLE001 - an optimizer failed: again, skipping failed ones
            errors.messages.clear()
            model_proto = convert(graph_def, guarded=True)
    except Exception as err:  # noqa: BLE001 - tf2onnx raises anything
        raise UnsupportedError(f"tf2onnx cannot convert this model: {first_line(err)}",
                               path=source.label) from err
    del graph_def
    _reject_unconverted(model_proto, source, errors.messages)
    pending = attach_weights(model_proto, weight_loaders(source, lifted)) if lifted else []
    _check_interface(model_proto, source)
    _declare_output_shapes(model_proto, source)
    _name_dims(model_proto, source, shapes)
    modeltool_version = _package_version()
    model_proto.producer_name = "modeltool"
    model_proto.producer_version = modeltool_version
    model_proto.doc_string = (f"converted from {source.label} by modeltool {modeltool_version} "
                              f"with tf2onnx {tf2onnx.__version__}")
    model_proto.graph.name = source.name
    return model_proto, pending


def _custom_op_handlers() -> dict[str, Any]:
    """TF ops tf2onnx 1.17 leaves unconverted, rewritten into standard ONNX ops."""
    return {"Erfc": (_erfc_handler, []), "Bucketize": (_bucketize_handler, [])}


def _bucketize_handler(ctx: Any, node: Any, name: str, args: Any) -> None:
    # Keras' Discretization: the bucket of x is how many boundaries are <= x, computed as
    # ReduceSum(Cast(x[..., None] >= boundaries)) over the last axis.
    from onnx import TensorProto
    from tf2onnx import utils
    from tf2onnx.graph_builder import GraphBuilder

    boundaries = [float(b) for b in node.get_attr_value("boundaries") or []]
    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
    edges = ctx.make_const(utils.make_name(f"{node.name}_boundaries"),
                           np.array(boundaries, dtype=dtype))
    builder = GraphBuilder(ctx)
    expanded = builder.make_unsqueeze({"data": node.input[0], "axes": [-1]})
    below = ctx.make_node("Less", [expanded, edges.output[0]], op_name_scope=node.name)
    above = ctx.make_node("Not", [below.output[0]], op_name_scope=node.name)
    counts = ctx.make_node("Cast", [above.output[0]], attr={"to": TensorProto.INT32},
                           op_name_scope=node.name)
    total = builder.make_reduce_sum({"data": counts.output[0], "axes": [-1], "keepdims": 0,
                                     "noop_with_empty_axes": 1})
    node.type = "Identity"
    ctx.replace_inputs(node, [total])


def _erfc_handler(ctx: Any, node: Any, name: str, args: Any) -> None:
    # Keras' exact GELU computes 0.5 * x * erfc(-x / sqrt(2)); ONNX has Erf only:
    # erfc(x) = 1 - erf(x).
    from tf2onnx import utils

    dtype = ctx.get_dtype(node.input[0])
    one = ctx.make_const(utils.make_name(f"{node.name}_one"),
                         np.array(1, dtype=utils.map_onnx_to_numpy_type(dtype)))
    erf = ctx.make_node("Erf", [node.input[0]], op_name_scope=node.name)
    node.type = "Sub"
    ctx.replace_inputs(node, [one.output[0], erf.output[0]])


def _reject_unconverted(model_proto: Any, source: ExportSource, logged: list[str]) -> None:
    """tf2onnx keeps a TF op it cannot convert in the graph: name it, and the layer it is in."""
    onnx = _optional.require("onnx", "ONNX export")
    bad: dict[str, str] = {}
    for node in all_nodes(model_proto.graph):
        domain = node.domain or ""
        if domain in ("", "ai.onnx", "ai.onnx.ml") and not onnx.defs.has(node.op_type, domain):
            bad.setdefault(node.op_type, node.name)
    if not bad:
        return
    op, node_name = next(iter(bad.items()))
    others = f" (and {', '.join(sorted(set(bad) - {op}))})" if len(bad) > 1 else ""
    said = logged[0].split(" 'OP=")[0].split("\\n")[0].split(" (fct=")[0] if logged else ""
    detail = f"; tf2onnx said: {said}" if said else ""
    raise UnsupportedError(
        f"tf2onnx has no ONNX conversion for the TensorFlow op {op}{others}, used by "
        f"{_layer_of(node_name)}{detail}", path=source.label,
        hint="try another --opset, or replace that layer")


def _layer_of(node_name: str) -> str:
    """A readable 'layer' from a TF node name such as ``model/block1_conv/Conv2D``."""
    parts = [p for p in node_name.split("/") if p and not p.startswith(
        ("StatefulPartitionedCall", "PartitionedCall"))]
    return f"node {'/'.join(parts[:-1]) or node_name!r}" if len(parts) > 1 else \
        f"node {node_name!r}"


def _check_interface(model_proto: Any, source: ExportSource) -> None:
    """The ONNX graph must have exactly the Keras inputs and outputs (an internal check)."""
    initializers = {init.name for init in model_proto.graph.initializer}
    inputs = [i.name for i in model_proto.graph.input if i.name not in initializers]
    outputs = [o.name for o in model_proto.graph.output]
    if inputs != source.input_names:
        extra = [name for name in inputs if name not in source.input_names]
        raise RuntimeError(f"converted graph inputs {inputs} are not the model inputs "
                           f"{source.input_names} (extra: {extra})")
    if outputs != source.output_names:
        raise RuntimeError(f"converted graph outputs {outputs} are not the model outputs "
                           f"{source.output_names}")


def _declare_output_shapes(model_proto: Any, source: ExportSource) -> None:
    """Give an output tf2onnx left without a rank (``tf.squeeze`` without axes) the shape the
    source knows, so onnx.checker's shape inference accepts the graph."""
    for value, dims in zip(model_proto.graph.output, source.output_shapes):
        tensor_type = value.type.tensor_type
        if dims is None or (tensor_type.HasField("shape") and (
                len(tensor_type.shape.dim) or not dims)):
            continue  # a rank-0 shape where the source knows a rank: a tf2onnx guess (where)
        shape = tensor_type.shape
        shape.SetInParent()
        del shape.dim[:]
        for size in dims:
            dim = shape.dim.add()
            if size is not None:
                dim.dim_value = size


def _name_dims(model_proto: Any, source: ExportSource, shapes: list[Dims]) -> None:
    """``batch`` for the batch dimension, ``<input>_dim<i>`` for other open ones."""
    for value, dims in zip(model_proto.graph.input, shapes):
        proto_dims = value.type.tensor_type.shape.dim
        for index, (dim, size) in enumerate(zip(proto_dims, dims)):
            if size is None:
                dim.Clear()
                dim.dim_param = "batch" if index == 0 else f"{value.name}_dim{index}"
            else:
                dim.Clear()
                dim.dim_value = size
    dynamic_batch = any(dims and dims[0] is None for dims in shapes)
    for value, batched in zip(model_proto.graph.output, source.output_batched):
        if not value.type.tensor_type.HasField("shape"):
            continue
        for index, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.HasField("dim_value"):
                continue
            dim.Clear()
            if index == 0 and batched and dynamic_batch:
                dim.dim_param = "batch"
            else:
                dim.dim_param = f"{value.name}_dim{index}"


def _package_version() -> str:
    from ... import __version__

    return __version__
