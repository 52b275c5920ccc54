"""Time and peak memory of ``modeltool plot`` against ``keras.utils.plot_model``, end to end.

Each run is a fresh process started from the shell's point of view (interpreter start, imports,
reading the file, layout, writing the SVG); its peak RSS is the child's ``ru_maxrss`` and its
CPU time (user + system) is printed beside the wall time: on a shared machine the wall time
grows with the load, the CPU time much less. The models
are keras.applications architectures (weights=None) saved as ``.keras`` into ``bench/.cache``
(ignored by git; ``MODELTOOL_BENCH_CACHE`` or ``--cache`` moves it) on the first run.

The peer needs a live model (``keras.saving.load_model``), pydot and graphviz's ``dot``
binary: when those are missing the peer's line says so instead of a time.

Targets: ResNet50 under 1 s, DenseNet201 under 3 s.

    .venv/bin/python bench/plot.py [--models ResNet50 DenseNet201] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGETS = {"ResNet50": 1.0, "DenseNet201": 3.0}

_MEASURE = r"""
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
elapsed = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": elapsed, "peak_kb": usage.ru_maxrss,
    "cpu": usage.ru_utime + usage.ru_stime, "code": done.returncode,
    "stderr": done.stderr.strip().splitlines()[-1:] }))
"""

_PEER = r"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
model = keras.saving.load_model(sys.argv[1], compile=False)
keras.utils.plot_model(model, to_file=sys.argv[2], show_shapes=False)
"""


def build(cache: Path, names: list[str]) -> dict[str, Path]:
    """The ``.keras`` file of each model, built once."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = {name: cache / f"plot-{name}.keras" for name in names}
    missing = [name for name, path in paths.items() if not path.exists()]
    if missing:
        code = ("import os, sys\nos.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')\n"
                "import keras\nkeras.utils.set_random_seed(0)\n"
                "for name, path in zip(sys.argv[1::2], sys.argv[2::2]):\n"
                "    getattr(keras.applications, name)(weights=None).save(path)\n")
        args = [a for name in missing for a in (name, str(paths[name]))]
        subprocess.run([sys.executable, "-c", code, *args], check=True)
    return paths


def measure(command: list[str], repeat: int) -> dict[str, float | int | str]:
    """Best time and the peak RSS of ``repeat`` fresh runs of ``command``."""
    best: dict[str, float | int | str] = {}
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True,
                             text=True, check=True)
        result = json.loads(out.stdout)
        if result["code"] != 0:
            return {"error": (result["stderr"] or ["failed"])[0]}
        if not best or result["seconds"] < float(best["seconds"]):
            best = result
    return best


def peer_missing() -> str | None:
    """Why keras.utils.plot_model cannot run here, or None."""
    try:
        import pydot  # noqa: F401
    except ImportError:
        return "pydot is not installed"
    if shutil.which("dot") is None:
        return "graphviz's dot binary is not installed"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(TARGETS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", default=os.environ.get("MODELTOOL_BENCH_CACHE"))
    args = parser.parse_args()
    cache = Path(args.cache) if args.cache else HERE / ".cache"
    paths = build(cache, args.models)
    modeltool = str(Path(sys.executable).with_name("modeltool"))
    missing = peer_missing()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(times grow with it: other work shares the machine)")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            ours = measure([modeltool, "-q", "plot", str(paths[name]), "-o",
                            f"{tmp}/{name}.svg", "--force"], args.repeat)
            line = (f"{name:<12} modeltool plot: {float(ours['seconds']):6.2f} s "
                    f"(cpu {float(ours['cpu']):.2f} s), peak {int(ours['peak_kb']) / 1024:4.0f} MB")
            target = TARGETS.get(name)
            if target is not None:
                verdict = "meets" if float(ours["seconds"]) < target else "MISSES"
                line += f"  ({verdict} the {target:g} s target)"
            print(line)
            if missing:
                print(f"{'':<12} keras.utils.plot_model: cannot run ({missing})")
                continue
            theirs = measure([sys.executable, "-c", _PEER, str(paths[name]),
                              f"{tmp}/{name}.keras.svg"], args.repeat)
            if "error" in theirs:
                print(f"{'':<12} keras.utils.plot_model: failed ({theirs['error']})")
                continue
            ratio = float(theirs["seconds"]) / float(ours["seconds"])
            print(f"{'':<12} keras.utils.plot_model: {float(theirs['seconds']):6.2f} s "
                  f"(cpu {float(theirs['cpu']):.2f} s), "
                  f"peak {int(theirs['peak_kb']) / 1024:4.0f} MB"
                  f"  (modeltool {ratio:.1f}x faster)")


if __name__ == "__main__":
    main()
