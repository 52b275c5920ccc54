"""Output shapes, parameter counts and MACs of Keras' built-in layers, without TensorFlow.

Every rule follows the layer's ``compute_output_shape`` in Keras 3 (and its ``build`` for the
weights it creates). A class without a rule gives None, shown as ``?``: nothing is guessed.
Shapes are tuples with the batch dimension first; None is an unknown dimension, and a None
shape (or None list of outputs) is an unknown shape (or an unknown number of outputs).

``infer_shapes`` walks a Graph in topological order. Where a rule cannot answer (a custom
layer, an input whose shape is unknown) it may use the shapes a Keras 3 file recorded for the
tensors (``__keras_tensor__`` shapes and ``build_config``): those were written by Keras, so they
are data, not guesses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..artifact import MODEL_CLASSES
from ..formats._legacy_layers import LEGACY_LAYER_MODULE
from .model import Graph, LayerInfo, Node, Shape, TensorRef

Outputs = list[Shape | None] | None
Rule = Callable[["Call"], Outputs]

#: How a node's shapes were obtained.
SOURCE_RULE = "rule"      # computed here from the layer config
SOURCE_FILE = "file"      # recorded in the file by Keras
SOURCE_KERAS = "keras"    # computed by a live Keras model (engine keras / auto fallback)
SOURCE_UNKNOWN = "unknown"


@dataclass
class Call:
    """What a rule sees: one call of one layer."""

    class_name: str
    config: dict[str, Any]
    inputs: list[Shape | None]
    extra: dict[str, list[Shape | None]] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: list[Any] = field(default_factory=list)
    module: str | None = None

    @property
    def x(self) -> Shape | None:
        return self.inputs[0] if self.inputs else None


@dataclass
class NodeShapes:
    """Input and output shapes of one node, where they came from, and for a node that runs a
    nested model, the shapes inside it for this call."""

    inputs: list[Shape | None]
    outputs: Outputs
    source: str
    inner: ShapeMap | None = None
    #: False when no rule answers for this node (an unknown class, or a rule that cannot
    #: answer although its inputs are known): the node the ``auto`` engine asks Keras about.
    known_class: bool = True
    extra: dict[str, list[Shape | None]] = field(default_factory=dict)


@dataclass
class ShapeMap:
    """The shapes of every node of one Graph."""

    graph: Graph
    nodes: dict[tuple[str, int], NodeShapes] = field(default_factory=dict)

    def tensor(self, ref: TensorRef) -> Shape | None:
        """The shape of one tensor, None when unknown."""
        shapes = self.nodes.get((ref.layer, ref.node))
        if shapes is None or shapes.outputs is None or ref.tensor >= len(shapes.outputs):
            return None
        return shapes.outputs[ref.tensor]

    def outputs(self) -> list[Shape | None]:
        return [self.tensor(ref) for ref in self.graph.outputs]


# ---------------------------------------------------------------------------------------------
# Graph walk
# ---------------------------------------------------------------------------------------------


def infer_shapes(graph: Graph, inputs: list[Shape | None] | None = None, *,
                 use_recorded: bool = True,
                 overrides: dict[tuple[str, ...], NodeShapes] | None = None,
                 override_all: bool = False, prefix: tuple[str, ...] = ()) -> ShapeMap:
    """Shapes of every node of ``graph``.

    Args:
        graph: the model graph.
        inputs: shapes the model is called with (a nested model); None for the declared ones.
        use_recorded: fall back to the shapes the file recorded where no rule answers.
        overrides: node shapes from elsewhere (Keras), keyed by ``(*layer path, node)`` path
            strings; used for nodes no rule answers, or for every node with ``override_all``.
        override_all: prefer ``overrides`` to the rules wherever both exist.
        prefix: the layer path of ``graph`` inside the top-level model (for ``overrides``).

    Returns:
        A ShapeMap; unknown shapes are None, never guessed.
    """
    result = ShapeMap(graph)
    recorded: dict[TensorRef, Shape] = {}
    if use_recorded:
        for node in graph.order:
            for ref, shape in node.recorded.items():
                if shape is not None:
                    recorded.setdefault(ref, shape)
    input_index = {ref.layer: i for i, ref in enumerate(graph.inputs)}
    for node in graph.order:
        info = graph.layers[node.layer]
        if info.is_input:
            declared = input_shape(info.config)
            given = None
            if inputs is not None and info.name in input_index \
                    and input_index[info.name] < len(inputs):
                given = inputs[input_index[info.name]]
            shape = _merge(given, declared)
            result.nodes[node.key] = NodeShapes([], [shape],
                                                SOURCE_RULE if shape else SOURCE_UNKNOWN)
            continue
        ins = [result.tensor(ref) for ref in node.inputs]
        if use_recorded:
            ins = [shape if shape is not None else node.recorded.get(ref)
                   for shape, ref in zip(ins, node.inputs)]
        extra = {key: [result.tensor(ref) or (node.recorded.get(ref) if use_recorded else None)
                       for ref in refs] for key, refs in node.extra.items()}
        shapes = _evaluate(info, node, ins, extra, use_recorded, overrides, override_all, prefix)
        shapes.extra = extra
        if shapes.outputs is None or any(s is None for s in shapes.outputs):
            _fill_recorded(shapes, node, recorded)
        key = (*prefix, info.name, str(node.index))
        if overrides and key in overrides and (override_all or shapes.outputs is None
                                               or any(s is None for s in shapes.outputs)):
            forced = overrides[key]
            shapes.outputs, shapes.source = forced.outputs, forced.source
            if override_all or not shapes.inputs or any(s is None for s in shapes.inputs):
                shapes.inputs = forced.inputs
        result.nodes[node.key] = shapes
    return result


def _fill_recorded(shapes: NodeShapes, node: Node, recorded: dict[TensorRef, Shape]) -> None:
    found = {ref.tensor: shape for ref, shape in recorded.items()
             if ref.layer == node.layer and ref.node == node.index}
    if not found:
        return
    if shapes.outputs is None:
        shapes.outputs = [found.get(i) for i in range(max(found) + 1)]
    else:
        shapes.outputs = [s if s is not None else found.get(i)
                          for i, s in enumerate(shapes.outputs)]
    if all(s is not None for s in shapes.outputs):
        shapes.source = SOURCE_FILE


def _evaluate(info: LayerInfo, node: Node, ins: list[Shape | None],
              extra: dict[str, list[Shape | None]], use_recorded: bool,
              overrides: dict[tuple[str, ...], NodeShapes] | None, override_all: bool,
              prefix: tuple[str, ...]) -> NodeShapes:
    held = info.graph
    path = (*prefix, info.name)
    if held is not None and info.class_name in MODEL_CLASSES:
        inner = infer_shapes(held, ins, use_recorded=use_recorded, overrides=overrides,
                             override_all=override_all, prefix=path)
        outs = inner.outputs() if held.outputs else list(ins)
        return NodeShapes(ins, outs, _source(outs), inner)
    if held is not None and info.class_name == "TimeDistributed":
        x = ins[0] if ins else None
        step = [None if x is None or len(x) < 3 else (x[0], *x[2:])]
        inner = infer_shapes(held, step, use_recorded=use_recorded, overrides=overrides,
                             override_all=override_all, prefix=path)
        steps: list[Shape | None] = [None if x is None or o is None else (o[0], x[1], *o[1:])
                                     for o in (inner.outputs() or [None])]
        return NodeShapes(ins, steps, _source(steps), inner)
    call = Call(info.class_name, info.config, ins, extra, node.kwargs, node.args, info.module)
    rule = rule_for(info.class_name, info.module)
    if rule is None:
        return NodeShapes(ins, None, SOURCE_UNKNOWN, known_class=False)
    answer = _run(rule, call)
    # A rule that cannot answer although every input is known (a Lambda without a declared
    # output_shape, a contradictory config) leaves the node to the fallbacks, like a custom
    # layer; unknown inputs merely propagate.
    answered = answer is not None or any(s is None for s in ins) or not ins
    return NodeShapes(ins, answer, _source(answer), known_class=answered)


def _source(outs: Outputs) -> str:
    if outs is None or any(s is None for s in outs):
        return SOURCE_UNKNOWN
    return SOURCE_RULE


def _run(rule: Rule, call: Call) -> Outputs:
    # A config that contradicts itself (a kernel larger than its input, an axis out of range)
    # makes Keras raise; here it makes the shape unknown.
    try:
        outs = rule(call)
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError):
        return None
    if outs is not None and any(s is not None and any(d is not None and d < 0 for d in s)
                                for s in outs):
        return None  # a negative size in the config (units=-3): Keras would refuse it
    return outs


def _merge(given: Shape | None, declared: Shape | None) -> Shape | None:
    if given is None:
        return declared
    if declared is None or len(declared) != len(given):
        return given
    return tuple(g if g is not None else d for g, d in zip(given, declared))


def input_shape(config: dict[str, Any]) -> Shape | None:
    """The shape an InputLayer declares (``batch_shape``, or Keras 2 spellings)."""
    for key in ("batch_shape", "batch_input_shape"):
        value = config.get(key)
        if isinstance(value, (list, tuple)):
            return _as_shape(value)
    value = config.get("shape") or config.get("input_shape")
    if isinstance(value, (list, tuple)):
        inner = _as_shape(value)
        return None if inner is None else (config.get("batch_size"), *inner)
    return None


def _as_shape(value: Any) -> Shape | None:
    if not isinstance(value, (list, tuple)):
        return None
    out: list[int | None] = []
    for d in value:
        if d is None or (isinstance(d, int) and not isinstance(d, bool)):
            out.append(d)
        else:
            return None
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _tuple(value: Any, n: int, default: int = 1) -> tuple[int, ...]:
    if value is None:
        return (default,) * n
    if isinstance(value, int):
        return (value,) * n
    items = tuple(int(v) for v in value)
    if len(items) == 1 and n > 1:
        return items * n
    if len(items) != n:
        raise ValueError("length mismatch")
    return items


def _first_channels(config: dict[str, Any]) -> bool:
    return config.get("data_format") == "channels_first"


def _split(x: Shape, rank: int, config: dict[str, Any]
           ) -> tuple[tuple[int | None, ...], int | None]:
    """(spatial dims, channels) of an image-like shape."""
    if len(x) != rank + 2:
        raise ValueError("rank mismatch")
    if _first_channels(config):
        return x[2:], x[1]
    return x[1:-1], x[-1]


def _join(batch: int | None, spatial: tuple[int | None, ...], channels: int | None,
          config: dict[str, Any]) -> Shape:
    if _first_channels(config):
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def _prod(dims: Any) -> int | None:
    total = 1
    for d in dims:
        if d is None:
            return None
        total *= int(d)
    return total


def _conv_length(length: int | None, kernel: int, padding: str, stride: int,
                 dilation: int) -> int | None:
    if length is None:
        return None
    dilated = (kernel - 1) * dilation + 1
    if padding in ("same", "causal"):
        out = (length - 1) // stride + 1
    elif padding == "full":
        out = (length + dilated - 2) // stride + 1
    else:
        out = (length - dilated) // stride + 1
    if out < 0:
        raise ValueError("negative dimension")
    return out


def _deconv_length(length: int | None, kernel: int, padding: str, stride: int,
                   dilation: int, output_padding: int | None) -> int | None:
    if length is None:
        return None
    kernel = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(kernel - stride, 0)
        if padding == "full":
            return length * stride - (stride + kernel - 2)
        return length * stride
    pad = {"same": kernel // 2, "valid": 0, "full": kernel - 1}[padding]
    return (length - 1) * stride + kernel - 2 * pad + output_padding


def _pool_length(length: int | None, pool: int, padding: str, stride: int) -> int | None:
    if length is None:
        return None
    if padding == "same":
        return (length - 1) // stride + 1
    out = (length - pool) // stride + 1
    if out < 0:
        raise ValueError("negative dimension")
    return out


def _padding(config: dict[str, Any]) -> str:
    return str(config.get("padding", "valid")).lower()


def _broadcast(a: Shape, b: Shape) -> Shape:
    """Keras' elementwise-merge broadcasting of two shapes without their batch dimension."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return a
    out = list(a[: len(a) - len(b)])
    for i, j in zip(a[len(a) - len(b):], b):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1 or i == j:
            out.append(i)
        else:
            raise ValueError("incompatible shapes")
    return tuple(out)


