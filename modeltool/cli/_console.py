"""Two consoles (stdout for data, markup off; stderr for diagnostics), the global flags every
command shares, and the helpers that send a report where it belongs.

Every command gets ``--debug``, ``-q/--quiet``, ``--json`` and ``--wide`` from the group (see
``cli.shared_options``); a command reads them through ``STATE`` and prints its report with
``emit(...)``, which picks JSON (with the schema field) or the table, on stdout.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console, RenderableType

#: The width tables get when they need not fit a terminal (``--wide``, a pipe, a file).
UNLIMITED = 100_000
#: Work shorter than this shows no progress at all.
PROGRESS_DELAY = 1.0
#: What starts the spinner after PROGRESS_DELAY (tests put a timer here that fires at once).
TIMER = threading.Timer


def _color() -> bool | None:
    if os.environ.get("NO_COLOR"):
        return False
    return None


def _width() -> int | None:
    # A pipe or a file gets every column (as --wide); COLUMNS, when set, still rules.
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return None
    return UNLIMITED


out = Console(markup=False, highlight=False, emoji=False, soft_wrap=False,
              no_color=_color() is False, width=_width())
err = Console(stderr=True, markup=False, highlight=False, emoji=False, soft_wrap=True,
              no_color=_color() is False)


@dataclass
class GlobalFlags:
    """The flags accepted before or after any subcommand (reset at each invocation)."""

    debug: bool = False
    quiet: bool = False
    json: bool = False
    wide: bool = False


STATE = GlobalFlags()


def reset(**flags: bool) -> None:
    """Start an invocation with these flags (the group's own, before the subcommand's)."""
    fresh = GlobalFlags(**flags)
    for name in ("debug", "quiet", "json", "wide"):
        setattr(STATE, name, getattr(fresh, name))
    QUIET[0] = STATE.quiet


def debugging() -> bool:
    """``--debug`` anywhere on the line, or ``MODELTOOL_DEBUG=1``."""
    return STATE.debug or os.environ.get("MODELTOOL_DEBUG") == "1"


def print_json(data: dict[str, Any]) -> None:
    """One JSON document on stdout, plain (no colour, no wrapping), with the schema field
    first (the version lives in ``render.SCHEMA`` only)."""
    import json

    from ..render import SCHEMA

    document = {"schema": SCHEMA, **{k: v for k, v in data.items() if k != "schema"}}
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def show(renderable: RenderableType) -> None:
    """A table or text on stdout: fitted to the terminal, or every column with ``--wide``."""
    if not STATE.wide:
        out.print(renderable, crop=False)
        return
    saved = out._width  # rich caps print(width=...) at the console's width: lift it instead
    out.width = UNLIMITED
    try:
        out.print(renderable, crop=False)
    finally:
        out._width = saved


def emit(as_dict: Callable[[], dict[str, Any]], as_table: Callable[[], RenderableType], *,
         written: str | None = None) -> None:
    """Print a report: JSON under ``--json``; under ``-q`` only what was ``written`` (when the
    command wrote a file); else the table."""
    if STATE.json:
        print_json(as_dict())
    elif STATE.quiet and written is not None:
        out.print(written, crop=False, soft_wrap=True)
    else:
        show(as_table())


def info(message: str) -> None:
    """A diagnostic line on stderr, unless ``--quiet``."""
    if not STATE.quiet:
        err.print(message)


@contextlib.contextmanager
def progress(description: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr for work that lasts over PROGRESS_DELAY seconds: only on a
    terminal, never under ``-q`` or ``--json``. Yields a function that updates its text."""
    if STATE.quiet or STATE.json or not err.is_terminal:
        yield lambda _text: None
        return
    status = err.status(description)
    lock = threading.Lock()
    started = [False, False]  # [started, finished]

    def start() -> None:
        with lock:
            if not started[1]:
                status.start()
                started[0] = True

    timer = TIMER(PROGRESS_DELAY, start)
    timer.daemon = True
    timer.start()
    try:
        yield lambda text: status.update(text)
    finally:
        timer.cancel()
        with lock:
            started[1] = True
            if started[0]:
                status.stop()


#: Kept for code that reads the quiet flag directly (mirrors STATE.quiet).
QUIET = [False]
