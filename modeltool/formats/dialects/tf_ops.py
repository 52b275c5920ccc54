"""tf.keras TF-op layers rewritten as Keras 3 operation nodes.

tf.keras recorded raw TensorFlow calls in a functional graph as layers Keras 3 does not have:
``TensorFlowOpLayer`` (TF 2.0-2.3: a ``node_def`` naming the TF op, constant inputs kept in
``constants`` by position) and ``TFOpLambda``/``SlicingOpLambda`` (TF 2.4+: the ``tf.*``
function's name, its first argument as the node's tensor and the rest as keyword arguments).
Keras 3 records ``keras.ops`` calls as operation nodes (``module: keras.src.ops.*``), so each
common op becomes the Keras 3 operation that computes the same numbers. An op without a rule
stays a TF-op layer (kept as data) and is named in one note.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TF_OP_CLASSES = frozenset({"TensorFlowOpLayer", "TFOpLambda", "SlicingOpLambda"})

_TENSOR = "__keras_tensor__"
_NUMPY, _NN, _MATH, _CORE = ("keras.src.ops.numpy", "keras.src.ops.nn", "keras.src.ops.math",
                             "keras.src.ops.core")

#: One-input ops: TF op name / tf function name -> (Keras 3 class, module).
_UNARY: dict[str, tuple[str, str]] = {}
_names: tuple[str, ...]
for _names, _target in (
        (("Relu6", "nn.relu6"), ("Relu6", _NN)),
        (("Relu", "nn.relu"), ("Relu", _NN)),
        (("Sigmoid", "math.sigmoid", "nn.sigmoid", "sigmoid"), ("Sigmoid", _NN)),
        (("Tanh", "math.tanh", "nn.tanh", "tanh"), ("Tanh", _NUMPY)),
        (("Square", "math.square", "square"), ("Square", _NUMPY)),
        (("Sqrt", "math.sqrt", "sqrt"), ("Sqrt", _NUMPY)),
        (("Rsqrt", "math.rsqrt"), ("Rsqrt", _MATH)),
        (("Exp", "math.exp", "exp"), ("Exp", _NUMPY)),
        (("Log", "math.log"), ("Log", _NUMPY)),
        (("Abs", "math.abs", "abs"), ("Absolute", _NUMPY)),
        (("Neg", "math.negative", "__operators__.neg"), ("Negative", _NUMPY)),
        (("Floor", "math.floor", "floor"), ("Floor", _NUMPY)),
        (("Ceil", "math.ceil"), ("Ceil", _NUMPY)),
        (("Erf", "math.erf"), ("Erf", _MATH)),
        (("Softplus", "math.softplus", "nn.softplus"), ("Softplus", _NN)),
        (("Elu", "nn.elu"), ("Elu", _NN)),
        (("Selu", "nn.selu"), ("Selu", _NN)),
        (("Identity", "identity"), ("Copy", _NUMPY)),
):
    for _name in _names:
        _UNARY[_name] = _target

#: Two-input elementwise ops (x, y).
_BINARY: dict[str, tuple[str, str]] = {}
for _names, _target in (
        (("AddV2", "Add", "math.add", "__operators__.add", "add"), ("Add", _NUMPY)),
        (("Mul", "math.multiply", "multiply"), ("Multiply", _NUMPY)),
        (("Sub", "math.subtract", "subtract"), ("Subtract", _NUMPY)),
        (("RealDiv", "math.truediv", "math.divide", "divide", "truediv"),
         ("TrueDivide", _NUMPY)),
        (("Pow", "math.pow", "pow"), ("Power", _NUMPY)),
        (("Maximum", "math.maximum", "maximum"), ("Maximum", _NUMPY)),
        (("Minimum", "math.minimum", "minimum"), ("Minimum", _NUMPY)),
        (("FloorDiv", "math.floordiv"), ("FloorDivide", _NUMPY)),
):
    for _name in _names:
        _BINARY[_name] = _target

_REDUCE = {"Mean": "Mean", "math.reduce_mean": "Mean", "reduce_mean": "Mean",
           "Sum": "Sum", "math.reduce_sum": "Sum", "reduce_sum": "Sum",
           "Max": "Max", "math.reduce_max": "Max", "reduce_max": "Max",
           "Min": "Min", "math.reduce_min": "Min", "reduce_min": "Min"}

_TF_DTYPES = {"DT_FLOAT": "float32", "DT_HALF": "float16", "DT_DOUBLE": "float64",
              "DT_BFLOAT16": "bfloat16", "DT_INT32": "int32", "DT_INT64": "int64",
              "DT_INT8": "int8", "DT_UINT8": "uint8", "DT_INT16": "int16", "DT_BOOL": "bool"}


class _Unsupported(Exception):
    """This op (or this use of it) has no rule."""


class _Call:
    """One call of a TF op: positional inputs (tensor refs or constants), keywords, attrs."""

    def __init__(self, op: str, inputs: list[Any], kwargs: dict[str, Any],
                 attrs: dict[str, Any]) -> None:
        self.op, self.inputs, self.kwargs, self.attrs = op, inputs, kwargs, attrs

    def arg(self, index: int, keyword: str, default: Any = None) -> Any:
        if keyword in self.kwargs:
            return self.kwargs[keyword]
        return self.inputs[index] if index < len(self.inputs) else default

    def attr(self, key: str, default: Any = None) -> Any:
        """A node_def attr in protobuf-JSON form (``{"b": true}``, ``{"i": "1"}``, ...)."""
        value = self.attrs.get(key)
        if not isinstance(value, dict):
            return default
        if "b" in value:
            return bool(value["b"])
        if "i" in value:
            return int(value["i"])
        if "type" in value:
            return value["type"]
        if "list" in value:
            items = value["list"] or {}
            return [int(i) for i in items.get("i", [])]
        return default


def _constant(value: Any) -> Any:
    if _is_tensor(value):
        raise _Unsupported("a tensor where a constant is needed")
    return value


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == _TENSOR


def _tensor(layer: str, node: int, index: int) -> dict[str, Any]:
    return {"class_name": _TENSOR,
            "config": {"shape": None, "dtype": None, "keras_history": [layer, node, index]}}


def _op(class_name: str, module: str, args: list[Any], config: dict[str, Any] | None = None,
        kwargs: dict[str, Any] | None = None) -> tuple[str, str, dict[str, Any], list[Any],
                                                        dict[str, Any]]:
    return class_name, module, dict(config or {}), args, dict(kwargs or {})


def _axis(value: Any) -> Any:
    value = _constant(value)
    if isinstance(value, list):
        return value[0] if len(value) == 1 else value
    return value


def _slice_spec(spec: list[Any]) -> list[Any]:
    """tf.keras' ``slice_spec`` (dicts for slices) as Keras 3 serialises an index."""
    key: list[Any] = []
    for item in spec:
        if isinstance(item, dict) and set(item) <= {"start", "stop", "step"}:
            if any(_is_tensor(v) for v in item.values()):
                raise _Unsupported("a slice bound computed from a tensor")
            key.append({"class_name": "__slice__",
                        "config": {k: item.get(k) for k in ("start", "stop", "step")}})
        elif item is None or isinstance(item, int):
            key.append(item)
        elif item in ("...", "Ellipsis") or (isinstance(item, dict)
                                              and item.get("class_name") == "__ellipsis__"):
            key.append({"class_name": "__ellipsis__", "config": {}})
        else:
            raise _Unsupported(f"slice item {item!r}")
    return key