def _norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError("axis out of range")
    return axis % rank


def _axes(value: Any, rank: int) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [_norm_axis(value, rank)]
    return sorted(_norm_axis(int(a), rank) for a in value)


# ---------------------------------------------------------------------------------------------
# Shape rules, one per class (or family)
# ---------------------------------------------------------------------------------------------


def _single(fn: Callable[[dict[str, Any], Shape], Shape]) -> Rule:
    def rule(call: Call) -> Outputs:
        x = call.x
        if x is None:
            return None
        return [fn(call.config, x)]
    return rule


def _identity(call: Call) -> Outputs:
    return None if call.x is None else [call.x]


def _dense(config: dict[str, Any], x: Shape) -> Shape:
    return (*x[:-1], int(config["units"]))


def _conv(rank: int, kind: str = "conv") -> Rule:
    def fn(config: dict[str, Any], x: Shape) -> Shape:
        spatial, channels = _split(x, rank, config)
        kernel = _tuple(config.get("kernel_size"), rank)
        strides = _tuple(config.get("strides"), rank)
        dilation = _tuple(config.get("dilation_rate"), rank)
        padding = _padding(config)
        if kind == "transpose":
            raw = config.get("output_padding")
            out_pad: tuple[int | None, ...] = (None,) * rank if raw is None \
                else _tuple(raw, rank)
            out = tuple(_deconv_length(length, k, padding, s, d, p) for length, k, s, d, p
                        in zip(spatial, kernel, strides, dilation, out_pad))
        else:
            out = tuple(_conv_length(length, k, padding, s, d)
                        for length, k, s, d in zip(spatial, kernel, strides, dilation))
        if kind == "depthwise":
            filters = None if channels is None \
                else channels * int(config.get("depth_multiplier", 1))
        else:
            filters = int(config["filters"])
        return _join(x[0], out, filters, config)
    return _single(fn)


