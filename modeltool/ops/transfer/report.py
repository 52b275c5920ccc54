"""What a by-name transfer found and did: the plan per layer, the report, the typed error."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ...artifact import WeightEntry
from ...errors import WeightMismatchError
from ...formatting import shape_text

LOADED = "loaded"
SHAPE_MISMATCH = "shape_mismatch"
COUNT_MISMATCH = "count_mismatch"
MISSING = "missing"
STATUSES = (LOADED, SHAPE_MISMATCH, COUNT_MISMATCH, MISSING)


@dataclass(frozen=True)
class WeightMismatch:
    """One weight whose shape differs: its position in the layer, the target's weight name,
    the shape the target expects and the shape the source holds."""

    index: int
    weight: str
    expected: tuple[int, ...]
    received: tuple[int, ...]


@dataclass
class LayerPlan:
    """What happens to one target layer.

    ``status`` is one of ``loaded``, ``shape_mismatch``, ``count_mismatch``, ``missing``
    (no source layer of that name). ``pairs`` holds (target weight, source weight) for a loaded
    layer; the source weight reads the stored array, cast to the target's dtype and migrated
    from a Keras 1 or cuDNN layout where needed (``TransferPlan.notes`` says so). ``note``
    explains a mismatch when the reason is known (GRU ``reset_after``).
    """

    target: str
    source: str | None
    status: str
    class_name: str | None
    expected_count: int
    received_count: int | None = None
    mismatches: list[WeightMismatch] = field(default_factory=list)
    pairs: list[tuple[WeightEntry, WeightEntry]] = field(default_factory=list, repr=False)
    note: str | None = None

    @property
    def tensors(self) -> int:
        return len(self.pairs) if self.status == LOADED else 0

    @property
    def bytes(self) -> int:
        return sum(t.nbytes for t, _ in self.pairs) if self.status == LOADED else 0

    @property
    def mismatched(self) -> bool:
        return self.status in (SHAPE_MISMATCH, COUNT_MISMATCH)

    def describe(self) -> str:
        """One phrase on why the layer is not loaded (empty for a loaded layer)."""
        if self.status == MISSING:
            return "missing in source"
        if self.status == COUNT_MISMATCH:
            return (f"weight count mismatch: target expects {self.expected_count}, "
                    f"source {self.source!r} has {self.received_count}")
        if self.status == SHAPE_MISMATCH:
            parts = [f"{m.weight} expects {shape_text(m.expected)}, source has "
                     f"{shape_text(m.received)}" for m in self.mismatches]
            text = "shape mismatch: " + "; ".join(parts)
            return f"{text} ({self.note})" if self.note else text
        return ""


@dataclass
class TransferPlan:
    """Which target layer takes weights from which source layer, and what does not fit.

    ``layers`` follows the target's layer order and holds every target layer that has weights
    (or that a same-named source layer with weights points at); ``unused`` lists the source
    layers with weights that no target layer takes; ``renamed`` is source -> target name for the
    layers ``mapping`` renamed; ``notes`` says what was converted on the way.
    """

    layers: list[LayerPlan]
    unused: list[str]
    renamed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> list[LayerPlan]:
        return [p for p in self.layers if p.status == LOADED]

    @property
    def mismatched(self) -> list[LayerPlan]:
        return [p for p in self.layers if p.mismatched]

    @property
    def missing(self) -> list[LayerPlan]:
        return [p for p in self.layers if p.status == MISSING]

    @property
    def tensors(self) -> int:
        return sum(p.tensors for p in self.layers)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.layers)

    def layer(self, name: str) -> LayerPlan:
        for plan in self.layers:
            if plan.target == name:
                return plan
        raise KeyError(name)


@dataclass
class TransferReport:
    """What ``load_weights_by_name`` did (or, with ``dry_run``, would do).

    ``output`` is None for a dry run or a live model; ``target`` is ``"<keras.Model NAME>"``
    for a live model.
    """

    target: str
    source: str
    target_kind: str
    source_kind: str
    output: str | None
    output_kind: str | None
    dry_run: bool
    skip_mismatch: bool
    plan: TransferPlan

    @property
    def layers(self) -> list[LayerPlan]:
        return self.plan.layers

    @property
    def failed(self) -> bool:
        """Mismatches without ``skip_mismatch``: nothing was (or would be) written."""
        return bool(self.plan.mismatched) and not self.skip_mismatch

    @property
    def loaded(self) -> int:
        return len(self.plan.loaded)

    @property
    def total(self) -> int:
        return len(self.plan.layers)

    @property
    def tensors(self) -> int:
        return self.plan.tensors

    @property
    def bytes(self) -> int:
        return self.plan.bytes

    @property
    def skipped(self) -> list[LayerPlan]:
        return [p for p in self.plan.layers if p.status != LOADED]

    @property
    def unused(self) -> list[str]:
        return self.plan.unused

    @property
    def notes(self) -> list[str]:
        return self.plan.notes


class TransferMismatchError(WeightMismatchError):
    """Weights do not fit the target (exit 1); nothing was written or assigned.

    Attributes:
        plan: the transfer plan (which layers fit and which do not).
        report: the report of the attempt, when ``load_weights_by_name`` raised it.
    """

    def __init__(self, message: str, *, plan: TransferPlan, report: TransferReport | None = None,
                 path: str | os.PathLike[str] | None = None, hint: str | None = None) -> None:
        super().__init__(message, path=path, hint=hint)
        self.plan = plan
        self.report = report
