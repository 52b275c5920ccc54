"""``plot``: the model as a picture (SVG, HTML, PNG, DOT), without TensorFlow or graphviz.

``plot_graph`` turns a file into a PlotGraph: one node per layer call (a shared layer is drawn
once per call, as summary rows are), the model's inputs and named outputs as nodes of their
own, one edge per connection, and a nested model's graph inside its node. ``draw`` lays it out
(``graph.layout``), expanding nested models down to the depth asked for. Writing the picture
is ``formats.svg`` / ``formats.html_page``; this module returns report objects and never prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifact import ModelArtifact
from ..errors import MissingDependencyError, UnsupportedError
from ..formatting import shape_text
from ..graph.attributes import layer_attributes
from ..graph.layout import (
    BOX_PAD_X,
    BOX_PAD_Y,
    CHAR_WIDTH,
    LINE_HEIGHT,
    MIN_BOX_WIDTH,
    Layout,
    layered_layout,
)
from ..graph.model import Graph, Shape, build_graph
from ..graph.nesting import expand

PathLike = str | os.PathLike[str]

#: What a node label can show (the CLI flags of the same names).
SHOW_OPTIONS = ("shapes", "dtype", "trainable", "activations", "params", "macs")
#: Output formats, by file extension.
FORMATS = ("svg", "html", "png", "dot")



@dataclass
class PlotNode:
    """One box of the picture: a layer call, a model input, a named output, or a nested model
    (``inner`` holds its graph). ``id`` is unique in the whole picture."""

    id: str
    kind: str  # input | layer | model | output | op (ONNX)
    name: str
    class_name: str
    path: str
    node: int | None = None
    input_shapes: list[Shape | None] = field(default_factory=list)
    output_shapes: list[Shape | None] | None = None
    dtype: str | None = None
    trainable: bool = True
    params: int | None = None
    macs: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    shared: bool = False
    inner: PlotGraph | None = None


@dataclass
class PlotEdge:
    """One connection: the tensor ``tensor`` of ``source`` read by ``target``."""

    source: str
    target: str
    tensor: str
    shape: Shape | None = None


@dataclass
class PlotGraph:
    """One level of the picture (the model, or the graph inside a nested model)."""

    name: str
    class_name: str
    nodes: list[PlotNode]
    edges: list[PlotEdge]

    def node(self, node_id: str) -> PlotNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def walk(self) -> list[tuple[PlotNode, int]]:
        """Every node with its nesting depth, nested graphs included."""
        out: list[tuple[PlotNode, int]] = []
        stack: list[tuple[PlotGraph, int]] = [(self, 0)]
        while stack:
            graph, depth = stack.pop()
            for node in graph.nodes:
                out.append((node, depth))
                if node.inner is not None:
                    stack.append((node.inner, depth + 1))
        return out


@dataclass
class PlotOptions:
    """What the labels show and how the picture is laid out."""

    shapes: bool = False
    dtype: bool = False
    trainable: bool = False
    activations: bool = False
    params: bool = False
    macs: bool = False
    expand_depth: int = 0  # how many levels of nested models are drawn open
    rankdir: str = "TB"


@dataclass
class PlotReport:
    """A drawn model: the graph, its layout (nested models opened to the depth asked), the
    label lines of every node, and notes."""

    path: str | None
    kind: str
    graph: PlotGraph
    layout: Layout
    labels: dict[str, list[str]]
    options: PlotOptions
    notes: list[str] = field(default_factory=list)
    output: str | None = None


def plot_graph(artifact: ModelArtifact) -> tuple[PlotGraph, list[str]]:
    """The PlotGraph of an opened Keras artifact, and notes (unknown shapes...).

    Raises:
        UnsupportedError: the file holds no architecture (weights only).
    """
    from .summary import summarize

    if artifact.config is None:
        problem = artifact.config_error or "this file holds no architecture"
        raise UnsupportedError(f"nothing to draw: {problem}", path=artifact.path,
                               hint="a weights-only file (or a SavedModel without Keras "
                                    "metadata) has no layer graph; draw the file that holds "
                                    "the architecture")
    summary = summarize(artifact, expand_nested=True, engine="fast")
    graph = summary.graph
    if graph is None:  # pragma: no cover - summarize always sets it for a config
        display = os.fspath(artifact.path) if artifact.path is not None else None
        graph = build_graph(artifact.config, dialect=artifact.dialect, path=display)
    rows = {(row.path, row.node): row for row in summary.rows}
    return _Builder(rows).graph(graph, "", "", top=True), list(summary.notes)


class _Builder:
    def __init__(self, rows: dict[tuple[str, int | None], Any]) -> None:
        self.rows = rows

    def graph(self, graph: Graph, prefix: str, id_prefix: str, *, top: bool) -> PlotGraph:
        nodes: list[PlotNode] = []
        edges: list[PlotEdge] = []
        ids: dict[tuple[str, int], str] = {}
        for info in graph.layers.values():
            for node in info.nodes:
                ids[node.key] = f"{id_prefix}{info.name}#{node.index}"
        shapes: dict[tuple[str, int], list[Shape | None] | None] = {}
        for node in graph.order:
            info = graph.layers[node.layer]
            path = f"{prefix}{info.name}"
            row = self.rows.get((path, node.index))
            kind = "input" if info.is_input else ("model" if info.graph is not None else "layer")
            plot_node = PlotNode(
                id=ids[node.key], kind=kind, name=info.name, class_name=info.class_name,
                path=path, node=node.index, config=info.config,
                dtype=_dtype(info.config), trainable=info.trainable,
                attributes=layer_attributes(info.class_name, info.config),
                shared=node.index > 0 and not info.is_input)
            if row is not None:
                plot_node.input_shapes = list(row.input_shapes)
                plot_node.output_shapes = row.output_shapes
                plot_node.params = row.params
                plot_node.macs = row.macs
                plot_node.trainable = row.trainable
            elif info.is_input:
                plot_node.output_shapes = [_declared_input(info.config)]
            shapes[node.key] = plot_node.output_shapes
            if info.graph is not None:
                plot_node.inner = self.graph(info.graph, f"{path}/", f"{plot_node.id}/",
                                             top=False)
            nodes.append(plot_node)
            for ref in node.inbound:
                produced = shapes.get((ref.layer, ref.node))
                shape = produced[ref.tensor] if produced and ref.tensor < len(produced) else None
                edges.append(PlotEdge(ids[(ref.layer, ref.node)], plot_node.id, str(ref), shape))
        # A Sequential's input takes its shape from the first layer's input.
        for plot_node in nodes:
            if plot_node.kind == "input" and plot_node.output_shapes in (None, [None]):
                for edge in edges:
                    if edge.source == plot_node.id:
                        consumer = next(n for n in nodes if n.id == edge.target)
                        if consumer.input_shapes:
                            plot_node.output_shapes = [consumer.input_shapes[0]]
                            edge.shape = consumer.input_shapes[0]
                        break
        if top:
            for i, ref in enumerate(graph.outputs):
                produced = shapes.get((ref.layer, ref.node))
                shape = produced[ref.tensor] if produced and ref.tensor < len(produced) else None
                name = ref.layer if ref.tensor == 0 else f"{ref.layer}[{ref.tensor}]"
                out = PlotNode(id=f"{id_prefix}output:{i}", kind="output", name=name,
                               class_name="Output", path=name, output_shapes=[shape])
                nodes.append(out)
                edges.append(PlotEdge(ids[(ref.layer, ref.node)], out.id, str(ref), shape))
        return PlotGraph(graph.name, graph.class_name, nodes, edges)


def _dtype(config: dict[str, Any]) -> str | None:
    policy = config.get("dtype")
    if isinstance(policy, dict):
        policy = (policy.get("config") or {}).get("name")
    return policy if isinstance(policy, str) else None


def _declared_input(config: dict[str, Any]) -> Shape | None:
    from ..graph.shapes import input_shape

    return input_shape(config)


def onnx_plot_graph(path: PathLike) -> tuple[PlotGraph, list[str]]:
    """The PlotGraph of an ONNX file: graph inputs, one node per operator, named outputs."""
    from ..formats.onnx_file import summarize_onnx

    onnx_summary = summarize_onnx(path)
    nodes: list[PlotNode] = []
    edges: list[PlotEdge] = []
    producer: dict[str, tuple[str, Shape | None]] = {}
    for i, tensor in enumerate(onnx_summary.inputs):
        node_id = f"input:{i}"
        shape = _onnx_shape(tensor.shape)
        nodes.append(PlotNode(node_id, "input", tensor.name, "Input", tensor.name,
                              output_shapes=[shape], dtype=tensor.dtype))
        producer[tensor.name] = (node_id, shape)
    for i, op in enumerate(onnx_summary.nodes):
        node_id = f"op:{i}"
        outs = [_onnx_shape(s) for s in op.output_shapes]
        ins = [producer[name][1] for name in op.inputs if name in producer]
        nodes.append(PlotNode(node_id, "op", op.name or f"{op.op_type}_{i}", op.op_type,
                              op.name or node_id, input_shapes=ins, output_shapes=outs))
        for name in op.inputs:
            if name in producer:
                source, shape = producer[name]
                edges.append(PlotEdge(source, node_id, name, shape))
        for name, shape in zip(op.outputs, outs):
            producer[name] = (node_id, shape)
    for i, tensor in enumerate(onnx_summary.outputs):
        node_id = f"output:{i}"
        shape = _onnx_shape(tensor.shape)
        nodes.append(PlotNode(node_id, "output", tensor.name, "Output", tensor.name,
                              output_shapes=[shape], dtype=tensor.dtype))
        if tensor.name in producer:
            edges.append(PlotEdge(producer[tensor.name][0], node_id, tensor.name, shape))
    notes = list(onnx_summary.notes)
    if any(op.subgraph_nodes for op in onnx_summary.nodes):
        notes.append("subgraphs of control-flow operators (If, Loop, Scan) are not drawn")
    return PlotGraph(onnx_summary.graph_name, "ONNX", nodes, edges), notes


def _onnx_shape(dims: list[int | str | None] | None) -> Shape | None:
    if dims is None:
        return None
    return tuple(d if isinstance(d, int) and d >= 0 else None for d in dims)


# -- labels and layout --------------------------------------------------------------------------


def _shape_text(shapes: list[Shape | None] | None) -> str:
    if shapes is None:
        return "?"
    return ", ".join(shape_text(s) for s in shapes)


def node_label(node: PlotNode, options: PlotOptions) -> list[str]:
    """The lines of a node's box: name, class, then what the options ask for."""
    if node.kind == "output":
        lines = [node.name, "output"]
        if options.shapes:
            lines.append(_shape_text(node.output_shapes))
        return lines
    title = node.name if node.node in (None, 0) or node.kind == "input" \
        else f"{node.name} #{node.node}"
    if node.inner is not None:
        title += "   "  # room for the open/close mark of the HTML viewer
    lines = [title, node.class_name]
    if options.activations and "activation" in node.attributes:
        lines.append(f"activation: {node.attributes['activation']}")
    if options.shapes:
        if node.kind != "input":
            lines.append(f"in: {_shape_text(node.input_shapes) or '-'}")
        lines.append(f"out: {_shape_text(node.output_shapes)}")
    if options.dtype and node.dtype:
        lines.append(f"dtype: {node.dtype}")
    if options.trainable and node.kind in ("layer", "model"):
        lines.append("trainable" if node.trainable else "frozen")
    if options.params and node.kind in ("layer", "model"):
        params = "shared" if node.shared else ("?" if node.params is None
                                               else f"{node.params:,}")
        lines.append(f"params: {params}")
    if options.macs and node.macs is not None:
        lines.append(f"MACs: {node.macs:,}")
    return lines


