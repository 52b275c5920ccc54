"""One table style for every command: plain columns under a rule, fitted to the width.

How a table fits a width (``Grid.layout``), as a person would do it by hand:

1. Every column starts at its natural width (its widest cell).
2. While even the narrowest form of the remaining columns does not fit, or the names would have
   to be shortened, the next column in the table's drop order (``Column.drop``: 1 goes first)
   is left out; columns without a rank (the ones that matter most) are never dropped.
3. What is still too wide is narrowed, widest column first: a ``wrap`` column breaks its cells
   after ", " or at spaces (never inside a word), a ``name`` column shortens names with an
   ellipsis in the middle (``batch_nor…ation_14``: the suffix that tells names apart stays),
   and a ``spill`` column (the first, the layer names) gives a name that does not fit a line
   of its own above the rest of its row, so it is never cut at all.
4. A one-line note under the table names the columns left out (``--wide`` shows them all).

Nothing here reads markup: cells are plain strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment

#: Narrowest a name column gets before an ellipsis would leave too little to read.
NAME_MIN = 14
#: Narrowest a wrapping column gets (shapes, lists of inputs) if its natural width is more.
WRAP_MIN = 22
ELLIPSIS = "\u2026"
RULE = "\u2500"

FIT_NAME = "name"
FIT_SPILL = "spill"  # first column only: a name too long for it gets a line of its own
FIT_WRAP = "wrap"
FIT_FIXED = "fixed"


@dataclass
class Column:
    """One column: header, alignment, how it narrows (``fit``) and its rank in the drop
    order (``drop``: None for a column that is always shown)."""

    header: str
    justify: str = "left"
    fit: str = FIT_WRAP
    drop: int | None = None
    min_width: int | None = None


@dataclass
class Layout:
    """Which columns are shown, at what widths, and which were left out."""

    shown: list[int]
    widths: list[int]
    dropped: list[str] = field(default_factory=list)


def shorten_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with an ellipsis in the middle; leading indentation and
    the end of the name (its distinguishing suffix) are kept."""
    if cell_len(text) <= width:
        return text
    indent = len(text) - len(text.lstrip(" "))
    body = text[indent:]
    room = max(width - indent - 1, 2)
    tail = (room + 1) // 2
    head = room - tail
    return text[:indent] + body[:head] + ELLIPSIS + body[len(body) - tail:]


