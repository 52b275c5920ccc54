"""Bench for issue 11: what verifying CRC-32s while streaming costs on a 1 GB ``.keras``.

Each command runs twice per repeat, in fresh processes, on the same file in the same run: once
with this checkout's modeltool (CRC-32 of the weights member computed while its bytes stream
by) and once with a baseline checkout that does not verify (``--baseline DIR``: a folder
holding a ``modeltool`` package, for example ``git archive <commit> modeltool | tar -x -C DIR``).
Without ``--baseline`` it prints the absolute times only. The 1 GB model is the one
``bench/transfer.py`` builds (4 x Dense(8192), weights=None), in ``bench/.cache``.

Commands: ``freeze -o NEW`` (raw member copy), ``convert`` to a new ``.keras`` (every tensor
read and rewritten), ``weights --stats`` (every tensor read).

Usage:
    .venv/bin/python bench/integrity.py --baseline /tmp/baseline [--repeat 3] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from transfer import ENV, ROOT, build, run, settle  # noqa: E402

TARGET = 1.3


def modeltool_cmd(pythonpath: str, *args: str) -> tuple[list[str], dict[str, str]]:
    code = "import sys; from modeltool.cli import main; main(sys.argv[1:], prog_name='modeltool')"
    return [sys.executable, "-c", code, *args], {**ENV, "PYTHONPATH": pythonpath}


def timed(pythonpath: str, args: list[str], cleanup: Path | None) -> float:
    import subprocess
    import time

    settle()
    cmd, env = modeltool_cmd(pythonpath, *args)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.decode()[-2000:]}")
    if cleanup is not None:
        cleanup.unlink(missing_ok=True)
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="folder holding a modeltool package to compare with")
    parser.add_argument("--cache", default=os.environ.get("MODELTOOL_BENCH_CACHE"))
    args = parser.parse_args()
    cache = Path(args.cache) if args.cache else ROOT / "bench" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    big = build(cache)["big"]
    ok = True
    with tempfile.TemporaryDirectory(dir=cache, prefix="run-") as scratch:
        out = Path(scratch) / "out.keras"
        commands = {
            "freeze -o NEW": ["freeze", str(big), "--all-but-last", "1", "-o", str(out)],
            "convert -o NEW.keras": ["convert", str(big), "-o", str(out)],
            "weights --stats": ["weights", str(big), "--stats", "--json"],
        }
        run(["cat", str(big)], "warming the page cache")
        print(f"CRC-32 while streaming: {big.stat().st_size / 1e9:.2f} GB .keras, "
              f"median of {args.repeat}")
        print(f"   {'':24} {'this (s)':>9} {'baseline (s)':>13} {'ratio':>7}")
        for label, command in commands.items():
            cleanup = out if "-o" in command else None
            mine, base = [], []
            for _ in range(args.repeat):
                mine.append(timed(str(ROOT), command, cleanup))
                if args.baseline:
                    base.append(timed(args.baseline, command, cleanup))
            now = statistics.median(mine)
            if base:
                before = statistics.median(base)
                ratio = now / before
                ok &= ratio <= TARGET
                print(f"   {label:24} {now:9.2f} {before:13.2f} {ratio:6.2f}x")
            else:
                print(f"   {label:24} {now:9.2f}")
        if args.baseline:
            print(f"   target: every ratio at most {TARGET}x: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