def box_size(lines: list[str]) -> tuple[float, float]:
    """Width and height of a box holding ``lines`` in the label font."""
    widest = max((len(line) for line in lines), default=0)
    return (max(MIN_BOX_WIDTH, widest * CHAR_WIDTH + 2 * BOX_PAD_X),
            len(lines) * LINE_HEIGHT + 2 * BOX_PAD_Y)


def level_layout(graph: PlotGraph, labels: dict[str, list[str]], rankdir: str) -> Layout:
    """The drawing of one level with every nested model closed."""
    sizes = {node.id: box_size(labels[node.id]) for node in graph.nodes}
    return layered_layout(sizes, [(e.source, e.target) for e in graph.edges], rankdir)


def labels_of(graph: PlotGraph, options: PlotOptions) -> dict[str, list[str]]:
    """The label lines of every node, nested graphs included."""
    return {node.id: node_label(node, options) for node, _ in graph.walk()}


def draw(graph: PlotGraph, options: PlotOptions,
         labels: dict[str, list[str]] | None = None) -> Layout:
    """Lay out ``graph``, opening nested models ``options.expand_depth`` levels deep."""
    labels = labels if labels is not None else labels_of(graph, options)
    return _draw(graph, labels, options, 0)


def _draw(graph: PlotGraph, labels: dict[str, list[str]], options: PlotOptions,
          depth: int) -> Layout:
    layout = level_layout(graph, labels, options.rankdir)
    if depth < options.expand_depth:
        for node in graph.nodes:
            if node.inner is not None and node.inner.nodes:
                expand(layout, node.id, _draw(node.inner, labels, options, depth + 1))
    return layout


