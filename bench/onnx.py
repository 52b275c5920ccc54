"""Bench for issue 5: ONNX export, modeltool against the SavedModel + tf2onnx route, in one run.

For each model (the seed-document fixtures, ResNet50, MobileNetV2, EfficientNetB0, InceptionV3,
DenseNet121, ConvNeXtTiny, VGG16 and an Embedding + Bidirectional LSTM + GRU text model):

* modeltool: ``modeltool to-onnx model.keras -o out.onnx --json`` (the CLI, in a fresh process),
  end to end (reading the file, conversion, onnx.checker, verification against Keras at batch 1
  and 3, latency timing);
* the peer: ``model.export(dir)`` (Keras 3, in a fresh process, from the same ``.keras``) then
  ``python -m tf2onnx.convert --saved-model dir --output out.onnx``; its time and peak RSS are
  the sum and the max of the two processes.

Printed: success of each, wall time and peak RSS of each, their ratio, the max abs difference of
each ONNX file against Keras on the same seeded inputs (batch 1), and onnxruntime against
TensorFlow (the model under ``tf.function``) latency at batch 1, from modeltool's report.

Every process runs under a memory watchdog (``--mem-cap-gb``, default 10): a process whose RSS
passes the cap is killed and reported as ``killed>NGB`` (VGG16 through tf2onnx needs far more
than this machine can spare). keras.applications models are built with ``weights=None`` into a
cache folder (``bench/.cache``, ignored by git; ``MODELTOOL_BENCH_CACHE`` or ``--cache``).

With ``--variants`` it measures the ready-to-ship variants instead (``--optimize`` with
onnxruntime and with onnxslim, ``--float16``, dynamic and static ``--int8``): size, latency
against tf.function, and agreement with Keras per model (see ``bench/onnx_variants.py``).

Usage:
    .venv/bin/python bench/onnx.py [--only NAME ...] [--skip NAME ...] [--mem-cap-gb 10]
    .venv/bin/python bench/onnx.py --variants [--samples 100] [--rounds 15]
        [--calibration-count 32] [--class-inputs] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}

SEED_MODELS = ["mnist_mlp", "vgg_like_cnn", "embedding_lstm", "news_model", "siamese_lstm",
               "nested_vision", "time_distributed_model", "batchnorm_cnn", "gru_model",
               "bidirectional_model", "conv1d3d", "sep_transposed_depthwise", "reshape_ops"]
APPLICATIONS = {"ResNet50": 224, "MobileNetV2": 224, "EfficientNetB0": 224, "InceptionV3": 299,
                "DenseNet121": 224, "ConvNeXtTiny": 224, "VGG16": 224}
TEXT_MODEL = "text_bilstm_gru"

BUILD_APPLICATION = """
import numpy as np, keras
model = getattr(keras.applications, {name!r})(weights=None, input_shape=({size}, {size}, 3))
# ConvNeXt's LayerScale starts at 1e-6, which would hide every residual branch from a check.
for layer in model.layers:
    if type(layer).__name__ == "LayerScale":
        layer.set_weights([np.ones_like(w) for w in layer.get_weights()])
model.save({path!r})
"""

BUILD_TEXT = """
import keras
tokens = keras.Input((200,), dtype="int32", name="tokens")
x = keras.layers.Embedding(20000, 128, name="embedding")(tokens)
x = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True), name="bilstm")(x)
x = keras.layers.GRU(64, name="gru")(x)
x = keras.layers.Dense(32, activation="relu", name="hidden")(x)
out = keras.layers.Dense(1, activation="sigmoid", name="score")(x)
keras.Model(tokens, out, name="text_bilstm_gru").save({path!r})
"""


PEER_EXPORT = """
import sys, keras
keras.saving.load_model(sys.argv[1], compile=False).export(sys.argv[2], verbose=False)
"""

# Compare an ONNX file with Keras on seeded inputs at batch 1 (the peer's inputs are matched by
# name when the names are Keras', else by position; its outputs are output_0, output_1, ...).
COMPARE = """
import json, sys
import numpy as np, keras, onnxruntime as ort
model = keras.saving.load_model(sys.argv[1], compile=False)
session = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
names = [t._keras_history[0].name for t in model.inputs]
high = min([l.input_dim for l in model._flatten_layers() if type(l).__name__ == "Embedding"]
           or [10])
