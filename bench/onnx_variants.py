"""The ready-to-ship variants of ``to-onnx`` per bench model (``bench/onnx.py --variants``).

For each model, in a fresh process: ``modeltool.to_onnx`` converts the ``.keras`` (verified
against Keras as usual, which also times the model under ``tf.function`` at batch 1); then
each variant is made from that float32 file with the same functions ``--optimize``,
``--optimize onnxslim``, ``--float16`` and ``--int8`` (with and without ``--calibration``) use,
and run in onnxruntime on ``--samples`` seeded inputs at batch 1 (in the value range each
keras.applications model expects after its preprocessing), compared with Keras on the same
inputs. Static int8 is calibrated on 16 other seeded inputs. Models with BatchNormalization
first get their moving statistics from one training-mode pass over 32 inputs (random weights
at the initial statistics give a constant output, which would make top-1 agreement moot).
Latencies are timed round robin (tf.function and every variant in each of several rounds,
medians), so a change of machine load hits them all alike; onnxruntime runs with intra-op
spinning off (``onnx_variants.timing_session``), as the variant reports of ``to-onnx`` do.

Printed per model and variant: file size, onnxruntime latency at batch 1, tf.function over
that (above 1: the ONNX variant is faster), max abs difference, the smallest cosine similarity
and the top-1 agreement with Keras over the samples (classifiers).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

VARIANTS = """
import json, shutil, statistics, sys, time
from dataclasses import asdict
from pathlib import Path
import numpy as np, keras, onnxruntime as ort, tensorflow as tf
from modeltool.ops import onnx_export, onnx_variants

source, work, samples = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
low, high = json.loads(sys.argv[4])
plain = work / "plain.onnx"
model = keras.saving.load_model(source, compile=False)
norms = [l for l in model._flatten_layers() if type(l).__name__ == "BatchNormalization"]
if norms:
    # Random weights with BatchNormalization at its initial statistics collapse the outputs of
    # deep CNNs to a constant (top-1 would compare ties). One training-mode pass with momentum
    # 0 sets every moving mean/variance to the statistics of 32 inputs: no weight is trained,
    # and the outputs then depend on the input, as a trained model's do.
    rng = np.random.default_rng(123)
    batch = [(low + (high - low) * rng.random((32, *t.shape[1:]))).astype(np.float32)
             for t in model.inputs]
    for layer in norms:
        layer.momentum = 0.0
    model(batch if len(batch) > 1 else batch[0], training=True)
    source = str(work / "calibrated.keras")
    model.save(source)
report = onnx_export.to_onnx(source, plain, force=True)
names = [i.name for i in report.inputs]
outputs = [o.name for o in report.outputs]
vocab = min([l.input_dim for l in model._flatten_layers() if type(l).__name__ == "Embedding"]
            or [10])

def sample(seed):
    rng = np.random.default_rng([seed, 17])
    feeds = []
    for t in model.inputs:
        shape = [1] + [d or 32 for d in t.shape[1:]]
        if "int" in str(t.dtype):
            feeds.append(rng.integers(0, vocab, shape).astype(str(t.dtype)))
        else:
            feeds.append((low + (high - low) * rng.random(shape)).astype(np.float32))
    return feeds

call = tf.function(lambda *xs: keras.tree.flatten(model(list(xs) if len(xs) > 1 else xs[0],
                                                        training=False)))
runs = []
for seed in range(samples):
    feeds = sample(seed)
    runs.append(onnx_export.ReferenceRun(1, feeds, [np.asarray(o) for o in call(*feeds)]))
calibration = {n: np.concatenate([sample(1000 + i)[k] for i in range(16)])
               for k, n in enumerate(names)}
steps = [("float32", None), ("optimized (ort)", onnx_variants.optimize_ort),
         ("optimized (onnxslim)", onnx_variants.optimize_onnxslim),
         ("float16", onnx_variants.to_float16),
         ("int8 dynamic", lambda s, d: onnx_variants.quantize_int8(s, d, names, None)),
         ("int8 static", lambda s, d: onnx_variants.quantize_int8(s, d, names, calibration))]
