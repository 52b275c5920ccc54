"""ONNX reports to rich renderables and JSON-able dicts. Nothing here prints.

Two reports: ``ConversionReport`` (``modeltool to-onnx``) and ``OnnxSummary`` (``modeltool
summary model.onnx``). Every cell is a ``rich.text.Text``, so names such as ``[batch, 3]`` are
never read as markup. The JSON schemas (``"schema": 1``)::

    conversion: {"schema", "source", "source_kind", "output", "opset", "tf2onnx",
                 "inputs": [{"name", "dtype", "shape"}], "outputs": [...],
                 "op_histogram": {op: count}, "node_count", "file_size", "optimized",
                 "seconds": {"load", "conversion", "verification"},
                 "verification": null | {"reference", "atol", "rtol", "passed",
                                         "checks": [{"output", "batch", "max_abs", "max_rel",
                                                     "ok", "problem"}]},
                 "latency_ms": null | {"batch", "onnxruntime", "keras", "speedup"},
                 "notes": [...]}
    onnx summary: {"schema", "path", "kind": "onnx", "file_size", "ir_version", "opsets",
                   "producer", "graph_name", "inputs", "outputs", "op_histogram",
                   "node_count", "initializers", "params", "initializer_bytes",
                   "external_data", "metadata",
                   "nodes": [{"name", "op_type", "domain", "inputs", "outputs",
                              "output_shapes", "subgraph_nodes"}], "notes"}

Shapes are lists whose items are an int, a symbolic name (str) or null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from ..formats.onnx_file import OnnxSummary, OnnxTensor
from ..formatting import dims_text, human_bytes
from ..ops.onnx_export import ConversionReport
from . import SCHEMA
from .table import FIT_FIXED, FIT_NAME, Column, Grid

#: Op histogram entries shown in a table (the JSON has them all).
HISTOGRAM_ITEMS = 12


def _tensors(tensors: Sequence[OnnxTensor]) -> str:
    return "; ".join(f"{t.name} {t.dtype} {dims_text(t.shape)}" for t in tensors)


def _histogram(histogram: dict[str, int], limit: int = HISTOGRAM_ITEMS) -> str:
    items = list(histogram.items())
    text = ", ".join(f"{op} {count}" for op, count in items[:limit])
    if len(items) > limit:
        text += f", ... ({len(items) - limit} more op types)"
    return text


def _fields(rows: list[tuple[str, str]]) -> Text:
    """``label  value`` lines with the labels aligned (no table padding after the values)."""
    width = max((len(name) for name, _ in rows), default=0)
    text = Text()
    for index, (name, value) in enumerate(rows):
        if index:
            text.append("\n")
        text.append(name.ljust(width + 2), style="bold")
        text.append(value)
    return text


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} ms"


def conversion_table(report: ConversionReport) -> RenderableType:
    """The ``to-onnx`` report: what was written, its interface, ops, times and checks."""
    rows = [
        ("output", f"{report.output} ({human_bytes(report.file_size)})"),
        ("source", f"{report.source} ({report.source_kind})"),
        ("opset", f"{report.opset} (tf2onnx {report.tf2onnx_version})"
         + (", optimized" if report.optimized else "")),
        ("inputs", _tensors(report.inputs)),
        ("outputs", _tensors(report.outputs)),
        ("nodes", f"{report.node_count}: {_histogram(report.op_histogram)}"),
        ("time", f"load {_seconds(report.load_seconds)}, convert "
                 f"{_seconds(report.conversion_seconds)}, verify "
                 f"{_seconds(report.verification_seconds)}"),
    ]
    if report.onnx_latency_ms is not None:
        speedup = report.speedup
        rows.append((f"latency (batch {report.latency_batch})",
                     f"onnxruntime {_ms(report.onnx_latency_ms)}, {report.reference} "
                     f"(tf.function) {_ms(report.keras_latency_ms)}"
                     + (f", {speedup:.1f}x" if speedup else "")))
    if report.source_reference:
        rows.append(("source check", report.source_reference))
    rows += [("note", note) for note in report.notes]
    parts: list[RenderableType] = [_fields(rows)]
    if report.verified:
        parts.append(checks_table(report))
        if report.source_checks:
            parts.append(checks_table(report, source=True))
    else:
        parts.append(Text("not verified (--no-verify)"))
    if report.variants:
        parts.append(variants_table(report))
    return Group(*parts)


def variants_table(report: ConversionReport) -> RenderableType:
    """Per shipped variant: size, onnxruntime latency and agreement with the source."""
    columns = [Column("variant", fit=FIT_NAME)] + [
        Column(name, "right", FIT_FIXED)
        for name in ("size", "latency", "max abs", "max rel", "cosine", "top-1")]
    columns += [Column("tolerance", fit=FIT_NAME), Column("ok", "right")]
    rows = [[variant.name, human_bytes(variant.file_size), _ms(variant.latency_ms),
             f"{variant.max_abs:.3g}", f"{variant.max_rel:.3g}", f"{variant.cosine:.6f}",
             "-" if variant.top1 is None else f"{variant.top1:.1%}", variant.tolerance,
             "ok" if variant.ok else "FAILED"] for variant in report.variants]
    return Group(Text(f"variants vs {report.reference}"), Grid(columns, rows))


def checks_table(report: ConversionReport, *, source: bool = False) -> RenderableType:
    """Per output and batch: max abs and rel difference against the source, and the verdict
    (``source``: against the library that wrote the source file)."""
    against = report.source_reference if source else report.reference
    columns = [Column("output", fit=FIT_NAME)] + [
        Column(name, "right", FIT_FIXED) for name in ("batch", "max abs diff", "max rel diff")]
    columns.append(Column("ok", "right"))
    rows = [[check.output, str(check.batch), f"{check.max_abs:.3g}", f"{check.max_rel:.3g}",
             "ok" if check.ok else (check.problem or "FAILED")]
            for check in (report.source_checks if source else report.checks)]
    return Group(Text(f"ONNX vs {against} (atol {report.atol:g}, "
                      f"rtol {report.rtol:g})"), Grid(columns, rows))


def conversion_dict(report: ConversionReport) -> dict[str, Any]:
    """The ``to-onnx --json`` payload (schema 1)."""
    verification = None
    if report.verified:
        verification = {"reference": report.reference,
                        "source_reference": report.source_reference,
                        "source_checks": [asdict(check) for check in report.source_checks],
                        "atol": report.atol,
                        "rtol": report.rtol, "passed": report.passed,
                        "checks": [asdict(check) for check in report.checks]}
    latency = None
    if report.onnx_latency_ms is not None:
        latency = {"batch": report.latency_batch, "onnxruntime": report.onnx_latency_ms,
                   "keras": report.keras_latency_ms, "speedup": report.speedup}
    return {
        "schema": SCHEMA, "source": report.source, "source_kind": report.source_kind,
        "output": report.output, "opset": report.opset, "tf2onnx": report.tf2onnx_version,
        "inputs": [asdict(t) for t in report.inputs],
        "outputs": [asdict(t) for t in report.outputs],
        "op_histogram": dict(report.op_histogram), "node_count": report.node_count,
        "file_size": report.file_size, "optimized": report.optimized,
        "seconds": {"load": report.load_seconds, "conversion": report.conversion_seconds,
                    "verification": report.verification_seconds},
        "verification": verification, "latency_ms": latency, "notes": list(report.notes),
        "variants": [asdict(variant) for variant in report.variants],
    }


def onnx_summary_table(summary: OnnxSummary, *, show_nodes: bool = True,
                       show_shapes: bool = True) -> RenderableType:
    """``modeltool summary model.onnx``: header fields, then one row per node."""
    opsets = ", ".join(f"{domain or 'ai.onnx'} {version}"
                       for domain, version in summary.opsets.items())
    rows = [
        ("file", f"{summary.path} (ONNX, {human_bytes(summary.file_size)})"),
        ("producer", summary.producer or "-"),
        ("ir / opsets", f"IR {summary.ir_version}; {opsets}"),
        ("inputs", _tensors(summary.inputs)),
        ("outputs", _tensors(summary.outputs)),
        ("ops", f"{summary.node_count} nodes: {_histogram(summary.op_histogram)}"),
        ("weights", f"{summary.initializers} initializers, {summary.params:,} values, "
                    f"{human_bytes(summary.initializer_bytes)}"
                    + (" (external data)" if summary.external_data else "")),
    ]
    rows += [("note", note) for note in summary.notes]
    parts: list[RenderableType] = [_fields(rows)]
    if show_nodes:
        columns = [Column("#", "right", FIT_FIXED), Column("node", fit=FIT_NAME),
                   Column("op", fit=FIT_NAME), Column("inputs", drop=1)]
        if show_shapes:
            columns.append(Column("output shape"))
        node_rows: list[list[str]] = []
        for index, node in enumerate(summary.nodes):
            op = node.op_type if node.domain in ("", "ai.onnx") else \
                f"{node.domain}.{node.op_type}"
            if node.subgraph_nodes:
                op += f" (+{node.subgraph_nodes})"
            cells = [str(index), node.name, op, ", ".join(node.inputs)]
            if show_shapes:
                cells.append(", ".join(dims_text(s) for s in node.output_shapes))
            node_rows.append(cells)
        parts.append(Grid(columns, node_rows))
    return Group(*parts)


def onnx_summary_dict(summary: OnnxSummary) -> dict[str, Any]:
    """The ``summary model.onnx --json`` payload (schema 1)."""
    return {
        "schema": SCHEMA, "path": summary.path, "kind": "onnx",
        "file_size": summary.file_size, "ir_version": summary.ir_version,
        "opsets": dict(summary.opsets), "producer": summary.producer,
        "graph_name": summary.graph_name,
        "inputs": [asdict(t) for t in summary.inputs],
        "outputs": [asdict(t) for t in summary.outputs],
        "op_histogram": dict(summary.op_histogram), "node_count": summary.node_count,
        "initializers": summary.initializers, "params": summary.params,
        "initializer_bytes": summary.initializer_bytes,
        "external_data": summary.external_data, "metadata": dict(summary.metadata),
        "nodes": [asdict(node) for node in summary.nodes], "notes": list(summary.notes),
    }
