"""Under load: inspecting 200 files in one process holds steady memory and closes every file."""

from __future__ import annotations

import gc
import os
from itertools import cycle, islice

import modeltool
from tests.conftest import fixture_files


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _inspect(path: str) -> None:
    summarize = getattr(modeltool, "summary", None)
    if summarize is not None:
        summarize(path)
    else:
        modeltool.weights(path)


def test_two_hundred_files_steady_memory_and_no_open_handles() -> None:
    paths = [str(e["path"]) for e in fixture_files()
             if e["kind"] in ("h5", "k2-weights", "k3-weights", "keras", "json", "yaml")]
    for path in paths[:20]:  # warm-up
        _inspect(path)
    gc.collect()
    fds, rss = _open_fds(), _rss_mb()
    for path in islice(cycle(paths), 200):
        _inspect(path)
    gc.collect()
    assert _open_fds() == fds
    assert _rss_mb() - rss < 50
