"""Bench for issue 15: ``diff`` and ``convert --dtype``, against their peers, in one run.

1. ``modeltool diff`` of two ResNet50 ``.keras`` files (two random initialisations: every
   tensor differs, so every statistic is computed) against reading both files' weights once
   (``modeltool.open`` + ``read()`` of every tensor, the least any comparison must do).
   Target: at most 1.5x.
2. ``modeltool diff`` of two 1 GB ``.keras`` files (4 x 8192x8192 float32 + head, two random
   initialisations): wall time and peak RSS (bounded: tensors are compared in 32 MB blocks).
3. ``modeltool convert --dtype float16 --no-verify`` of the 1 GB model against ``cp`` of it.
   Target: at most 3x. The same with verification (Keras builds both models and predicts) is
   printed for information.

Each command runs in a fresh process (wall time, peak RSS). Models are built into the cache of
``bench/transfer.py`` (``bench/.cache``; ``MODELTOOL_BENCH_CACHE`` or ``--cache``).

Usage:
    .venv/bin/python bench/diff.py [--repeat 3] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from transfer import BUILD_BIG, ROOT, modeltool, python, repeat, run  # noqa: E402

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


def diff_cmd(a: Path, b: Path) -> list[str]:
    cmd = modeltool("diff", str(a), str(b))
    return ["sh", "-c", " ".join(f"'{part}'" for part in cmd) + " >/dev/null; test $? -le 1"]


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

    read_wall, read_rss = repeat(python(READ_BOTH, str(files["resnet_a"]), str(files["resnet_b"])),
                                 "reading both ResNet50 files", times)
    diff_wall, diff_rss = repeat(diff_cmd(files["resnet_a"], files["resnet_b"]),
                                 "modeltool diff ResNet50", times)
    size = files["resnet_a"].stat().st_size / 1e6
    ratio = diff_wall / read_wall
    print(f"\n1. diff of two ResNet50 .keras files ({size:.0f} MB each, every tensor differs), "
          f"median of {times}")
    print(f"   {'':36} {'wall s':>8} {'peak RSS MB':>12}")
    print(f"   {'read both files weights once':36} {read_wall:8.2f} {read_rss:12.0f}")
    print(f"   {'modeltool diff (CLI)':36} {diff_wall:8.2f} {diff_rss:12.0f}")
    print(f"   ratio diff/read: {ratio:.2f}x; target at most 1.5x: "
          f"{'PASS' if ratio <= 1.5 else 'FAIL'}")
    results.append(ratio <= 1.5)

    big_wall, big_rss = repeat(diff_cmd(files["big"], files["big_b"]),
                               "modeltool diff 1 GB", times)
    big_size = files["big"].stat().st_size / 1e9
    print(f"\n2. diff of two {big_size:.2f} GB .keras files (every tensor differs), "
          f"median of {times}")
    print(f"   modeltool diff: {big_wall:.2f} s, peak RSS {big_rss:.0f} MB "
          f"({big_rss / (2 * big_size * 1e3):.2f}x of the two files' size)")

    with tempfile.TemporaryDirectory(dir=cache, prefix="run-") as scratch:
        work = Path(scratch)
        out_cp, out_mt = work / "cp.keras", work / "half.keras"
        cp_wall, _ = repeat(["cp", str(files["big"]), str(out_cp)], "cp", times, out_cp)
        cast_wall, cast_rss = repeat(
            modeltool("convert", str(files["big"]), "-o", str(out_mt), "--dtype", "float16",
                      "--no-verify"), "modeltool convert --dtype", times, out_mt)
        verify_wall, verify_rss = repeat(
            modeltool("convert", str(files["big"]), "-o", str(out_mt), "--dtype", "float16"),
            "modeltool convert --dtype (verified)", 1, out_mt)
        run(modeltool("convert", str(files["big"]), "-o", str(out_mt), "--dtype", "float16",
                      "--no-verify"), "cast")
        half_size = out_mt.stat().st_size / 1e9
    ratio = cast_wall / cp_wall
    print(f"\n3. convert --dtype float16 of the {big_size:.2f} GB .keras -> {half_size:.2f} GB, "
          f"median of {times}")
    print(f"   {'':36} {'wall s':>8} {'peak RSS MB':>12}")
    print(f"   {'cp':36} {cp_wall:8.2f}")
    print(f"   {'modeltool convert --no-verify':36} {cast_wall:8.2f} {cast_rss:12.0f}")
    print(f"   {'modeltool convert (verified, once)':36} {verify_wall:8.2f} {verify_rss:12.0f}")
    print(f"   ratio cast/cp: {ratio:.2f}x; target at most 3x: {'PASS' if ratio <= 3 else 'FAIL'}")
    results.append(ratio <= 3)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
