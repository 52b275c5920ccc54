"""The report of ``diff``: what differs between two model files (see ops.diff)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LayerChange:
    """One architecture difference: ``kind`` is added, removed, renamed, class, config,
    connections or trainable."""

    kind: str
    layer: str
    detail: str = ""


@dataclass
class TensorDiff:
    """One weight tensor compared: ``status`` is identical, close (within the tolerances),
    different, shape, dtype, added or removed."""

    layer: str
    name: str
    status: str
    shape_a: tuple[int, ...] | None = None
    shape_b: tuple[int, ...] | None = None
    dtype_a: str | None = None
    dtype_b: str | None = None
    max_abs: float | None = None
    max_rel: float | None = None
    cosine: float | None = None


@dataclass
class DiffReport:
    """What ``diff`` found. ``same`` is the verdict the exit code follows."""

    a: str
    b: str
    kind_a: str
    kind_b: str
    keras_version_a: str | None
    keras_version_b: str | None
    compared: list[str]
    atol: float
    rtol: float
    layers: list[LayerChange] = field(default_factory=list)
    tensors: list[TensorDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed_tensors(self) -> list[TensorDiff]:
        return [t for t in self.tensors if t.status not in ("identical", "close")]

    @property
    def same(self) -> bool:
        return not self.layers and not self.changed_tensors

    @property
    def verdict(self) -> str:
        parts = []
        if "arch" in self.compared:
            parts.append("same architecture" if not self.layers else
                         f"architecture differs ({len(self.layers)} change"
                         f"{'s' if len(self.layers) != 1 else ''})")
        if "weights" in self.compared:
            total = len(self.tensors)
            changed = len(self.changed_tensors)
            close = sum(t.status == "close" for t in self.tensors)
            if not changed:
                parts.append(f"same weights ({total} tensors"
                             + (f", {close} within tolerance" if close else "") + ")")
            else:
                parts.append(f"weights differ ({changed} of {total} tensors)")
        head = "same" if self.same else "different"
        return f"{head}: " + ", ".join(parts)

