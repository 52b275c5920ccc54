"""A layered (Sugiyama-style) drawing of a graph, as data: node boxes and edge polylines.

Steps: ranks by longest path (sources pulled down next to their first consumer); edges that
span several ranks get one dummy slot per rank they cross; the order inside each rank is
improved by median/barycenter sweeps, keeping the order with the fewest crossings; positions
across the ranks come from weighted isotonic regression (each node pulled towards its
neighbours, never closer to the next node than a gap). Nodes are aligned at the start of their
rank band, so every edge segment between two ranks lies in the empty gap between the bands and
every segment inside a band runs in a slot reserved for it: no edge passes through a box.

A nested model is drawn by laying out its graph on its own and growing its box in the outer
drawing (``graph.nesting.expand``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

#: Label metrics: a monospace font, so text widths are known without a font library.
FONT_SIZE = 12.0
CHAR_WIDTH = FONT_SIZE * 0.6
LINE_HEIGHT = 15.0
BOX_PAD_X = 9.0
BOX_PAD_Y = 6.0
MIN_BOX_WIDTH = 70.0

#: Space between two boxes of one rank, between two ranks, and reserved for a passing edge.
NODE_GAP = 18.0
RANK_GAP = 34.0
EDGE_SLOT = 6.0
#: Padding inside the box of an expanded nested model, and the height of its title.
NEST_PAD = 12.0
NEST_TITLE = 22.0
#: Order-improvement sweeps (each one down and one up).
SWEEPS = 10

Point = tuple[float, float]


@dataclass
class Box:
    """One node of a drawing: top-left corner, size, rank; ``inner`` holds the drawing of an
    expanded nested model (coordinates in the same frame as this box)."""

    id: str
    x: float
    y: float
    width: float
    height: float
    rank: int
    inner: Layout | None = None

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2

    def overlaps(self, other: Box) -> bool:
        """Whether the two boxes share area (touching edges do not count)."""
        return (self.x < other.x + other.width and other.x < self.x + self.width
                and self.y < other.y + other.height and other.y < self.y + self.height)


@dataclass
class Route:
    """One edge: the polyline from the source box's far side to the target box's near side.

    ``source_port``/``target_port`` are where on the box side the line attaches (0..1)."""

    source: str
    target: str
    points: list[Point]
    source_port: float = 0.5
    target_port: float = 0.5


@dataclass
class Layout:
    """A drawing: boxes by id, routed edges, overall size and the band of every rank."""

    rankdir: str
    boxes: dict[str, Box]
    routes: list[Route]
    width: float
    height: float
    bands: list[tuple[float, float]] = field(default_factory=list)
    crossings: int = 0

    def walk(self) -> Iterable[tuple[Box, int]]:
        """Every box, nested ones included, with its nesting depth (0 at the top)."""
        stack: list[tuple[Layout, int]] = [(self, 0)]
        while stack:
            layout, depth = stack.pop()
            for box in layout.boxes.values():
                yield box, depth
                if box.inner is not None:
                    stack.append((box.inner, depth + 1))

    def all_routes(self) -> Iterable[Route]:
        """Every edge, those inside expanded nested models included."""
        yield from self.routes
        for box in self.boxes.values():
            if box.inner is not None:
                yield from box.inner.all_routes()


def layered_layout(sizes: dict[str, tuple[float, float]], edges: Sequence[tuple[str, str]],
                   rankdir: str = "TB") -> Layout:
    """Lay out a directed acyclic graph in ranks.

    Args:
        sizes: ``id -> (width, height)`` of every node, in drawing order (ties keep it).
        edges: ``(source id, target id)`` pairs; duplicates share one route.
        rankdir: ``TB`` (ranks go down) or ``LR`` (ranks go right).

    Returns:
        A Layout whose boxes never overlap and whose routes never cross a box.

    Example:
        >>> layout = layered_layout({"a": (60, 20), "b": (60, 20)}, [("a", "b")])
        >>> layout.boxes["b"].y > layout.boxes["a"].y
        True
    """
    horizontal = rankdir == "LR"
    ids = list(sizes)
    along = {i: (sizes[i][0] if horizontal else sizes[i][1]) for i in ids}
    across = {i: (sizes[i][1] if horizontal else sizes[i][0]) for i in ids}
    unique = list(dict.fromkeys((s, t) for s, t in edges if s in sizes and t in sizes and s != t))
    rank = _ranks(ids, unique)
    chains, layers = _split_long_edges(ids, unique, rank)
    width_of = {**across, **{d: EDGE_SLOT for chain in chains.values() for d in chain[1:-1]}}
    preds, succs = _neighbours(chains)
    crossings = _order(layers, preds, succs)
    pos = _place(layers, preds, succs, width_of)
    bands: list[tuple[float, float]] = []
    start = 0.0
    for layer in layers:
        size = max((along.get(v, 0.0) for v in layer), default=0.0)
        bands.append((start, start + size))
        start += size + RANK_GAP
    extent_across = 0.0
    low = min((pos[v] - width_of[v] / 2 for layer in layers for v in layer), default=0.0)
    boxes: dict[str, Box] = {}
    for i in ids:
        a0 = bands[rank[i]][0]
        c0 = pos[i] - across[i] / 2 - low
        extent_across = max(extent_across, c0 + across[i])
        if horizontal:
            boxes[i] = Box(i, a0, c0, along[i], across[i], rank[i])
        else:
            boxes[i] = Box(i, c0, a0, across[i], along[i], rank[i])
    layout = Layout(rankdir, boxes, [], 0.0, 0.0, bands, crossings)
    for (s, t), chain in chains.items():
        inner = [pos[d] - low for d in chain[1:-1]]
        layout.routes.append(_route(layout, s, t, inner))
    _spread_ports(layout)
    length = bands[-1][1] if bands else 0.0
    for d in (v for layer in layers for v in layer):
        extent_across = max(extent_across, pos[d] - low + width_of[d] / 2)
    layout.width, layout.height = (length, extent_across) if horizontal else \
        (extent_across, length)
    # Duplicated edges share a route but are each listed (one route per connection).
    by_pair = {(r.source, r.target): r for r in layout.routes}
    layout.routes = [by_pair[(s, t)] if (s, t) in by_pair else Route(s, t, [])
                     for s, t in edges if s in sizes and t in sizes and s != t]
    return layout


# -- ranks and dummies --------------------------------------------------------------------------


def _ranks(ids: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    preds: dict[str, list[str]] = {i: [] for i in ids}
    succs: dict[str, list[str]] = {i: [] for i in ids}
    for s, t in edges:
        succs[s].append(t)
        preds[t].append(s)
    waiting = {i: len(preds[i]) for i in ids}
    ready = [i for i in ids if waiting[i] == 0]
    order: list[str] = []
    while ready:
        node = ready.pop()
        order.append(node)
        for t in succs[node]:
            waiting[t] -= 1
            if waiting[t] == 0:
                ready.append(t)
    if len(order) < len(ids):  # a cycle (never in a model graph): rank the rest in input order
        seen = set(order)
        order += [i for i in ids if i not in seen]
    rank = {i: 0 for i in ids}
    for node in order:
        for t in succs[node]:
            rank[t] = max(rank[t], rank[node] + 1)
    # A second input enters next to its first consumer instead of at the very top.
    for node in ids:
        if not preds[node] and succs[node]:
            rank[node] = max(0, min(rank[t] for t in succs[node]) - 1)
    for s, t in edges:  # cycles only: keep every edge pointing forward
        if rank[t] <= rank[s]:
            rank[t] = rank[s] + 1
    return rank


def _split_long_edges(ids: list[str], edges: list[tuple[str, str]], rank: dict[str, int]
                      ) -> tuple[dict[tuple[str, str], list[str]], list[list[str]]]:
    layers: list[list[str]] = [[] for _ in range(max(rank.values(), default=-1) + 1)]
    for i in ids:
        layers[rank[i]].append(i)
    chains: dict[tuple[str, str], list[str]] = {}
    for n, (s, t) in enumerate(edges):
        chain = [s]
        for r in range(rank[s] + 1, rank[t]):
            dummy = f"\0{n}:{r}"
            layers[r].append(dummy)
            chain.append(dummy)
        chain.append(t)
        chains[(s, t)] = chain
    return chains, layers


def _neighbours(chains: dict[tuple[str, str], list[str]]
                ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for chain in chains.values():
        for a, b in zip(chain, chain[1:]):
            succs.setdefault(a, []).append(b)
            preds.setdefault(b, []).append(a)
    return preds, succs


# -- order ------------------------------------------------------------------------------------


def _order(layers: list[list[str]], preds: dict[str, list[str]],
           succs: dict[str, list[str]]) -> int:
    """Reorder ``layers`` in place to reduce crossings; returns the crossings left."""
    if len(layers) < 2:
        return 0
    best = [list(layer) for layer in layers]
    best_count = count_crossings(best, succs)
    for sweep in range(SWEEPS):
        if best_count == 0:
            break
        for r in range(1, len(layers)):
            _sort_layer(layers[r], layers[r - 1], preds)
        for r in range(len(layers) - 2, -1, -1):
            _sort_layer(layers[r], layers[r + 1], succs)
        _transpose(layers, preds, succs)
        count = count_crossings(layers, succs)
        if count < best_count:
            best, best_count = [list(layer) for layer in layers], count
    layers[:] = best
    return best_count


def _sort_layer(layer: list[str], fixed: list[str], links: dict[str, list[str]]) -> None:
    index = {v: i for i, v in enumerate(fixed)}
    keys: dict[str, float] = {}
    for i, v in enumerate(layer):
        positions = sorted(index[u] for u in links.get(v, ()) if u in index)
        if not positions:
            keys[v] = -1.0
            continue
        m = len(positions)
        if m % 2:
            keys[v] = float(positions[m // 2])
        elif m == 2:
            keys[v] = (positions[0] + positions[1]) / 2
        else:
            keys[v] = (positions[m // 2 - 1] + positions[m // 2]) / 2
    # Nodes without neighbours on that side keep their place among the others.
    placed = [v for v in layer if keys[v] >= 0]
    placed.sort(key=lambda v: keys[v])
    out: list[str] = []
    it = iter(placed)
    for v in layer:
        out.append(v if keys[v] < 0 else next(it))
    layer[:] = out


def _transpose(layers: list[list[str]], preds: dict[str, list[str]],
               succs: dict[str, list[str]]) -> None:
    """Swap neighbours inside a rank where that removes crossings (small ranks only)."""
    for r, layer in enumerate(layers):
        if len(layer) > 60 or len(layer) < 2:
            continue
        above = {v: i for i, v in enumerate(layers[r - 1])} if r > 0 else {}
        below = {v: i for i, v in enumerate(layers[r + 1])} if r + 1 < len(layers) else {}
        improved = True
        rounds = 0
        while improved and rounds < 4:
            improved = False
            rounds += 1
            for i in range(len(layer) - 1):
                a, b = layer[i], layer[i + 1]
                before = _pair_crossings(a, b, preds, above) + _pair_crossings(a, b, succs, below)
                after = _pair_crossings(b, a, preds, above) + _pair_crossings(b, a, succs, below)
                if after < before:
                    layer[i], layer[i + 1] = b, a
                    improved = True


def _pair_crossings(left: str, right: str, links: dict[str, list[str]],
                    index: dict[str, int]) -> int:
    ls = [index[u] for u in links.get(left, ()) if u in index]
    rs = sorted(index[u] for u in links.get(right, ()) if u in index)
    return sum(bisect.bisect_left(rs, p) for p in ls)


def count_crossings(layers: Sequence[Sequence[str]], succs: dict[str, list[str]]) -> int:
    """Edge crossings between consecutive ranks (segments through dummies included)."""
    total = 0
    for upper, lower in zip(layers, layers[1:]):
        index = {v: i for i, v in enumerate(lower)}
        targets: list[int] = []
        for v in upper:
            targets.extend(sorted(index[t] for t in succs.get(v, ()) if t in index))
        total += _inversions(targets)
    return total


def _inversions(values: list[int]) -> int:
    """Pairs i < j with values[i] > values[j] (a Fenwick tree over the values)."""
    if len(values) < 2:
        return 0
    size = max(values) + 2
    tree = [0] * (size + 1)
    count = 0
    for seen, v in enumerate(values):
        i = v + 2
        smaller_or_equal = 0
        while i > 0:
            smaller_or_equal += tree[i]
            i -= i & -i
        count += seen - smaller_or_equal
        i = v + 2
        while i <= size:
            tree[i] += 1
            i += i & -i
    return count


# -- placement across the ranks -------------------------------------------------------------------


def _place(layers: list[list[str]], preds: dict[str, list[str]], succs: dict[str, list[str]],
           width: dict[str, float]) -> dict[str, float]:
    pos: dict[str, float] = {}
    for layer in layers:
        x = 0.0
        for v in layer:
            pos[v] = x + width[v] / 2
            x += width[v] + NODE_GAP
    for _ in range(6):
        for r in range(1, len(layers)):
            _align(layers[r], pos, preds, width)
        for r in range(len(layers) - 2, -1, -1):
            _align(layers[r], pos, succs, width)
    both = {v: preds.get(v, []) + succs.get(v, []) for layer in layers for v in layer}
    for layer in layers:
        _align(layer, pos, both, width)
    return pos


def _align(layer: list[str], pos: dict[str, float], links: dict[str, list[str]],
           width: dict[str, float]) -> None:
    """Move one rank's nodes towards the mean of their neighbours, keeping order and gaps
    (weighted isotonic regression by pool-adjacent-violators)."""
    offsets: list[float] = []
    acc = 0.0
    for i, v in enumerate(layer):
        if i:
            acc += (width[layer[i - 1]] + width[v]) / 2 + _gap(layer[i - 1], v)
        offsets.append(acc)
    blocks: list[list[float]] = []  # [weight, weighted sum, count]
    for i, v in enumerate(layer):
        near = links.get(v, ())
        if near:
            want = sum(pos[u] for u in near) / len(near)
            weight = 8.0 if v.startswith("\0") else float(len(near))
        else:
            want, weight = pos[v], 0.1
        blocks.append([weight, weight * (want - offsets[i]), 1])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] > blocks[-1][1] / blocks[-1][0]:
            w, s, n = blocks.pop()
            blocks[-1][0] += w
            blocks[-1][1] += s
            blocks[-1][2] += n
    i = 0
    for w, s, n in blocks:
        value = s / w
        for _ in range(int(n)):
            pos[layer[i]] = value + offsets[i]
            i += 1


def _gap(a: str, b: str) -> float:
    return EDGE_SLOT / 2 if a.startswith("\0") or b.startswith("\0") else NODE_GAP


# -- routes -------------------------------------------------------------------------------------


def _route(layout: Layout, source: str, target: str, inner: list[float]) -> Route:
    rank = layout.boxes[source].rank
    middle: list[Point] = []
    for k, c in enumerate(inner, start=1):
        a0, a1 = layout.bands[rank + k]
        middle += [_point(layout, a0, c), _point(layout, a1, c)]
    # The ends are placeholders until _attach computes them from the boxes.
    route = Route(source, target, [(0.0, 0.0), (0.0, 0.0), *middle, (0.0, 0.0)])
    attach(layout, route)
    return route


def _point(layout: Layout, a: float, c: float) -> Point:
    return (a, c) if layout.rankdir == "LR" else (c, a)


def attach(layout: Layout, route: Route) -> None:
    """Recompute the box-attached ends of a route (first two points, last point)."""
    src, dst = layout.boxes[route.source], layout.boxes[route.target]
    horizontal = layout.rankdir == "LR"
    band_end = layout.bands[src.rank][1]
    middle = route.points[2:-1]
    if horizontal:
        sc = src.y + src.height * route.source_port
        tc = dst.y + dst.height * route.target_port
        head = [(src.x + src.width, sc), (band_end, sc)]
        tail = [(dst.x, tc)]
    else:
        sc = src.x + src.width * route.source_port
        tc = dst.x + dst.width * route.target_port
        head = [(sc, src.y + src.height), (sc, band_end)]
        tail = [(tc, dst.y)]
    route.points = head + list(middle) + tail


def _spread_ports(layout: Layout) -> None:
    """Spread the ends of several edges along a box side, in the order of their other ends."""
    horizontal = layout.rankdir == "LR"
    outgoing: dict[str, list[Route]] = {}
    incoming: dict[str, list[Route]] = {}
    for route in layout.routes:
        outgoing.setdefault(route.source, []).append(route)
        incoming.setdefault(route.target, []).append(route)

    def across(p: Point) -> float:
        return p[1] if horizontal else p[0]

    for group, first in ((outgoing, True), (incoming, False)):
        for routes in group.values():
            def key(r: Route, first: bool = first) -> float:
                # The other end of the first segment leaving this box.
                return across(r.points[2] if first else r.points[-2])
            routes.sort(key=key)
            for k, r in enumerate(routes):
                port = (k + 1) / (len(routes) + 1)
                if first:
                    r.source_port = port
                else:
                    r.target_port = port
    for route in layout.routes:
        attach(layout, route)
