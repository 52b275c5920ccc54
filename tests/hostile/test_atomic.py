"""Killing modeltool while it writes a large output never leaves a partial file: the output is
absent or complete, a rerun leaves no temporary files, and the input's bytes never change."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import modeltool
from modeltool.artifact import ModelArtifact, WeightEntry, WeightStore
from modeltool.formats._dialects import canonical_model_config

WIDTH = 3072  # two Dense(3072) layers: about 75 MB of weights


def _dense(name: str, units: int) -> dict:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": name, "units": units, "activation": "linear",
                       "use_bias": True, "dtype": "float32"}}


def _big_model(path: Path) -> Path:
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
    "load-weights": ("big.keras", "out.keras", ["load-weights", "{src}", "{src}", "--by-name",
                                                "-o", "{out}"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sigkill_while_writing(case: str, tmp_path: Path) -> None:
    source_name, output, args = CASES[case]
    source = _big_model(tmp_path / "big.h5")
    if source_name != "big.h5":
        modeltool.convert(source, tmp_path / source_name)
        source.unlink()
        source = tmp_path / source_name
    before = _digest(source)
    expected = _weights_digest(source)
    out = tmp_path / output
    command = [sys.executable, "-m", "modeltool",
               *[a.format(src=source, out=out) for a in args], "--force"]
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    full = time.monotonic() - started
    out.unlink()
    interrupted = 0
    for delay in (full * f / 20 for f in range(6, 20)):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        interrupted += any(p.name.startswith(".modeltool-tmp") for p in tmp_path.iterdir())
        if out.exists():
            assert _weights_digest(out) == expected, f"partial output after {delay} s"
        assert _digest(source) == before
    assert interrupted, "no kill landed while the output was being written"
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    assert _weights_digest(out) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, output])
    assert _digest(source) == before