rng = np.random.default_rng(0)
feeds = []
for t in model.inputs:
    shape = [1] + [d or 32 for d in t.shape[1:]]
    if "int" in str(t.dtype):
        feeds.append(rng.integers(0, high, shape).astype(str(t.dtype)))
    else:
        feeds.append(rng.random(shape, dtype=np.float32))
want = keras.tree.flatten(model(feeds if len(feeds) > 1 else feeds[0], training=False))
onnx_inputs = [i.name for i in session.get_inputs()]
if sorted(onnx_inputs) == sorted(names):
    feed = dict(zip(names, feeds))
else:
    feed = {i.name: f.astype(np.int64 if i.type == "tensor(int64)" else f.dtype)
            for i, f in zip(session.get_inputs(), feeds)}
got = session.run(None, feed)
print(json.dumps(max(float(np.abs(np.asarray(g) - np.asarray(w)).max())
                     for g, w in zip(got, want))))
"""


@dataclass
class Run:
    """One process: wall seconds, peak RSS in MB, whether it succeeded, and why not."""

    wall: float = 0.0
    rss: float = 0.0
    ok: bool = False
    why: str = ""
    stdout: str = ""


@dataclass
class Row:
    name: str
    params: int = 0
    modeltool: Run = field(default_factory=Run)
    peer: Run = field(default_factory=Run)
    mt_diff: float | None = None
    peer_diff: float | None = None
    ort_ms: float | None = None
    tf_ms: float | None = None
    mt_convert_s: float | None = None
    macs: int | None = None


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run(cmd: list[str], cap_mb: float, timeout: float = 3600) -> Run:
    """Run ``cmd`` in a fresh process under the memory watchdog."""
    result = Run()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=errors, env=ENV)
        killed = ""
        while True:
            # Polled without blocking: the child is not reaped before we stop watching it, so
            # its pid cannot be reused by another process when we kill it.
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if not killed and _rss_mb(proc.pid) > cap_mb:
                killed = f"killed>{cap_mb / 1024:.0f}GB"
                os.kill(proc.pid, signal.SIGKILL)
            elif not killed and time.perf_counter() - start > timeout:
                killed = f"timeout>{timeout:.0f}s"
                os.kill(proc.pid, signal.SIGKILL)
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        result.wall = time.perf_counter() - start
        result.rss = usage.ru_maxrss / 1024
        out.seek(0)
        result.stdout = out.read().decode(errors="replace")
        result.ok = proc.returncode == 0
        if killed:
            result.why = killed
        elif not result.ok:
            errors.seek(0)
            lines = [line for line in errors.read().decode(errors="replace").splitlines()
                     if line.strip() and not line.startswith(("WARNING: All log", "I0000"))]
            result.why = (lines[-1] if lines else f"exit {proc.returncode}")[:120]
    return result


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def build(cache: Path, names: list[str], cap_mb: float) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for name in names:
        if name in SEED_MODELS:
            files[name] = ROOT / "fixtures" / "models" / f"{name}.k3.keras"
            continue
        path = cache / f"{name}.keras"
        if not path.exists():
            print(f"building {name} (weights=None) into {cache} ...", flush=True)
            code = BUILD_TEXT.format(path=str(path)) if name == TEXT_MODEL else \
                BUILD_APPLICATION.format(name=name, size=APPLICATIONS[name], path=str(path))
            built = run(python(code), cap_mb)
            if not built.ok:
                raise SystemExit(f"building {name} failed: {built.why}")
        files[name] = path
    return files


def params_of(path: Path) -> int:
    import modeltool

    with modeltool.open(path) as artifact:
        return artifact.weights.total_params


def macs_of(path: Path) -> int | None:
    import modeltool

    return modeltool.summary(path).totals.macs


def fp32_peak_gflops(size: int = 3072, repeats: int = 5) -> float:
    """The machine's practical float32 peak: the best of a few square matmuls through numpy's
    BLAS on every core (the bound any convolution or dense layer runs under)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        tick = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - tick)
    return 2 * size**3 / best / 1e9