variants, timers = [], {}
first = runs[0].feeds
tensors = [tf.constant(f) for f in first]
timers["tf.function"] = lambda: call(*tensors)
for name, step in steps:
    path = work / (name.replace(" ", "_").replace("(", "").replace(")", "") + ".onnx")
    try:
        if step is None:
            shutil.copyfile(plain, path)
        else:
            step(plain, path)
        variant = asdict(onnx_variants.measure(path, name, names, outputs, runs, ""))
        session = onnx_variants.timing_session(path)
        feed = dict(zip(names, first))
        timers[name] = (lambda s=session, f=feed: s.run(None, f))
    except Exception as err:
        variant = {"name": name, "problem": f"{type(err).__name__}: {str(err)[:100]}"}
    variants.append(variant)
# Round robin: every runner is timed in every round, so load changes hit all of them alike.
times = {name: [] for name in timers}
for run in timers.values():
    run(); run()
for _ in range(int(sys.argv[5])):
    for name, run in timers.items():
        for _ in range(3):
            tick = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - tick)
median = {name: statistics.median(values) * 1000 for name, values in times.items()}
for variant in variants:
    if variant["name"] in median:
        variant["latency_ms"] = median[variant["name"]]
spread = float(np.median([np.sort(r.outputs[0].ravel())[-1] - np.sort(r.outputs[0].ravel())[-2]
                          for r in runs])) if runs[0].outputs[0].size > 1 else None
print(json.dumps({"tf_ms": median["tf.function"], "variants": variants, "margin": spread}))
"""

#: Input ranges the keras.applications models expect after their own preprocessing step
#: (caffe-style mean subtraction, [-1, 1], or raw [0, 255] for models that rescale inside).
INPUT_RANGES = {"ResNet50": (-128.0, 128.0), "VGG16": (-128.0, 128.0),
                "MobileNetV2": (-1.0, 1.0), "InceptionV3": (-1.0, 1.0),
                "DenseNet121": (-2.0, 2.0), "EfficientNetB0": (0.0, 255.0),
                "ConvNeXtTiny": (0.0, 255.0)}


def bench_variants(name: str, path: Path, work: Path, samples: int, rounds: int = 7,
                   timeout: float = 3600) -> dict[str, object]:
    """Run the variants of one model in a fresh process; the parsed result (or the error)."""
    work.mkdir(parents=True, exist_ok=True)
    bounds = json.dumps(INPUT_RANGES.get(name, (0.0, 1.0)))
    done = subprocess.run([sys.executable, "-c", VARIANTS, str(path), str(work), str(samples),
                           bounds, str(rounds)],
                          capture_output=True, text=True, timeout=timeout, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": tail[:160]}
    return dict(json.loads(lines[-1]))


def print_variants(results: dict[str, dict[str, object]]) -> None:
    """One block per model: a row per variant."""
    header = (f"{'model':22} {'variant':21} {'size MB':>8} {'ORT ms':>8} {'TF ms':>8} "
              f"{'TF/ORT':>6} {'max|d|':>9} {'cosine':>9} {'top-1':>6}")
    print(header)
    print("-" * len(header))
    for model, result in results.items():
        if "error" in result:
            print(f"{model:22} error: {result['error']}")
            continue
        tf_ms = result.get("tf_ms")
        margin = result.get("margin")
        if margin is not None:
            print(f"{model:22} (median top-1 minus top-2 output of Keras: {margin:.3g})")
        for variant in result["variants"]:  # type: ignore[attr-defined]
            if variant.get("problem") and not variant.get("file_size"):
                print(f"{model:22} {variant['name']:21} {variant['problem']}")
                continue
            ort_ms = variant.get("latency_ms")
            ratio = f"{tf_ms / ort_ms:6.2f}" if tf_ms and ort_ms else "     -"
            top1 = variant.get("top1")
            print(f"{model:22} {variant['name']:21} {variant['file_size'] / 2**20:8.2f} "
                  f"{ort_ms or 0:8.2f} {tf_ms or 0:8.2f} {ratio} {variant['max_abs']:9.2e} "
                  f"{variant['cosine']:9.6f} {'-' if top1 is None else format(top1, '6.1%'):>6}")
    print("\nTF/ORT above 1: the variant runs faster in onnxruntime than the model under "
          "tf.function (batch 1). top-1: agreement of argmax with Keras over the samples.")
