"""Output shapes of modeltool's registered legacy layers (``Highway``, ``LocallyConnected1D``/
``2D``, ``CosineMerge``; see ``keras_bridge.legacy_layers``), without TensorFlow. The registry
asks here for a layer whose module is ``keras_bridge.legacy_layers``; their parameter counts
are in ``graph.params``."""

from __future__ import annotations

from .call import Rule
from .core import identity
from .merge import dot
from .spatial import conv

RULES: dict[str, Rule] = {
    "Highway": identity,
    "LocallyConnected1D": conv(1),
    "LocallyConnected2D": conv(2),
    "CosineMerge": dot,
}
