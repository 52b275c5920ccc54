"""Bench for issue 15: ``diff`` and ``convert --dtype``, against their peers, in one run.

1. ``modeltool diff`` of two ResNet50 ``.keras`` files (two random initialisations: every
   tensor differs, so every statistic is computed) against reading both files' weights once
   (``modeltool.open`` + ``read()`` of every tensor, the least any comparison must do).
   Target: at most 1.5x.
2. ``modeltool diff`` of two 1 GB ``.keras`` files (4 x 8192x8192 float32 + head, two random
   initialisations): wall time and peak RSS (bounded: tensors are compared in 16 MB blocks).
3. ``modeltool convert --dtype float16|bfloat16 --no-verify`` of the 1 GB model against ``cp``
   of it (GNU cp copies inside the kernel: ``copy_file_range``, page cache to page cache).
   Target: at most 3x, for ``--no-verify``: the default verification builds both models in
   Keras and predicts (about a minute and 3 GB for this model); it is printed once for
   information.

Each command runs in a fresh process (wall time, CPU time, peak RSS); the least time of
``--repeat`` runs is printed (the machine may be shared). Models are built into the cache of
``bench/transfer.py`` (``bench/.cache``; ``MODELTOOL_BENCH_CACHE`` or ``--cache``).

Usage:
    .venv/bin/python bench/diff.py [--repeat 3] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from transfer import BUILD_BIG, ENV, ROOT, modeltool, python, run, settle  # noqa: E402

BUILD_RESNET_PAIR = """
import keras
for seed, path in ((1, {a!r}), (2, {b!r})):
    keras.utils.set_random_seed(seed)
    keras.applications.ResNet50(weights=None).save(path)
"""

READ_BOTH = """
import sys
import modeltool
for path in sys.argv[1:]:
    with modeltool.open(path) as art:
        for entry in art.weights:
            entry.read()
"""


def timed(cmd: list[str], what: str) -> tuple[float, float, float]:
    """Run ``cmd`` in a fresh process: (wall s, CPU s of user + system, peak RSS MB). CPU time
    is printed beside wall time because the machine may be shared: wall time then measures
    the neighbours as much as the command."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{what} failed (exit {code}):\n{tail}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def repeat(cmd: list[str], what: str, times: int,
           cleanup: Path | None = None) -> tuple[float, float, float]:
    """The least wall and CPU time over ``times`` runs (the run least disturbed by a shared
    machine), and the largest peak RSS."""
    runs = []
    for _ in range(times):
        settle()
        runs.append(timed(cmd, what))
        if cleanup is not None:
            cleanup.unlink(missing_ok=True)
    return (min(r[0] for r in runs), min(r[1] for r in runs),
            max(r[2] for r in runs))


def build(cache: Path) -> dict[str, Path]:
    files = {"resnet_a": cache / "resnet50_seed1.keras", "resnet_b": cache / "resnet50_seed2.keras",
             "big": cache / "dense_1gb.keras", "big_b": cache / "dense_1gb_seed2.keras"}
    if not (files["resnet_a"].exists() and files["resnet_b"].exists()):
        print(f"building two ResNet50 (weights=None) into {cache} ...", flush=True)
        run(python(BUILD_RESNET_PAIR.format(a=str(files["resnet_a"]), b=str(files["resnet_b"]))),
            "building ResNet50")
    for key, seed in (("big", None), ("big_b", 2)):
        if not files[key].exists():
            print(f"building a 1 GB .keras into {cache} ...", flush=True)
            code = BUILD_BIG.format(path=str(files[key]))
            if seed is not None:
                code = code.replace("import keras\n", f"import keras\nkeras.utils."
                                                      f"set_random_seed({seed})\n", 1)
            run(python(code), "building the 1 GB model")
    return files


def row(label: str, result: tuple[float, float, float] | None, rss: bool = True) -> str:
    if result is None:
        return f"   {label:38}"
    wall, cpu, peak = result
    return f"   {label:38} {wall:8.2f} {cpu:8.2f}" + (f" {peak:12.0f}" if rss else "")


HEADER = f"   {'':38} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", default=os.environ.get("MODELTOOL_BENCH_CACHE"))
    args = parser.parse_args()
    cache = Path(args.cache) if args.cache else ROOT / "bench" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    files = build(cache)
    times = args.repeat
    results = []
    print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    read = repeat(python(READ_BOTH, str(files["resnet_a"]), str(files["resnet_b"])),
                  "reading both ResNet50 files", times)
    diffed = repeat(modeltool("diff", str(files["resnet_a"]), str(files["resnet_b"])),
                    "modeltool diff ResNet50", times)
    size = files["resnet_a"].stat().st_size / 1e6
    print(f"\n1. diff of two ResNet50 .keras files ({size:.0f} MB each; two random "
          f"initialisations), min of {times}")
    print(HEADER)
    print(row("read both files' weights once", read))
    print(row("modeltool diff (CLI)", diffed))
    ratio, cpu_ratio = diffed[0] / read[0], diffed[1] / read[1]
    print(f"   ratio diff/read: wall {ratio:.2f}x, CPU {cpu_ratio:.2f}x; target at most 1.5x: "
          f"{'PASS' if ratio <= 1.5 else 'FAIL'}")
    results.append(ratio <= 1.5)

    big = repeat(modeltool("diff", str(files["big"]), str(files["big_b"])),
                 "modeltool diff 1 GB", times)
    big_size = files["big"].stat().st_size / 1e9
    print(f"\n2. diff of two {big_size:.2f} GB .keras files (every tensor differs), "
          f"min of {times}")
    print(HEADER)
    print(row("modeltool diff (CLI)", big))
    print(f"   peak RSS {big[2]:.0f} MB = {big[2] / (2 * big_size * 1e3):.2f}x of the two "
          f"files' size (bounded: 16 MB blocks)")

    with tempfile.TemporaryDirectory(dir=cache, prefix="run-") as scratch:
        work = Path(scratch)
        out_cp, out_mt = work / "cp.keras", work / "half.keras"
        cp = repeat(["cp", str(files["big"]), str(out_cp)], "cp", times, out_cp)
        casts = {}
        for dtype in ("float16", "bfloat16"):
            casts[dtype] = repeat(
                modeltool("convert", str(files["big"]), "-o", str(out_mt), "--dtype", dtype,
                          "--no-verify"), f"modeltool convert --dtype {dtype}", times, out_mt)
        verified = repeat(
            modeltool("convert", str(files["big"]), "-o", str(out_mt), "--dtype", "float16"),
            "modeltool convert --dtype (verified)", 1)
        half_size = out_mt.stat().st_size / 1e9
    print(f"\n3. convert --dtype of the {big_size:.2f} GB .keras (-> {half_size:.2f} GB), "
          f"min of {times}")
    print(HEADER)
    print(row("cp", cp))
    for dtype, result in casts.items():
        print(row(f"modeltool convert --dtype {dtype}", result))
    print(row("  float16 with verification (once)", verified))
    for dtype, result in casts.items():
        ratio, cpu_ratio = result[0] / cp[0], result[1] / cp[1]
        print(f"   ratio {dtype} cast/cp: wall {ratio:.2f}x, CPU {cpu_ratio:.2f}x; target at "
              f"most 3x: {'PASS' if ratio <= 3 else 'FAIL'}")
        results.append(ratio <= 3)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
