"""The ready-to-ship variants of ``to-onnx`` per bench model (``bench/onnx.py --variants``).

For each model, in a fresh process: ``modeltool.to_onnx`` converts the ``.keras`` (verified
against Keras as usual, which also times the model under ``tf.function`` at batch 1); then
each variant is made from that float32 file with the same functions ``--optimize``,
``--optimize onnxslim``, ``--float16`` and ``--int8`` (with and without ``--calibration``) use,
and run in onnxruntime on ``--samples`` seeded inputs at batch 1 (in the value range each
keras.applications model expects after its preprocessing), compared with Keras on the same
inputs. Static int8 is calibrated on ``--calibration-count`` (default 32) other seeded inputs
from the same distribution (seeds 1000 and up; the verification inputs are seeds 0 to
``--samples``). Models with BatchNormalization first get their moving statistics from one
training-mode pass over 32 inputs (random weights at the initial statistics give a constant
output, which would make top-1 agreement moot).

With random weights a classifier's 1000 scores are near ties (EfficientNetB0: median top-1
minus top-2 probability 2e-5), so any rounding can flip the argmax: top-1 agreement then
measures ties more than quantization (the printed margin shows it). ``--class-inputs`` measures
classifiers (a softmax Dense head on an image input) on class-structured inputs with a fitted
head instead: each input is one of 10 seeded prototype images mixed with 40% seeded noise, and
the head is replaced by a nearest-centroid classifier over the random backbone's features,
fitted on 20 inputs per class with seeds of their own (5000 and up: neither calibration nor
verification inputs); every backbone weight stays random. It gives real margins
(EfficientNetB0: 0.7), but a random backbone maps the classes to nearly the same features, so
the fitted head reads a small difference of large activations, which int8 rounding hides
(ResNet50: top-1 30%): it is a harsher test than a trained model, not the default.

Latencies: tf.function and every variant are timed in the same process, interleaved: each of
``--rounds`` rounds (default 15) times each runner twice in a shuffled order, after a warm-up.
The table shows the minimum (the figure least disturbed by other processes' load, what a quiet
machine gives) and the TF/ORT ratio of the medians beside it. onnxruntime runs with intra-op
spinning off (``ops.onnx_export.variants.timing_session``), as the reports of ``to-onnx`` do.

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
import json, random, shutil, statistics, sys, time
from dataclasses import asdict
from pathlib import Path
import numpy as np, keras, onnxruntime as ort, tensorflow as tf
from modeltool.ops import onnx_export
from modeltool.ops.onnx_export import variants as onnx_variants

source, work, samples = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
low, high = json.loads(sys.argv[4])
rounds, calibration_count, class_inputs = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7] == "1"
plain = work / "plain.onnx"
model = keras.saving.load_model(source, compile=False)
norms = [l for l in model._flatten_layers() if type(l).__name__ == "BatchNormalization"]
changed = False
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
    changed = True
head = model.layers[-1]
image = len(model.inputs) == 1 and len(model.inputs[0].shape) == 4
classifier = (class_inputs and image and type(head).__name__ == "Dense"
              and getattr(head.activation, "__name__", "") == "softmax")
CLASSES = 10
if classifier:
    # Class-structured inputs and a head fitted to them. Random weights give 1000 near-tied
    # class scores (EfficientNetB0: median top-1 minus top-2 probability 2e-5), so top-1
    # agreement would measure ties, not the quantization. Here each input is one of 10 seeded
    # prototype images mixed with 40% seeded noise, and the classifier head is replaced by a
    # nearest-centroid head over the backbone's (random) features: its first 10 columns are the
    # centred mean features of each class over 20 inputs per class drawn with seeds of their
    # own (neither the calibration nor the verification seeds), scaled so the logits spread
    # over a few units, as a trained model's do; the other columns are zero.
    shape = tuple(model.inputs[0].shape[1:])
    rng = np.random.default_rng(7)
    prototypes = (low + (high - low) * rng.random((CLASSES, *shape))).astype(np.float32)

    def draw(seed):
        r = np.random.default_rng([seed, 17])
        noise = low + (high - low) * r.random((1, *shape))
        return (0.6 * prototypes[seed % CLASSES] + 0.4 * noise).astype(np.float32)

    backbone = keras.Model(model.inputs, head.input)
    fit = np.concatenate([draw(5000 + i) for i in range(20 * CLASSES)])
    features = np.concatenate([np.asarray(backbone(fit[i:i + 20], training=False))
                               for i in range(0, len(fit), 20)])
    labels = np.arange(len(fit)) % CLASSES
    centre = features.mean(axis=0)
    means = np.stack([features[labels == c].mean(axis=0) - centre for c in range(CLASSES)])
    kernel, bias = (np.zeros_like(w) for w in head.get_weights())
    kernel[:, :CLASSES] = means.T
    logits = (features - centre) @ means.T
    scale = 4.0 / float(logits.std())
    kernel *= scale
    bias[:CLASSES] = -scale * (centre @ means.T)
    head.set_weights([kernel, bias])
    changed = True
if changed:
    source = str(work / "calibrated.keras")
    model.save(source)
report = onnx_export.to_onnx(source, plain, force=True)
names = [i.name for i in report.inputs]
outputs = [o.name for o in report.outputs]
vocab = min([l.input_dim for l in model._flatten_layers() if type(l).__name__ == "Embedding"]
            or [10])

def sample(seed):
    if classifier:
        return [draw(seed)]
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
calibration = {n: np.concatenate([sample(1000 + i)[k] for i in range(calibration_count)])
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
# Interleaved: every round times every runner twice, in a shuffled (seeded) order, so a change
# of machine load hits them all alike and none always runs right after the same neighbour.
# The minimum over rounds is the figure least disturbed by other processes (what a quiet
# machine gives); the median is reported beside it.
times = {name: [] for name in timers}
for run in timers.values():
    for _ in range(3):
        run()
order = list(timers)
shuffle = random.Random(0)
for _ in range(rounds):
    shuffle.shuffle(order)
    for name in order:
        for _ in range(2):
            tick = time.perf_counter()
            timers[name]()
            times[name].append(time.perf_counter() - tick)
best = {name: min(values) * 1000 for name, values in times.items()}
median = {name: statistics.median(values) * 1000 for name, values in times.items()}
for variant in variants:
    if variant["name"] in best:
        variant["latency_ms"] = best[variant["name"]]
        variant["median_ms"] = median[variant["name"]]
spread = float(np.median([np.sort(r.outputs[0].ravel())[-1] - np.sort(r.outputs[0].ravel())[-2]
                          for r in runs])) if runs[0].outputs[0].size > 1 else None
print(json.dumps({"tf_ms": best["tf.function"], "tf_median_ms": median["tf.function"],
                  "variants": variants, "margin": spread, "classes": classifier}))
"""