def plot(path: PathLike, output: PathLike | None = None, *, shapes: bool = False,
         dtype: bool = False, trainable: bool = False, activations: bool = False,
         params: bool = False, macs: bool = False, expand_nested: bool = False,
         depth: int | None = None, rankdir: str | None = None, fmt: str | None = None,
         force: bool = False) -> PlotReport:
    """Draw a model file: SVG, HTML, PNG or DOT, with no TensorFlow and no graphviz.

    Args:
        path: any file kind modeltool reads that holds an architecture (``.onnx`` too).
        output: where to write the picture (its extension picks the format unless ``fmt``);
            None to only lay it out (the returned report holds the layout as data).
        shapes, dtype, trainable, activations, params, macs: what node labels show.
        expand_nested: draw nested models open (all levels unless ``depth``).
        depth: how many levels of nested models to open (implies ``expand_nested`` above 0).
        rankdir: ``TB`` (top to bottom, default) or ``LR``.
        fmt: ``svg``, ``html``, ``png`` or ``dot``.
        force: replace an existing output.

    Returns:
        A PlotReport: the graph, its layout (boxes and edge polylines) and the labels.

    Raises:
        ModelToolError: unreadable input, no architecture, an unknown format, an output that
            exists (without ``force``), PNG without cairosvg.

    Example:
        >>> report = modeltool.plot("model.h5", "model.svg", shapes=True)  # doctest: +SKIP
        >>> [(b.id, b.x, b.y) for b, _ in report.layout.walk()][:2]  # doctest: +SKIP
    """
    rankdir = (rankdir or "TB").upper()
    if rankdir not in ("TB", "LR"):
        raise UnsupportedError(f"unknown rankdir {rankdir!r}", hint="use TB or LR")
    if depth is not None and depth < 0:
        raise UnsupportedError("depth must be 0 or more", hint="pass --depth 0, 1, 2, ...")
    expand_depth = depth if depth is not None else (10**6 if expand_nested else 0)
    options = PlotOptions(shapes, dtype, trainable, activations, params, macs, expand_depth,
                          rankdir)
    target_format = _format_for(output, fmt)
    if output is not None:
        from ..io import check_output

        check_output(output, force=force, inputs=(path,))
    graph, notes, kind = load_plot_graph(path)
    labels = labels_of(graph, options)
    layout = draw(graph, options, labels)
    report = PlotReport(os.fspath(path), kind, graph, layout, labels, options, notes)
    if output is not None:
        write_plot(report, output, target_format)
        report.output = os.fspath(output)
    return report


