"""Shape rules of operations recorded as layers: Keras 2 TF-op layers and Keras 3 ``keras.ops``
nodes (elementwise ops and reductions only)."""

from __future__ import annotations

from typing import Any

from .call import Call, Outputs
from .core import identity
from .dims import axes_of
from .merge import broadcast_all

#: Elementwise TensorFlow ops a Keras 2 TensorFlowOpLayer may record (by ``node_def.op``).
TF_UNARY = frozenset({"Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus", "Softsign",
                      "Identity", "Neg", "Abs", "Exp", "Log", "Sqrt", "Rsqrt", "Square",
                      "LeakyRelu", "Cast", "Floor", "Ceil", "Round", "Sign", "Erf"})
TF_BINARY = frozenset({"Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum",
                       "Pow", "SquaredDifference", "FloorDiv"})
#: The same for TFOpLambda layers (by ``function``).
TFOPLAMBDA_UNARY = frozenset({
    "nn.relu", "nn.relu6", "nn.elu", "nn.selu", "nn.silu", "nn.swish", "nn.gelu",
    "nn.leaky_relu", "math.sigmoid", "nn.sigmoid", "math.tanh", "nn.tanh", "identity",
    "math.exp", "math.log", "math.sqrt", "math.rsqrt", "math.square", "math.abs",
    "math.negative", "__operators__.neg", "cast", "math.softplus", "nn.softplus",
    "math.erf", "nn.softmax", "math.softmax"})
TFOPLAMBDA_BINARY = frozenset({
    "math.add", "__operators__.add", "math.subtract", "__operators__.sub", "math.multiply",
    "__operators__.mul", "math.truediv", "__operators__.truediv", "math.divide",
    "math.maximum", "math.minimum", "math.pow", "__operators__.pow",
    "math.squared_difference"})
#: Keras 3 ``keras.ops`` nodes (by class name).
OP_UNARY = frozenset({"Abs", "Absolute", "Exp", "Log", "Sqrt", "Rsqrt", "Square", "Negative",
                      "Sigmoid", "Tanh", "Relu", "Relu6", "Gelu", "Silu", "Softplus", "Cast",
                      "LogicalNot", "Floor", "Ceil", "Round", "Sign", "Erf", "HardSigmoid",
                      "Softmax", "LogSoftmax", "Identity"})
OP_BINARY = frozenset({"NotEqual", "Equal", "Greater", "GreaterEqual", "Less", "LessEqual",
                       "Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum",
                       "Minimum", "Power", "LogicalAnd", "LogicalOr", "FloorDivide", "Mod"})
OP_REDUCE = frozenset({"Any", "All", "Sum", "Mean", "Max", "Min", "Prod", "Amax", "Amin"})


def reduce(call: Call) -> Outputs:
    """A reduction over ``axis`` (all axes when None), with or without ``keepdims``."""
    x = call.x
    if x is None:
        return None
    axis = call.config.get("axis")
    keep = bool(call.config.get("keepdims"))
    axes = list(range(len(x))) if axis is None else axes_of(axis, len(x))
    if keep:
        return [tuple(1 if i in axes else d for i, d in enumerate(x))]
    return [tuple(d for i, d in enumerate(x) if i not in axes)]


def scalar_args_only(call: Call) -> bool:
    """True when everything but the tensors is a scalar (safe to broadcast the tensors)."""
    def scalar(value: Any) -> bool:
        return value is None or isinstance(value, (int, float, bool, str))
    def tensor(value: Any) -> bool:
        return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"

    args_ok = all(scalar(a) or tensor(a) or (isinstance(a, list) and all(map(tensor, a)))
                  for a in call.args)
    kwargs_ok = all(scalar(v) or k in call.extra for k, v in call.kwargs.items())
    return args_ok and kwargs_ok


def tf_op(call: Call) -> Outputs:
    """Keras 2 TensorFlowOpLayer / TFOpLambda: elementwise TF ops only."""
    if call.class_name == "TensorFlowOpLayer":
        op = str((call.config.get("node_def") or {}).get("op"))
        constants = call.config.get("constants") or {}
        scalars_only = all(isinstance(v, (int, float)) for v in constants.values())
        unary, binary = TF_UNARY, TF_BINARY
    else:
        op = str(call.config.get("function"))
        scalars_only = scalar_args_only(call)
        unary, binary = TFOPLAMBDA_UNARY, TFOPLAMBDA_BINARY
    if not scalars_only:
        return None
    if op in unary:
        return identity(call)
    if op in binary:
        return broadcast_all(call)
    return None


def keras_op(call: Call) -> Outputs:
    """Keras 3 ``keras.ops`` calls recorded in a functional graph (e.g. Masking's mask)."""
    if not scalar_args_only(call):
        return None
    if call.class_name in OP_UNARY:
        return identity(call)
    if call.class_name in OP_BINARY:
        return broadcast_all(call)
    if call.class_name in OP_REDUCE:
        return reduce(call)
    return None
