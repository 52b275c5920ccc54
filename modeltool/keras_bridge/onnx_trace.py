"""The ONNX export's TensorFlow side: the model traced as a ``tf.function``, frozen to a GraphDef.

``trace`` builds the function whose input signature comes from the Keras inputs and whose
weights are arguments too (read through ``keras.StatelessScope``); ``freeze_for_tf2onnx`` turns
it into the GraphDef tf2onnx converts (captures and small weights as constants, the big ones
left as inputs); ``reference_of`` is the model under ``tf.function`` as Keras' ``predict`` runs
it, for verification and latency. TensorFlow and Keras are imported inside functions only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _optional
from ..errors import KerasError, UnsupportedError
from . import _first_line
from .onnx_source import ExportSource, dtype_name, variable_array
from .quiet import quiet_tf

if TYPE_CHECKING:
    from .onnx_source import Dims

#: Names of the traced function's placeholders: the inputs, then the weights (by position).


_INTERNAL_INPUT = "modeltool_input_{}"
_WEIGHT = "modeltool_weight_{}"


def trace(source: ExportSource, shapes: list[Dims]) -> Any:
    """A tf.function over the source with an explicit input signature (already traced).

    The model's weights are arguments too, after the inputs: each layer reads them through a
    ``keras.StatelessScope``. The traced graph then holds no variables, so freezing is a
    placeholder-to-constant swap rather than ``convert_variables_to_constants_v2`` (which costs
    seconds per hundred variables), and a large weight can stay out of the TensorFlow graph.
    """
    tf = _optional.require("tensorflow", "ONNX export")
    # Placeholder names are ours (Keras names may hold characters TF refuses); the ONNX inputs
    # are renamed to the Keras names after conversion.
    specs = [tf.TensorSpec(shape, tf.as_dtype(dtype), name=_INTERNAL_INPUT.format(index))
             for index, (shape, dtype) in enumerate(zip(shapes, source.input_dtypes))]
    specs += [tf.TensorSpec(variable.shape, tf.as_dtype(dtype_name(variable)),
                            name=_WEIGHT.format(index))
              for index, variable in enumerate(source.variables)]
    count = len(source.input_names)

    def forward(*tensors: Any) -> list[Any]:
        if not source.variables:
            return source.call(list(tensors))
        keras = _optional.require("keras", "ONNX export")
        with keras.StatelessScope(state_mapping=list(zip(source.variables, tensors[count:]))):
            return source.call(list(tensors[:count]))

    # autograph off: Keras 3 layers trace under JAX too, so they need no autograph.
    function = tf.function(forward, input_signature=specs, autograph=False)
    try:
        concrete = function.get_concrete_function()
    except Exception as err:  # noqa: BLE001 - tracing raises anything a layer raises
        raise KerasError(f"tracing the model failed: {_keras_problem(err)}",
                         path=source.label) from err
    if len(concrete.outputs) != len(source.output_names):
        raise UnsupportedError(
            f"the model returned {len(concrete.outputs)} tensors where it declares "
            f"{len(source.output_names)} outputs", path=source.label)
    return function


def _keras_problem(err: BaseException) -> str:
    """Keras wraps a layer's error as 'Exception encountered when calling X.call()' with the
    cause on a later line: the layer class and the cause, on one line."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    head = re.match(r"Exception encountered when calling (\S+?)\.call\(\)", lines[0])
    if head is None:
        return lines[0][:240]
    cause = next((line for line in lines[1:] if not line.startswith(
        ("Arguments received", "•", "Exception encountered"))), "")
    return f"in {head.group(1)}: {cause}"[:240]


@dataclass
class FrozenGraph:
    """What tf2onnx converts: a frozen GraphDef and the names of its tensors."""

    graph_def: Any
    input_tensors: list[str]
    output_tensors: list[str]
    #: The lifted weights' placeholders, and the name each gets in the ONNX graph.
    weight_tensors: list[str]
    weight_names: list[str]


def freeze_for_tf2onnx(source: ExportSource, function: Any, lifted: set[int]) -> FrozenGraph:
    """The traced ``function`` frozen for tf2onnx: every weight a constant except the
    ``lifted`` ones, which stay graph inputs (named ``modeltool_weight_<index>`` in ONNX)."""
    concrete = function.get_concrete_function()
    count = len(source.input_names)
    input_tensors = [t.name for t in concrete.inputs[:count]]
    weight_tensors = [concrete.inputs[count + index].name for index in sorted(lifted)]
    output_tensors = [t.name for t in concrete.outputs]
    try:
        graph_def = _frozen_graph_def(source, function, lifted)
    except Exception as err:  # noqa: BLE001 - TensorFlow raises many types here
        raise UnsupportedError(f"freezing the traced model failed: {_first_line(err)}",
                               path=source.label) from err
    return FrozenGraph(graph_def, input_tensors, output_tensors, weight_tensors,
                       [_WEIGHT.format(index) for index in sorted(lifted)])


