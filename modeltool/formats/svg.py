"""A drawn model as SVG text (and as DOT for people who have graphviz). Nothing here prints.

Every box is a ``<g class="node">`` with ``data-id``/``data-kind``; every edge a
``<path class="edge">`` with ``data-source``/``data-target``; an opened nested model a
``<g class="nest">`` holding its own boxes. Tests and the HTML report rely on those names.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from ..graph.layout import NEST_PAD, Box, Layout, Route

if TYPE_CHECKING:
    from ..ops.plot import PlotGraph, PlotNode, PlotOptions

MARGIN = 16.0

#: Fill colours by family of layer (Netron-like: each family its own hue, soft enough for text).
_FAMILIES = (
    ("input", "#e8eef7", ("InputLayer", "Input")),
    ("output", "#eeeeee", ("Output",)),
    ("conv", "#dbe9fb", ("Conv", "SeparableConv", "DepthwiseConv", "Convolution")),
    ("dense", "#e3f1df", ("Dense", "EinsumDense", "Embedding", "Gemm", "MatMul")),
    ("norm", "#f4eadb", ("Normalization", "BatchNorm", "LayerNorm", "GroupNorm")),
    ("pool", "#e4f1f1", ("Pool", "Pooling", "Flatten", "Reshape", "Permute", "Cropping",
                         "ZeroPadding", "UpSampling", "RepeatVector", "Resizing")),
    ("recurrent", "#efe3f5", ("LSTM", "GRU", "RNN", "Bidirectional", "TimeDistributed",
                              "Attention", "MultiHeadAttention")),
    ("merge", "#f8e1e1", ("Add", "Concatenate", "Multiply", "Average", "Maximum", "Minimum",
                          "Subtract", "Dot", "Concat", "Sum")),
    ("activation", "#fbe9d3", ("Activation", "ReLU", "Relu", "Softmax", "LeakyReLU", "PReLU",
                               "ELU", "Sigmoid", "Tanh", "Clip")),
    ("dropout", "#f2f2f2", ("Dropout", "GaussianNoise", "SpatialDropout")),
)
_MODEL_FILL = "#fdf7e3"
_DEFAULT_FILL = "#f4f4f4"


def family(class_name: str, kind: str) -> tuple[str, str]:
    """The family of a box (for its colour and CSS class) and its fill colour."""
    if kind == "model":
        return "model", _MODEL_FILL
    if kind in ("input", "output"):
        return kind, _FAMILIES[0][1] if kind == "input" else _FAMILIES[1][1]
    for name, fill, words in _FAMILIES[2:]:
        if any(word in class_name for word in words):
            return name, fill
    return "other", _DEFAULT_FILL


STYLE = """
.node rect{stroke:#556;stroke-width:1}
.node.frozen rect{stroke-dasharray:4 2}
.node.model rect{stroke:#b8860b;stroke-width:1.5}
.node text{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px;fill:#222}
.node text.title{font-weight:bold}
.nest > rect{fill:#fffdf5;stroke:#b8860b;stroke-width:1.5}
.nest > text{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px;
font-weight:bold;fill:#7a5b00}
.edge{fill:none;stroke:#778;stroke-width:1.2}
"""


def svg_document(graph: PlotGraph, layout: Layout, labels: dict[str, list[str]]) -> str:
    """A standalone SVG of a laid-out PlotGraph."""
    width = layout.width + 2 * MARGIN
    height = layout.height + 2 * MARGIN
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
             f'height="{height:.0f}" viewBox="0 0 {width:.1f} {height:.1f}" '
             f'class="modeltool-graph">',
             f"<title>{escape(graph.name)} ({escape(graph.class_name)})</title>",
             f"<style>{STYLE}</style>",
             '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
             'markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#778"/></marker>'
             '</defs>',
             '<rect width="100%" height="100%" fill="#ffffff"/>',
             f'<g transform="translate({MARGIN},{MARGIN})">']
    _level(parts, graph, layout, labels)
    parts.append("</g></svg>\n")
    return "\n".join(parts)


def _level(parts: list[str], graph: PlotGraph, layout: Layout,
           labels: dict[str, list[str]]) -> None:
    nodes = {node.id: node for node in graph.nodes}
    for route in layout.routes:
        parts.append(_edge(route))
    for box in layout.boxes.values():
        node = nodes[box.id]
        if box.inner is not None and node.inner is not None:
            parts.append(f'<g class="nest" data-id="{escape(box.id)}">')
            parts.append(f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
                         f'height="{box.height:.1f}" rx="6"/>')
            parts.append(f'<text x="{box.x + NEST_PAD:.1f}" y="{box.y + NEST_PAD + 12:.1f}">'
                         f'{escape(node.name)} ({escape(node.class_name)})</text>')
            _level(parts, node.inner, box.inner, labels)
            parts.append("</g>")
        else:
            parts.append(_node(box, node, labels[box.id]))


def path_data(points: list[tuple[float, float]]) -> str:
    """SVG path data of a polyline."""
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _edge(route: Route) -> str:
    return (f'<path class="edge" data-source="{escape(route.source)}" '
            f'data-target="{escape(route.target)}" d="{path_data(route.points)}" '
            'marker-end="url(#arrow)"/>')


def _node(box: Box, node: PlotNode, lines: list[str]) -> str:
    from ..graph.layout import BOX_PAD_X, BOX_PAD_Y, FONT_SIZE, LINE_HEIGHT

    fam, fill = family(node.class_name, node.kind)
    classes = f"node {node.kind} {fam}" + ("" if node.trainable else " frozen")
    out = [f'<g class="{classes}" data-id="{escape(box.id)}" data-kind="{node.kind}">',
           f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
           f'height="{box.height:.1f}" rx="{12 if node.kind in ("input", "output") else 3}" '
           f'fill="{fill}"/>']
    for i, line in enumerate(lines):
        y = box.y + BOX_PAD_Y + i * LINE_HEIGHT + FONT_SIZE
        css = ' class="title"' if i == 0 else ""
        out.append(f'<text x="{box.x + BOX_PAD_X:.1f}" y="{y:.1f}"{css}>{escape(line)}</text>')
    out.append("</g>")
    return "".join(out)


def dot_document(graph: PlotGraph, labels: dict[str, list[str]], options: PlotOptions) -> str:
    """The graph in graphviz's DOT language (nested models opened as clusters to the depth
    asked), for people who want graphviz's own layout."""
    lines = ["digraph model {", f"  rankdir={options.rankdir};",
             '  node [shape=box, style="rounded,filled", fontname="monospace", fontsize=10];']
    _dot_level(lines, graph, labels, options.expand_depth, 0, "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_id(node_id: str) -> str:
    return '"' + node_id.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(lines: list[str]) -> str:
    text = "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return f'"{text}"'


def _dot_level(lines: list[str], graph: PlotGraph, labels: dict[str, list[str]],
               max_depth: int, depth: int, indent: str) -> None:
    redirect: dict[str, tuple[str, str]] = {}
    for node in graph.nodes:
        _, fill = family(node.class_name, node.kind)
        if node.inner is not None and depth < max_depth and node.inner.nodes:
            lines.append(f"{indent}subgraph {_dot_id('cluster_' + node.id)} {{")
            lines.append(f"{indent}  label={_dot_label([f'{node.name} ({node.class_name})'])};")
            _dot_level(lines, node.inner, labels, max_depth, depth + 1, indent + "  ")
            lines.append(f"{indent}}}")
            first = node.inner.nodes[0].id
            last = node.inner.nodes[-1].id
            redirect[node.id] = (first, last)
        else:
            lines.append(f'{indent}{_dot_id(node.id)} [label={_dot_label(labels[node.id])}, '
                         f'fillcolor="{fill}"];')
    for edge in graph.edges:
        source = redirect.get(edge.source, (edge.source, edge.source))[1]
        target = redirect.get(edge.target, (edge.target, edge.target))[0]
        lines.append(f"{indent}{_dot_id(source)} -> {_dot_id(target)};")

