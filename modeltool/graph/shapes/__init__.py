"""Output shapes of Keras' built-in layers, without TensorFlow.

Every rule follows the layer's ``compute_output_shape`` in Keras 3. A class without a rule gives
None, shown as ``?``: nothing is guessed. Shapes are tuples with the batch dimension first; None
is an unknown dimension, and a None shape (or None list of outputs) is an unknown shape (or an
unknown number of outputs).

``infer_shapes`` (``walk``) walks a Graph in topological order. Where a rule cannot answer (a
custom layer, an input whose shape is unknown) it may use the shapes a Keras 3 file recorded
for the tensors (``__keras_tensor__`` shapes and ``build_config``): those were written by Keras,
so they are data, not guesses.

The rules live by layer family (``core``, ``spatial``, ``merge``, ``recurrent``, ``attention``,
``ops``); ``registry`` maps each class to its rule. Parameter counts are in ``graph.params``,
MACs in ``graph.macs``.
"""

from __future__ import annotations

from .call import Call, Outputs, Rule
from .registry import known_class, rule_for
from .walk import (
    SOURCE_FILE,
    SOURCE_KERAS,
    SOURCE_RULE,
    SOURCE_UNKNOWN,
    NodeShapes,
    ShapeMap,
    infer_shapes,
    input_shape,
)

__all__ = [
    "SOURCE_FILE",
    "SOURCE_KERAS",
    "SOURCE_RULE",
    "SOURCE_UNKNOWN",
    "Call",
    "NodeShapes",
    "Outputs",
    "Rule",
    "ShapeMap",
    "infer_shapes",
    "input_shape",
    "known_class",
    "rule_for",
]
