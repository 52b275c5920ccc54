"""``report``: everything modeltool knows about one file, for one self-contained HTML page.

The summary rows, the graph (every level laid out with its nested models closed: the page
opens them in the browser), the statistics and a small histogram of every weight tensor
(tensors are read one at a time, each in bounded blocks, so memory stays bounded and the
page grows with the number of tensors, not their size), the migration log and the
``check`` findings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..artifact import WeightEntry
from ..graph.layout import Layout
from .plot import PlotGraph, PlotNode, PlotOptions, levels_of, node_label

PathLike = str | os.PathLike[str]

#: Bars of each weight histogram.
HISTOGRAM_BINS = 24


@dataclass
class TensorStats:
    """One weight tensor: shape, dtype, statistics and a histogram of its finite values."""

    path: str
    name: str
    shape: tuple[int, ...]
    dtype: str
    bytes: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    zeros: int = 0
    nan: int = 0
    inf: int = 0
    histogram: list[int] = field(default_factory=list)
    error: str | None = None


@dataclass
class ModelReport:
    """What the HTML report shows about one file."""

    path: str
    kind: str
    summary: Any  # ops.summary.Summary, or formats.onnx_file.OnnxSummary for ONNX files
    graph: PlotGraph | None
    levels: dict[str, Layout]
    labels: dict[str, list[str]]
    tensors: list[TensorStats]
    check: Any | None  # ops.check.CheckReport
    migration_notes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    output: str | None = None


def report_label(node: PlotNode) -> list[str]:
    """A report box: name, class, attributes worth a glance, output shape."""
    lines = node_label(node, PlotOptions(activations=False))
    from ..graph.attributes import attributes_text

    attributes = attributes_text(node.attributes)
    if attributes and node.kind in ("layer", "op"):
        lines.append(attributes if len(attributes) <= 44 else attributes[:43] + "\u2026")
    from ..formatting import shape_text

    if node.output_shapes is not None and len(node.output_shapes) == 1:
        lines.append(shape_text(node.output_shapes[0]))
    elif node.output_shapes:
        lines.append(f"{len(node.output_shapes)} outputs")
    return lines


def tensor_stats_streaming(entry: WeightEntry, bins: int = HISTOGRAM_BINS) -> TensorStats:
    """Statistics and a histogram of one tensor, read in bounded blocks (two passes: the
    histogram needs the range first; ``ops.tensor_stats``)."""
    from ..errors import ModelToolError
    from .tensor_stats import entry_blocks, histogram, moments

    stats = TensorStats(entry.path, entry.name, tuple(entry.shape), entry.dtype, entry.nbytes)
    try:
        found = moments(entry_blocks(entry))
        stats.nan, stats.inf, stats.zeros = found.nan, found.inf, found.zeros
        if not found.count:
            return stats
        high = found.max if found.max > found.min else found.min + 1.0
        stats.histogram = histogram(entry_blocks(entry), found.min, high, bins)
    except ModelToolError as err:
        stats.error = err.problem
        return stats
    except ValueError as err:
        stats.error = str(err)
        return stats
    stats.min, stats.max, stats.mean, stats.std = found.min, found.max, found.mean, found.std
    return stats


def report(path: PathLike, output: PathLike | None = None, *, force: bool = False,
           rankdir: str | None = None) -> ModelReport:
    """Build (and with ``output``, write) the self-contained HTML report of a model file.

    Args:
        path: any file modeltool reads (``.onnx`` too: summary and graph only).
        output: the ``.html`` file to write; None to only build the report object.
        force: replace an existing output.
        rankdir: ``TB`` (default) or ``LR``.

    Returns:
        A ModelReport.

    Raises:
        ModelToolError: unreadable input or an output that exists (without ``force``).

    Example:
        >>> modeltool.report("model.h5", "model.html")  # doctest: +SKIP
    """
    from ..errors import UnsupportedError
    from ..formats.onnx_file import sniff_kind as sniff_onnx

    rankdir = (rankdir or "TB").upper()
    if rankdir not in ("TB", "LR"):
        raise UnsupportedError(f"unknown rankdir {rankdir!r}", hint="use TB or LR")
    if output is not None:
        from ..io import check_output

        check_output(output, force=force, inputs=(path,))
    if sniff_onnx(path):
        result = _onnx_report(path, rankdir)
    else:
        result = _keras_report(path, rankdir)
    if output is not None:
        from ..formats.html_page import report_page
        from ..io import atomic_path

        text = report_page(result)
        with atomic_path(output) as tmp:
            tmp.write_text(text, encoding="utf-8")
        result.output = os.fspath(output)
    return result


def _keras_report(path: PathLike, rankdir: str) -> ModelReport:
    from ..formats import open_artifact
    from .check import check
    from .plot import plot_graph
    from .summary import summarize

    with open_artifact(path) as artifact:
        summary = summarize(artifact, expand_nested=True, engine="fast")
        graph = None
        levels: dict[str, Layout] = {}
        labels: dict[str, list[str]] = {}
        if artifact.config is not None:
            graph, _ = plot_graph(artifact)
            labels = {node.id: report_label(node) for node, _ in graph.walk()}
            levels = levels_of(graph, labels, rankdir)
        tensors = [tensor_stats_streaming(entry) for entry in artifact.weights]
        kind = artifact.kind
    return ModelReport(os.fspath(path), kind, summary, graph, levels, labels, tensors,
                       check(path), list(summary.migration_notes), list(summary.notes))


def _onnx_report(path: PathLike, rankdir: str) -> ModelReport:
    from ..formats.onnx_file import summarize_onnx
    from .plot import onnx_plot_graph

    summary = summarize_onnx(path)
    graph, notes = onnx_plot_graph(path)
    labels = {node.id: report_label(node) for node, _ in graph.walk()}
    levels = levels_of(graph, labels, rankdir)
    notes.append("ONNX file: weight statistics and check findings are not computed")
    return ModelReport(os.fspath(path), "onnx", summary, graph, levels, labels, [], None,
                       [], notes)


__all__ = ["ModelReport", "TensorStats", "report", "tensor_stats_streaming"]
