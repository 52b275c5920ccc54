"""The verbs: each a function returning a report dataclass (no printing, no rich)."""

from __future__ import annotations
