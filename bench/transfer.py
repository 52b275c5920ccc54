"""Bench for issue 4: by-name transfer and freeze, modeltool against its peers, in one run.

1. By-name transfer of ResNet50 weights (a legacy ``.h5`` written by Keras 3) into a ResNet50 with
   a new 7-class head: ``modeltool load-weights --by-name --skip-mismatch`` against Keras' own
   ``load_model`` + ``load_weights(by_name=True, skip_mismatch=True)`` + ``save`` (Keras allows
   by-name loading only from legacy ``.h5``). Both end to end, each in a fresh process: wall time
   and peak RSS. Both outputs are then compared weight for weight.
2. ``modeltool freeze`` on a 1 GB ``.keras`` to a new file against ``cp`` of the same file; and
   ``modeltool freeze --force`` over an existing output (which modeltool fsyncs before the
   rename, see ``modeltool/io.py``) against ``cp`` followed by ``sync FILE``.

The models are built with ``weights=None`` into a cache folder (``bench/.cache`` by default,
ignored by git; ``MODELTOOL_BENCH_CACHE`` or ``--cache`` to move it) on the first run.

Usage:
    .venv/bin/python bench/transfer.py [--repeat 3] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}

BUILD_RESNET = """
import keras
source = keras.applications.ResNet50(weights=None)                # 1000-class head
source.save({source!r})
target = keras.applications.ResNet50(weights=None, classes=7)     # the new 7-class head
target.save({target!r})
"""

BUILD_BIG = """
import keras
x = keras.Input((8192,), name="x")
h = x
for i in range(4):                      # 4 x (8192 x 8192 + 8192) float32 = 1.07 GB
    h = keras.layers.Dense(8192, name=f"fc{{i}}")(h)
out = keras.layers.Dense(10, name="head")(h)
keras.Model(x, out, name="big").save({path!r})
"""

KERAS_BY_NAME = """
import keras
model = keras.models.load_model({target!r}, compile=False)
model.load_weights({source!r}, by_name=True, skip_mismatch=True)
model.save({out!r})
"""

MODELTOOL = """
import sys
from modeltool.cli import main
main(sys.argv[1:], prog_name="modeltool")
"""


def run(cmd: list[str], what: str) -> tuple[float, float]:
    """Run ``cmd`` in a fresh process: (wall seconds, peak RSS in MB)."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return wall, usage.ru_maxrss / 1024


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def modeltool(command: str, *args: str) -> list[str]:
    return python(MODELTOOL.format(command=command), command, *args)


def settle() -> None:
    """Flush dirty pages so one run's writeback does not land in the next one's time."""
    subprocess.run(["sync"], check=False)
    time.sleep(0.5)


def repeat(cmd: list[str], what: str, times: int, cleanup: Path | None = None
           ) -> tuple[float, float]:
    walls, peaks = [], []
    for _ in range(times):
        settle()
        wall, peak = run(cmd, what)
        walls.append(wall)
        peaks.append(peak)
        if cleanup is not None:
            cleanup.unlink(missing_ok=True)
    return statistics.median(walls), max(peaks)


def build(cache: Path) -> dict[str, Path]:
    files = {"source": cache / "resnet50_imagenet_head.h5",
             "target": cache / "resnet50_7class.h5",
             "big": cache / "dense_1gb.keras"}
    if not (files["source"].exists() and files["target"].exists()):
        print(f"building ResNet50 (weights=None) into {cache} ...", flush=True)
        run(python(BUILD_RESNET.format(source=str(files["source"]),
                                       target=str(files["target"]))), "building ResNet50")
    if not files["big"].exists():
        print(f"building a 1 GB .keras into {cache} ...", flush=True)
        run(python(BUILD_BIG.format(path=str(files["big"]))), "building the 1 GB model")
    return files


def same_weights(a: Path, b: Path) -> tuple[bool, int]:
    """Every tensor of ``a`` equals ``b``'s, layer by layer, position by position."""
    import numpy as np

    import modeltool

    count = 0
    with modeltool.open(a) as left, modeltool.open(b) as right:
        if set(left.weights.layers) != set(right.weights.layers):
            return False, count
        for name, entries in left.weights.layers.items():
            others = right.weights.layer(name)
            if len(entries) != len(others):
                return False, count
            for x, y in zip(entries, others):
                if not np.array_equal(x.read(), y.read()):
                    return False, count
                count += 1
    return True, count


