"""Self-contained HTML pages: the graph viewer (``plot -o x.html``) and the model report.

One file, no CDN, no request of any kind (a Content-Security-Policy forbids them): the data
is a JSON block, the viewer a small script. Every level of the graph is laid out in Python
with its nested models closed; the script opens one by growing its box exactly as
``graph.nesting.expand`` does, so the browser never runs a layout of its own.

DOM names tests and users can rely on: ``#graph`` (the SVG), ``g.node[data-id]``,
``g.nest[data-id]`` (an opened nested model), ``.toggle`` (opens/closes a nested model),
``#search``, ``#search-count``, ``#details``.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import TYPE_CHECKING, Any

from ..graph.layout import NEST_PAD, NEST_TITLE, Layout
from ..kinds import Kind

if TYPE_CHECKING:
    from ..ops.plot import PlotGraph, PlotReport
    from ..ops.report import ModelReport, TensorStats

#: Longest config text shipped per node (a config holding a big constant stays out).
CONFIG_LIMIT = 20_000


def layout_dict(layout: Layout) -> dict[str, Any]:
    """One closed level as plain data (the viewer's input; also handy for other drawers)."""
    return {
        "rankdir": layout.rankdir, "w": round(layout.width, 1), "h": round(layout.height, 1),
        "bands": [[round(a, 2), round(b, 2)] for a, b in layout.bands],
        "boxes": [{"id": b.id, "x": round(b.x, 2), "y": round(b.y, 2), "w": round(b.width, 2),
                   "h": round(b.height, 2), "rank": b.rank} for b in layout.boxes.values()],
        "routes": [{"s": r.source, "t": r.target, "sp": round(r.source_port, 4),
                    "tp": round(r.target_port, 4),
                    "pts": [[round(x, 2), round(y, 2)] for x, y in r.points]}
                   for r in layout.routes],
    }


def _shape_list(shapes: Any) -> list[str]:
    from ..formatting import shape_text

    if shapes is None:
        return ["?"]
    return [shape_text(s) for s in shapes]


def _config_text(config: dict[str, Any]) -> str:
    text = json.dumps(config, indent=1, default=str, sort_keys=False)
    return text if len(text) <= CONFIG_LIMIT else text[:CONFIG_LIMIT] + "\n... (cut)"


def graph_data(graph: PlotGraph, levels: dict[str, Layout], labels: dict[str, list[str]],
               expanded: list[str]) -> dict[str, Any]:
    """The JSON the viewer reads: levels, nodes (labels and details), what starts open."""
    from ..graph.layout import BOX_PAD_X, BOX_PAD_Y, FONT_SIZE, LINE_HEIGHT
    from .svg import family

    nodes: dict[str, Any] = {}
    parents: dict[str, str] = {}
    for node, _ in graph.walk():
        if node.inner is not None:
            for child in node.inner.nodes:
                parents[child.id] = node.id
    for node, _ in graph.walk():
        fam, fill = family(node.class_name, node.kind)
        nodes[node.id] = {
            "name": node.name, "cls": node.class_name, "kind": node.kind, "path": node.path,
            "node": node.node, "lines": labels[node.id], "fam": fam, "fill": fill,
            "trainable": node.trainable, "shared": node.shared,
            "inner": node.id in levels and node.inner is not None,
            "parent": parents.get(node.id),
            "ins": _shape_list(node.input_shapes) if node.input_shapes else [],
            "outs": _shape_list(node.output_shapes), "params": node.params,
            "macs": node.macs, "attrs": node.attributes, "dtype": node.dtype,
            "config": _config_text(node.config) if node.config else "",
        }
    return {
        "levels": {key: layout_dict(layout) for key, layout in levels.items()},
        "nodes": nodes, "expanded": expanded,
        "metrics": {"pad": NEST_PAD, "title": NEST_TITLE, "padX": BOX_PAD_X, "padY": BOX_PAD_Y,
                    "font": FONT_SIZE, "line": LINE_HEIGHT},
    }


def _json_script(data: dict[str, Any]) -> str:
    text = json.dumps(data, separators=(",", ":"), default=str, allow_nan=False)
    # "<" never appears raw inside the script element (no "</script>" or "<!--" surprises).
    return text.replace("<", "\\u003c")


def _asset(name: str) -> str:
    from importlib import resources

    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def _page(title: str, body: str, data: dict[str, Any]) -> str:
    css, script = _asset("viewer.css"), _asset("viewer.js")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)}</title><style>{css}</style></head><body>{body}"
        f'<script type="application/json" id="model-data">{_json_script(data)}</script>'
        f"<script>{script}</script></body></html>\n")