def print_compute_bound(rows: list[Row], peak: float) -> None:
    """Can onnxruntime be twice as fast as tf.function at all? Half of TF's latency needs
    2 * 2 * MACs / TF latency FLOP/s; past the fp32 peak no float32 runtime gets there."""
    print(f"\nfloat32 matmul peak of this machine (numpy BLAS, all cores): {peak:.0f} GFLOP/s")
    print(f"{'model':24} {'GMACs':>7} | {'ORT GFLOP/s':>11} {'TF GFLOP/s':>10} | "
          f"{'needed for TF/2':>15} {'of peak':>7} | verdict")
    for r in rows:
        if not (r.macs and r.ort_ms and r.tf_ms) or r.macs < 5e8:
            continue
        flop = 2 * r.macs
        needed = flop / (r.tf_ms / 2 / 1e3) / 1e9
        met = r.ort_ms <= 0.5 * r.tf_ms
        verdict = "met" if met else ("beyond the fp32 peak" if needed > peak else "missed")
        print(f"{r.name:24} {r.macs / 1e9:7.2f} | {flop / (r.ort_ms / 1e3) / 1e9:11.0f} "
              f"{flop / (r.tf_ms / 1e3) / 1e9:10.0f} | {needed:15.0f} {needed / peak:6.0%} | "
              f"{verdict}")


def bench_one(name: str, path: Path, work: Path, cap_mb: float) -> Row:
    row = Row(name, params=params_of(path), macs=macs_of(path))
    mt_out, peer_dir, peer_out = work / f"{name}.mt.onnx", work / f"{name}.sm", work / \
        f"{name}.peer.onnx"
    row.modeltool = run([sys.executable, "-m", "modeltool", "to-onnx", str(path), "-o",
                         str(mt_out), "--force", "--json"], cap_mb)
    if row.modeltool.ok:
        report = json.loads(row.modeltool.stdout)
        checks = [c for c in report["verification"]["checks"] if c["batch"] == 1]
        row.mt_diff = max(c["max_abs"] for c in checks)
        row.ort_ms = report["latency_ms"]["onnxruntime"]
        row.tf_ms = report["latency_ms"]["keras"]
        row.mt_convert_s = report["seconds"]["conversion"]
    export = run(python(PEER_EXPORT, str(path), str(peer_dir)), cap_mb)
    row.peer = export
    if export.ok:
        convert = run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(peer_dir),
                       "--output", str(peer_out)], cap_mb)
        row.peer = Run(wall=export.wall + convert.wall, rss=max(export.rss, convert.rss),
                       ok=convert.ok and peer_out.exists(), why=convert.why)
    if row.peer.ok:
        compared = run(python(COMPARE, str(path), str(peer_out)), cap_mb)
        if compared.ok:
            row.peer_diff = json.loads(compared.stdout.strip().splitlines()[-1])
        else:  # the peer wrote a file, but onnxruntime cannot run it
            row.peer.ok = False
            row.peer.why = f"bad onnx: {compared.why}"
    for leftover in (mt_out, peer_out):
        leftover.unlink(missing_ok=True)
    subprocess.run(["rm", "-rf", str(peer_dir)], check=False)
    return row


def _status(run_: Run) -> str:
    return "ok" if run_.ok else (run_.why.split(":")[0][:16] or "failed")