def _strided_slice_key(call: _Call) -> list[Any]:
    begin, end, strides = (_constant(call.inputs[i]) for i in (1, 2, 3))
    masks = {name: call.attr(name, 0) or 0 for name in
             ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")}
    key: list[Any] = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if masks["ellipsis_mask"] & bit:
            key.append({"class_name": "__ellipsis__", "config": {}})
        elif masks["new_axis_mask"] & bit:
            key.append(None)
        elif masks["shrink_axis_mask"] & bit:
            key.append(int(b))
        else:
            key.append({"class_name": "__slice__", "config": {
                "start": None if masks["begin_mask"] & bit else int(b),
                "stop": None if masks["end_mask"] & bit else int(e),
                "step": None if int(s) == 1 else int(s)}})
    return key


def _matmul(call: _Call) -> Any:
    a, b = call.arg(0, "a"), call.arg(1, "b")
    flip_a = bool(call.kwargs.get("transpose_a") or call.kwargs.get("adjoint_a")
                  or call.attr("transpose_a") or call.attr("adj_x"))
    flip_b = bool(call.kwargs.get("transpose_b") or call.kwargs.get("adjoint_b")
                  or call.attr("transpose_b") or call.attr("adj_y"))
    left = "...ji" if flip_a else "...ij"
    right = "...kj" if flip_b else "...jk"
    if not (flip_a or flip_b):
        return _op("Matmul", _NUMPY, [a, b])
    return _op("Einsum", _NUMPY, [a, b], {"subscripts": f"{left},{right}->...ik"})


def _rule(call: _Call) -> Any:
    op = call.op
    if op in _UNARY:
        name, module = _UNARY[op]
        return _op(name, module, [call.arg(0, "x", call.kwargs.get("features"))])
    if op in _BINARY:
        name, module = _BINARY[op]
        return _op(name, module, [call.arg(0, "x"), call.arg(1, "y")])
    if op in _REDUCE:
        keep = call.kwargs.get("keepdims", call.attr("keep_dims", False))
        axis = call.arg(1, "axis")
        return _op(_REDUCE[op], _NUMPY, [call.arg(0, "input_tensor")],
                   {"axis": _axis(axis), "keepdims": bool(keep)})
    if op in ("Softmax", "nn.softmax"):
        return _op("Softmax", _NN, [call.arg(0, "logits")],
                   {"axis": _axis(call.kwargs.get("axis", -1))})
    if op in ("Reshape", "reshape"):
        return _op("Reshape", _NUMPY, [call.arg(0, "tensor")],
                   {"newshape": list(_constant(call.arg(1, "shape")))})
    if op in ("Transpose", "transpose", "compat.v1.transpose"):
        perm = call.arg(1, "perm")
        if call.kwargs.get("conjugate"):
            raise _Unsupported("conjugate transpose")
        return _op("Transpose", _NUMPY, [call.arg(0, "a")],
                   {"axes": None if perm is None else list(_constant(perm))})
    if op == "ConcatV2":
        return _op("Concatenate", _NUMPY, [call.inputs[:-1]],
                   {"axis": _axis(call.inputs[-1])})
    if op == "concat":
        values = call.arg(0, "values")
        return _op("Concatenate", _NUMPY, [values if isinstance(values, list) else [values]],
                   {"axis": _axis(call.arg(1, "axis"))})
    if op in ("MatMul", "BatchMatMulV2", "linalg.matmul", "matmul"):
        return _matmul(call)
    if op == "Cast":
        dtype = _TF_DTYPES.get(str(call.attr("DstT")))
        if dtype is None:
            raise _Unsupported(f"cast to {call.attr('DstT')}")
        return _op("Cast", _CORE, [call.inputs[0]], {"dtype": dtype})
    if op == "cast":
        return _op("Cast", _CORE, [call.arg(0, "x")], {"dtype": str(_constant(
            call.arg(1, "dtype")))})
    if op in ("ExpandDims", "expand_dims", "compat.v1.expand_dims"):
        return _op("ExpandDims", _NUMPY, [call.arg(0, "input")],
                   {"axis": _axis(call.arg(1, "axis", call.kwargs.get("dim")))})
    if op == "Squeeze":
        dims = call.attr("squeeze_dims") or None
        return _op("Squeeze", _NUMPY, [call.inputs[0]], {"axis": _axis(dims)})
    if op in ("squeeze", "compat.v1.squeeze"):
        axis = call.arg(1, "axis", call.kwargs.get("squeeze_dims"))
        return _op("Squeeze", _NUMPY, [call.arg(0, "input")], {"axis": _axis(axis)})
    if op == "StridedSlice":
        return _op("GetItem", _NUMPY, [call.inputs[0], _strided_slice_key(call)])
    if op == "__operators__.getitem":
        spec = call.kwargs.get("slice_spec")
        if not isinstance(spec, list):
            spec = [spec]
        return _op("GetItem", _NUMPY, [call.inputs[0], _slice_spec(spec)])
    if op in ("Pad", "PadV2", "MirrorPad", "pad", "compat.v1.pad"):
        mode = str(call.kwargs.get("mode") or call.attr("mode") or "CONSTANT").lower()
        if mode not in ("constant", "reflect", "symmetric"):
            raise _Unsupported(f"pad mode {mode}")
        value = call.kwargs.get("constant_values", call.inputs[2] if op == "PadV2" else 0)
        kwargs = {"constant_values": _constant(value)} if value not in (0, None) else {}
        return _op("Pad", _NUMPY, [call.arg(0, "tensor")],
                   {"pad_width": _constant(call.arg(1, "paddings")), "mode": mode}, kwargs)
    raise _Unsupported("no rule")


def _raw_ref(value: Any, names: set[str]) -> dict[str, Any] | None:
    if isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str) \
            and value[0] in names and isinstance(value[1], int) and isinstance(value[2], int):
        return _tensor(value[0], value[1], value[2])
    return None


