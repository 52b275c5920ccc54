"""The converted file checked: onnx.checker, then onnxruntime against the source on seeded
inputs (batch 1 and 3), against the library that wrote a Keras 1/2 file, and the latencies.

onnx and onnxruntime are imported inside functions only.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ... import _optional
from ...errors import VerificationError
from ...formats.onnx_file import op_histogram, tensor_info
from .report import (
    ConversionReport,
    OnnxVerificationError,
    OutputCheck,
    Reference,
    ReferenceRun,
    first_line,
)

if TYPE_CHECKING:
    from ...keras_bridge.onnx_source import Dims, ExportSource

PathLike = str | os.PathLike[str]


#: Batch sizes verification runs at (a fixed batch size runs only that one).
VERIFY_BATCHES = (1, 3)
#: The size verification gives a dimension the model leaves open (sequence length, image size).
OPEN_DIM = 32
#: Seed of the verification inputs (one generator per batch size: ``[SEED, batch]``).
SEED = 0
_TIMING_RUNS = 20
_TIMING_BUDGET_S = 0.5


def check_file(path: Path, source: ExportSource) -> OnnxVerificationError | None:
    """onnx.checker with the full check (shape inference too); the error, or None if valid."""
    onnx = _optional.require("onnx", "ONNX export")
    try:
        onnx.checker.check_model(os.fspath(path), full_check=True)
    except Exception as err:  # noqa: BLE001 - checker and shape inference errors
        error = OnnxVerificationError(
            f"the converted ONNX model is invalid: {first_line(err)}", path=source.label,
            hint="no ONNX file was written; --keep-failed keeps it")
        error.__cause__ = err
        return error
    return None


def describe_file(path: Path, report: ConversionReport) -> None:
    """Fill the report's interface, op histogram, opset and size from the written file."""
    onnx = _optional.require("onnx", "ONNX export")
    model_proto = onnx.load_model(os.fspath(path), load_external_data=False)
    report.op_histogram = op_histogram(model_proto.graph)
    report.node_count = sum(report.op_histogram.values())
    report.opset = next((o.version for o in model_proto.opset_import
                         if o.domain in ("", "ai.onnx")), report.opset)
    report.inputs = [tensor_info(v) for v in model_proto.graph.input]
    report.outputs = [tensor_info(v) for v in model_proto.graph.output]
    report.file_size = path.stat().st_size


def _batches(shapes: list[Dims]) -> tuple[int, ...]:
    """Batch sizes to try, in order: a fixed batch alone; else 1 and 3, then 2 and 4 for a
    model that refuses those (verification stops after two that run)."""
    fixed = {dims[0] for dims in shapes if dims and dims[0] is not None}
    if shapes and all(dims and dims[0] is not None for dims in shapes):
        return tuple(sorted(fixed))[:1]
    return (*VERIFY_BATCHES, 2, 4)


def _sample_feeds(source: ExportSource, shapes: list[Dims], batch: int,
                  ranges: Mapping[str, tuple[float, float]] | None = None) -> list[np.ndarray]:
    """Seeded inputs: floats in [0, 1), integers inside the smallest Embedding vocabulary, or
    the ``--input-range`` of an input."""
    from .inputs import random_feeds

    return random_feeds(shapes, source.input_dtypes, source.input_names, batch, seed=SEED,
                        int_high=source.int_high, ranges=ranges)


def _reference_problem(err: BaseException) -> str:
    """One line from a TensorFlow/Keras error, naming the op and the layer it came from."""
    import re

    text = str(getattr(err, "message", None) or err)
    nodes = re.findall(r"\{\{node ([^}]+)\}\}", text)
    lines = [line.strip() for line in text.splitlines()]
    problem = ""
    for index, line in enumerate(lines):
        if "{{node" in line:
            before = line.split("[[")[0].strip()
            problem = before or (lines[index - 1] if index else "")
            break
    if not problem or problem.endswith(":"):
        problem = next((line for line in lines if line and not line.endswith(":")
                        and "defined at" not in line), first_line(err))
    where = ""
    if nodes:
        parts = [p for p in nodes[-1].split("/") if p and not p.startswith(
            ("StatefulPartitionedCall", "PartitionedCall", "functional", "sequential"))]
        op = parts[-1] if parts else nodes[-1]
        layer = parts[-2] if len(parts) > 1 else None
        where = f" in op {op}" + (f" of layer {layer!r}" if layer else "")
    return f"{type(err).__name__}{where}: {problem[:200]}"