def _conv_lstm(rank: int) -> Rule:
    def rule(call: Call) -> Outputs:
        x = call.x
        if x is None:
            return None
        config = call.config
        if len(x) != rank + 3:
            raise ValueError("rank mismatch")
        step = (x[0], *x[2:])
        [state] = _conv(rank)(Call("Conv", config, [step])) or [None]
        if state is None:
            return None
        out: Shape = (x[0], x[1], *state[1:]) if config.get("return_sequences") else state
        outputs: list[Shape | None] = [out]
        if config.get("return_state"):
            outputs += [state, state]
        return outputs
    return rule


def _pool(rank: int) -> Rule:
    def fn(config: dict[str, Any], x: Shape) -> Shape:
        spatial, channels = _split(x, rank, config)
        pool = _tuple(config.get("pool_size"), rank, default=2)
        strides = pool if config.get("strides") is None else _tuple(config["strides"], rank)
        padding = _padding(config)
        out = tuple(_pool_length(length, p, padding, s)
                    for length, p, s in zip(spatial, pool, strides))
        return _join(x[0], out, channels, config)
    return _single(fn)


def _global_pool(rank: int) -> Rule:
    def fn(config: dict[str, Any], x: Shape) -> Shape:
        spatial, channels = _split(x, rank, config)
        if config.get("keepdims"):
            return _join(x[0], (1,) * len(spatial), channels, config)
        return (x[0], channels)
    return _single(fn)


def _flatten(config: dict[str, Any], x: Shape) -> Shape:
    return (x[0], _prod(x[1:]))


def _reshape(config: dict[str, Any], x: Shape) -> Shape:
    target = [int(d) if d is not None else -1 for d in config["target_shape"]]
    if target.count(-1) > 1:
        raise ValueError("two unknown dimensions")
    known = _prod(x[1:])
    if -1 in target:
        rest = math.prod(d for d in target if d != -1)
        fill = None if known is None or rest == 0 else known // rest
        return (x[0], *(fill if d == -1 else d for d in target))
    return (x[0], *target)


def _permute(config: dict[str, Any], x: Shape) -> Shape:
    return (x[0], *(x[int(d)] for d in config["dims"]))


def _repeat_vector(config: dict[str, Any], x: Shape) -> Shape:
    return (x[0], int(config["n"]), x[1])


def _pairs(value: Any, rank: int) -> list[tuple[int, int]]:
    """Cropping/padding amounts: an int, one int per axis, or a pair per axis."""
    if isinstance(value, int):
        return [(value, value)] * rank
    items = list(value)
    if rank == 1 and len(items) == 2 and all(isinstance(v, int) for v in items):
        return [(items[0], items[1])]
    if len(items) != rank:
        raise ValueError("length mismatch")
    out = []
    for item in items:
        if isinstance(item, int):
            out.append((item, item))
        else:
            a, b = item
            out.append((int(a), int(b)))
    return out


def _crop_pad(rank: int, key: str, sign: int, default: int) -> Rule:
    def fn(config: dict[str, Any], x: Shape) -> Shape:
        cfg = config if "data_format" in config else {**config, "data_format": "channels_last"}
        spatial, channels = _split(x, rank, cfg)
        amounts = _pairs(config.get(key, default), rank)
        out = []
        for length, (a, b) in zip(spatial, amounts):
            out.append(None if length is None else length + sign * (a + b))
        if any(d is not None and d < 0 for d in out):
            raise ValueError("negative dimension")
        return _join(x[0], tuple(out), channels, cfg)
    return _single(fn)


