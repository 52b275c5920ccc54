"""Renderer of ``diff``: the architecture changes, the tensors that differ, the verdict."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..ops.diff import DiffReport, TensorDiff
from . import SCHEMA


def _shape(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "-"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _pair(a: str, b: str) -> str:
    return a if a == b else f"{a} -> {b}"


def _number(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _side(path: str, kind: str, version: str | None) -> str:
    return f"{path} ({kind}" + (f", Keras {version})" if version else ")")


def diff_table(report: DiffReport) -> RenderableType:
    """The report as rich renderables: header, notes, the two tables, the verdict line."""
    parts: list[RenderableType] = [
        Text(f"{_side(report.a, report.kind_a, report.keras_version_a)}\n"
             f"  vs {_side(report.b, report.kind_b, report.keras_version_b)}")]
    parts += [Text(f"note: {note}") for note in report.notes]
    if report.layers:
        table = Table(title="architecture", title_justify="left")
        table.add_column("change", no_wrap=True)
        table.add_column("layer", overflow="fold")
        table.add_column("detail", overflow="fold", ratio=1)
        for change in report.layers:
            table.add_row(change.kind, change.layer, change.detail)
        parts.append(table)
    shown = [t for t in report.tensors if t.status != "identical"]
    if shown:
        table = Table(title="weights", title_justify="left")
        table.add_column("layer", overflow="fold")
        table.add_column("weight", overflow="fold")
        table.add_column("change", no_wrap=True)
        table.add_column("shape", overflow="fold")
        table.add_column("dtype", overflow="fold")
        for column in ("max abs", "max rel", "cosine"):
            table.add_column(column, justify="right", no_wrap=True)
        for t in shown:
            table.add_row(t.layer, t.name, t.status,
                          _pair(_shape(t.shape_a), _shape(t.shape_b)),
                          _pair(t.dtype_a or "-", t.dtype_b or "-"),
                          _number(t.max_abs, ".3g"), _number(t.max_rel, ".3g"),
                          _number(t.cosine, ".6f"))
        identical = len(report.tensors) - len(shown)
        if identical:
            table.caption = f"{identical} identical tensors not shown"
            table.caption_justify = "left"
        parts.append(table)
    parts.append(Text(report.verdict))
    return Group(*parts)


def _tensor(t: TensorDiff) -> dict[str, Any]:
    return {"layer": t.layer, "name": t.name, "status": t.status,
            "shape_a": list(t.shape_a) if t.shape_a is not None else None,
            "shape_b": list(t.shape_b) if t.shape_b is not None else None,
            "dtype_a": t.dtype_a, "dtype_b": t.dtype_b,
            "max_abs": t.max_abs, "max_rel": t.max_rel, "cosine": t.cosine}


def diff_dict(report: DiffReport) -> dict[str, Any]:
    """The ``--json`` payload."""
    return {
        "schema": SCHEMA, "same": report.same, "verdict": report.verdict,
        "a": {"path": report.a, "kind": report.kind_a, "keras_version": report.keras_version_a},
        "b": {"path": report.b, "kind": report.kind_b, "keras_version": report.keras_version_b},
        "compared": report.compared, "atol": report.atol, "rtol": report.rtol,
        "layers": [{"change": c.kind, "layer": c.layer, "detail": c.detail}
                   for c in report.layers],
        "tensors": [_tensor(t) for t in report.tensors],
        "totals": {"tensors": len(report.tensors),
                   "identical": sum(t.status == "identical" for t in report.tensors),
                   "close": sum(t.status == "close" for t in report.tensors),
                   "changed": len(report.changed_tensors)},
        "notes": report.notes,
    }