def verify_runs(path: Path, source: ExportSource, reference: Reference, shapes: list[Dims],
                report: ConversionReport, stage: Callable[[str], None],
                samples: Mapping[str, np.ndarray] | None,
                ranges: Mapping[str, tuple[float, float]] | None,
                timed_call: Callable[[list[np.ndarray]], Callable[[], Any]] | None = None
                ) -> tuple[OutputCheck | None, list[ReferenceRun]]:
    """Compare onnxruntime with the reference at the batch sizes the model accepts; then time
    onnxruntime, and the source too when ``timed_call`` makes a timed call of it."""
    ort = _optional.require("onnxruntime", "verifying the ONNX model")
    try:
        session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types
        raise VerificationError(f"onnxruntime cannot load the converted model: "
                                f"{first_line(err)}", path=source.label) from err
    failure = None
    runs: list[ReferenceRun] = []
    refused: list[str] = []
    if samples is not None:
        from .inputs import sample_feeds

        feeds_list = [sample_feeds(samples, source.input_names, source.input_dtypes, shapes,
                                   source.label)]
    else:
        feeds_list = [_sample_feeds(source, shapes, batch, ranges) for batch in _batches(shapes)]
    for feeds in feeds_list:
        if len(runs) == len(VERIFY_BATCHES):
            break
        batch = int(feeds[0].shape[0]) if feeds and feeds[0].ndim else 1
        stage(f"verifying against {source.reference} at batch {batch}")
        try:
            want = reference(feeds)
        except Exception as err:  # noqa: BLE001 - the reference raises anything a layer raises
            refused.append(f"batch {batch}: {_reference_problem(err)}")
            continue
        try:
            got = session.run(source.output_names, dict(zip(source.input_names, feeds)))
        except Exception as err:  # noqa: BLE001
            raise VerificationError(f"onnxruntime cannot run the converted model at batch "
                                    f"{batch}: {first_line(err)}", path=source.label) from err
        runs.append(ReferenceRun(batch, feeds, want))
        for name, onnx_value, source_value in zip(source.output_names, got, want):
            check = compare(name, batch, np.asarray(onnx_value), source_value, report.atol,
                             report.rtol)
            report.checks.append(check)
            if not check.ok and failure is None:
                failure = check
    if not runs:
        raise VerificationError(
            f"{source.reference} itself cannot run the model on the verification inputs "
            f"({refused[0] if refused else 'no inputs'})", path=source.label,
            hint="give inputs it accepts with --sample-inputs FILE.npz or --input-range "
                 "NAME=lo,hi, or skip the check with --no-verify")
    report.notes += [f"{source.reference} refused the verification inputs at {text}; "
                     "verified at the batch sizes it accepts" for text in refused[:1]]
    if failure is None:
        stage("timing onnxruntime and " + source.reference)
        first = runs[0]
        from ...keras_bridge.quiet import quiet_tf
        from .variants import interleaved_median_ms, timing_session

        named = dict(zip(source.input_names, first.feeds))
        report.latency_batch = first.batch
        session = timing_session(path)
        runners: dict[str, Callable[[], Any]] = {"onnx": lambda: session.run(None, named)}
        if timed_call is not None:
            runners["keras"] = timed_call(first.feeds)
        with quiet_tf():  # ONNX and the source timed in turn, so load hits both alike
            medians = interleaved_median_ms(runners, rounds=_TIMING_RUNS,
                                            budget_s=2 * _TIMING_BUDGET_S)
        report.onnx_latency_ms = medians["onnx"]
        report.keras_latency_ms = medians.get("keras")
    return failure, runs


