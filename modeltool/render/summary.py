"""Summary reports to rich renderables, plain text and JSON-able dicts. Nothing here prints.

Every cell is a ``rich.text.Text``, so layer names such as ``[None, 3]`` are never read as
markup. The JSON schema (``"schema": 1``)::

    {"schema": 1, "path", "kind", "keras_version", "engine", "has_architecture",
     "model": {"name", "class"}, "inputs": ["layer[node][tensor]"], "outputs": [...],
     "rows": [{"layer", "path", "class", "node", "depth", "input_shapes", "output_shapes",
               "params", "trainable_params", "trainable", "inbound", "macs", "shape_source",
               "shared", "attributes": {"kernel": "3×3", ...}, "activation_bytes"}],
     "totals": {"params", "trainable_params", "non_trainable_params", "macs", "bytes",
                "bytes_by_dtype", "batch_size", "activation_bytes", "activation_unknown"},
     "weights": [{"layer", "path", "name", "shape", "dtype", "bytes"}],   # weights-only files
     "notes": [...], "migration_notes": [...],
     "dtype_policies": {"layer path": "policy"}}          # layers whose policy is not float32

Shapes are lists with null for unknown dimensions; a wholly unknown shape is null, and an
unknown list of outputs is null. ``params`` of a shared layer is counted on its first node
(later nodes carry 0 and ``"shared": true``); null means unknown.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.segment import Segment
from rich.text import Text

from ..graph.attributes import attributes_text
from ..graph.model import Shape
from ..ops.summary import Summary, SummaryRow
from . import human_bytes

SCHEMA = 1

#: Width of ``str(summary)`` (fixed, so text output is the same on every terminal).
TEXT_WIDTH = 132


def format_shape(shape: Shape | None) -> str:
    """``(None, 28, 28, 1)``; ``?`` for an unknown shape."""
    if shape is None:
        return "?"
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def format_shapes(shapes: list[Shape | None] | None, sep: str = ", ") -> str:
    """One shape as ``(None, 3)``, several as ``[(None, 3), (None, 4)]`` (or one per line
    with ``sep="\n"``), ``?`` when even their number is unknown."""
    if shapes is None:
        return "?"
    if not shapes:
        return ""
    if len(shapes) == 1:
        return format_shape(shapes[0])
    if sep == "\n":
        return sep.join(format_shape(s) for s in shapes)
    return "[" + sep.join(format_shape(s) for s in shapes) + "]"


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _layer_cell(row: SummaryRow) -> str:
    text = "  " * row.depth + row.layer
    if row.node is not None and (row.node > 0 or row.shared):
        text += f" #{row.node}"
    return text


@dataclass
class Column:
    """One column of a Grid: header, alignment, and whether it may wrap when space is short."""

    header: str
    justify: str = "left"
    wrap: bool = True
    min_width: int = 8


class Grid:
    """A plain table as a rich renderable: columns sized to their content and folded to the
    console width. It does what ``rich.table.Table`` would for these tables at a fraction of
    the cost (a ResNet has hundreds of rows), and never reads markup in its cells."""

    gap = 3

    def __init__(self, columns: list[Column], rows: list[list[str]]) -> None:
        self.columns = columns
        self.rows = rows

    def widths(self, width: int) -> list[int]:
        natural = [max([cell_len(line) for row in self.rows for line in row[i].split("\n")]
                       + [cell_len(c.header)]) for i, c in enumerate(self.columns)]
        widths = list(natural)
        budget = width - self.gap * (len(widths) - 1)
        floors = [max(c.min_width, cell_len(c.header)) for c in self.columns]
        # Narrow the widest wrapping column (down to the next widest) until the rows fit.
        while sum(widths) > budget:
            candidates = [i for i, c in enumerate(self.columns) if c.wrap and widths[i] > floors[i]]
            if not candidates:
                break
            widest = max(candidates, key=lambda i: widths[i])
            others = [widths[i] for i in candidates if i != widest]
            target = max(floors[widest], max(others, default=0),
                         widths[widest] - (sum(widths) - budget))
            widths[widest] = target if target < widths[widest] else widths[widest] - 1
        return widths

    def lines(self, width: int) -> list[str]:
        widths = self.widths(width)
        out = [self._line([c.header for c in self.columns], widths).rstrip(),
               "\u2500" * min(width, sum(widths) + self.gap * (len(widths) - 1))]
        for row in self.rows:
            cells = [_fold(cell, w) for cell, w in zip(row, widths)]
            for i in range(max(len(c) for c in cells)):
                parts = [c[i] if i < len(c) else "" for c in cells]
                out.append(self._line(parts, widths).rstrip())
        return out

    def _line(self, parts: list[str], widths: list[int]) -> str:
        padded = []
        for part, w, column in zip(parts, widths, self.columns):
            pad = " " * max(0, w - cell_len(part))
            if column.justify == "right":
                padded.append(pad + part)
            elif column.justify == "center":
                left = len(pad) // 2
                padded.append(pad[:left] + part + pad[left:])
            else:
                padded.append(part + pad)
        return (" " * self.gap).join(padded)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(options.max_width):
            yield Segment(line)
            yield Segment.line()


class OptionalColumnsGrid(Grid):
    """A Grid whose optional columns (layer attributes) show only when every column fits at
    its natural width; otherwise they are left out rather than squeezing names and shapes."""

    def __init__(self, columns: list[Column], rows: list[list[str]], optional: set[int]) -> None:
        super().__init__(columns, rows)
        self.optional = optional

    def lines(self, width: int) -> list[str]:
        natural = [max([cell_len(line) for row in self.rows for line in row[i].split("\n")]
                       + [cell_len(c.header)]) for i, c in enumerate(self.columns)]
        if sum(natural) + self.gap * (len(natural) - 1) <= width:
            return super().lines(width)
        keep = [i for i in range(len(self.columns)) if i not in self.optional]
        return Grid([self.columns[i] for i in keep],
                    [[row[i] for i in keep] for row in self.rows]).lines(width)


def _fold(cell: str, width: int) -> list[str]:
    """Lines of a cell at most ``width`` wide: breaking after ", " or at spaces when possible."""
    lines: list[str] = []
    for line in cell.split("\n") or [""]:
        indent = len(line) - len(line.lstrip(" "))
        while cell_len(line) > width:
            cut = line.rfind(" ", indent + 1, width + 1)
            cut = cut + 1 if cut > indent else width
            lines.append(line[:cut].rstrip())
            # Continuation lines keep a nested row's indentation.
            line = (" " * indent if indent < width // 2 else "") + line[cut:]
        lines.append(line)
    return lines


def summary_table(summary: Summary, *, show_shapes: bool = True) -> RenderableType:
    """The summary as rich renderables: the layer table (or the weights table of a weights-only
    file), then totals and notes."""
    parts: list[RenderableType] = [Text(_title(summary))]
    if summary.has_architecture:
        columns = [Column("Layer", min_width=12), Column("Class", min_width=10)]
        columns.append(Column("Attributes", min_width=10))
        if show_shapes:
            columns += [Column("Input shape", min_width=12), Column("Output shape", min_width=12)]
        columns += [Column("Param #", "right", False), Column("Train", "center", False),
                    Column("Connected to", min_width=14), Column("MACs", "right", False)]
        rows = []
        for row in summary.rows:
            cells = [_layer_cell(row), row.class_name, attributes_text(row.attributes)]
            if show_shapes:
                cells += [format_shapes(row.input_shapes, "\n") or "-",
                          format_shapes(row.output_shapes, "\n")]
            cells += ["shared" if row.shared else _count(row.params),
                      "Y" if row.trainable else "N", "\n".join(row.inbound) or "-",
                      "" if row.macs is None else f"{row.macs:,}"]
            rows.append(cells)
        parts.append(OptionalColumnsGrid(columns, rows, optional={2}))
    else:
        columns = [Column("Layer"), Column("Weight"), Column("Shape"), Column("Dtype", wrap=False),
                   Column("Bytes", "right", False)]
        rows = [[w.path, w.name, format_shape(w.shape), w.dtype, f"{w.bytes:,}"]
                for w in summary.weights]
        parts.append(Grid(columns, rows))
    parts.append(_totals(summary))
    for note in summary.notes:
        parts.append(Text(f"Note: {note}"))
    if summary.migration_notes:
        parts.append(Text(f"Read as Keras 3 with {len(summary.migration_notes)} change(s) "
                          "(the same ones `modeltool convert` makes):"))
        parts += [Text(f"  {note}") for note in summary.migration_notes]
    return Group(*parts)


def _title(summary: Summary) -> str:
    version = f", Keras {summary.keras_version}" if summary.keras_version else ""
    where = summary.path or "<memory>"
    if not summary.has_architecture:
        return f"{where} ({summary.kind}{version}): weights only, no architecture"
    model = f'{summary.model_class} "{summary.model_name}"'
    return f"{model} from {where} ({summary.kind}{version})"


def _totals(summary: Summary) -> Text:
    totals = summary.totals
    lines = []
    size = human_bytes(totals.total_bytes) if totals.bytes or totals.params == 0 else "?"
    lines.append(f"Total params: {_count(totals.params)} ({size})")
    if summary.has_architecture:
        lines.append(f"Trainable params: {_count(totals.trainable_params)}")
        lines.append(f"Non-trainable params: {_count(totals.non_trainable_params)}")
        lines.append(f"MACs per sample: {_count(totals.macs)}")
        lines.append(_activation_line(summary))
    if totals.bytes:
        how = "" if summary.bytes_from_weights else " (estimated from the config)"
        by_dtype = ", ".join(f"{dtype} {human_bytes(n)}" for dtype, n in
                             sorted(totals.bytes.items()))
        lines.append(f"Weights{how}: {by_dtype}")
    if summary.dtype_policies:
        lines.append(_policies_line(summary.dtype_policies))
    return Text("\n".join(lines))


def _policies_line(policies: list[tuple[str, str]]) -> str:
    """``Dtype policies (not float32): mixed_float16 (d1, d2), int8_from_float32 (d3)``."""
    by_policy: dict[str, list[str]] = {}
    for path, policy in policies:
        by_policy.setdefault(policy, []).append(path)
    parts = []
    for policy, paths in by_policy.items():
        shown = ", ".join(paths[:6]) + (f", ... {len(paths) - 6} more" if len(paths) > 6 else "")
        parts.append(f"{policy} ({shown})")
    return "Dtype policies (not float32): " + "; ".join(parts)


def _activation_line(summary: Summary) -> str:
    batch = f"batch of {summary.batch_size}"
    text = f"Activation memory ({batch}, estimated): {human_bytes(summary.activation_bytes)}"
    if summary.activation_unknown:
        text += f" + {summary.activation_unknown} layer call(s) of unknown shape"
    return text


def summary_text(summary: Summary, *, width: int = TEXT_WIDTH, show_shapes: bool = True) -> str:
    """The table as plain text at a fixed width, without colour (what ``str(summary)`` is)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                      markup=False, highlight=False, emoji=False, legacy_windows=False,
                      record=False, soft_wrap=False)
    console.print(summary_table(summary, show_shapes=show_shapes))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def _json_shape(shape: Shape | None) -> list[int | None] | None:
    return None if shape is None else list(shape)