def _ratio(a: Run, b: Run, attribute: str) -> str:
    """modeltool / peer, when both processes ran to the end (the peer's file may not run)."""
    if not a.ok or not b.wall or b.why.startswith(("killed", "timeout")):
        return "-"
    return f"{getattr(a, attribute) / getattr(b, attribute):.2f}"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_table(rows: list[Row]) -> None:
    header = (f"{'model':24} {'params':>11} | {'modeltool':>9} {'s':>7} {'RSS MB':>7} | "
              f"{'tf2onnx SM':>16} {'s':>7} {'RSS MB':>7} | {'time':>5} {'RSS':>5} | "
              f"{'max|d| mt':>9} {'max|d| peer':>11} | {'ORT ms':>8} {'TF ms':>8} {'TF/ORT':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio_t = _ratio(r.modeltool, r.peer, "wall")
        ratio_m = _ratio(r.modeltool, r.peer, "rss")
        speed = f"{r.tf_ms / r.ort_ms:.1f}" if r.ort_ms and r.tf_ms else "-"
        print(f"{r.name:24} {r.params:>11,} | {_status(r.modeltool):>9} "
              f"{r.modeltool.wall:7.1f} {r.modeltool.rss:7.0f} | {_status(r.peer):>16} "
              f"{r.peer.wall:7.1f} {r.peer.rss:7.0f} | {ratio_t:>5} {ratio_m:>5} | "
              f"{_num(r.mt_diff, '9.2g')} {_num(r.peer_diff, '11.2g')} | "
              f"{_num(r.ort_ms, '8.2f')} {_num(r.tf_ms, '8.2f')} {speed:>6}")
    print("\ntime and RSS are modeltool / peer (below 1: modeltool is faster or leaner); "
          "modeltool's time includes verification (batch 1 and 3) and latency timing.")
    for r in rows:
        for label, run_ in (("modeltool", r.modeltool), ("peer", r.peer)):
            if not run_.ok:
                print(f"  {r.name} {label}: {run_.why}")
    ok = [r for r in rows if r.modeltool.ok]
    timed = [r for r in rows if _ratio(r.modeltool, r.peer, "wall") != "-"]
    half = [r for r in timed if r.modeltool.wall <= 0.5 * r.peer.wall]
    fast = [r for r in ok if r.ort_ms and r.tf_ms and r.ort_ms <= 0.5 * r.tf_ms]
    peer_ok = sum(1 for r in rows if r.peer.ok)
    print(f"\ntargets: modeltool succeeds on {len(ok)}/{len(rows)} (the peer on "
          f"{peer_ok}/{len(rows)}); at most half the peer's time on {len(half)}/{len(timed)} "
          f"where both ran to the end; onnxruntime at most half of tf.function's latency on "
          f"{len(fast)}/{len(ok)}")
    vgg = next((r for r in rows if r.name == "VGG16"), None)
    if vgg is not None:
        verdict = "PASS" if vgg.modeltool.ok and vgg.modeltool.rss < 4096 else "FAIL"
        print(f"VGG16 under 4 GB peak RSS: {verdict} ({_status(vgg.modeltool)}, "
              f"{vgg.modeltool.rss:.0f} MB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="model names to run")
    parser.add_argument("--skip", nargs="*", default=[], help="model names to leave out")
    parser.add_argument("--mem-cap-gb", type=float, default=10.0)
    parser.add_argument("--cache", default=os.environ.get("MODELTOOL_BENCH_CACHE"))
    parser.add_argument("--variants", action="store_true",
                        help="measure the --optimize/--float16/--int8 variants instead")
    parser.add_argument("--samples", type=int, default=100,
                        help="inputs the variants are compared on (batch 1 each)")
    parser.add_argument("--rounds", type=int, default=15,
                        help="interleaved timing rounds of the variants (minimum reported)")
    parser.add_argument("--calibration-count", type=int, default=32,
                        help="calibration inputs of static int8 in --variants")
    parser.add_argument("--class-inputs", action="store_true",
                        help="--variants: classifiers on 10-class inputs with a fitted head")
    args = parser.parse_args()
    cache = Path(args.cache) if args.cache else ROOT / "bench" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    names = [*SEED_MODELS, *APPLICATIONS, TEXT_MODEL]
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            raise SystemExit(f"unknown model(s): {', '.join(unknown)}; choose from {names}")
        names = [n for n in names if n in args.only]
    names = [n for n in names if n not in args.skip]
    cap_mb = args.mem_cap_gb * 1024
    files = build(cache, names, cap_mb)
    if args.variants:
        sys.path.insert(0, str(Path(__file__).parent))
        from onnx_variants import bench_variants, print_variants

        results = {}
        with tempfile.TemporaryDirectory(dir=cache, prefix="variants-") as scratch:
            for name in names:
                print(f"{name} ...", flush=True)
                results[name] = bench_variants(name, files[name], Path(scratch) / name,
                                               args.samples, args.rounds,
                                               args.calibration_count, args.class_inputs)
        print()
        print_variants(results)
        return 0 if all("error" not in r for r in results.values()) else 1
    rows = []
    with tempfile.TemporaryDirectory(dir=cache, prefix="run-") as scratch:
        for name in names:
            print(f"{name} ...", end=" ", flush=True)
            row = bench_one(name, files[name], Path(scratch), cap_mb)
            print(f"modeltool {_status(row.modeltool)} {row.modeltool.wall:.1f}s, "
                  f"peer {_status(row.peer)} {row.peer.wall:.1f}s", flush=True)
            rows.append(row)
    print()
    print_table(rows)
    print_compute_bound(rows, fp32_peak_gflops())
    return 0 if all(r.modeltool.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