def _viewer(with_details: bool = True) -> str:
    details = ('<aside id="details"><p class="hint">Click a box to see its config, shapes, '
               "params, MACs and weights.</p></aside>") if with_details else ""
    return ('<section id="viewer"><div class="toolbar">'
            '<input id="search" type="search" placeholder="Search layers by name" '
            'autocomplete="off"> <span id="search-count"></span>'
            '<button id="fit" type="button">Fit</button>'
            '<button id="zoom-in" type="button">+</button>'
            '<button id="zoom-out" type="button">&minus;</button>'
            '<button id="expand-all" type="button">Open all nested</button>'
            '<button id="collapse-all" type="button">Close all nested</button></div>'
            '<div class="panes"><div id="canvas"><svg id="graph" '
            'xmlns="http://www.w3.org/2000/svg"><defs><marker id="arrow" viewBox="0 0 8 8" '
            'refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto">'
            '<path d="M0,0 L8,4 L0,8 z" fill="#778"/></marker></defs>'
            f'<g id="viewport"></g></svg></div>{details}</div></section>')


def plot_page(report: PlotReport, levels: dict[str, Layout]) -> str:
    """The interactive graph of ``plot -o x.html`` (``levels``: the layout of each level)."""
    expanded = [node.id for node, depth in report.graph.walk()
                if node.inner is not None and depth < report.options.expand_depth]
    data = graph_data(report.graph, levels, report.labels, expanded)
    data["weights"] = {}
    title = f"{report.graph.name} - {report.path}"
    body = (f"<header><h1>{escape(report.graph.name)} <small>{escape(report.graph.class_name)}"
            f"</small></h1><p class=\"file\">{escape(report.path or '')} ({escape(report.kind)})"
            f"</p></header>{_viewer()}{_notes('Notes', report.notes)}")
    return _page(title, body, data)


def report_page(report: ModelReport) -> str:
    """The whole report: header, graph viewer, summary, check findings, migration log,
    weights."""
    weights: dict[str, list[dict[str, Any]]] = {}
    for t in report.tensors:
        weights.setdefault(t.path, []).append(_tensor_dict(t))
    if report.graph is not None:
        data = graph_data(report.graph, report.levels, report.labels, [])
    else:
        data = {"levels": {}, "nodes": {}, "expanded": [], "metrics": {}}
    data["weights"] = weights
    summary = report.summary
    name = getattr(summary, "model_name", None) or getattr(summary, "graph_name", None) or ""
    cls = getattr(summary, "model_class", None) or ("ONNX" if report.kind == Kind.ONNX else "")
    parts = [f"<header><h1>{escape(str(name) or 'weights only')} <small>{escape(str(cls))}"
             f"</small></h1><p class=\"file\">{escape(report.path)} ({escape(report.kind)}"
             + (f", Keras {escape(str(summary.keras_version))}"
                if getattr(summary, "keras_version", None) else "") + ")</p>"
             + _totals_html(report) + "</header>"]
    parts.append('<nav><a href="#viewer">Graph</a> <a href="#summary">Summary</a> '
                 '<a href="#check">Check</a> <a href="#migration">Migration log</a> '
                 '<a href="#weights">Weights</a></nav>')
    if report.graph is not None:
        parts.append(_viewer())
    else:
        parts.append('<section id="viewer"><p>This file holds no architecture: no graph to '
                     "draw.</p></section>")
    parts.append(_summary_html(report))
    parts.append(_check_html(report))
    parts.append(_notes("Migration log", report.migration_notes, "migration",
                        "No migration was needed: the file is in the Keras 3 dialect."))
    parts.append(_weights_html(report.tensors))
    parts.append(_notes("Notes", report.notes))
    return _page(f"{name} - {report.path}", "".join(parts), data)


def _num(value: float | None) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return float(f"{value:.6g}")


def _tensor_dict(t: TensorStats) -> dict[str, Any]:
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "bytes": t.bytes,
            "min": _num(t.min), "max": _num(t.max), "mean": _num(t.mean), "std": _num(t.std),
            "zeros": t.zeros, "nan": t.nan, "inf": t.inf, "hist": t.histogram,
            "error": t.error}


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _totals_html(report: ModelReport) -> str:
    from ..formatting import human_bytes

    summary = report.summary
    items: list[str] = []
    if report.kind == Kind.ONNX:
        items.append(f"{len(summary.nodes):,} operators, {_count(summary.params)} params "
                     f"({human_bytes(summary.initializer_bytes)})")
    else:
        totals = summary.totals
        items.append(f"Params {_count(totals.params)} ({human_bytes(totals.total_bytes)})")
        if summary.has_architecture:
            items.append(f"trainable {_count(totals.trainable_params)}")
            items.append(f"MACs per sample {_count(totals.macs)}")
            items.append(f"{len(summary.rows):,} rows")
    return "<p class=\"totals\">" + " · ".join(escape(i) for i in items) + "</p>"


