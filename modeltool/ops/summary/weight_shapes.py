"""Output shapes no rule can tell but the stored weights can."""

from __future__ import annotations

from ...artifact import ModelArtifact
from ...graph.model import Graph
from ...graph.shapes import NodeShapes, ShapeMap

#: Shape source of a node whose output was inferred from the weights of its consumer.
SOURCE_WEIGHTS = "weights"


#: Layers whose output is (batch, features) whatever their input: a Dense fed by one of them
#: tells its output size through the first dimension of its stored kernel.
_RANK2_OUTPUT = frozenset({"Flatten", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
                           "GlobalAveragePooling3D", "GlobalMaxPooling1D",
                           "GlobalMaxPooling2D", "GlobalMaxPooling3D"})


def shapes_from_weights(graph: Graph, shapes: ShapeMap, artifact: ModelArtifact
                      ) -> dict[tuple[str, ...], NodeShapes]:
    """Output shapes the rules could not tell but the stored weights can: a Flatten or global
    pooling layer (always (batch, n)) feeding a Dense whose stored kernel is (n, units)."""
    found: dict[tuple[str, ...], NodeShapes] = {}
    for node in graph.order:
        consumer = graph.layers[node.layer]
        if consumer.class_name != "Dense" or len(node.inputs) != 1:
            continue
        ref = node.inputs[0]
        producer = graph.layers.get(ref.layer)
        if producer is None or producer.class_name not in _RANK2_OUTPUT \
                or shapes.tensor(ref) is not None:
            continue
        kernels = [e for e in artifact.weights.layer(consumer.name) if len(e.shape) == 2]
        if not kernels:
            continue
        known = shapes.nodes.get((ref.layer, ref.node))
        found[(ref.layer, str(ref.node))] = NodeShapes(
            known.inputs if known else [], [(None, int(kernels[0].shape[0]))], SOURCE_WEIGHTS)
    return found