def _lambda_calls(layer: dict[str, Any], names: set[str]) -> list[tuple[list[Any],
                                                                          dict[str, Any]]]:
    """``TFOpLambda`` nodes: (positional inputs, keyword arguments) per call."""
    calls = []
    for node in layer.get("inbound_nodes") or []:
        if not isinstance(node, list) or not node:
            raise _Unsupported("malformed node")
        refs = [node] if isinstance(node[0], str) else node
        first: list[Any] = []
        kwargs: dict[str, Any] = {}
        for ref in refs:
            if not isinstance(ref, list) or len(ref) < 3:
                raise _Unsupported("malformed node")
            if ref[0] == "_CONSTANT_VALUE":
                first.append(ref[2])
            else:
                tensor = _raw_ref(ref, names)
                if tensor is None:
                    raise _Unsupported(f"unknown input {ref[0]!r}")
                first.append(tensor)
            if len(ref) > 3 and isinstance(ref[3], dict):
                kwargs = {key: _raw_ref(value, names) or _deep_refs(value, names)
                          for key, value in ref[3].items()}
        kwargs.pop("name", None)
        calls.append(([first[0] if len(refs) == 1 and isinstance(node[0], str) else first],
                      kwargs))
    return calls


def _deep_refs(value: Any, names: set[str]) -> Any:
    if isinstance(value, list):
        ref = _raw_ref(value, names)
        return ref if ref is not None else [_deep_refs(item, names) for item in value]
    return value


