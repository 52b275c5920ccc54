"""The input signature of the export (batch, ``--input-shape``) and the opset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ... import _optional
from ...errors import ModelToolError
from ...formatting import shape_text

if TYPE_CHECKING:
    from ...keras_bridge.onnx_source import Dims, ExportSource


def parse_input_shape(text: str) -> tuple[str, list[int | None]]:
    """``NAME=d1,d2,...`` (``?`` or ``-1`` keeps a dimension open) -> (name, dims).

    Example:
        >>> parse_input_shape("tokens=64")
        ('tokens', [64])
    """
    name, sep, dims = text.rpartition("=")
    if not sep or not name or not dims.strip():
        raise ModelToolError(f"--input-shape expects NAME=d1,d2,... and got {text!r}")
    parsed: list[int | None] = []
    for part in dims.split(","):
        part = part.strip()
        if part in ("?", "-1", "None", "none", "dynamic"):
            parsed.append(None)
            continue
        try:
            value = int(part)
        except ValueError:
            value = 0
        if value <= 0:
            raise ModelToolError(f"--input-shape {text!r}: {part!r} is not a positive size",
                                 hint="use ? or -1 for a dimension that stays open")
        parsed.append(value)
    return name, parsed


def signature_shapes(source: ExportSource, batch: str | int | None,
                     input_shapes: Mapping[str, Sequence[int | str | None]] | None
                     ) -> list[Dims]:
    """The traced function's input shapes: the declared ones, the batch and the
    ``--input-shape`` dims fixed in."""
    fixed_batch = resolve_batch(batch)
    overrides = dict(input_shapes or {})
    unknown = sorted(set(overrides) - set(source.input_names))
    if unknown:
        raise ModelToolError(f"--input-shape names no input of the model: {', '.join(unknown)}",
                             hint=f"the inputs are: {', '.join(source.input_names)}")
    shapes = []
    for name, declared in zip(source.input_names, source.input_shapes):
        dims = list(declared)
        if dims and dims[0] is None and fixed_batch is not None:
            dims[0] = fixed_batch
        if name in overrides:
            given = [None if d is None or str(d) in ("?", "-1", "None") else int(d)
                     for d in overrides[name]]
            if len(given) == len(dims) - 1:
                given = [dims[0], *given]
            elif len(given) != len(dims):
                raise ModelToolError(
                    f"input {name!r} has shape {shape_text(declared)} and --input-shape gave "
                    f"{len(given)} dims", hint="give the dims after the batch dim, or all of them")
            for index, (have, want) in enumerate(zip(dims, given)):
                if have is not None and want is not None and have != want:
                    raise ModelToolError(
                        f"input {name!r} has size {have} at dim {index} "
                        f"({shape_text(declared)}) and --input-shape asks for {want}",
                        hint="only open (None) dims can be fixed")
                if want is not None:
                    dims[index] = want
        shapes.append(tuple(dims))
    return shapes


def check_fixed_batch(source: ExportSource, batch: str | int | None) -> None:
    """A model built for a fixed batch size keeps it: ``--batch`` cannot change it."""
    wanted = resolve_batch(batch)
    for name, dims in zip(source.input_names, source.input_shapes):
        if wanted is not None and dims and dims[0] is not None and dims[0] != wanted:
            raise ModelToolError(f"input {name!r} has a fixed batch size of {dims[0]} and "
                                 f"--batch asks for {wanted}", path=source.label,
                                 hint="leave --batch out: the model's own batch is kept")


def resolve_batch(batch: str | int | None) -> int | None:
    """``"dynamic"`` or None -> None; a positive size -> that size; else an error."""
    if batch is None or (isinstance(batch, str) and batch.strip().lower() == "dynamic"):
        return None
    try:
        value = int(batch)
    except (TypeError, ValueError):
        value = 0
    if value <= 0:
        raise ModelToolError(f"--batch must be 'dynamic' or a positive size, not {batch!r}")
    return value


def max_opset() -> int:
    """The highest opset this tf2onnx (and the installed onnx) support."""
    tf2onnx = _optional.require("tf2onnx", "ONNX export")
    onnx = _optional.require("onnx", "ONNX export")
    return min(max(tf2onnx.constants.OPSET_TO_IR_VERSION), onnx.defs.onnx_opset_version())


def resolve_opset(opset: int | None) -> int:
    """The opset asked for (checked), or the highest tf2onnx supports."""
    highest = max_opset()
    if opset is None:
        return highest
    if not 7 <= int(opset) <= highest:
        raise ModelToolError(f"opset {opset} is outside what tf2onnx supports (7 to {highest})")
    return int(opset)
