"""The ``fidelity`` sweep runs only when asked for (``-m fidelity``, ``make test-fidelity``):
the default ``-m "not zoo"`` run skips it with a reason."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "fidelity" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow sweep: run with -m fidelity (make test-fidelity)")
    for item in items:
        if item.get_closest_marker("fidelity") is not None:
            item.add_marker(skip)
