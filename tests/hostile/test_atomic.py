"""Killing modeltool while it writes never leaves a partial file: the output is absent (or the
old one intact), a rerun leaves no temporary files, and the input's bytes never change.

No timing guesses: the test-only hook ``MODELTOOL_TEST_STOP=<point>:<path>`` (modeltool/io.py)
makes the writer stop at a known point (after N weight bytes, or with the output complete
under its temporary name just before the rename), report on ``path`` and wait. ``path`` is the
write end of a pipe this test reads, so the test blocks until the writer has stopped (or has
exited, which reads as end of file), then sends SIGKILL. Same points on every run, every
machine, under any load.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import modeltool
from modeltool.artifact import ModelArtifact, WeightEntry, WeightStore
from modeltool.formats.dialects import canonical_model_config

WIDTH = 512  # three Dense layers, about 2 MB of weights
TEMP = ".modeltool-tmp"


def _dense(name: str, units: int) -> dict:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": name, "units": units, "activation": "linear",
                       "use_bias": True, "dtype": "float32"}}


def _model(path: Path) -> Path:
    raw = {"module": "keras", "class_name": "Sequential", "config": {"name": "big", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
         "config": {"name": "x", "batch_shape": [None, WIDTH], "dtype": "float32"}},
        _dense("d1", WIDTH), _dense("d2", WIDTH), _dense("d3", 10)]}}
    config, _, _ = canonical_model_config(raw)
    layers: dict[str, list[WeightEntry]] = {}
    shapes = {"d1": (WIDTH, WIDTH), "d2": (WIDTH, WIDTH), "d3": (WIDTH, 10)}
    for index, (name, shape) in enumerate(shapes.items()):
        kernel = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) * (index + 1)
        bias = np.full(shape[1], index, dtype=np.float32)
        layers[name] = [
            WeightEntry(name, name, "kernel", shape, "float32", "", lambda k=kernel: k),
            WeightEntry(name, name, "bias", (shape[1],), "float32", "", lambda b=bias: b)]
    modeltool.save(ModelArtifact(kind="h5", path=None, config=config,
                                 weights=WeightStore(layers)), path)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _weights_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with modeltool.open(path) as artifact:
        for entry in artifact.weights:
            digest.update(np.ascontiguousarray(entry.read()).tobytes())
    return digest.hexdigest()


CASES = {
    "convert-keras": ("big.h5", "out.keras", ["convert", "{src}", "-o", "{out}"]),
    "convert-h5": ("big.h5", "out.h5", ["convert", "{src}", "-o", "{out}"]),
    "convert-weights": ("big.h5", "out.weights.h5", ["convert", "{src}", "-o", "{out}"]),
    "freeze": ("big.keras", "out.keras", ["freeze", "{src}", "--all-but-last", "1",
                                          "-o", "{out}"]),
    "freeze-h5": ("big.h5", "out.h5", ["freeze", "{src}", "--all-but-last", "1",
                                       "-o", "{out}"]),
    "load-weights": ("big.keras", "out.keras", ["load-weights", "{src}", "{src}", "--by-name",
                                                "-o", "{out}"]),
}
#: Where the writer stops: after its first weight bytes, halfway, and complete but not renamed.
POINTS = ("1", "half", "rename")


def _stopped_run(command: list[str], point: str) -> str:
    """Run ``command`` with the stop hook at ``point``; once it has stopped, SIGKILL it.
    Returns what the writer reported (empty if it ran to the end without stopping)."""
    read_end, write_end = os.pipe()
    env = {**os.environ, "MODELTOOL_TEST_STOP": f"{point}:/dev/fd/{write_end}"}
    process = subprocess.Popen(command, env=env, pass_fds=(write_end,),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.readline().decode()  # blocks until the writer stops (or exits)
    if report:
        process.send_signal(signal.SIGKILL)
    _, errors = process.communicate(timeout=300)
    assert report, f"the writer never reached {point}: {errors.decode()[-500:]}"
    assert process.returncode == -signal.SIGKILL
    return report


@pytest.mark.parametrize("case", sorted(CASES))
def test_sigkill_while_writing(case: str, tmp_path: Path) -> None:
    source_name, output, args = CASES[case]
    source = _model(tmp_path / "big.h5")
    if source_name != "big.h5":
        modeltool.convert(source, tmp_path / source_name)
        source.unlink()
        source = tmp_path / source_name
    before = _digest(source)
    expected = _weights_digest(source)
    out = tmp_path / output
    command = [sys.executable, "-m", "modeltool",
               *[a.format(src=source, out=out) for a in args], "--force"]
    with modeltool.open(source) as artifact:
        half = str(artifact.weights.total_bytes // 2)
    old: str | None = None
    for round_, points in (("new output", POINTS), ("replacing", ("half",))):
        for point in points:
            report = _stopped_run(command, half if point == "half" else point)
            assert "stopped" in report
            leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(TEMP)]
            assert leftovers, f"{point}: killed with no temporary file: not mid-write"
            if old is None:
                assert not out.exists(), f"{round_}, {point}: partial output under its name"
            else:
                assert _digest(out) == old, f"{round_}, {point}: the old output was damaged"
            assert _digest(source) == before
        subprocess.run(command, check=True, capture_output=True, timeout=300)
        assert _weights_digest(out) == expected
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, output])
        old = _digest(out)
    assert _digest(source) == before