def _op_layer_calls(layer: dict[str, Any], config: dict[str, Any],
                    names: set[str]) -> list[tuple[list[Any], dict[str, Any]]]:
    """``TensorFlowOpLayer`` nodes: tensors and constants merged in the op's input order."""
    node_def = config.get("node_def") or {}
    count = len([i for i in node_def.get("input") or [] if not str(i).startswith("^")])
    constants = {int(k): v for k, v in (config.get("constants") or {}).items()}
    calls: list[tuple[list[Any], dict[str, Any]]] = []
    for node in layer.get("inbound_nodes") or []:
        refs = [node] if isinstance(node, list) and node and isinstance(node[0], str) else node
        tensors = [_raw_ref(ref, names) for ref in refs or []]
        if any(t is None for t in tensors):
            raise _Unsupported("unknown input")
        inputs: list[Any] = []
        pending = iter(tensors)
        for position in range(max(count, len(tensors) + len(constants))):
            inputs.append(constants[position] if position in constants else next(pending, None))
        calls.append((inputs, {}))
    return calls


def rewrite_tf_op_layer(layer: dict[str, Any], names: set[str],
                        notes: list[str]) -> dict[str, Any] | None:
    """The Keras 3 operation node for a TF-op layer entry, or None when there is no rule
    (the reason is added to ``notes``)."""
    class_name = layer.get("class_name")
    config: dict[str, Any] = layer["config"] if isinstance(layer.get("config"), dict) else {}
    name = layer.get("name") or config.get("name")
    if class_name == "TensorFlowOpLayer":
        node_def = config.get("node_def") or {}
        op = str(node_def.get("op"))
        attrs = node_def.get("attr") or {}
        gather: Callable[[], list[tuple[list[Any], dict[str, Any]]]] = \
            lambda: _op_layer_calls(layer, config, names)  # noqa: E731
    else:
        op = str(config.get("function"))
        attrs = {}
        gather = lambda: _lambda_calls(layer, names)  # noqa: E731
    try:
        calls = gather()
        built = [_rule(_Call(op, inputs, kwargs, attrs)) for inputs, kwargs in calls]
    except (_Unsupported, StopIteration, IndexError, KeyError, TypeError, ValueError) as err:
        notes.append(f"layer {name!r}: {class_name} op {op!r} has no Keras 3 rewrite ({err}); "
                     "kept as data")
        return None
    if not built:
        return None
    targets = {(b[0], b[1], repr(b[2])) for b in built}
    if len(targets) > 1:
        notes.append(f"layer {name!r}: {class_name} op {op!r} called with different settings; "
                     "kept as data")
        return None
    keras_class, module, op_config, _, _ = built[0]
    notes.append(f"layer {name!r}: {class_name} op {op!r} became keras.ops {keras_class}")
    return {"module": module, "class_name": keras_class,
            "config": {"name": name, **op_config}, "registered_name": None, "name": name,
            "inbound_nodes": [{"args": args, "kwargs": kwargs}
                              for _, _, _, args, kwargs in built]}



def tf_op_reason(layer: dict[str, Any]) -> str:
    """One line naming the TF op of a TF-op layer that stayed unconverted."""
    config = layer.get("config") if isinstance(layer.get("config"), dict) else {}
    node_def = (config or {}).get("node_def")
    op = node_def.get("op") if isinstance(node_def, dict) else (config or {}).get("function")
    return (f"{layer.get('class_name')} calls TensorFlow op {op!r}, which modeltool cannot "
            "rewrite for Keras 3")