#: Input ranges the keras.applications models expect after their own preprocessing step
#: (caffe-style mean subtraction, [-1, 1], or raw [0, 255] for models that rescale inside).
INPUT_RANGES = {"ResNet50": (-128.0, 128.0), "VGG16": (-128.0, 128.0),
                "MobileNetV2": (-1.0, 1.0), "InceptionV3": (-1.0, 1.0),
                "DenseNet121": (-2.0, 2.0), "EfficientNetB0": (0.0, 255.0),
                "ConvNeXtTiny": (0.0, 255.0)}


def bench_variants(name: str, path: Path, work: Path, samples: int, rounds: int = 15,
                   calibration: int = 32, class_inputs: bool = False,
                   timeout: float = 3600) -> dict[str, object]:
    """Run the variants of one model in a fresh process; the parsed result (or the error)."""
    work.mkdir(parents=True, exist_ok=True)
    bounds = json.dumps(INPUT_RANGES.get(name, (0.0, 1.0)))
    done = subprocess.run([sys.executable, "-c", VARIANTS, str(path), str(work), str(samples),
                           bounds, str(rounds), str(calibration),
                           "1" if class_inputs else "0"],
                          capture_output=True, text=True, timeout=timeout, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": tail[:160]}
    return dict(json.loads(lines[-1]))


def print_variants(results: dict[str, dict[str, object]]) -> None:
    """One block per model: a row per variant."""
    header = (f"{'model':22} {'variant':21} {'size MB':>8} {'ORT ms':>8} {'TF ms':>8} "
              f"{'TF/ORT':>6} {'(med)':>6} {'max|d|':>9} {'cosine':>9} {'top-1':>6}")
    print(header)
    print("-" * len(header))
    for model, result in results.items():
        if "error" in result:
            print(f"{model:22} error: {result['error']}")
            continue
        tf_ms = result.get("tf_ms")
        tf_median = result.get("tf_median_ms")
        margin = result.get("margin")
        if margin is not None:
            inputs = "10-class inputs, fitted head; " if result.get("classes") else ""
            print(f"{model:22} ({inputs}median top-1 minus top-2 output of Keras: "
                  f"{margin:.3g})")
        for variant in result["variants"]:  # type: ignore[attr-defined]
            if variant.get("problem") and not variant.get("file_size"):
                print(f"{model:22} {variant['name']:21} {variant['problem']}")
                continue
            ort_ms = variant.get("latency_ms")
            ratio = f"{tf_ms / ort_ms:6.2f}" if tf_ms and ort_ms else "     -"
            median = variant.get("median_ms")
            ratio_median = f"{tf_median / median:6.2f}" if tf_median and median else "     -"
            top1 = variant.get("top1")
            print(f"{model:22} {variant['name']:21} {variant['file_size'] / 2**20:8.2f} "
                  f"{ort_ms or 0:8.2f} {tf_ms or 0:8.2f} {ratio} {ratio_median} "
                  f"{variant['max_abs']:9.2e} "
                  f"{variant['cosine']:9.6f} {'-' if top1 is None else format(top1, '6.1%'):>6}")
    print("\nms: the minimum over interleaved rounds (the least disturbed by other processes); "
          "TF/ORT above 1: the variant runs faster in onnxruntime than the model under "
          "tf.function (batch 1); (med): the same ratio of the medians. top-1: agreement of "
          "argmax with Keras over the samples.")