def layout(path: PathLike, *, expand_nested: bool = False, depth: int | None = None,
           rankdir: str | None = None, shapes: bool = False) -> Layout:
    """The drawing of a model as data, for people who draw it themselves.

    Returns:
        A Layout: ``boxes`` (id -> Box with x, y, width, height, rank and, for an opened
        nested model, ``inner``), ``routes`` (one polyline per connection), width, height.
        Box ids are the ids of ``plot(path).graph`` nodes (``layer#call``).

    Example:
        >>> drawing = modeltool.layout("model.h5")  # doctest: +SKIP
        >>> for box, depth in drawing.walk(): print(box.id, box.x, box.y)  # doctest: +SKIP
    """
    return plot(path, None, shapes=shapes, expand_nested=expand_nested, depth=depth,
                rankdir=rankdir).layout


def load_plot_graph(path: PathLike) -> tuple[PlotGraph, list[str], str]:
    """The PlotGraph of any file (Keras kinds through their config, ONNX through ``onnx``)."""
    from ..formats import open_artifact
    from ..formats.onnx_file import sniff_kind as sniff_onnx

    if sniff_onnx(path):
        graph, notes = onnx_plot_graph(path)
        return graph, notes, "onnx"
    with open_artifact(path) as artifact:
        graph, notes = plot_graph(artifact)
        return graph, notes, artifact.kind


