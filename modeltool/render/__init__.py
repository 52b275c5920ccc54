"""Report objects to rich renderables and JSON-able dicts, one module per family of commands
(``files``: weights, convert, check; ``summary``; ``transfer``: load-weights, freeze; ``onnx``).
Nothing here prints: the CLI decides where output goes."""

from __future__ import annotations

#: The version of every ``--json`` document's layout.
SCHEMA = 1


def human_bytes(count: int) -> str:
    """``1536`` -> ``"1.5 KB"``."""
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"
