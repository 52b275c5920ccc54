"""Bench: `modeltool summary` against Keras' own load_model + summary, as cold processes.

Builds ResNet50, EfficientNetB0 (keras.applications, weights=None) and a Dense stack of about
1 GB into bench/.cache as .h5 and .keras (never committed), then times each command in a fresh
process, several times, and prints medians, the ratio and each one's peak RSS.

    .venv/bin/python bench/summary.py [--repeat 5] [--only resnet50]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
KERAS_SUMMARY = ("import sys, keras; m = keras.models.load_model(sys.argv[1], compile=False); "
                 "m.summary(print_fn=lambda *a, **k: None)")


def build(name: str) -> list[Path]:
    paths = [CACHE / f"{name}.h5", CACHE / f"{name}.keras"]
    if all(p.exists() for p in paths):
        return paths
    CACHE.mkdir(exist_ok=True)
    code = f"""
import keras
name = {name!r}
if name == "resnet50":
    model = keras.applications.ResNet50(weights=None)
elif name == "efficientnetb0":
    model = keras.applications.EfficientNetB0(weights=None)
else:
    inputs = keras.Input((8192,))
    x = inputs
    for i in range(4):
        x = keras.layers.Dense(8192, name=f"dense_{{i}}")(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
for path in {[str(p) for p in paths]!r}:
    model.save(path)
"""
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV)
    return paths


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one cold process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run(command, env=ENV, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{proc.stderr.decode()[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def measure(command: list[str], repeat: int) -> tuple[float, float]:
    times, peaks = [], []
    for _ in range(repeat):
        wall, _ = run(command)
        times.append(wall)
    # RUSAGE_CHILDREN keeps the maximum over all children: measure the peak in a child of ours.
    probe = [sys.executable, "-c",
             "import resource, subprocess, sys; subprocess.run(sys.argv[1:], "
             "stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)", *command]
    out = subprocess.run(probe, env=ENV, capture_output=True, text=True, check=True)
    peaks.append(int(out.stdout.strip().splitlines()[-1]) / 1024)
    return statistics.median(times), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", choices=["resnet50", "efficientnetb0", "dense_1gb"])
    args = parser.parse_args()
    names = [args.only] if args.only else ["resnet50", "efficientnetb0", "dense_1gb"]
    modeltool = [sys.executable, "-m", "modeltool", "summary"]
    keras = [sys.executable, "-c", KERAS_SUMMARY]
    print(f"{'file':<24}{'size':>9}{'modeltool':>12}{'keras':>10}{'ratio':>8}"
          f"{'mt RSS':>9}{'keras RSS':>11}")
    results = {}
    for name in names:
        for path in build(name):
            ours, our_rss = measure([*modeltool, str(path)], args.repeat)
            theirs, their_rss = measure([*keras, str(path)], args.repeat)
            results[path.name] = ours
            print(f"{path.name:<24}{path.stat().st_size / 1e6:>7.0f}MB{ours:>11.2f}s"
                  f"{theirs:>9.2f}s{theirs / ours:>7.1f}x{our_rss:>7.0f}MB{their_rss:>9.0f}MB")
    if "resnet50.h5" in results and "dense_1gb.h5" in results:
        slower = results["dense_1gb.h5"] / results["resnet50.h5"] - 1
        print(f"1 GB file against ResNet50 (.h5): {slower:+.0%} time")


if __name__ == "__main__":
    main()