def fold(cell: str, width: int) -> list[str]:
    """Lines of ``cell`` at most ``width`` wide, broken at spaces (after ", "), never inside a
    word unless one word alone is wider than ``width``."""
    lines: list[str] = []
    for line in cell.split("\n"):
        indent = len(line) - len(line.lstrip(" "))
        while cell_len(line) > width:
            cut = line.rfind(" ", indent + 1, width + 1)
            cut = cut + 1 if cut > indent else width
            lines.append(line[:cut].rstrip())
            # Continuation lines keep a nested row's indentation.
            line = (" " * indent if indent < width // 2 else "") + line[cut:]
        lines.append(line)
    return lines


def _longest_word(cells: list[str]) -> int:
    return max((cell_len(word) for cell in cells for word in cell.replace("\n", " ").split(" ")),
               default=0)


class Grid:
    """A plain table as a rich renderable: columns sized to their content, fitted to the
    console width as the module docstring says. Cheap on hundreds of rows (a ResNet), and it
    never reads markup in its cells."""

    gap = 2

    def __init__(self, columns: list[Column], rows: list[list[str]], *,
                 drop_note: bool = True) -> None:
        self.columns = columns
        self.rows = rows
        self.drop_note = drop_note

    # -- layout -----------------------------------------------------------------------------

    def _natural(self, index: int) -> int:
        return max([cell_len(line) for row in self.rows for line in row[index].split("\n")]
                   + [cell_len(self.columns[index].header)])

    def _floor(self, index: int, natural: int) -> int:
        """The narrowest the column gets."""
        column = self.columns[index]
        header = cell_len(column.header)
        if column.fit == FIT_FIXED:
            return natural
        if column.fit in (FIT_NAME, FIT_SPILL):
            return min(natural, max(header, column.min_width or NAME_MIN))
        words = _longest_word([row[index] for row in self.rows])
        return min(natural, max(header, words, column.min_width or WRAP_MIN))

    def layout(self, width: int) -> Layout:
        """Columns shown, their widths and the columns left out, for ``width`` cells."""
        count = len(self.columns)
        natural = [self._natural(i) for i in range(count)]
        floors = [self._floor(i, natural[i]) for i in range(count)]
        # Names stay whole while a droppable column can make room for them.
        keep_names = [natural[i] if c.fit in (FIT_NAME, FIT_SPILL) else floors[i]
                      for i, c in enumerate(self.columns)]
        shown = list(range(count))
        droppable = sorted((c.drop, i) for i, c in enumerate(self.columns) if c.drop is not None)

        def need(sizes: list[int]) -> int:
            return sum(sizes[i] for i in shown) + self.gap * (len(shown) - 1)

        dropped: list[str] = []
        while droppable and need(keep_names) > width:
            _, index = droppable.pop(0)
            shown.remove(index)
            dropped.append(self.columns[index].header)
        widths = {i: natural[i] for i in shown}
        budget = width - self.gap * (len(shown) - 1)
        # Narrow the widest column that can give (down to the next widest) until it fits.
        while sum(widths.values()) > budget:
            candidates = [i for i in shown if widths[i] > floors[i]]
            # A spilling name loses nothing when narrowed: it goes first.
            spilling = [i for i in candidates if self.columns[i].fit == FIT_SPILL]
            candidates = spilling or candidates
            if not candidates:
                break
            widest = max(candidates, key=lambda i: widths[i])
            others = [widths[i] for i in candidates if i != widest]
            target = max(floors[widest], max(others, default=0),
                         widths[widest] - (sum(widths.values()) - budget))
            widths[widest] = target if target < widths[widest] else widths[widest] - 1
        return Layout(shown, [widths[i] for i in shown], dropped)

    # -- drawing ----------------------------------------------------------------------------

    def lines(self, width: int) -> list[str]:
        """The table as text lines at most ``width`` cells wide (where the kept columns fit)."""
        layout = self.layout(width)
        columns = [self.columns[i] for i in layout.shown]
        total = sum(layout.widths) + self.gap * (len(columns) - 1)
        out = [self._line([c.header for c in columns], columns, layout.widths).rstrip(),
               RULE * total]
        spill = columns[0].fit == FIT_SPILL
        for row in self.rows:
            first = row[layout.shown[0]]
            if spill and cell_len(first) > layout.widths[0] and "\n" not in first:
                out.append(shorten_middle(first, total))
                row = list(row)
                row[layout.shown[0]] = ""
            cells = [self._cell(row[i], column, w)
                     for i, column, w in zip(layout.shown, columns, layout.widths)]
            for n in range(max(len(c) for c in cells)):
                parts = [c[n] if n < len(c) else "" for c in cells]
                out.append(self._line(parts, columns, layout.widths).rstrip())
        if layout.dropped and self.drop_note:
            note = f"(not shown: {', '.join(layout.dropped)}; --wide shows all)"
            if len(note) <= width:
                out.append(note)
            else:  # the way back stays on one line: "--wide shows all)"
                out += fold(f"(not shown: {', '.join(layout.dropped)};", width)
                out.append("--wide shows all)")
        return out

    @staticmethod
    def _cell(cell: str, column: Column, width: int) -> list[str]:
        if column.fit == FIT_NAME:
            return [shorten_middle(line, width) for line in cell.split("\n")]
        if column.fit == FIT_FIXED:
            return cell.split("\n")
        return fold(cell, width)

    def _line(self, parts: list[str], columns: list[Column], widths: list[int]) -> str:
        padded = []
        for part, w, column in zip(parts, widths, columns):
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


class Line:
    """One line of text that never wraps: shortened with an ellipsis in the middle when the
    width is short (for titles holding a long path)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.text.split("\n"):
            yield Segment(shorten_middle(line, options.max_width))
            yield Segment.line()


def render_text(renderable: RenderableType, width: int) -> str:
    """``renderable`` as plain text at ``width`` columns, no colour, trailing spaces trimmed
    (what the CLI prints to a terminal that wide; used by golden tests)."""
    import io

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                      markup=False, highlight=False, emoji=False, legacy_windows=False,
                      soft_wrap=False)
    console.print(renderable, crop=False)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"