def _format_for(output: PathLike | None, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise UnsupportedError(f"unknown picture format {fmt!r}",
                                   hint="use svg, html, png or dot")
        return fmt
    if output is None:
        return "svg"
    suffix = Path(output).suffix.lower().lstrip(".")
    if suffix == "htm":
        suffix = "html"
    if suffix not in FORMATS:
        raise UnsupportedError(f"cannot tell the picture format from {os.fspath(output)!r}",
                               path=output, hint="name the output .svg, .html, .png or .dot "
                                                 "(or pass --format)")
    return suffix


def levels_of(graph: PlotGraph, labels: dict[str, list[str]], rankdir: str = "TB"
              ) -> dict[str, Layout]:
    """The closed layout of every level: ``""`` for the model, a nested node's id for the
    graph inside it."""
    levels: dict[str, Layout] = {"": level_layout(graph, labels, rankdir)}
    for node, _ in graph.walk():
        if node.inner is not None and node.inner.nodes:
            levels[node.id] = level_layout(node.inner, labels, rankdir)
    return levels


def write_plot(report: PlotReport, output: PathLike, fmt: str) -> None:
    """Write the picture of ``report`` to ``output`` (atomically)."""
    from ..io import atomic_path

    if fmt == "png":
        data = png_bytes(report)
        with atomic_path(output) as tmp:
            tmp.write_bytes(data)
        return
    if fmt == "svg":
        from ..formats.svg import svg_document

        text = svg_document(report.graph, report.layout, report.labels)
    elif fmt == "dot":
        from ..formats.svg import dot_document

        text = dot_document(report.graph, report.labels, report.options)
    else:
        from ..formats.html_page import plot_page

        text = plot_page(report, levels_of(report.graph, report.labels, report.options.rankdir))
    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")


def png_bytes(report: PlotReport) -> bytes:
    """The picture as PNG, through cairosvg (the optional ``png`` extra)."""
    from .. import _optional
    from ..formats.svg import svg_document

    try:
        cairosvg = _optional.require("cairosvg", "PNG output (SVG, HTML and DOT need nothing)")
    except OSError as err:  # cairocffi without the cairo library
        raise MissingDependencyError(
            "PNG output needs the cairo library, which is not installed",
            hint="apt-get install libcairo2 (SVG, HTML and DOT need nothing)") from err
    svg = svg_document(report.graph, report.layout, report.labels)
    scale = 1.0 if max(report.layout.width, report.layout.height) > 8000 else 2.0
    return bytes(cairosvg.svg2png(bytestring=svg.encode("utf-8"), scale=scale))


__all__ = ["PlotEdge", "PlotGraph", "PlotNode", "PlotOptions", "PlotReport", "draw", "layout",
           "load_plot_graph", "plot", "plot_graph"]
