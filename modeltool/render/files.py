"""Renderers of the file-level reports: ``weights``, ``convert`` and ``check``."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Group, RenderableType
from rich.text import Text

from ..formatting import human_bytes, shape_text
from ..ops.check import CheckReport
from ..ops.convert import ConvertReport
from ..ops.weights import WeightsReport
from . import SCHEMA
from .table import FIT_FIXED, FIT_NAME, FIT_SPILL, Column, Grid, Line

#: The order in which ``weights`` columns give way on a narrow terminal (layer, weight, shape
#: and, with --stats, the NaN/Inf counts always stay).
WEIGHTS_DROP_ORDER = ("mean", "std", "dtype", "trainable", "bytes", "max", "min")


def _stat(value: float | int) -> str:
    return f"{value:.4g}"


def weights_table(report: WeightsReport) -> RenderableType:
    """One row per tensor: layer, weight, shape, dtype, bytes, trainable (and --stats)."""
    stats = any(row.stats for row in report.rows)
    title = f"{report.path} ({report.kind}" + (
        f", Keras {report.keras_version})" if report.keras_version else ")")
    rank = {name: i + 1 for i, name in enumerate(WEIGHTS_DROP_ORDER)}
    columns = [Column("layer", fit=FIT_SPILL, min_width=12), Column("weight", fit=FIT_NAME),
               Column("shape"), Column("dtype", fit=FIT_FIXED, drop=rank["dtype"]),
               Column("bytes", "right", FIT_FIXED, drop=rank["bytes"])]
    if report.has_architecture:
        columns.append(Column("trainable", "center", FIT_FIXED, drop=rank["trainable"]))
    if stats:
        columns += [Column(name, "right", FIT_FIXED, drop=rank.get(name))
                    for name in ("min", "max", "mean", "std")]
        columns.append(Column("nan/inf", "right", FIT_FIXED))
    rows = []
    previous = None
    for row in report.rows:
        # A layer's name heads its first tensor only, as a person would group the rows.
        layer = "" if row.path == previous else row.path
        previous = row.path
        cells = [layer, row.name, shape_text(row.shape), row.dtype, f"{row.bytes:,}"]
        if report.has_architecture:
            cells.append("?" if row.trainable is None else "Y" if row.trainable else "N")
        if stats:
            values = row.stats or {}
            cells += [_stat(values[k]) if k in values else "?"
                      for k in ("min", "max", "mean", "std")]
            cells.append(f"{values.get('nan', '?')}/{values.get('inf', '?')}")
        rows.append(cells)
    caption = (f"{len(report.rows)} tensors, {report.total_params:,} params, "
               f"{human_bytes(report.total_bytes)}")
    if report.has_architecture:
        trainable = sum(int(np.prod(r.shape, dtype=np.int64)) for r in report.rows
                        if r.trainable)
        caption += f"; trainable {trainable:,}"
    return Group(Line(title), Grid(columns, rows), Text(caption))


def weights_dict(report: WeightsReport) -> dict[str, Any]:
    return {
        "schema": SCHEMA, "path": report.path, "kind": report.kind,
        "keras_version": report.keras_version, "has_architecture": report.has_architecture,
        "weights": [{"layer": row.layer, "path": row.path, "name": row.name,
                     "shape": list(row.shape), "dtype": row.dtype, "bytes": row.bytes,
                     "trainable": row.trainable,
                     **({"stats": row.stats} if row.stats is not None else {})}
                    for row in report.rows],
        "totals": {"tensors": len(report.rows), "params": report.total_params,
                   "bytes": report.total_bytes},
    }


def convert_lines(report: ConvertReport) -> list[str]:
    lines = [f"{report.source} ({report.source_kind}) -> {report.output} ({report.output_kind})"]
    if report.tensors:
        lines.append(f"{report.tensors} weight tensors, {human_bytes(report.bytes)}")
    lines += [f"  changed: {note}" for note in report.notes]
    if report.max_abs_diff is not None:
        lines.append(f"checked against {report.reference}: max abs diff "
                     f"{report.max_abs_diff:.3g}")
    if report.verification is not None:
        lines.append(f"predictions against the original: max abs difference "
                     f"{report.verification['max_abs']:.3g}, max rel "
                     f"{report.verification['max_rel']:.3g}")
    return lines


def convert_dict(report: ConvertReport) -> dict[str, Any]:
    """The ``convert --json`` payload."""
    return {"schema": SCHEMA, "source": report.source, "source_kind": report.source_kind,
            "output": report.output, "output_kind": report.output_kind,
            "tensors": report.tensors, "bytes": report.bytes, "dtype": report.dtype,
            "verification": report.verification, "reference": report.reference or None,
            "max_abs_diff": report.max_abs_diff, "notes": list(report.notes)}


def check_table(report: CheckReport) -> RenderableType:
    version = f", Keras {report.keras_version}" if report.keras_version else ""
    verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
    line = (f"{report.path} ({report.kind}{version}): {verdict}; {report.tensors} tensors, "
            f"{report.params:,} params checked"
            + ("" if report.has_architecture else "; the file holds no architecture"))
    if report.has_architecture and not report.tensors:
        line += "; the file holds no weights (architecture only: --weights FILE checks a pair)"
    if report.findings:
        line += f"; {len(report.findings)} finding(s) about its content"
    if report.ok and not report.findings:
        return Text(line)
    columns = [Column("problem", fit=FIT_FIXED), Column("where", fit=FIT_NAME),
               Column("detail")]
    rows = [[problem.kind, problem.where, problem.detail] for problem in report.problems]
    rows += [[f"{finding.kind} (finding)", finding.where, finding.detail]
             for finding in report.findings]
    return Group(Text(line), Grid(columns, rows))


def check_dict(report: CheckReport) -> dict[str, Any]:
    return {"schema": SCHEMA, "path": report.path, "kind": report.kind,
            "keras_version": report.keras_version, "ok": report.ok,
            "has_architecture": report.has_architecture, "tensors": report.tensors,
            "params": report.params,
            "problems": [{"kind": p.kind, "where": p.where, "detail": p.detail}
                         for p in report.problems],
            "findings": [{"kind": f.kind, "where": f.where, "detail": f.detail}
                         for f in report.findings],
            "notes": report.notes}