def weight_loaders(source: ExportSource, indices: set[int]) -> dict[str, Callable[[], Any]]:
    """For each of the ``indices`` weights: its ONNX name -> a function reading its array."""
    return {_WEIGHT.format(index): functools.partial(variable_array, source.variables[index])
            for index in indices}


def _frozen_graph_def(source: ExportSource, function: Any, lifted: set[int]) -> Any:
    """The traced graph with every weight (except ``lifted`` ones) and capture as a constant."""
    from tensorflow.python.framework import tensor_util
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    # Freezing a function without variables is quick; it still inlines nested functions (an
    # RNN's loop) the way tf2onnx expects, turns captured tensors into constants (without this
    # EfficientNet's Normalization mean and variance became extra graph inputs), and freezes
    # any variable the model does not list among its weights.
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(),
                                               lower_control_flow=False,
                                               aggressive_inlining=True)
    graph_def = frozen.graph.as_graph_def(add_shapes=True)
    del frozen
    constants: dict[str, Callable[[], Any]] = {}
    for index, variable in enumerate(source.variables):
        if index not in lifted:
            constants[_WEIGHT.format(index)] = functools.partial(variable_array, variable)
    for node in graph_def.node:
        load = constants.get(node.name)
        if load is None or node.op != "Placeholder":
            continue
        value = np.asarray(load())
        node.op = "Const"
        for attribute in ("shape", "_user_specified_name"):
            if attribute in node.attr:
                del node.attr[attribute]
        node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(value))
        del value
    _inline_xla_calls(graph_def)
    return graph_def


def _inline_xla_calls(graph_def: Any) -> None:
    """Let grappler inline functions Keras wrapped in ``tf.function(jit_compile=True)``.

    Keras' TF backend compiles grouped convolutions (ConvNeXt) and channels-first 3D ones with
    XLA on CPU. Such a function is marked ``_XlaMustCompile`` and ``_noinline``, grappler leaves
    the call alone, and tf2onnx cannot convert a call; with the marks dropped the op inside is
    inlined and converts like any other.
    """
    for node in _graph_def_nodes(graph_def):
        if "_XlaMustCompile" in node.attr:
            del node.attr["_XlaMustCompile"]
    for function in graph_def.library.function:
        if "_XlaMustCompile" in function.attr:
            del function.attr["_XlaMustCompile"]
            if "_noinline" in function.attr:
                del function.attr["_noinline"]


def _graph_def_nodes(graph_def: Any) -> Iterator[Any]:
    yield from graph_def.node
    for function in graph_def.library.function:
        yield from function.node_def


def _plain_function(source: ExportSource, function: Any) -> Any:
    """The reference: the model under tf.function as Keras' ``predict`` runs it, weights read
    from its variables (a trace of its own, apart from the converted one, which takes the
    weights as arguments). Used for the comparison and for the latency."""
    if not source.variables:
        return function
    tf = _optional.require("tensorflow", "timing")
    count = len(source.input_names)
    return tf.function(lambda *tensors: source.call(list(tensors)),
                       input_signature=function.input_signature[:count], autograph=False)


@dataclass
class LiveReference:
    """The source model as the verification's reference."""

    #: The verification inputs in, the source's outputs out.
    predict: Callable[[list[np.ndarray]], list[np.ndarray]]
    #: Inputs -> a call without arguments running the model on them (for the latency).
    timed_call: Callable[[list[np.ndarray]], Callable[[], Any]]


def reference_of(source: ExportSource, function: Any) -> LiveReference:
    """The model under ``tf.function`` (its own trace, weights read from the variables)."""
    tf = _optional.require("tensorflow", "verifying the ONNX model")
    with quiet_tf():
        plain = _plain_function(source, function)

    def run(feeds: list[np.ndarray]) -> list[np.ndarray]:
        with quiet_tf():
            return [np.asarray(t) for t in plain(*[tf.constant(f) for f in feeds])]

    def timed_call(feeds: list[np.ndarray]) -> Callable[[], Any]:
        tensors = [tf.constant(feed) for feed in feeds]
        return lambda: plain(*tensors)

    return LiveReference(run, timed_call)