def _upsampling(rank: int) -> Rule:
    def fn(config: dict[str, Any], x: Shape) -> Shape:
        cfg = config if rank > 1 else {**config, "data_format": "channels_last"}
        spatial, channels = _split(x, rank, cfg)
        size = _tuple(config.get("size"), rank, default=2)
        out = tuple(None if d is None else d * s for d, s in zip(spatial, size))
        return _join(x[0], out, channels, cfg)
    return _single(fn)


def _elementwise_merge(call: Call) -> Outputs:
    """Add/Subtract/Multiply/...: broadcast without the batch dimension (Keras' Merge)."""
    shapes = call.inputs
    if not shapes or any(s is None for s in shapes):
        return None
    known: list[Shape] = [s for s in shapes if s is not None]
    out = known[0][1:]
    for s in known[1:]:
        out = _broadcast(out, s[1:])
    batches = {s[0] for s in known} - {None}
    return [((batches.pop() if len(batches) == 1 else None), *out)]


def _broadcast_all(call: Call) -> Outputs:
    """An elementwise op on every tensor argument (numpy broadcasting, batch included)."""
    shapes = [*call.inputs, *[s for v in call.extra.values() for s in v]]
    if not shapes or any(s is None for s in shapes):
        return None
    known: list[Shape] = [s for s in shapes if s is not None]
    out = known[0]
    for s in known[1:]:
        out = _broadcast(out, s)
    return [out]


def _concatenate(call: Call) -> Outputs:
    shapes = call.inputs
    if not shapes or any(s is None for s in shapes):
        return None
    known: list[Shape] = [s for s in shapes if s is not None]
    rank = len(known[0])
    if any(len(s) != rank for s in known):
        raise ValueError("rank mismatch")
    axis = _norm_axis(int(call.config.get("axis", -1)), rank)
    out: list[int | None] = []
    for i in range(rank):
        dims = [s[i] for s in known]
        if i == axis:
            out.append(None if any(d is None for d in dims) else sum(d for d in dims if d))
        else:
            values = {d for d in dims if d is not None}
            out.append(values.pop() if len(values) == 1 else None)
    return [tuple(out)]


def _dot(call: Call) -> Outputs:
    if len(call.inputs) != 2 or any(s is None for s in call.inputs):
        return None
    a, b = list(call.inputs[0] or ()), list(call.inputs[1] or ())
    axes = call.config.get("axes", -1)
    if isinstance(axes, int):
        pair = [axes % len(a), axes % len(b)] if axes < 0 else [axes, axes]
    else:
        pair = [int(axes[0]) % len(a), int(axes[1]) % len(b)]
    a.pop(pair[0])
    b.pop(pair[1])
    b.pop(0)
    out = a + b
    if len(out) == 1:
        out.append(1)
    return [tuple(out)]


def _rnn(call: Call) -> Outputs:
    x = call.x
    if x is None:
        return None
    config = call.config
    units = int(config["units"])
    if len(x) != 3:
        raise ValueError("RNNs take (batch, time, features)")
    out: Shape = (x[0], x[1], units) if config.get("return_sequences") else (x[0], units)
    outputs: list[Shape | None] = [out]
    if config.get("return_state"):
        states = 2 if call.class_name in ("LSTM", "CuDNNLSTM") else 1
        outputs += [(x[0], units)] * states
    return outputs


def _bidirectional(call: Call) -> Outputs:
    inner = call.config.get("layer")
    if not isinstance(inner, dict):
        return None
    inner_cls = str(inner.get("class_name"))
    rule = rule_for(inner_cls, inner.get("module"))
    if rule is None:
        return None
    config = dict(inner.get("config") or {})
    forward = rule(Call(inner_cls, config, call.inputs[:1]))
    if not forward:
        return None
    output, states = forward[0], forward[1:]
    mode = call.config.get("merge_mode", "concat")
    if output is None:
        return None
    merged: list[Shape | None]
    if mode == "concat":
        merged = [(*output[:-1], None if output[-1] is None else output[-1] * 2)]
    elif mode is None:
        merged = [output, output]
    else:
        merged = [output]
    if config.get("return_state"):
        return merged + states + states
    return merged


def _time_distributed(call: Call) -> Outputs:
    inner = call.config.get("layer")
    x = call.x
    if not isinstance(inner, dict) or x is None or len(x) < 3:
        return None
    inner_cls = str(inner.get("class_name"))
    rule = rule_for(inner_cls, inner.get("module"))
    if rule is None:
        return None
    step = _run(rule, Call(inner_cls, dict(inner.get("config") or {}), [(x[0], *x[2:])]))
    if not step:
        return None
    return [None if s is None else (s[0], x[1], *s[1:]) for s in step]


def _embedding(config: dict[str, Any], x: Shape) -> Shape:
    return (*x, int(config["output_dim"]))


def _attention_inputs(call: Call) -> tuple[Shape | None, Shape | None, Shape | None]:
    """(query, value, key) of Attention/MultiHeadAttention, positional or by keyword."""
    q = call.inputs[0] if call.inputs else None
    v = call.inputs[1] if len(call.inputs) > 1 else None
    k = call.inputs[2] if len(call.inputs) > 2 else None
    for name, refs in call.extra.items():
        if name == "query" and refs:
            q = refs[0]
        elif name == "value" and refs:
            v = refs[0]
        elif name == "key" and refs:
            k = refs[0]
    return q, v, (k if k is not None else v)


def _wants_scores(call: Call) -> bool:
    return bool(call.kwargs.get("return_attention_scores"))


def _attention(call: Call) -> Outputs:
    q, v, _ = _attention_inputs(call)
    if q is None or v is None:
        return None
    out: list[Shape | None] = [(*q[:-1], v[-1])]
    if _wants_scores(call):
        out.append((*q[:-1], v[-2]))
    return out


