"""The report ``summary`` returns: one row per layer call, and whole-model totals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...graph.model import Graph, Shape
from ..weights import WeightRow


@dataclass
class SummaryRow:
    """One call of one layer (one row of the table).

    ``params``/``trainable_params`` count the layer's weights on its first node only; the
    other nodes of a shared layer carry 0 and ``shared=True``. None means unknown.
    """

    layer: str
    path: str
    class_name: str
    node: int | None
    depth: int
    input_shapes: list[Shape | None]
    output_shapes: list[Shape | None] | None
    params: int | None
    trainable_params: int | None
    trainable: bool
    inbound: list[str]
    macs: int | None
    shape_source: str
    shared: bool = False
    #: Settings worth a glance (``graph.attributes.layer_attributes``).
    attributes: dict[str, str] = field(default_factory=dict)
    #: Bytes of this call's outputs for ``Summary.batch_size`` samples; None when unknown.
    activation_bytes: int | None = None
    #: Whether MACs are counted for this layer's class (``macs`` None then means unknown).
    has_macs: bool = False

    @property
    def non_trainable_params(self) -> int | None:
        if self.params is None or self.trainable_params is None:
            return None
        return self.params - self.trainable_params


@dataclass
class SummaryTotals:
    """Whole-model numbers. ``params`` is None when some layer's count is unknown, ``macs``
    when some layer that has MACs has unknown ones."""

    params: int | None
    trainable_params: int | None
    non_trainable_params: int | None
    macs: int | None
    bytes: dict[str, int] = field(default_factory=dict)
    #: Layers the MACs total leaves out because nobody can say what they compute without
    #: running them (classes modeltool does not know, Lambda and TF-op layers).
    macs_unmeasured: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())


@dataclass
class Summary:
    """What ``modeltool summary`` reports about one file."""

    path: str | None
    kind: str
    keras_version: str | None
    model_name: str | None
    model_class: str | None
    has_architecture: bool
    rows: list[SummaryRow]
    totals: SummaryTotals
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    weights: list[WeightRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    migration_notes: list[str] = field(default_factory=list)
    engine: str = "fast"
    bytes_from_weights: bool = False
    #: Layers whose stored weights do not fit their config: (path, values found, expected).
    weight_mismatches: list[tuple[str, int, int]] = field(default_factory=list)
    #: Layers whose dtype policy is not float32: (path, policy), in model order.
    dtype_policies: list[tuple[str, str]] = field(default_factory=list)
    #: The batch size activation memory is estimated for.
    batch_size: int = 1
    #: Estimated bytes of every layer call's outputs (nested models' layers included, inputs
    #: included) for ``batch_size`` samples, counting only the calls whose shapes are known;
    #: ``activation_unknown`` is how many were not.
    activation_bytes: int = 0
    activation_unknown: int = 0
    #: The layer graph the rows were read from (None for weights-only files).
    graph: Graph | None = field(default=None, repr=False, compare=False)
    #: A SavedModel's signatures: name -> {"inputs"|"outputs": {key: {"shape", "dtype"}}}.
    signatures: dict[str, Any] = field(default_factory=dict)

    @property
    def unknown_shapes(self) -> list[str]:
        """Paths of the rows whose output shape is not (fully) known."""
        return [row.path for row in self.rows
                if row.output_shapes is None or any(s is None for s in row.output_shapes)]
