"""Ready-to-ship variants of a converted ONNX file, each verified against the source model.

``to_onnx`` converts and verifies the float32 model first; the steps here then rewrite the file
in place, in order: graph optimization (``--optimize``), then float16 (``--float16``) or int8
(``--int8``). Each step is run in onnxruntime on the very inputs the source model was verified
on and compared with the source's outputs (never with the previous ONNX step), with a
tolerance that fits it:

* optimized: the float32 tolerance (max abs 1e-4 + 1e-3 x |value|): fusions reorder sums only;
* float16: cosine similarity >= 0.999 per output (weights and arithmetic in float16, inputs and
  outputs float32); max abs/rel difference and top-1 agreement are reported;
* int8: cosine similarity >= 0.99 per output (dynamic quantization: weights int8, activations
  quantized per call; static with calibration inputs: QDQ, activations with calibrated scales).

Top-1 agreement is reported for outputs that look like class scores (rank 2, more than one
class). Imports of onnx, onnxruntime, onnxconverter-common and onnxslim happen inside
functions.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ... import _optional
from ...errors import MissingDependencyError, ModelToolError, VerificationError

#: Per-variant minimum cosine similarity of each output with the source's.
MIN_COSINE = {"float16": 0.999, "int8": 0.99}
#: ``--optimize`` choices; the first is the default. bench/onnx.py --variants measured onnxslim
#: no slower than the plain file on every bench model, onnxruntime's offline optimization
#: slower on ResNet50 and EfficientNetB0 (onnxruntime applies the same fusions when it loads
#: any file, so offline they save load time only).
OPTIMIZERS = ("onnxslim", "ort")


@dataclass
class VariantReport:
    """One shipped step: its file size, onnxruntime latency and agreement with the source."""

    name: str
    file_size: int
    latency_ms: float | None
    tolerance: str
    max_abs: float = 0.0
    max_rel: float = 0.0
    cosine: float = 1.0
    top1: float | None = None
    verified: bool = False
    ok: bool = True
    problem: str | None = None
    notes: list[str] = field(default_factory=list)


def ship(path: Path, label: str, input_names: Sequence[str], output_names: Sequence[str],
         runs: Sequence[Any], *, optimize: str | None = None, float16: bool = False,
         int8: bool = False, calibration: Mapping[str, np.ndarray] | None = None,
         stage: Callable[[str], None] = lambda _text: None) -> list[VariantReport]:
    """Rewrite ``path`` through the requested steps, verifying each against ``runs``
    (``ReferenceRun``: batch, feeds, the source's outputs). The first report is the plain
    float32 file, for comparison."""
    reports = [measure(path, "float32", input_names, output_names, runs, "the conversion's")]
    if optimize:
        if optimize not in OPTIMIZERS:
            raise ModelToolError(f"--optimize takes one of {', '.join(OPTIMIZERS)}, "
                                 f"not {optimize!r}")
        stage(f"optimizing with {optimize}")
        before = _node_count(path)
        _rewrite(path, optimize_ort if optimize == "ort" else optimize_onnxslim, label)
        reports.append(measure(path, f"optimized ({optimize})", input_names, output_names,
                               runs, "max abs 1e-4 + 1e-3 x |value|"))
        tool = "onnxruntime's offline (extended) graph optimizations" if optimize == "ort" \
            else "onnxslim"
        reports[-1].notes.append(f"optimized with {tool}: {before} -> {_node_count(path)} "
                                 "nodes")
    if float16:
        stage("converting to float16")
        _rewrite(path, to_float16, label)
        reports.append(measure(path, "float16", input_names, output_names, runs,
                               f"cosine >= {MIN_COSINE['float16']}"))
    if int8:
        kind = "static" if calibration is not None else "dynamic"
        stage(f"quantizing to int8 ({kind})")
        _rewrite(path, lambda src, dst: quantize_int8(src, dst, input_names, calibration), label)
        reports.append(measure(path, f"int8 {kind}", input_names, output_names, runs,
                               f"cosine >= {MIN_COSINE['int8']}"))
        reports[-1].notes.append(
            "static QDQ: int8 weights per channel, uint8 activations with MinMax-calibrated "
            "scales, the output head (Softmax/Sigmoid) kept float" if calibration is not None
            else "dynamic: int8 weights, activations quantized at every call")
        quantized, plain = reports[-1].latency_ms, reports[0].latency_ms
        if calibration is None and quantized and plain and quantized > plain:
            reports[-1].notes.append(
                "dynamic int8 is slower than float32 here (convolutions quantize their inputs "
                "at every call): static quantization with --calibration FILE.npz is faster")
    return reports


def _node_count(path: Path) -> int:
    onnx = _optional.require("onnx", "ONNX optimization")
    return len(onnx.load_model(os.fspath(path), load_external_data=False).graph.node)


def variant_error(report: VariantReport, label: str) -> VerificationError:
    """The error for a variant beyond its tolerance (exit 1)."""
    error = VerificationError(f"the {report.name} model {report.problem}", path=label,
                              hint="no ONNX file was written; --keep-failed keeps it")
    return error


def _rewrite(path: Path, step: Callable[[Path, Path], None], label: str) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="modeltool-variant-", dir=path.parent))
    try:
        out = scratch / "out.onnx"
        try:
            step(path, out)
        except (ModelToolError, MissingDependencyError):
            raise
        except Exception as err:  # noqa: BLE001 - onnx tools raise anything
            text = str(err).strip().splitlines()
            raise VerificationError(f"{getattr(step, '__name__', 'the step')} failed: "
                                    f"{(text[0] if text else type(err).__name__)[:240]}",
                                    path=label) from err
        os.replace(out, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def optimize_ort(src: Path, dst: Path) -> None:
    """onnxruntime's offline optimizations at the extended level (fusions such as Conv+Add,
    GELU, LayerNorm, MatMul+Add; the file then needs onnxruntime, which runs it anyway)."""
    ort = _optional.require("onnxruntime", "ONNX optimization")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = os.fspath(dst)
    ort.InferenceSession(os.fspath(src), options, providers=["CPUExecutionProvider"])


def optimize_onnxslim(src: Path, dst: Path) -> None:
    """onnxslim: constant folding, dead-code removal and pattern fusions in standard ONNX."""
    onnxslim = _optional.require("onnxslim", "--optimize onnxslim")
    onnx = _optional.require("onnx", "ONNX optimization")
    with _quiet():
        slim = onnxslim.slim(onnx.load_model(os.fspath(src)))
    onnx.save_model(slim, os.fspath(dst))


def to_float16(src: Path, dst: Path) -> None:
    """Weights and arithmetic in float16; graph inputs and outputs stay float32."""
    _optional.require("onnxconverter_common", "--float16")
    from onnxconverter_common import float16

    onnx = _optional.require("onnx", "float16 conversion")
    with _quiet():
        model = float16.convert_float_to_float16(onnx.load_model(os.fspath(src)),
                                                 keep_io_types=True)
    onnx.save_model(model, os.fspath(dst))


def quantize_int8(src: Path, dst: Path, input_names: Sequence[str],
                  calibration: Mapping[str, np.ndarray] | None) -> None:
    """onnxruntime quantization: dynamic (weights int8), or static QDQ with calibration."""
    _optional.require("onnxruntime", "int8 quantization")
    from onnxruntime import quantization as q

    with tempfile.TemporaryDirectory(dir=dst.parent) as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        try:
            with _quiet():
                q.quant_pre_process(os.fspath(src), os.fspath(prepared),
                                    skip_symbolic_shape=True)
        except Exception:  # noqa: BLE001 - pre-processing is an optimization only
            shutil.copyfile(src, prepared)
        with _quiet():
            if calibration is None:
                q.quantize_dynamic(os.fspath(prepared), os.fspath(dst),
                                   weight_type=q.QuantType.QInt8)
                return
            reader = _CalibrationReader(input_names, calibration)
            q.quantize_static(os.fspath(prepared), os.fspath(dst), reader,
                              quant_format=q.QuantFormat.QDQ, per_channel=True,
                              activation_type=q.QuantType.QUInt8,
                              weight_type=q.QuantType.QInt8,
                              nodes_to_exclude=_output_heads(prepared))


def _output_heads(path: Path) -> list[str]:
    """Nodes that compute a graph output from the last activations (a classifier's Softmax,
    a Sigmoid): their probabilities of about 1/classes would round to zero in uint8, so they
    stay float (the layers before them are quantized)."""
    onnx = _optional.require("onnx", "int8 quantization")
    graph = onnx.load_model(os.fspath(path), load_external_data=False).graph
    outputs = {value.name for value in graph.output}
    heads = {"Softmax", "LogSoftmax", "Sigmoid", "Tanh", "Identity", "Reshape", "Flatten"}
    excluded: list[str] = []
    producers = {name: node for node in graph.node for name in node.output}
    for name in outputs:
        node = producers.get(name)
        while node is not None and node.op_type in heads:
            excluded.append(node.name)
            node = producers.get(node.input[0]) if node.input else None
    return excluded


class _CalibrationReader:
    """onnxruntime's CalibrationDataReader over arrays by input name, one sample at a time."""

    def __init__(self, input_names: Sequence[str], arrays: Mapping[str, np.ndarray]) -> None:
        count = len(next(iter(arrays.values())))
        self._items = iter([{name: np.asarray(arrays[name][i:i + 1]) for name in input_names}
                            for i in range(count)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def rewind(self) -> None:  # pragma: no cover - only some calibrators rewind
        pass


def measure(path: Path, name: str, input_names: Sequence[str], output_names: Sequence[str],
            runs: Sequence[Any], tolerance: str) -> VariantReport:
    """Run ``path`` in onnxruntime on every run's inputs; compare with the source outputs."""
    from .verify import median_ms

    ort = _optional.require("onnxruntime", "verifying the ONNX model")
    report = VariantReport(name=name, file_size=path.stat().st_size, latency_ms=None,
                           tolerance=tolerance)
    try:
        session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001
        report.ok = False
        report.problem = f"does not load in onnxruntime: {str(err).splitlines()[0][:200]}"
        return report
    agree = total = 0
    cosines: list[float] = []
    for run in runs:
        feeds = dict(zip(input_names, run.feeds))
        try:
            got = session.run(list(output_names), feeds)
        except Exception as err:  # noqa: BLE001
            report.ok = False
            report.problem = (f"does not run in onnxruntime at batch {run.batch}: "
                              f"{str(err).splitlines()[0][:200]}")
            return report
        for onnx_value, want in zip(got, run.outputs):
            have = np.asarray(onnx_value, dtype=np.float64)
            ref = np.asarray(want, dtype=np.float64)
            if have.shape != ref.shape:
                report.ok = False
                report.problem = f"has output shape {have.shape} where the source has {ref.shape}"
                return report
            if not have.size:
                continue
            diff = np.abs(have - ref)
            report.max_abs = max(report.max_abs, float(diff.max()))
            with np.errstate(divide="ignore", invalid="ignore"):
                report.max_rel = max(report.max_rel, float(
                    (diff / np.maximum(np.abs(ref), np.finfo(np.float64).tiny)).max()))
            cosines.append(cosine(have, ref))
            if name.startswith("optimized") and not np.all(diff <= 1e-4 + 1e-3 * np.abs(ref)):
                report.ok = False
            if ref.ndim == 2 and ref.shape[1] > 1:
                agree += int(np.sum(have.argmax(axis=1) == ref.argmax(axis=1)))
                total += ref.shape[0]
    report.verified = bool(runs)
    report.cosine = min(cosines) if cosines else 1.0
    report.top1 = agree / total if total else None
    minimum = next((v for k, v in MIN_COSINE.items() if name.startswith(k)), None)
    if minimum is not None and report.cosine < minimum:
        report.ok = False
    if not report.ok:
        report.problem = (f"differs from the source beyond its tolerance ({tolerance}): max abs "
                          f"{report.max_abs:.3g}, max rel {report.max_rel:.3g}, cosine "
                          f"{report.cosine:.6f}")
    if runs:
        named = dict(zip(input_names, runs[0].feeds))
        timed = timing_session(path)
        report.latency_ms = median_ms(lambda: timed.run(None, named))
    return report


def interleaved_median_ms(runners: Mapping[str, Callable[[], Any]], *, rounds: int = 20,
                          budget_s: float = 1.0) -> dict[str, float]:
    """Median milliseconds of one call of each runner, timed in alternation (each round calls
    every runner once, after two warm-up calls each), so a change of machine load during the
    measurement hits them all alike; at least 3 rounds, then rounds until ``rounds`` or the
    time budget."""
    import time

    times: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():
        run()
        run()
    started = time.perf_counter()
    count = 0
    while count < 3 or (count < rounds and time.perf_counter() - started < budget_s):
        for name, run in runners.items():
            tick = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - tick)
        count += 1
    return {name: float(np.median(values)) * 1000 for name, values in times.items()}


def timing_session(path: Path) -> Any:
    """An onnxruntime session for latency: default threads, intra-op spinning off.

    Spinning threads wait for work by busy-looping: on an idle machine that saves a few
    percent, on a shared one (more runnable threads than cores) it doubled ResNet50's latency
    in our measurements, which then says more about the neighbours than about the model.
    """
    ort = _optional.require("onnxruntime", "timing the ONNX model")
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two arrays taken as flat vectors (1.0 for two zero vectors)."""
    x = a.ravel().astype(np.float64)
    y = b.ravel().astype(np.float64)
    x = np.where(np.isfinite(x), x, 0.0)
    y = np.where(np.isfinite(y), y, 0.0)
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    if norm == 0.0:
        return 1.0 if not (np.any(x) or np.any(y)) else 0.0
    return float(np.dot(x, y) / norm)


@contextlib.contextmanager
def _quiet() -> Any:
    """The ONNX tools log and warn freely on stdout/stderr-bound loggers: silence them."""
    import logging
    import warnings

    loggers = [logging.getLogger(name) for name in ("onnxruntime", "root", "onnxslim")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