def _mha(call: Call) -> Outputs:
    q = _attention_inputs(call)[0]
    if q is None:
        return None
    target = call.config.get("output_shape")
    if target is None:
        out: Shape = q
    elif isinstance(target, int):
        out = (*q[:-1], target)
    else:
        out = (*q[:-1], *(int(d) for d in target))
    outputs: list[Shape | None] = [out]
    if _wants_scores(call):
        # Keras 3's compute_output_spec reports (batch, heads, Tq, Tq) for the scores (the
        # tensor computed at run time is (batch, heads, Tq, Tk)); a summary shows what Keras
        # reports, since every layer downstream was built on it.
        outputs.append((q[0], int(call.config["num_heads"]), q[1], q[1]) if len(q) > 1
                       else None)
    return outputs


def _resize_like(config: dict[str, Any], x: Shape) -> Shape:
    channels = _split(x, 2, config)[1]
    return _join(x[0], (int(config["height"]), int(config["width"])), channels, config)


def _lambda(call: Call) -> Outputs:
    # Only a declared output shape is used: the function itself is never run.
    shape = call.config.get("output_shape")
    kind = call.config.get("output_shape_type", "raw")
    if kind != "raw" or not isinstance(shape, (list, tuple)) or call.x is None:
        return None
    declared = _as_shape(shape)
    if declared is None:
        return None
    return [(call.x[0], *declared)]


def _reduce(call: Call) -> Outputs:
    x = call.x
    if x is None:
        return None
    axis = call.config.get("axis")
    keep = bool(call.config.get("keepdims"))
    axes = list(range(len(x))) if axis is None else _axes(axis, len(x))
    if keep:
        return [tuple(1 if i in axes else d for i, d in enumerate(x))]
    return [tuple(d for i, d in enumerate(x) if i not in axes)]


def _op_scalar_args_only(call: Call) -> bool:
    """True when everything but the tensors is a scalar (safe to broadcast the tensors)."""
    def scalar(value: Any) -> bool:
        return value is None or isinstance(value, (int, float, bool, str))
    def tensor(value: Any) -> bool:
        return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"

    args_ok = all(scalar(a) or tensor(a) or (isinstance(a, list) and all(map(tensor, a)))
                  for a in call.args)
    kwargs_ok = all(scalar(v) or k in call.extra for k, v in call.kwargs.items())
    return args_ok and kwargs_ok


def _tf_op(call: Call) -> Outputs:
    """Keras 2 TensorFlowOpLayer / TFOpLambda: elementwise TF ops only."""
    if call.class_name == "TensorFlowOpLayer":
        op = str((call.config.get("node_def") or {}).get("op"))
        constants = call.config.get("constants") or {}
        scalars_only = all(isinstance(v, (int, float)) for v in constants.values())
        unary, binary = _TF_UNARY, _TF_BINARY
    else:
        op = str(call.config.get("function"))
        scalars_only = _op_scalar_args_only(call)
        unary, binary = _TFOPLAMBDA_UNARY, _TFOPLAMBDA_BINARY
    if not scalars_only:
        return None
    if op in unary:
        return _identity(call)
    if op in binary:
        return _broadcast_all(call)
    return None


def _keras_op(call: Call) -> Outputs:
    """Keras 3 ``keras.ops`` calls recorded in a functional graph (e.g. Masking's mask)."""
    if not _op_scalar_args_only(call):
        return None
    if call.class_name in _OP_UNARY:
        return _identity(call)
    if call.class_name in _OP_BINARY:
        return _broadcast_all(call)
    if call.class_name in _OP_REDUCE:
        return _reduce(call)
    return None


def _first_input_shape(call: Call) -> Outputs:
    """Layers that take [x, y] and return x's shape (CustomScaleLayer's broadcast)."""
    return _elementwise_merge(Call("Add", call.config, call.inputs))


_TF_UNARY = frozenset({"Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus", "Softsign",
                       "Identity", "Neg", "Abs", "Exp", "Log", "Sqrt", "Rsqrt", "Square",
                       "LeakyRelu", "Cast", "Floor", "Ceil", "Round", "Sign", "Erf"})
_TF_BINARY = frozenset({"Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum",
                        "Pow", "SquaredDifference", "FloorDiv"})
_TFOPLAMBDA_UNARY = frozenset({
    "nn.relu", "nn.relu6", "nn.elu", "nn.selu", "nn.silu", "nn.swish", "nn.gelu",
    "nn.leaky_relu", "math.sigmoid", "nn.sigmoid", "math.tanh", "nn.tanh", "identity",
    "math.exp", "math.log", "math.sqrt", "math.rsqrt", "math.square", "math.abs",
    "math.negative", "__operators__.neg", "cast", "math.softplus", "nn.softplus",
    "math.erf", "nn.softmax", "math.softmax"})
_TFOPLAMBDA_BINARY = frozenset({
    "math.add", "__operators__.add", "math.subtract", "__operators__.sub", "math.multiply",
    "__operators__.mul", "math.truediv", "__operators__.truediv", "math.divide",
    "math.maximum", "math.minimum", "math.pow", "__operators__.pow",
    "math.squared_difference"})
_OP_UNARY = frozenset({"Abs", "Absolute", "Exp", "Log", "Sqrt", "Rsqrt", "Square", "Negative",
                       "Sigmoid", "Tanh", "Relu", "Relu6", "Gelu", "Silu", "Softplus", "Cast",
                       "LogicalNot", "Floor", "Ceil", "Round", "Sign", "Erf", "HardSigmoid",
                       "Softmax", "LogSoftmax", "Identity"})
_OP_BINARY = frozenset({"NotEqual", "Equal", "Greater", "GreaterEqual", "Less", "LessEqual",
                        "Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum",
                        "Minimum", "Power", "LogicalAnd", "LogicalOr", "FloorDivide", "Mod"})
_OP_REDUCE = frozenset({"Any", "All", "Sum", "Mean", "Max", "Min", "Prod", "Amax", "Amin"})

