"""Summary reports to rich renderables, plain text and JSON-able dicts. Nothing here prints.

Every cell is a ``rich.text.Text``, so layer names such as ``[None, 3]`` are never read as
markup. The JSON schema (``"schema": 1``)::

    {"schema": 1, "path", "kind", "keras_version", "engine", "has_architecture",
     "model": {"name", "class"}, "inputs": ["layer[node][tensor]"], "outputs": [...],
     "rows": [{"layer", "path", "class", "node", "depth", "input_shapes", "output_shapes",
               "params", "trainable_params", "trainable", "inbound", "macs", "shape_source",
               "shared", "attributes": {"kernel": "3×3", ...}, "activation_bytes"}],
     "totals": {"params", "trainable_params", "non_trainable_params", "macs", "bytes",
                "bytes_by_dtype", "macs_leaves_out", "batch_size", "activation_bytes",
                "activation_unknown"},
     "weights": [{"layer", "path", "name", "shape", "dtype", "bytes"}],   # weights-only files
     "notes": [...], "migration_notes": [...],
     "dtype_policies": {"layer path": "policy"},         # layers whose policy is not float32
     "signatures": {name: {"inputs": [{"key", "dtype", "shape"}], "outputs": [...]}}}

Shapes are lists with null for unknown dimensions; a wholly unknown shape is null, and an
unknown list of outputs is null. ``params`` of a shared layer is counted on its first node
(later nodes carry 0 and ``"shared": true``); null means unknown, everywhere (a row's
``macs`` is null also for a class without MACs: ``has_macs`` tells the two apart). A MACs total
that leaves out layers nobody can measure from the file lists them in ``macs_leaves_out``.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.text import Text

from ..formatting import human_bytes, shape_text, shapes_text
from ..graph.attributes import attributes_text
from ..graph.model import Shape
from ..ops.summary import Summary, SummaryRow
from . import SCHEMA
from .table import FIT_FIXED, FIT_NAME, FIT_SPILL, Column, Grid, Line

#: Width of ``summary_text`` (fixed, so text output is the same on every terminal).
TEXT_WIDTH = 132


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _layer_cell(row: SummaryRow) -> str:
    text = "  " * row.depth + row.layer
    if row.node is not None and (row.node > 0 or row.shared):
        text += f" #{row.node}"
    return text


#: The order in which summary columns give way on a narrow terminal (Layer, Class, Output
#: shape and Param # always stay).
SUMMARY_DROP_ORDER = ("Attributes", "Input shape", "MACs", "Train", "Connected to")


def summary_table(summary: Summary, *, show_shapes: bool = True) -> RenderableType:
    """The summary as rich renderables: the layer table (or the weights table of a weights-only
    file), then totals and notes. The table fits the console width (see ``render.table``)."""
    parts: list[RenderableType] = [Line(_title(summary))]
    if summary.has_architecture:
        rank = {name: i + 1 for i, name in enumerate(SUMMARY_DROP_ORDER)}
        columns = [Column("Layer", fit=FIT_SPILL, min_width=12),
                   Column("Class", fit=FIT_NAME)]
        columns.append(Column("Attributes", fit=FIT_NAME, drop=rank["Attributes"]))
        if show_shapes:
            columns += [Column("Input shape", drop=rank["Input shape"]),
                        Column("Output shape")]
        columns += [Column("Param #", "right", FIT_FIXED),
                    Column("Train", "center", FIT_FIXED, drop=rank["Train"]),
                    Column("Connected to", fit=FIT_NAME, drop=rank["Connected to"]),
                    Column("MACs", "right", FIT_FIXED, drop=rank["MACs"])]
        rows = []
        for row in summary.rows:
            cells = [_layer_cell(row), row.class_name, attributes_text(row.attributes)]
            if show_shapes:
                inferred = "*" if row.shape_source == "weights" else ""
                cells += [shapes_text(row.input_shapes, "\n") or "-",
                          shapes_text(row.output_shapes, "\n") + inferred]
            cells += ["shared" if row.shared else _count(row.params),
                      "Y" if row.trainable else "N", "\n".join(row.inbound) or "-",
                      _row_macs(row)]
            rows.append(cells)
        parts.append(Grid(columns, rows))
    else:
        columns = [Column("Layer", fit=FIT_SPILL, min_width=12), Column("Weight", fit=FIT_NAME),
                   Column("Shape"), Column("Dtype", fit=FIT_FIXED, drop=2),
                   Column("Bytes", "right", FIT_FIXED, drop=1)]
        rows = [[w.path, w.name, shape_text(w.shape), w.dtype, f"{w.bytes:,}"]
                for w in summary.weights]
        parts.append(Grid(columns, rows))
    parts.append(_totals(summary))
    if summary.signatures:
        parts.append(Text(_signatures(summary.signatures)))
    for note in summary.notes:
        parts.append(Text(f"Note: {note}"))
    if summary.migration_notes:
        parts.append(Text(f"Read as Keras 3 with {len(summary.migration_notes)} change(s) "
                          "(the same ones `modeltool convert` makes):"))
        parts += [Text(f"  {note}") for note in summary.migration_notes]
    return Group(*parts)


def _row_macs(row: SummaryRow) -> str:
    """Blank for a layer without MACs (pooling, activations), ``?`` where they are unknown."""
    if row.macs is not None:
        return f"{row.macs:,}"
    return "?" if row.has_macs else ""


def _title(summary: Summary) -> str:
    version = f", Keras {summary.keras_version}" if summary.keras_version else ""
    where = summary.path or "<memory>"
    if not summary.has_architecture:
        return f"A file with weights only, no architecture ({summary.kind}{version}): {where}"
    model = f'{summary.model_class} "{summary.model_name}"'
    return f"{model} ({summary.kind}{version}) from {where}"


def _totals(summary: Summary) -> Text:
    totals = summary.totals
    lines = []
    size = human_bytes(totals.total_bytes) if _bytes_known(summary) else "?"
    lines.append(f"Total params: {_count(totals.params)} ({size})")
    if summary.has_architecture:
        lines.append(f"Trainable params: {_count(totals.trainable_params)}")
        lines.append(f"Non-trainable params: {_count(totals.non_trainable_params)}")
        macs = f"MACs per sample: {_count(totals.macs)}"
        if totals.macs is not None and totals.macs_unmeasured:
            left_out = totals.macs_unmeasured
            names = ", ".join(left_out[:3]) + (f" and {len(left_out) - 3} more"
                                               if len(left_out) > 3 else "")
            macs += f" or more (leaves out {names}: not measurable from the file)"
        lines.append(macs)
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


def _signature_tensors(tensors: dict[str, Any]) -> str:
    return ", ".join(f"{key} {spec.get('dtype')} {_dims(spec.get('shape'))}"
                     for key, spec in tensors.items()) or "-"


def _dims(shape: Any) -> str:
    return "?" if shape is None else shape_text(tuple(shape))


def _signatures(signatures: dict[str, Any]) -> str:
    """``Signature serving_default: x float32 (None, 13) -> output_0 float32 (None, 1)``."""
    return "\n".join(f"Signature {name}: {_signature_tensors(sig.get('inputs', {}))} -> "
                     f"{_signature_tensors(sig.get('outputs', {}))}"
                     for name, sig in signatures.items())


def _bytes_known(summary: Summary) -> bool:
    totals = summary.totals
    return bool(totals.bytes) or totals.params == 0


def summary_text(summary: Summary, *, width: int = TEXT_WIDTH, show_shapes: bool = True) -> str:
    """The table as plain text at a fixed width, without colour."""
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
            "has_macs": row.has_macs,
        } for row in summary.rows],
        "totals": {
            "params": totals.params,
            "trainable_params": totals.trainable_params,
            "non_trainable_params": totals.non_trainable_params,
            "macs": totals.macs,
            "bytes": totals.total_bytes if _bytes_known(summary) else None,
            "bytes_by_dtype": dict(sorted(totals.bytes.items())),
            "batch_size": summary.batch_size,
            "activation_bytes": summary.activation_bytes,
            "activation_unknown": summary.activation_unknown,
            "macs_leaves_out": list(totals.macs_unmeasured),
        },
        "weights": [{"layer": w.layer, "path": w.path, "name": w.name, "shape": list(w.shape),
                     "dtype": w.dtype, "bytes": w.bytes} for w in summary.weights],
        "notes": list(summary.notes),
        "migration_notes": list(summary.migration_notes),
        "dtype_policies": {path: policy for path, policy in summary.dtype_policies},
        "signatures": {name: {side: [{"key": key, "dtype": spec.get("dtype"),
                                      "shape": spec.get("shape")}
                                     for key, spec in sig.get(side, {}).items()]
                              for side in ("inputs", "outputs")}
                       for name, sig in summary.signatures.items()},
    }
