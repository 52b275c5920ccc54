"""How shapes and byte counts are written, everywhere modeltool writes them (tables, plots, notes,
error messages): one place, so every command spells a shape the same way."""

from __future__ import annotations

from collections.abc import Sequence


def shape_text(shape: Sequence[int | str | None] | None, *, unknown: str = "?") -> str:
    """A Keras shape as Python writes the tuple: ``(None, 28, 28, 1)``, ``(3,)``.

    Args:
        shape: the dimensions (None for an unknown one), or None for an unknown shape.
        unknown: what an unknown shape is written as.

    Example:
        >>> shape_text((None, 3)), shape_text((4,)), shape_text(None)
        ('(None, 3)', '(4,)', '?')
    """
    if shape is None:
        return unknown
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def shapes_text(shapes: Sequence[Sequence[int | str | None] | None] | None,
                sep: str = ", ") -> str:
    """One shape as ``(None, 3)``, several as ``[(None, 3), (None, 4)]`` (or one per line with
    ``sep="\\n"``), ``?`` when even their number is unknown.

    Example:
        >>> shapes_text([(None, 3), (None, 4)])
        '[(None, 3), (None, 4)]'
    """
    if shapes is None:
        return "?"
    if not shapes:
        return ""
    if len(shapes) == 1:
        return shape_text(shapes[0])
    if sep == "\n":
        return sep.join(shape_text(s) for s in shapes)
    return "[" + sep.join(shape_text(s) for s in shapes) + "]"


def dims_text(shape: Sequence[int | str | None] | None) -> str:
    """An ONNX shape: ``[batch, 24, 24, 3]``; ``?`` for an unknown shape or dimension.

    Example:
        >>> dims_text(["batch", None, 3])
        '[batch, ?, 3]'
    """
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def human_bytes(count: int) -> str:
    """A byte count for people: ``1536`` -> ``"1.5 KB"`` (powers of 1024).

    Example:
        >>> human_bytes(1536)
        '1.5 KB'
    """
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"
