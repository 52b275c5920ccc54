"""Renderer of ``diff``: the architecture changes, the tensors that differ, the verdict."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..formatting import shape_text
from ..ops.diff import DiffReport, TensorDiff
from . import SCHEMA


def _shape(shape: tuple[int, ...] | None) -> str:
    return shape_text(shape, unknown="-")


def _pair(a: str, b: str) -> str:
    return a if a == b else f"{a} -> {b}"


def _number(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _side(path: str, kind: str, version: str | None) -> str:
    return f"{path} ({kind}" + (f", Keras {version})" if version else ")")


#: Columns of the weights table dropped, in this order, when the rows do not fit the width.
DROP_ORDER = ("max rel", "shape", "dtype", "cosine")


def _weights_table(report: DiffReport, shown: list[TensorDiff], width: int | None) -> Table:
    rows = [{"layer": t.layer, "weight": t.name, "change": t.status,
             "shape": _pair(_shape(t.shape_a), _shape(t.shape_b)),
             "dtype": _pair(t.dtype_a or "-", t.dtype_b or "-"),
             "max abs": _number(t.max_abs, ".3g"), "max rel": _number(t.max_rel, ".3g"),
             "cosine": _number(t.cosine, ".6f")} for t in shown]
    columns = list(rows[0])
    dropped = []

    def natural() -> int:  # cell widths + rich's borders and padding (3 per column + 1)
        return sum(max(len(c), *(len(r[c]) for r in rows)) + 3 for c in columns) + 1

    for column in DROP_ORDER:
        if width is None or natural() <= width:
            break
        columns.remove(column)
        dropped.append(column)
    table = Table(title="weights", title_justify="left")
    for column in columns:
        right = column in ("max abs", "max rel", "cosine")
        table.add_column(column, justify="right" if right else "left",
                         no_wrap=column not in ("layer", "weight", "shape"))
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    caption = []
    identical = len(report.tensors) - len(shown)
    if identical:
        caption.append(f"{identical} identical tensors not shown")
    if dropped:
        caption.append(f"columns left out to fit: {', '.join(dropped)} (--json has all)")
    if caption:
        table.caption = "; ".join(caption)
        table.caption_justify = "left"
    return table


#: Migration notes shown per file in the table view (``--json`` has all).
MIGRATION_NOTES_SHOWN = 3


def _shown_notes(report: DiffReport) -> list[str]:
    shown: list[str] = []
    for path in (report.a, report.b):
        prefix = f"{path}: migrated: "
        migrated = [n for n in report.notes if n.startswith(prefix)]
        shown += migrated[:MIGRATION_NOTES_SHOWN]
        if len(migrated) > MIGRATION_NOTES_SHOWN:
            shown.append(f"{path}: {len(migrated) - MIGRATION_NOTES_SHOWN} more migration "
                         "changes (--json lists all)")
    others = [n for n in report.notes if ": migrated: " not in n]
    return others + shown


def diff_table(report: DiffReport, width: int | None = None) -> RenderableType:
    """The report as rich renderables: header, notes, the two tables, the verdict line. With
    ``width``, weight columns are left out (DROP_ORDER) until the rows fit."""
    parts: list[RenderableType] = [
        Text(f"{_side(report.a, report.kind_a, report.keras_version_a)}\n"
             f"  vs {_side(report.b, report.kind_b, report.keras_version_b)}")]
    parts += [Text(f"note: {note}") for note in _shown_notes(report)]
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
        parts.append(_weights_table(report, shown, width))
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
