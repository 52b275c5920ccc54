"""Report objects to rich renderables and JSON-able dicts, one module per family of commands
(``files``: weights, convert, check; ``summary``; ``transfer``: load-weights, freeze; ``onnx``).
Nothing here prints: the CLI decides where output goes."""

from __future__ import annotations

#: The version of every ``--json`` document's layout.
SCHEMA = 1