def compare(name: str, batch: int, got: np.ndarray, want: np.ndarray, atol: float,
            rtol: float) -> OutputCheck:
    """One output at one batch size against the reference (NaN in both places agrees)."""
    if got.shape != want.shape:
        return OutputCheck(name, batch, float("inf"), float("inf"), False,
                           f"has shape {got.shape} in ONNX but {want.shape} in the source")
    if got.size == 0:
        return OutputCheck(name, batch, 0.0, 0.0, True)
    if want.dtype.kind in "OSU" or got.dtype.kind in "OSU":  # strings (an inverted lookup)
        same = bool(np.array_equal(_texts(got), _texts(want)))
        return OutputCheck(name, batch, 0.0 if same else float("inf"),
                           0.0 if same else float("inf"), same,
                           None if same else "has other strings in ONNX than in the source")
    got64 = got.astype(np.float64)
    want64 = want.astype(np.float64)
    both_nan = np.isnan(got64) & np.isnan(want64)
    diff = np.where(both_nan, 0.0, np.abs(got64 - want64))
    diff = np.where(np.isnan(diff), np.inf, diff)
    scale = np.abs(np.where(np.isnan(want64), 0.0, want64))
    max_abs = float(diff.max())
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        max_rel = float((diff / np.maximum(scale, np.finfo(np.float64).tiny)).max())
    ok = bool(np.all(diff <= atol + rtol * scale))
    return OutputCheck(name, batch, max_abs, max_rel, ok)


def _texts(values: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v),
                        otypes=[object])(values)


def verify_against_source(path: Path, source: ExportSource, runs: list[ReferenceRun],
                          report: ConversionReport,
                          source_path: Path | None, weights: PathLike | None,
                          enabled: bool) -> OutputCheck | None:
    """onnxruntime against the library that wrote the source file (``keras_bridge.reference``),
    on the inputs the Keras 3 check ran; its rows go to ``report.source_checks``."""
    from ...keras_bridge.quiet import quiet_tf
    from ...keras_bridge.reference import reference_for_file

    reference = reference_for_file(source_path, weights) if enabled and source_path else None
    if reference is None or reference.predict is None:
        why = reference.reason if reference is not None else (
            "turned off" if source_path else "a live model has no source file")
        report.source_reference = "Keras 3 only"
        report.notes.append(f"checked against Keras 3 only: {why}")
        return None
    report.source_reference = reference.label
    ort = _optional.require("onnxruntime", "verifying the ONNX model")
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    failure = None
    for run in runs:
        batch, feeds = run.batch, run.feeds
        if reference.keras1_inputs_from_one:
            feeds = [np.maximum(f, 1) if f.dtype.kind in "iu" else f for f in feeds]
        got = session.run(source.output_names, dict(zip(source.input_names, feeds)))
        with quiet_tf():
            want = reference.predict(feeds)
        for name, onnx_value, source_value in zip(source.output_names, got, want):
            check = compare(name, batch, np.asarray(onnx_value), np.asarray(source_value),
                             report.atol, report.rtol)
            report.source_checks.append(check)
            if not check.ok and failure is None:
                failure = check
    return failure


def median_ms(run: Callable[[], Any]) -> float:
    """The median milliseconds of ``run()`` (after two warm-up calls; at least 3 timed calls,
    up to 20 within half a second)."""
    run()
    run()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < 3 or (len(times) < _TIMING_RUNS
                             and time.perf_counter() - started < _TIMING_BUDGET_S):
        tick = time.perf_counter()
        run()
        times.append(time.perf_counter() - tick)
    return statistics.median(times) * 1000


def verification_error(source: ExportSource, failure: OutputCheck, report: ConversionReport,
                       *, kept: bool) -> OnnxVerificationError:
    """The one-line error for the first output beyond tolerance; it carries the report."""
    if failure.problem:
        problem = f"output {failure.output!r} {failure.problem} at batch {failure.batch}"
    else:
        problem = (f"output {failure.output!r} differs from {source.reference} at batch "
                   f"{failure.batch}: max abs diff {failure.max_abs:.3g} (atol {report.atol:g}), "
                   f"max rel diff {failure.max_rel:.3g} (rtol {report.rtol:g})")
    hint = (f"the ONNX file was kept at {report.output}" if kept else
            "no ONNX file was written; --keep-failed keeps it, --atol/--rtol loosen the check")
    return OnnxVerificationError(problem, path=source.label, hint=hint, report=report)
