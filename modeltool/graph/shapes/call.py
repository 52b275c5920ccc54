"""What a shape rule sees (one call of one layer) and how a rule is run safely."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..model import Shape

Outputs = list[Shape | None] | None


Rule = Callable[["Call"], Outputs]


@dataclass
class Call:
    """What a rule sees: one call of one layer."""

    class_name: str
    config: dict[str, Any]
    inputs: list[Shape | None]
    extra: dict[str, list[Shape | None]] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: list[Any] = field(default_factory=list)
    module: str | None = None

    @property
    def x(self) -> Shape | None:
        return self.inputs[0] if self.inputs else None


def run_rule(rule: Rule, call: Call) -> Outputs:
    # A config that contradicts itself (a kernel larger than its input, an axis out of range)
    # makes Keras raise; here it makes the shape unknown.
    """Run a rule; a config that contradicts itself gives None (unknown), not an error."""
    try:
        outs = rule(call)
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError):
        return None
    if outs is not None and any(s is not None and any(d is not None and d < 0 for d in s)
                                for s in outs):
        return None  # a negative size in the config (units=-3): Keras would refuse it
    return outs
