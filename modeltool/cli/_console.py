"""Two consoles: stdout for data (markup off), stderr for diagnostics."""

from __future__ import annotations

import os

from rich.console import Console


def _color() -> bool | None:
    if os.environ.get("NO_COLOR"):
        return False
    return None


def _width() -> int | None:
    # A pipe or file gets wide tables instead of rich's 80-column default.
    import sys

    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return None
    return 200


out = Console(markup=False, highlight=False, emoji=False, soft_wrap=False,
              no_color=_color() is False, width=_width())
err = Console(stderr=True, markup=False, highlight=False, emoji=False, soft_wrap=True,
              no_color=_color() is False)


def print_json(data: object) -> None:
    """JSON on stdout, plain (no colour, no wrapping), one document."""
    import json
    import sys

    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def info(message: str) -> None:
    """A diagnostic line on stderr, unless ``--quiet``."""
    if not QUIET[0]:
        err.print(message)


#: Set by ``modeltool --quiet``: info() stays silent; errors and warnings still print.
QUIET = [False]