def _summary_html(report: ModelReport) -> str:
    from ..formatting import shape_text
    from ..graph.attributes import attributes_text

    summary = report.summary
    out = ['<section id="summary"><h2>Summary</h2>']
    if report.kind == Kind.ONNX:
        out.append("<table><thead><tr><th>Node</th><th>Op</th><th>Output shapes</th></tr>"
                   "</thead><tbody>")
        for node in summary.nodes:
            shapes = ", ".join("?" if s is None else "(" + ", ".join(
                "?" if d is None else str(d) for d in s) + ")" for s in node.output_shapes)
            out.append(f"<tr><td>{escape(node.name)}</td><td>{escape(node.op_type)}</td>"
                       f"<td>{escape(shapes)}</td></tr>")
        out.append("</tbody></table></section>")
        return "".join(out)
    if not summary.has_architecture:
        out.append("<p>Weights only: see the weights below.</p></section>")
        return "".join(out)
    out.append("<table><thead><tr><th>Layer</th><th>Class</th><th>Attributes</th>"
               "<th>Output shape</th><th class=\"num\">Params</th><th>Train</th>"
               "<th>Connected to</th><th class=\"num\">MACs</th></tr></thead><tbody>")
    for row in summary.rows:
        name = "\u2003" * row.depth + row.layer + (f" #{row.node}" if row.node else "")
        outs = "?" if row.output_shapes is None else ", ".join(
            shape_text(s) for s in row.output_shapes)
        params = "shared" if row.shared else _count(row.params)
        out.append(
            f"<tr><td>{escape(name)}</td><td>{escape(row.class_name)}</td>"
            f"<td>{escape(attributes_text(row.attributes))}</td><td>{escape(outs)}</td>"
            f"<td class=\"num\">{params}</td><td>{'Y' if row.trainable else 'N'}</td>"
            f"<td>{escape(', '.join(row.inbound))}</td>"
            f"<td class=\"num\">{'' if row.macs is None else f'{row.macs:,}'}</td></tr>")
    out.append("</tbody></table></section>")
    return "".join(out)


def _check_html(report: ModelReport) -> str:
    check = report.check
    out = ['<section id="check"><h2>Check</h2>']
    if check is None:
        out.append("<p>Not run for this kind of file.</p>")
    elif check.ok:
        out.append(f"<p class=\"ok\">No problems: {check.tensors:,} tensors, "
                   f"{check.params:,} values read; no NaN or Inf.</p>")
    else:
        out.append(f"<p class=\"bad\">{len(check.problems)} problem(s):</p><ul>")
        for p in check.problems:
            out.append(f"<li><b>{escape(p.kind)}</b> {escape(p.where)}: "
                       f"{escape(p.detail)}</li>")
        out.append("</ul>")
    out.append("</section>")
    return "".join(out)


def _notes(title: str, notes: list[str], anchor: str = "", empty: str = "") -> str:
    if not notes and not empty:
        return ""
    ident = f' id="{anchor}"' if anchor else ""
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    body = f"<ul>{items}</ul>" if notes else f"<p>{escape(empty)}</p>"
    return f"<section{ident}><h2>{escape(title)}</h2>{body}</section>"


def _weights_html(tensors: list[TensorStats]) -> str:
    from ..formatting import human_bytes

    if not tensors:
        return '<section id="weights"><h2>Weights</h2><p>No weights in this file.</p></section>'
    out = ['<section id="weights"><h2>Weights</h2><table><thead><tr><th>Layer</th>'
           "<th>Weight</th><th>Shape</th><th>Dtype</th><th class=\"num\">Bytes</th>"
           "<th class=\"num\">Min</th><th class=\"num\">Max</th><th class=\"num\">Mean</th>"
           "<th class=\"num\">Std</th><th>NaN/Inf</th><th>Histogram</th></tr></thead><tbody>"]
    for t in tensors:
        stats = [_num(t.min), _num(t.max), _num(t.mean), _num(t.std)]
        cells = "".join(f"<td class=\"num\">{'' if v is None else f'{v:.4g}'}</td>"
                        for v in stats)
        bad = f"{t.nan}/{t.inf}" if t.nan or t.inf else ""
        out.append(f"<tr><td>{escape(t.path)}</td><td>{escape(t.name)}</td>"
                   f"<td>{escape(str(tuple(t.shape)))}</td><td>{escape(t.dtype)}</td>"
                   f"<td class=\"num\">{human_bytes(t.bytes)}</td>{cells}"
                   f"<td class=\"bad\">{bad}</td><td>{histogram_svg(t.histogram)}</td></tr>")
    out.append("</tbody></table></section>")
    return "".join(out)


def histogram_svg(counts: list[int], width: int = 96, height: int = 22) -> str:
    """A tiny bar chart of histogram counts, inline SVG."""
    if not counts or max(counts) == 0:
        return ""
    top = max(counts)
    bar = width / len(counts)
    rects = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - c / top * height:.1f}" width="{bar * 0.9:.1f}" '
        f'height="{c / top * height:.1f}"/>' for i, c in enumerate(counts) if c)
    return (f'<svg class="hist" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{rects}</svg>')