def bench_transfer(files: dict[str, Path], work: Path, times: int) -> list[bool]:
    out_mt, out_keras = work / "out_modeltool.h5", work / "out_keras.h5"
    report_path = work / "report.json"
    mt_cmd = modeltool("load-weights", str(files["target"]), str(files["source"]), "--by-name",
                       "--skip-mismatch", "-o", str(out_mt), "--force")
    keras_cmd = python(KERAS_BY_NAME.format(target=str(files["target"]),
                                            source=str(files["source"]), out=str(out_keras)))
    mt_wall, mt_rss = repeat(mt_cmd, "modeltool load-weights", times)
    keras_wall, keras_rss = repeat(keras_cmd, "Keras load_weights(by_name=True)", times)
    with open(report_path, "w") as handle:
        subprocess.run(modeltool("load-weights", str(files["target"]), str(files["source"]),
                                 "--by-name", "--skip-mismatch", "--dry-run", "--json"),
                       stdout=handle, check=True, env=ENV)
    report = json.loads(report_path.read_text())
    agree, tensors = same_weights(out_mt, out_keras)
    size = files["source"].stat().st_size / 1e6
    print(f"\n1. By-name transfer: ResNet50 ({size:.0f} MB .h5) into ResNet50 with a 7-class "
          f"head, median of {times}")
    print(f"   layers loaded {report['totals']['loaded']}/{report['totals']['layers']}, "
          f"skipped: " + ", ".join(f"{x['target']} ({x['status']})" for x in report["layers"]
                                   if x["status"] != "loaded"))
    print(f"   {'':34} {'wall s':>8} {'peak RSS MB':>12}")
    print(f"   {'modeltool load-weights (CLI)':34} {mt_wall:8.2f} {mt_rss:12.0f}")
    print(f"   {'Keras load_weights(by_name=True)':34} {keras_wall:8.2f} {keras_rss:12.0f}")
    print(f"   ratio modeltool/Keras: time {mt_wall / keras_wall:.2f}x, "
          f"peak RSS {mt_rss / keras_rss:.2f}x")
    print(f"   outputs agree weight for weight: {'yes' if agree else 'NO'} ({tensors} tensors)")
    fast = mt_wall <= keras_wall
    lean = mt_rss <= keras_rss
    print(f"   target: at least as fast as Keras: {'PASS' if fast else 'FAIL'}; "
          f"no more peak memory: {'PASS' if lean else 'FAIL'}")
    return [fast, lean, agree]


def bench_freeze(files: dict[str, Path], work: Path, times: int) -> list[bool]:
    big = files["big"]
    out_cp, out_sync, out_mt = work / "cp.keras", work / "cp_sync.keras", work / "frozen.keras"
    freeze = modeltool("freeze", str(big), "--all-but-last", "1", "-o", str(out_mt), "--force")
    cp_wall, _ = repeat(["cp", str(big), str(out_cp)], "cp", times, out_cp)
    mt_wall, mt_rss = repeat(freeze, "modeltool freeze", times, out_mt)
    sync_wall, _ = repeat(["sh", "-c", f"cp '{big}' '{out_sync}' && sync '{out_sync}'"],
                          "cp + sync", times, out_sync)
    # an existing output, on disk (its writeback must not run during the timed runs): freeze
    # replaces it, durably
    run(["sh", "-c", f"cp '{big}' '{out_mt}' && sync '{out_mt}'"], "cp + sync")
    replace_wall, _ = repeat(freeze, "modeltool freeze --force (replacing)", times)
    print(f"\n2. Freeze: {big.stat().st_size / 1e9:.2f} GB .keras "
          f"(--all-but-last 1), median of {times}")
    print(f"   {'':40} {'wall s':>8} {'peak RSS MB':>12}")
    print(f"   {'cp (new file)':40} {cp_wall:8.2f}")
    print(f"   {'modeltool freeze -o NEW':40} {mt_wall:8.2f} {mt_rss:12.0f}")
    print(f"   {'cp + sync FILE':40} {sync_wall:8.2f}")
    print(f"   {'modeltool freeze --force (replace, fsync)':40} {replace_wall:8.2f}")
    ratio, ratio_sync = mt_wall / cp_wall, replace_wall / sync_wall
    print(f"   ratio freeze/cp: {ratio:.2f}x; replacing freeze/(cp + sync): {ratio_sync:.2f}x")
    print(f"   target: within 2x of cp: {'PASS' if ratio <= 2 else 'FAIL'}"
          f" (replacing, within 2x of cp + sync: {'PASS' if ratio_sync <= 2 else 'FAIL'})")
    return [ratio <= 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", default=os.environ.get("MODELTOOL_BENCH_CACHE"))
    args = parser.parse_args()
    cache = Path(args.cache) if args.cache else ROOT / "bench" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    files = build(cache)
    with tempfile.TemporaryDirectory(dir=cache, prefix="run-") as scratch:
        work = Path(scratch)
        results = bench_transfer(files, work, args.repeat)
        results += bench_freeze(files, work, args.repeat)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