_IDENTITY_CLASSES = frozenset({
    "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "Softmax",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "Masking", "ActivityRegularization", "Rescaling",
    "Normalization", "BatchNormalization", "LayerNormalization", "GroupNormalization",
    "UnitNormalization", "RMSNormalization", "SpectralNormalization", "Identity",
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomContrast", "RandomTranslation",
    "RandomBrightness", "RandomHeight", "RandomWidth", "RandomGrayscale", "RandomHue",
    "RandomSaturation", "RandomSharpness", "RandomColorJitter", "RandomColorDegeneration",
    "RandomGaussianBlur", "RandomInvert", "RandomPosterization", "RandomShear",
    "RandomErasing", "RandomElasticTransform", "RandomPerspective", "Solarization",
    "AutoContrast", "Equalization", "AugMix", "RandAugment", "CutMix", "MixUp",
})
#: Layers keras.applications defines for itself (only trusted with a Keras module path).
_APPLICATION_RULES: dict[str, Rule] = {
    "StochasticDepth": _identity,
    "LayerScale": _identity,
    "CustomScaleLayer": _first_input_shape,
}

_RULES: dict[str, Rule] = {
    "Dense": _single(_dense),
    "Conv1D": _conv(1), "Conv2D": _conv(2), "Conv3D": _conv(3),
    "Conv1DTranspose": _conv(1, "transpose"), "Conv2DTranspose": _conv(2, "transpose"),
    "Conv3DTranspose": _conv(3, "transpose"),
    "SeparableConv1D": _conv(1), "SeparableConv2D": _conv(2),
    "DepthwiseConv1D": _conv(1, "depthwise"), "DepthwiseConv2D": _conv(2, "depthwise"),
    "ConvLSTM1D": _conv_lstm(1), "ConvLSTM2D": _conv_lstm(2), "ConvLSTM3D": _conv_lstm(3),
    "MaxPooling1D": _pool(1), "MaxPooling2D": _pool(2), "MaxPooling3D": _pool(3),
    "AveragePooling1D": _pool(1), "AveragePooling2D": _pool(2), "AveragePooling3D": _pool(3),
    "GlobalMaxPooling1D": _global_pool(1), "GlobalMaxPooling2D": _global_pool(2),
    "GlobalMaxPooling3D": _global_pool(3), "GlobalAveragePooling1D": _global_pool(1),
    "GlobalAveragePooling2D": _global_pool(2), "GlobalAveragePooling3D": _global_pool(3),
    "Flatten": _single(_flatten), "Reshape": _single(_reshape),
    "Permute": _single(_permute), "RepeatVector": _single(_repeat_vector),
    "Cropping1D": _crop_pad(1, "cropping", -1, 1), "Cropping2D": _crop_pad(2, "cropping", -1, 0),
    "Cropping3D": _crop_pad(3, "cropping", -1, 1),
    "ZeroPadding1D": _crop_pad(1, "padding", 1, 1), "ZeroPadding2D": _crop_pad(2, "padding", 1, 1),
    "ZeroPadding3D": _crop_pad(3, "padding", 1, 1),
    "UpSampling1D": _upsampling(1), "UpSampling2D": _upsampling(2),
    "UpSampling3D": _upsampling(3),
    "Add": _elementwise_merge, "Subtract": _elementwise_merge,
    "Multiply": _elementwise_merge, "Average": _elementwise_merge,
    "Maximum": _elementwise_merge, "Minimum": _elementwise_merge,
    "Concatenate": _concatenate, "Dot": _dot,
    "LSTM": _rnn, "GRU": _rnn, "SimpleRNN": _rnn,
    "Bidirectional": _bidirectional, "TimeDistributed": _time_distributed,
    "Embedding": _single(_embedding),
    "Attention": _attention, "AdditiveAttention": _attention,
    "MultiHeadAttention": _mha, "GroupQueryAttention": _mha,
    "Resizing": _single(_resize_like), "CenterCrop": _single(_resize_like),
    "RandomCrop": _single(_resize_like),
    "Lambda": _lambda,
    "TensorFlowOpLayer": _tf_op, "TFOpLambda": _tf_op,
    **{name: _identity for name in _IDENTITY_CLASSES},
}


def rule_for(class_name: str, module: Any = None) -> Rule | None:
    """The shape rule of a class, or None when modeltool does not know it.

    ``module`` tells Keras' own classes from a user's class of the same name, for the few
    layers keras.applications and ``keras.ops`` define outside ``keras.layers``.
    """
    module = module if isinstance(module, str) else ""
    if module == LEGACY_LAYER_MODULE:  # modeltool's registered Keras 1/2 layers
        from .legacy_shapes import RULES

        return RULES.get(class_name)
    is_op = class_name in _OP_UNARY | _OP_BINARY | _OP_REDUCE
    if module.startswith(("keras.src.ops", "keras.ops")):
        return _keras_op if is_op else None
    if is_op and class_name not in _RULES and module in ("", "keras", "keras.layers"):
        # Keras 3's legacy HDF5 writer leaves out the module of operation nodes.
        return _keras_op
    if class_name in _APPLICATION_RULES:
        return _APPLICATION_RULES[class_name] if "applications" in module else None
    if module and not module.startswith(("keras", "tf_keras", "tensorflow")):
        return None  # a user's layer that happens to share a Keras class name
    return _RULES.get(class_name)


def known_class(class_name: str, module: Any = None) -> bool:
    """True when modeltool has a shape rule for this class (models always count as known)."""
    return class_name in MODEL_CLASSES or rule_for(class_name, module) is not None


# ---------------------------------------------------------------------------------------------
# Parameters from the config (when the file has no weights)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    """Parameter counts of one layer."""

    total: int
    trainable: int

    @property
    def non_trainable(self) -> int:
        return self.total - self.trainable

    def __add__(self, other: Params) -> Params:
        return Params(self.total + other.total, self.trainable + other.trainable)


ZERO = Params(0, 0)


def config_params(class_name: str, config: dict[str, Any], inputs: list[Shape | None],
                  module: Any = None,
                  extra: dict[str, list[Shape | None]] | None = None) -> Params | None:
    """Weights a layer creates, counted from its config and input shapes (no file weights).

    Returns None when the class is unknown or a needed input dimension is unknown. Does not
    handle layers that hold a model (the caller sums their inner layers) and ignores the
    layer's ``trainable`` flag (the caller applies it).
    """
    x = inputs[0] if inputs else None
    try:
        result = _config_params(class_name, config, x, inputs, module, extra or {})
    except (TypeError, ValueError, KeyError, IndexError):
        return None
    if result is not None and (result.total < 0 or result.trainable < 0):
        return None
    return result


