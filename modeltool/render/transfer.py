"""TransferReport and FreezeReport to rich tables and JSON-able dicts. Nothing here prints."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from ..formatting import human_bytes, shape_text
from ..graph.params import Params
from ..ops.freeze import FreezeReport
from ..ops.transfer import (
    COUNT_MISMATCH,
    LOADED,
    MISSING,
    SHAPE_MISMATCH,
    LayerPlan,
    TransferReport,
)
from . import SCHEMA
from .table import FIT_FIXED, FIT_NAME, FIT_SPILL, Column, Grid, Line

_STATUS_TEXT = {
    LOADED: "loaded",
    SHAPE_MISMATCH: "shape mismatch",
    COUNT_MISMATCH: "count mismatch",
    MISSING: "missing in source",
}


def _detail(plan: LayerPlan) -> str:
    if plan.status == SHAPE_MISMATCH:
        text = "; ".join(f"{m.weight}: target {shape_text(m.expected)}, "
                         f"source {shape_text(m.received)}" for m in plan.mismatches)
        return f"{text} ({plan.note})" if plan.note else text
    if plan.status == COUNT_MISMATCH:
        return f"target has {plan.expected_count} weights, source {plan.received_count}"
    return ""


#: The order in which ``load-weights`` columns give way on a narrow terminal.
TRANSFER_DROP_ORDER = ("bytes", "tensors", "from")


def transfer_table(report: TransferReport) -> RenderableType:
    """One row per target layer with weights: source layer, status, tensors, bytes, detail."""
    mode = "dry run: " if report.dry_run else ""
    title = (f"{mode}{report.source} ({report.source_kind}) -> {report.target} "
             f"({report.target_kind})")
    rank = {name: i + 1 for i, name in enumerate(TRANSFER_DROP_ORDER)}
    columns = [Column("layer", fit=FIT_SPILL, min_width=12),
               Column("from", fit=FIT_NAME, drop=rank["from"]),
               Column("status", fit=FIT_FIXED),
               Column("tensors", "right", FIT_FIXED, drop=rank["tensors"]),
               Column("bytes", "right", FIT_FIXED, drop=rank["bytes"]), Column("detail")]
    rows = []
    for plan in report.layers:
        skipped = plan.status != LOADED
        rows.append([plan.target, plan.source or "-", _STATUS_TEXT[plan.status],
                     str(plan.tensors) if not skipped else "-",
                     f"{plan.bytes:,}" if not skipped else "-", _detail(plan)])
    return Group(Line(title), Grid(columns, rows), Text("\n".join(transfer_summary(report))))


def transfer_summary(report: TransferReport) -> list[str]:
    """The lines under the table: totals, skipped and unused layers, notes, the output."""
    if report.failed:
        lines = [(f"{len(report.plan.mismatched)} layer(s) do not fit: nothing written "
                  "(--skip-mismatch loads the layers that fit)"),
                 (f"layers that fit {report.loaded}/{report.total}; {report.tensors} tensors, "
                  f"{human_bytes(report.bytes)}")]
    else:
        verb = "would load" if report.dry_run else "loaded"
        lines = [(f"layers {verb} {report.loaded}/{report.total}; {report.tensors} tensors, "
                  f"{human_bytes(report.bytes)} {'to move' if report.dry_run else 'moved'}")]
    skipped = report.skipped
    if skipped:
        lines.append("skipped: " + ", ".join(
            f"{p.target} ({_STATUS_TEXT[p.status]})" for p in skipped))
    if report.unused:
        lines.append("unused in source: " + ", ".join(report.unused))
    for old, new in report.plan.renamed.items():
        lines.append(f"mapped: {old} -> {new}")
    lines += [f"note: {note}" for note in report.notes]
    if report.output:
        lines.append(f"written: {report.output} ({report.output_kind})")
    elif report.dry_run and not report.failed:
        lines.append("nothing written (dry run)")
    return lines


def transfer_dict(report: TransferReport) -> dict[str, Any]:
    """The ``--json`` payload of ``load-weights``."""
    return {
        "schema": SCHEMA,
        "target": report.target, "target_kind": report.target_kind,
        "source": report.source, "source_kind": report.source_kind,
        "output": report.output, "output_kind": report.output_kind,
        "dry_run": report.dry_run, "skip_mismatch": report.skip_mismatch,
        "ok": not report.failed,
        "layers": [{
            "target": p.target, "source": p.source, "status": p.status,
            "class_name": p.class_name, "tensors": p.tensors, "bytes": p.bytes,
            "expected_count": p.expected_count, "received_count": p.received_count,
            "mismatches": [{"index": m.index, "weight": m.weight, "expected": list(m.expected),
                            "received": list(m.received)} for m in p.mismatches],
            "note": p.note,
        } for p in report.layers],
        "unused_source_layers": list(report.unused),
        "renamed": dict(report.plan.renamed),
        "notes": list(report.notes),
        "totals": {"layers": report.total, "loaded": report.loaded,
                   "tensors": report.tensors, "bytes": report.bytes},
    }


def _counts(counts: Params) -> dict[str, int]:
    return {"trainable": counts.trainable, "non_trainable": counts.non_trainable,
            "total": counts.total}


def _flag(value: bool) -> str:
    return "trainable" if value else "frozen"


def freeze_table(report: FreezeReport) -> RenderableType:
    """One row per layer whose flag changed: before, after, params, BatchNormalization flag."""
    columns = [Column("layer", fit=FIT_SPILL, min_width=12), Column("class", fit=FIT_NAME),
               Column("before", fit=FIT_FIXED, drop=1), Column("after", fit=FIT_FIXED),
               Column("params", "right", FIT_FIXED), Column("note", drop=2)]
    rows = []
    for row in report.rows:
        note = "BatchNormalization: inference mode when frozen" if row.batchnorm else ""
        rows.append([row.path, row.class_name, _flag(row.trainable_before),
                     _flag(row.trainable_after), f"{row.params:,}", note])
    return Group(Line(f"{report.source} ({report.kind})"), Grid(columns, rows),
                 Text("\n".join(freeze_summary(report))))


def freeze_summary(report: FreezeReport) -> list[str]:
    """The lines under the table: param totals before and after, notes, the output."""
    b, a = report.before, report.after
    lines = [(f"{len(report.rows)} layer(s) changed: {len(report.frozen)} frozen, "
              f"{len(report.unfrozen)} unfrozen"),
             f"trainable params: {b.trainable:,} -> {a.trainable:,}",
             f"non-trainable params: {b.non_trainable:,} -> {a.non_trainable:,}"]
    lines += [f"note: {note}" for note in report.notes]
    if report.output:
        lines.append(f"written: {report.output}" + (" (in place)" if report.in_place else ""))
    return lines


def freeze_dict(report: FreezeReport) -> dict[str, Any]:
    """The ``--json`` payload of ``freeze``."""
    return {
        "schema": SCHEMA,
        "source": report.source, "kind": report.kind, "output": report.output,
        "in_place": report.in_place,
        "changed": [{"layer": r.path, "class_name": r.class_name,
                     "trainable_before": r.trainable_before,
                     "trainable_after": r.trainable_after, "params": r.params,
                     "batchnorm": r.batchnorm} for r in report.rows],
        "frozen": report.frozen, "unfrozen": report.unfrozen,
        "batchnorm_frozen": report.batchnorm,
        "params": {"before": _counts(report.before), "after": _counts(report.after)},
        "notes": list(report.notes),
    }
