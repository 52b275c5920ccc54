"""Renderers of the file-level reports: ``weights``, ``convert`` and ``check``."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from ..ops.check import CheckReport
from ..ops.convert import ConvertReport
from ..ops.weights import WeightsReport
from . import SCHEMA, human_bytes


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def weights_table(report: WeightsReport) -> Table:
    stats = any(row.stats for row in report.rows)
    title = f"{report.path} ({report.kind}" + (
        f", Keras {report.keras_version})" if report.keras_version else ")")
    table = Table(title=title, title_justify="left")
    for column in ("layer", "weight", "shape", "dtype", "bytes"):
        table.add_column(column, justify="right" if column == "bytes" else "left")
    if stats:
        for column in ("min", "max", "mean", "std", "nan", "inf"):
            table.add_column(column, justify="right")
    for row in report.rows:
        cells = [row.path, row.name, _shape(row.shape), row.dtype, f"{row.bytes:,}"]
        if stats and row.stats:
            cells += [f"{row.stats[k]:.4g}" for k in ("min", "max", "mean", "std")]
            cells += [str(row.stats["nan"]), str(row.stats["inf"])]
        table.add_row(*cells)
    table.caption = (f"{len(report.rows)} tensors, {report.total_params:,} params, "
                     f"{human_bytes(report.total_bytes)}")
    table.caption_justify = "left"
    return table


def weights_dict(report: WeightsReport) -> dict[str, Any]:
    return {
        "schema": SCHEMA, "path": report.path, "kind": report.kind,
        "keras_version": report.keras_version, "has_architecture": report.has_architecture,
        "weights": [{"layer": row.layer, "path": row.path, "name": row.name,
                     "shape": list(row.shape), "dtype": row.dtype, "bytes": row.bytes,
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
    return lines


def convert_dict(report: ConvertReport) -> dict[str, Any]:
    """The ``convert --json`` payload."""
    return {"schema": SCHEMA, "source": report.source, "source_kind": report.source_kind,
            "output": report.output, "output_kind": report.output_kind,
            "tensors": report.tensors, "bytes": report.bytes, "notes": list(report.notes)}


def check_table(report: CheckReport) -> RenderableType:
    version = f", Keras {report.keras_version}" if report.keras_version else ""
    verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
    line = (f"{report.path} ({report.kind}{version}): {verdict}; {report.tensors} tensors, "
            f"{report.params:,} params checked"
            + ("" if report.has_architecture else "; the file holds no architecture"))
    if report.ok:
        return Text(line)
    table = Table(title=line, title_justify="left")
    for column in ("problem", "where", "detail"):
        table.add_column(column)
    for problem in report.problems:
        table.add_row(problem.kind, problem.where, problem.detail)
    return table


def check_dict(report: CheckReport) -> dict[str, Any]:
    return {"schema": SCHEMA, "path": report.path, "kind": report.kind,
            "keras_version": report.keras_version, "ok": report.ok,
            "has_architecture": report.has_architecture, "tensors": report.tensors,
            "params": report.params,
            "problems": [{"kind": p.kind, "where": p.where, "detail": p.detail}
                         for p in report.problems],
            "notes": report.notes}