def _last(x: Shape | None) -> int:
    if x is None or x[-1] is None:
        raise ValueError("unknown input dimension")
    return int(x[-1])


def _channels(x: Shape | None, rank: int, config: dict[str, Any]) -> int:
    if x is None:
        raise ValueError("unknown input")
    _, channels = _split(x, rank, config)
    if channels is None:
        raise ValueError("unknown channels")
    return int(channels)


_CONV_RANK = {"Conv1D": 1, "Conv2D": 2, "Conv3D": 3, "Conv1DTranspose": 1,
              "Conv2DTranspose": 2, "Conv3DTranspose": 3, "SeparableConv1D": 1,
              "SeparableConv2D": 2, "DepthwiseConv1D": 1, "DepthwiseConv2D": 2,
              "ConvLSTM1D": 1, "ConvLSTM2D": 2, "ConvLSTM3D": 3}


def _bias(config: dict[str, Any]) -> bool:
    return bool(config.get("use_bias", True))


def _normalized_size(config: dict[str, Any], x: Shape | None) -> int | None:
    """How many values a normalization layer learns per parameter: the product of the input's
    dims on its ``axis`` (None when any is unknown)."""
    if x is None:
        return None
    return _prod(x[a] for a in _axes(config.get("axis", -1), len(x)))


