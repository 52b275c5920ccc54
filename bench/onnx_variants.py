"""The ready-to-ship variants of ``to-onnx`` per bench model (``bench/onnx.py --variants``).

For each model, in a fresh process: ``modeltool.to_onnx`` converts the ``.keras`` (verified
against Keras as usual, which also times the model under ``tf.function`` at batch 1); then
each variant is made from that float32 file with the same functions ``--optimize``,
``--optimize onnxslim``, ``--float16`` and ``--int8`` (with and without ``--calibration``) use,
and run in onnxruntime on ``--samples`` seeded inputs at batch 1, compared with Keras on the
same inputs. Static int8 is calibrated on 16 other seeded inputs.

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
import json, shutil, sys
from dataclasses import asdict
from pathlib import Path
import numpy as np, keras, tensorflow as tf
from modeltool.ops import onnx_export, onnx_variants

source, work, samples = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
plain = work / "plain.onnx"
report = onnx_export.to_onnx(source, plain, force=True)
model = keras.saving.load_model(source, compile=False)
names = [i.name for i in report.inputs]
outputs = [o.name for o in report.outputs]
high = min([l.input_dim for l in model._flatten_layers() if type(l).__name__ == "Embedding"]
           or [10])

def sample(seed):
    rng = np.random.default_rng([seed, 17])
    feeds = []
    for t in model.inputs:
        shape = [1] + [d or 32 for d in t.shape[1:]]
        if "int" in str(t.dtype):
            feeds.append(rng.integers(0, high, shape).astype(str(t.dtype)))
        else:
            feeds.append(rng.random(shape, dtype=np.float32))
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
result = {"tf_ms": report.keras_latency_ms, "variants": []}
for name, step in steps:
    path = work / (name.replace(" ", "_").replace("(", "").replace(")", "") + ".onnx")
    try:
        if step is None:
            shutil.copyfile(plain, path)
        else:
            step(plain, path)
        variant = asdict(onnx_variants.measure(path, name, names, outputs, runs, ""))
    except Exception as err:
        variant = {"name": name, "problem": f"{type(err).__name__}: {str(err)[:100]}"}
    result["variants"].append(variant)
    path.unlink(missing_ok=True)
print(json.dumps(result))
"""


def bench_variants(name: str, path: Path, work: Path, samples: int,
                   timeout: float = 3600) -> dict[str, object]:
    """Run the variants of one model in a fresh process; the parsed result (or the error)."""
    work.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", VARIANTS, str(path), str(work), str(samples)],
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
