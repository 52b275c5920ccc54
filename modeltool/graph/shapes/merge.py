"""Shape rules of the layers that combine tensors: Add & co., Concatenate, Dot."""

from __future__ import annotations

from ..model import Shape
from .call import Call, Outputs
from .dims import broadcast, norm_axis


def elementwise_merge(call: Call) -> Outputs:
    """Add/Subtract/Multiply/...: broadcast without the batch dimension (Keras' Merge)."""
    shapes = call.inputs
    if not shapes or any(s is None for s in shapes):
        return None
    known: list[Shape] = [s for s in shapes if s is not None]
    out = known[0][1:]
    for s in known[1:]:
        out = broadcast(out, s[1:])
    batches = {s[0] for s in known} - {None}
    return [((batches.pop() if len(batches) == 1 else None), *out)]


def broadcast_all(call: Call) -> Outputs:
    """An elementwise op on every tensor argument (numpy broadcasting, batch included)."""
    shapes = [*call.inputs, *[s for v in call.extra.values() for s in v]]
    if not shapes or any(s is None for s in shapes):
        return None
    known: list[Shape] = [s for s in shapes if s is not None]
    out = known[0]
    for s in known[1:]:
        out = broadcast(out, s)
    return [out]


def concatenate(call: Call) -> Outputs:
    """Concatenate: the sum along ``axis``, the other dimensions agreed."""
    shapes = call.inputs
    if not shapes or any(s is None for s in shapes):
        return None
    known: list[Shape] = [s for s in shapes if s is not None]
    rank = len(known[0])
    if any(len(s) != rank for s in known):
        raise ValueError("rank mismatch")
    axis = norm_axis(int(call.config.get("axis", -1)), rank)
    out: list[int | None] = []
    for i in range(rank):
        dims = [s[i] for s in known]
        if i == axis:
            out.append(None if any(d is None for d in dims) else sum(d for d in dims if d))
        else:
            values = {d for d in dims if d is not None}
            out.append(values.pop() if len(values) == 1 else None)
    return [tuple(out)]


def dot(call: Call) -> Outputs:
    """Dot: both inputs without their contracted axes (and the second's batch)."""
    if len(call.inputs) != 2 or any(s is None for s in call.inputs):
        return None
    a, b = list(call.inputs[0] or ()), list(call.inputs[1] or ())
    axes = call.config.get("axes", -1)
    if isinstance(axes, int):
        pair = [axes % len(a), axes % len(b)] if axes < 0 else [axes, axes]
    else:
        pair = [int(axes[0]) % len(a), int(axes[1]) % len(b)]
    a.pop(pair[0])
    b.pop(pair[1])
    b.pop(0)
    out = a + b
    if len(out) == 1:
        out.append(1)
    return [tuple(out)]