def _config_params(class_name: str, config: dict[str, Any], x: Shape | None,
                   inputs: list[Shape | None], module: Any,
                   extra: dict[str, list[Shape | None]]) -> Params | None:
    if rule_for(class_name, module) is None and class_name not in _CONV_RANK:
        return None
    if module == LEGACY_LAYER_MODULE:
        from .legacy_shapes import legacy_params

        return legacy_params(class_name, config, x)
    bias = _bias(config)
    if class_name == "Dense":
        units = int(config["units"])
        n = _last(x) * units + (units if bias else 0)
        return Params(n, n)
    if class_name in _CONV_RANK and not class_name.startswith("ConvLSTM"):
        rank = _CONV_RANK[class_name]
        channels = _channels(x, rank, config)
        kernel = math.prod(_tuple(config.get("kernel_size"), rank))
        if class_name.startswith("Depthwise"):
            out = channels * int(config.get("depth_multiplier", 1))
            n = kernel * out + (out if bias else 0)
        elif class_name.startswith("Separable"):
            mid = channels * int(config.get("depth_multiplier", 1))
            filters = int(config["filters"])
            n = kernel * mid + mid * filters + (filters if bias else 0)
        else:
            filters = int(config["filters"])
            groups = int(config.get("groups") or 1)
            n = kernel * (channels // groups) * filters + (filters if bias else 0)
        return Params(n, n)
    if class_name.startswith("ConvLSTM"):
        rank = _CONV_RANK[class_name]
        if x is None:
            return None
        step = (x[0], *x[2:])
        channels = _channels(step, rank, config)
        filters = int(config["filters"])
        kernel = math.prod(_tuple(config.get("kernel_size"), rank))
        n = kernel * channels * 4 * filters + kernel * filters * 4 * filters \
            + (4 * filters if bias else 0)
        return Params(n, n)
    if class_name in ("LSTM", "GRU", "SimpleRNN"):
        units = int(config["units"])
        gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[class_name]
        n = gates * units * (_last(x) + units)
        if bias:
            twice = class_name == "GRU" and config.get("reset_after", True)
            n += gates * units * (2 if twice else 1)
        return Params(n, n)
    if class_name == "Bidirectional":
        forward = config.get("layer") or {}
        backward = config.get("backward_layer") or forward
        total = ZERO
        for inner in (forward, backward):
            p = config_params(str(inner.get("class_name")), inner.get("config") or {}, inputs,
                              inner.get("module"))
            if p is None:
                return None
            if not (inner.get("config") or {}).get("trainable", True):
                p = Params(p.total, 0)
            total = total + p
        return total
    if class_name == "TimeDistributed":
        inner = config.get("layer") or {}
        if x is None or len(x) < 3:
            return None
        p = config_params(str(inner.get("class_name")), inner.get("config") or {},
                          [(x[0], *x[2:])], inner.get("module"))
        if p is not None and not (inner.get("config") or {}).get("trainable", True):
            p = Params(p.total, 0)
        return p
    if class_name == "Embedding":
        n = int(config["input_dim"]) * int(config["output_dim"])
        return Params(n, n)
    if class_name == "BatchNormalization":
        size = _normalized_size(config, x)
        if size is None:
            return None
        flags = int(bool(config.get("scale", True))) + int(bool(config.get("center", True)))
        learned = size * flags
        return Params(learned + 2 * size, learned)
    if class_name in ("LayerNormalization", "RMSNormalization", "GroupNormalization"):
        size = _normalized_size(config, x)
        if size is None:
            return None
        if class_name == "RMSNormalization":
            return Params(size, size)
        rms = bool(config.get("rms_scaling", False))
        count = int(bool(config.get("scale", True)) or rms) \
            + int(bool(config.get("center", True)) and not rms)
        return Params(count * size, count * size)
    if class_name == "Normalization":
        if config.get("mean") is not None:
            return ZERO
        if x is None:
            return None
        axis = config.get("axis", -1)
        size = 1 if axis is None else _prod(x[a] for a in _axes(axis, len(x)))
        if size is None:
            return None
        return Params(2 * size + 1, 0)
    if class_name == "PReLU":
        if x is None:
            return None
        shared = set(_axes(config.get("shared_axes"), len(x)) if config.get("shared_axes")
                     is not None else [])
        size = _prod(1 if i in shared else d for i, d in enumerate(x) if i > 0)
        return None if size is None else Params(size, size)
    if class_name == "MultiHeadAttention":
        q, v, k = _attention_inputs(Call(class_name, config, inputs, extra))
        return _mha_params(config, q, v, k)
    if class_name == "Attention":
        n = int(bool(config.get("use_scale"))) + int(config.get("score_mode") == "concat")
        return Params(n, n)
    if class_name == "AdditiveAttention":
        n = _last(x) if config.get("use_scale", True) else 0
        return Params(n, n)
    if class_name == "LayerScale":
        n = int(config["projection_dim"])
        return Params(n, n)
    if class_name in ("TensorFlowOpLayer", "TFOpLambda", "Lambda"):
        return ZERO
    return ZERO  # every other known class creates no weights


def _mha_params(config: dict[str, Any], q: Shape | None, v: Shape | None,
                k: Shape | None) -> Params | None:
    q_shape = q or _as_shape(config.get("query_shape"))
    v_shape = v or _as_shape(config.get("value_shape"))
    k_shape = k or _as_shape(config.get("key_shape")) or v_shape
    if q_shape is None or v_shape is None or k_shape is None:
        return None
    heads = int(config["num_heads"])
    key_dim = int(config["key_dim"])
    value_dim = int(config.get("value_dim") or key_dim)
    bias = _bias(config)
    target = config.get("output_shape")
    if target is None:
        out = _last(q_shape)
    elif isinstance(target, int):
        out = target
    else:
        out = math.prod(int(d) for d in target)
    n = _last(q_shape) * heads * key_dim + _last(k_shape) * heads * key_dim \
        + _last(v_shape) * heads * value_dim + heads * value_dim * out
    if bias:
        n += 2 * heads * key_dim + heads * value_dim + out
    return Params(n, n)


# ---------------------------------------------------------------------------------------------
# MACs (multiply-accumulates per sample)
# ---------------------------------------------------------------------------------------------


_MACS_CLASSES = frozenset({"Dense", "LSTM", "GRU", "SimpleRNN", *_CONV_RANK}) - {
    "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"}


def macs_defined(class_name: str, config: dict[str, Any]) -> bool:
    """True for the layers whose MACs ``config_macs`` counts (when their shapes are known)."""
    if class_name in ("Bidirectional", "TimeDistributed"):
        inner = config.get("layer") or {}
        return macs_defined(str(inner.get("class_name")), inner.get("config") or {})
    return class_name in _MACS_CLASSES


def compute_unknowable(class_name: str, config: dict[str, Any], module: Any = None) -> bool:
    """True for a layer whose computation the file does not describe (a Lambda, a TF-op layer
    beyond the elementwise ops, a class modeltool has no rule for): its MACs cannot be known."""
    if class_name == "Lambda" or not known_class(class_name, module):
        return True
    if class_name == "TensorFlowOpLayer":
        return str((config.get("node_def") or {}).get("op")) not in _TF_UNARY | _TF_BINARY
    if class_name == "TFOpLambda":
        return str(config.get("function")) not in _TFOPLAMBDA_UNARY | _TFOPLAMBDA_BINARY
    return False


def config_macs(class_name: str, config: dict[str, Any], inputs: list[Shape | None],
                outputs: Outputs) -> int | None:
    """Multiply-accumulates per sample of one call, for the layers where they are defined
    (Dense, convolutions, recurrent layers and their wrappers); None elsewhere or when a shape
    is unknown."""
    try:
        macs = _config_macs(class_name, config, inputs, outputs)
    except (TypeError, ValueError, KeyError, IndexError):
        return None
    return None if macs is not None and macs < 0 else macs


def _config_macs(class_name: str, config: dict[str, Any], inputs: list[Shape | None],
                 outputs: Outputs) -> int | None:
    x = inputs[0] if inputs else None
    y = outputs[0] if outputs else None
    if x is None:
        return None
    if class_name == "Dense":
        positions = _prod(x[1:-1])
        return None if positions is None else positions * _last(x) * int(config["units"])
    if class_name in _CONV_RANK and not class_name.startswith("ConvLSTM"):
        if y is None:
            return None
        rank = _CONV_RANK[class_name]
        channels = _channels(x, rank, config)
        kernel = math.prod(_tuple(config.get("kernel_size"), rank))
        out_spatial = _split(y, rank, config)[0]
        in_spatial, _ = _split(x, rank, config)
        if class_name.endswith("Transpose"):
            positions = _prod(in_spatial)
            return None if positions is None \
                else positions * channels * kernel * int(config["filters"])
        positions = _prod(out_spatial)
        if positions is None:
            return None
        if class_name.startswith("Depthwise"):
            return positions * kernel * channels * int(config.get("depth_multiplier", 1))
        if class_name.startswith("Separable"):
            mid = channels * int(config.get("depth_multiplier", 1))
            return positions * (kernel * mid + mid * int(config["filters"]))
        groups = int(config.get("groups") or 1)
        return positions * kernel * (channels // groups) * int(config["filters"])
    if class_name in ("LSTM", "GRU", "SimpleRNN"):
        if len(x) != 3 or x[1] is None:
            return None
        units = int(config["units"])
        gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[class_name]
        return int(x[1]) * gates * units * (_last(x) + units)
    if class_name == "Bidirectional":
        inner = config.get("layer") or {}
        backward = config.get("backward_layer") or inner
        total = 0
        for layer in (inner, backward):
            macs = config_macs(str(layer.get("class_name")), layer.get("config") or {},
                               inputs[:1], None)
            if macs is None:
                return None
            total += macs
        return total
    if class_name == "TimeDistributed":
        inner = config.get("layer") or {}
        if len(x) < 3 or x[1] is None:
            return None
        step_in: list[Shape | None] = [(x[0], *x[2:])]
        step_out: list[Shape | None] | None = None if y is None else [(y[0], *y[2:])]
        macs = config_macs(str(inner.get("class_name")), inner.get("config") or {}, step_in,
                           step_out)
        return None if macs is None else macs * int(x[1])
    return None
