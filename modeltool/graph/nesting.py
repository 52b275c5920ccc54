"""Nested models in a layered drawing: a nested model's graph is laid out on its own
(``graph.layout.layered_layout``) and its box grows in the outer drawing to hold it; everything
beyond the box along the rank axis moves on by the growth, everything on either side moves out
sideways, so the guarantees of the layered layout still hold. The HTML viewer does the same in
the browser when a nested model is opened.
"""

from __future__ import annotations

from .layout import NEST_PAD, NEST_TITLE, Box, Layout, Route, attach


def expand(layout: Layout, box_id: str, inner: Layout) -> None:
    """Grow ``box_id`` to hold ``inner`` (drawn inside it, below a title) and make room.

    Everything beyond the box's rank band moves on by the growth along the rank axis;
    everything whose centre lies on one side of the box's centre moves out by half the
    growth across. Order and gaps are kept, so no box overlaps another and no route crosses a
    box after the move.
    """
    horizontal = layout.rankdir == "LR"
    box = layout.boxes[box_id]
    new_w = max(inner.width + 2 * NEST_PAD, box.width)
    new_h = max(inner.height + 2 * NEST_PAD + NEST_TITLE, box.height)
    new_along, new_across = (new_w, new_h) if horizontal else (new_h, new_w)
    old_across = box.height if horizontal else box.width
    band_end = layout.bands[box.rank][1]
    start_along = box.x if horizontal else box.y
    grow_along = max(0.0, start_along + new_along - band_end)
    grow_across = new_across - old_across
    centre = box.cy if horizontal else box.cx

    def move_c(c: float) -> float:
        if c > centre + 1e-9:
            return c + grow_across / 2
        if c < centre - 1e-9:
            return c - grow_across / 2
        return c

    def move_a(a: float) -> float:
        return a + grow_along if a >= band_end - 1e-9 else a

    for other in layout.boxes.values():
        if other is box:
            continue
        if horizontal:
            dc = move_c(other.cy) - other.cy
            da = grow_along if other.rank > box.rank else 0.0
            _shift(other, da, dc)
        else:
            dc = move_c(other.cx) - other.cx
            da = grow_along if other.rank > box.rank else 0.0
            _shift(other, dc, da)
    for route in _unique(layout.routes):
        middle = route.points[2:-1]
        moved = []
        for x, y in middle:
            moved.append((move_a(x), move_c(y)) if horizontal else (move_c(x), move_a(y)))
        route.points = route.points[:2] + moved + route.points[-1:]
    if horizontal:
        box.y -= grow_across / 2
    else:
        box.x -= grow_across / 2
    box.width, box.height = new_w, new_h
    layout.bands = [(a, b + grow_along) if r == box.rank else
                    ((a + grow_along, b + grow_along) if r > box.rank else (a, b))
                    for r, (a, b) in enumerate(layout.bands)]
    for route in layout.routes:
        attach(layout, route)
    # The inner drawing, centred in the box below its title.
    dx = box.x + (box.width - inner.width) / 2
    dy = box.y + NEST_PAD + NEST_TITLE
    translate(inner, dx, dy)
    box.inner = inner
    _refit(layout)


def _unique(routes: list[Route]) -> list[Route]:
    """Each route object once (repeated connections share one)."""
    return list({id(route): route for route in routes}.values())


def _shift(box: Box, dx: float, dy: float) -> None:
    box.x += dx
    box.y += dy
    if box.inner is not None:
        translate(box.inner, dx, dy)


def translate(layout: Layout, dx: float, dy: float) -> None:
    """Move a whole drawing (nested drawings included) by ``(dx, dy)``."""
    for box in layout.boxes.values():
        _shift(box, dx, dy)
    for route in _unique(layout.routes):
        route.points = [(x + dx, y + dy) for x, y in route.points]
    horizontal = layout.rankdir == "LR"
    da = dx if horizontal else dy
    layout.bands = [(a + da, b + da) for a, b in layout.bands]


def _refit(layout: Layout) -> None:
    """Shift the drawing so it starts at 0 across the ranks again and recompute its size."""
    horizontal = layout.rankdir == "LR"
    low = min([b.y if horizontal else b.x for b in layout.boxes.values()]
              + [p[1] if horizontal else p[0] for r in layout.routes for p in r.points],
              default=0.0)
    if low != 0.0:
        translate(layout, 0.0 if horizontal else -low, -low if horizontal else 0.0)
    high = max([b.y + b.height if horizontal else b.x + b.width
                for b in layout.boxes.values()]
               + [p[1] if horizontal else p[0] for r in layout.routes for p in r.points],
               default=0.0)
    length = layout.bands[-1][1] if layout.bands else 0.0
    layout.width, layout.height = (length, high) if horizontal else (high, length)
