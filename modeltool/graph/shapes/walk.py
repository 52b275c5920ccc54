"""The graph walk: shapes of every node of a Graph, from the rules, the shapes the file
recorded, or shapes handed in (Keras)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...artifact import MODEL_CLASSES
from ..model import Graph, LayerInfo, Node, Shape, TensorRef
from .call import Call, Outputs, run_rule
from .dims import as_shape
from .registry import rule_for

#: How a node's shapes were obtained.
SOURCE_RULE = "rule"      # computed here from the layer config
SOURCE_FILE = "file"      # recorded in the file by Keras
SOURCE_KERAS = "keras"    # computed by a live Keras model (engine keras / auto fallback)
SOURCE_UNKNOWN = "unknown"


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
    answer = run_rule(rule, call)
    # A rule that cannot answer although every input is known (a Lambda without a declared
    # output_shape, a contradictory config) leaves the node to the fallbacks, like a custom
    # layer; unknown inputs merely propagate.
    answered = answer is not None or any(s is None for s in ins) or not ins
    return NodeShapes(ins, answer, _source(answer), known_class=answered)


def _source(outs: Outputs) -> str:
    if outs is None or any(s is None for s in outs):
        return SOURCE_UNKNOWN
    return SOURCE_RULE


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
            return as_shape(value)
    value = config.get("shape") or config.get("input_shape")
    if isinstance(value, (list, tuple)):
        inner = as_shape(value)
        return None if inner is None else (config.get("batch_size"), *inner)
    return None