def _json_shapes(shapes: list[Shape | None] | None) -> list[list[int | None] | None] | None:
    return None if shapes is None else [_json_shape(s) for s in shapes]


def summary_dict(summary: Summary) -> dict[str, Any]:
    """The ``--json`` document (see the module docstring for the schema)."""
    totals = summary.totals
    return {
        "schema": SCHEMA,
        "path": summary.path,
        "kind": summary.kind,
        "keras_version": summary.keras_version,
        "engine": summary.engine,
        "has_architecture": summary.has_architecture,
        "model": {"name": summary.model_name, "class": summary.model_class},
        "inputs": list(summary.inputs),
        "outputs": list(summary.outputs),
        "rows": [{
            "layer": row.layer,
            "path": row.path,
            "class": row.class_name,
            "node": row.node,
            "depth": row.depth,
            "input_shapes": _json_shapes(row.input_shapes),
            "output_shapes": _json_shapes(row.output_shapes),
            "params": row.params,
            "trainable_params": row.trainable_params,
            "trainable": row.trainable,
            "inbound": list(row.inbound),
            "macs": row.macs,
            "shape_source": row.shape_source,
            "shared": row.shared,
            "attributes": dict(row.attributes),
            "activation_bytes": row.activation_bytes,
        } for row in summary.rows],
        "totals": {
            "params": totals.params,
            "trainable_params": totals.trainable_params,
            "non_trainable_params": totals.non_trainable_params,
            "macs": totals.macs,
            "bytes": totals.total_bytes,
            "bytes_by_dtype": dict(sorted(totals.bytes.items())),
            "batch_size": summary.batch_size,
            "activation_bytes": summary.activation_bytes,
            "activation_unknown": summary.activation_unknown,
        },
        "weights": [{"layer": w.layer, "path": w.path, "name": w.name, "shape": list(w.shape),
                     "dtype": w.dtype, "bytes": w.bytes} for w in summary.weights],
        "notes": list(summary.notes),
        "migration_notes": list(summary.migration_notes),
        "dtype_policies": {path: policy for path, policy in summary.dtype_policies},
    }
