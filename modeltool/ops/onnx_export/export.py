"""``to_onnx``: load, trace, convert, write, check, verify, ship variants: the steps in order."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import _optional
from ...errors import InputNotFoundError, ModelToolError, UnsupportedError, VerificationError
from ...formats.onnx_writer import write_onnx_model
from ...io import atomic_path, check_output
from .._custom import CustomObjects, custom_scope
from .convert import convert_graph
from .load import is_live_model, load_source
from .report import ConversionReport, OnnxVerificationError, OutputCheck, Reference, ReferenceRun
from .signature import check_fixed_batch, resolve_batch, resolve_opset, signature_shapes
from .verify import (
    check_file,
    describe_file,
    verification_error,
    verify_against_source,
    verify_runs,
)

if TYPE_CHECKING:
    from ...keras_bridge.onnx_source import ExportSource

PathLike = str | os.PathLike[str]


def _dtype_checks(source: ExportSource, source_path: Path | None, atol: float, rtol: float
                  ) -> tuple[float, float]:
    """Refuse dtypes ONNX cannot express (one line naming the layer); widen the default
    tolerance for float16 compute."""
    from .dtypes import FLOAT16_ATOL, FLOAT16_RTOL, computes_in_float16, unexportable

    problem = unexportable(source.policies)
    if problem is not None:
        raise UnsupportedError(problem, path=source_path or source.label,
                               hint="convert the model to float32 in Keras first")
    if computes_in_float16(source.policies) and (atol, rtol) == (1e-4, 1e-3):
        source.notes.append(f"the model computes in float16: compared with Keras at atol "
                            f"{FLOAT16_ATOL:g}, rtol {FLOAT16_RTOL:g} (--atol/--rtol to change)")
        return FLOAT16_ATOL, FLOAT16_RTOL
    return atol, rtol


def to_onnx(path_or_model: PathLike | Any, out: PathLike, *, opset: int | None = None,
            batch: str | int | None = "dynamic",
            input_shapes: Mapping[str, Sequence[int | str | None]] | None = None,
            verify: bool = True, atol: float = 1e-4, rtol: float = 1e-3,
            optimize: bool | str = False, keep_failed: bool = False,
            weights: PathLike | None = None, force: bool = False,
            progress: Callable[[str], None] | None = None, unsafe_lambda: bool = False,
            sample_inputs: PathLike | None = None,
            input_ranges: Mapping[str, tuple[float, float]] | None = None,
            float16: bool = False, int8: bool = False, calibration: PathLike | None = None,
            reference: Reference | None = None, verify_source: bool = True,
            custom_objects: CustomObjects = None) -> ConversionReport:
    """Convert a Keras model (any file kind, or a live ``keras.Model``) to ONNX and verify it.

    The ONNX graph has exactly the Keras inputs, with the Keras input names and dtypes, and the
    Keras outputs in Keras' order with Keras' names. It is in inference mode (Dropout off,
    BatchNormalization on its moving statistics). The batch dimension is symbolic unless
    ``batch`` fixes it; other open dimensions stay symbolic unless ``input_shapes`` fixes them.

    Args:
        path_or_model: a ``.keras``, legacy ``.h5``, JSON/YAML (with ``weights``), SavedModel
            directory, or a live ``keras.Model``.
        out: the ``.onnx`` path to write (atomically; nothing is left behind on failure).
        opset: the ONNX opset; None means the highest tf2onnx supports.
        batch: ``"dynamic"`` (or None) for a symbolic batch dimension, or a fixed size.
        input_shapes: ``{input name: dims}`` fixing open dimensions; the dims either follow the
            batch dimension or include it; None or ``-1`` keeps a dimension open.
        verify: compare onnxruntime with the source on seeded inputs at batch 1 and 3.
        atol: absolute tolerance of the comparison.
        rtol: relative tolerance of the comparison.
        optimize: also optimize the graph, verified against the source (True or
            ``"onnxslim"``: onnxslim's standard-ONNX simplifications, chosen by measurement;
            ``"ort"``: onnxruntime's offline optimizations at the extended level).
        keep_failed: keep the ONNX file on any verification failure.
        weights: a weights file for an architecture-only ``path_or_model``.
        force: replace an existing ``out``.
        progress: called with a short description of each stage (for a progress display).
        unsafe_lambda: let Keras rebuild Lambda layers from their bytecode (runs code from
            the file: only on the user's explicit request).
        sample_inputs: an ``.npz`` of verification inputs by input name (the user's data).
        input_ranges: ``{input name: (lo, hi)}`` value ranges of the random verification
            inputs (integers from ``[lo, hi)``).
        float16: ship weights and compute in float16 (inputs and outputs stay float32).
        int8: ship onnxruntime's int8 quantization (dynamic; static with ``calibration``).
        calibration: an ``.npz`` of calibration inputs by input name (static int8).
        reference: replaces the built Keras model as the reference of the verification
            (called with the inputs, returns the outputs in order).
        verify_source: with ``verify``, also compare onnxruntime with the library that wrote
            a Keras 1/2 source file (tf_keras on the original file, or the numpy Keras 1
            reference); the report says which (``source_reference``).
        custom_objects: a ``.py`` file (run on request) or ``{name: class}`` map with the
            model's custom layers and functions, as Keras' ``custom_objects``.

    Returns:
        A ConversionReport: opset, op histogram, node count, file size, times, the per-output
        differences, and onnxruntime against Keras latency at batch 1.

    Raises:
        VerificationError: an output differs beyond tolerance, the ONNX model is invalid, or
            onnxruntime cannot run it (exit 1). An output beyond tolerance raises its subclass
            OnnxVerificationError, whose ``report`` holds the report.
        UnsupportedError: the model uses an op tf2onnx cannot convert, or has no weights.
        ModelToolError: unreadable input, a bad argument, or an existing output.

    Example:
        >>> report = modeltool.to_onnx("model.keras", "model.onnx")  # doctest: +SKIP
        >>> report.op_histogram, [c.max_abs for c in report.checks]  # doctest: +SKIP
    """
    from ...keras_bridge.onnx_trace import reference_of, trace
    from ...keras_bridge.quiet import quiet_tf

    stage = progress or (lambda _text: None)
    source_path = None if is_live_model(path_or_model) else Path(os.fspath(path_or_model))
    if source_path is not None and not os.path.lexists(source_path):
        raise InputNotFoundError("no such file or directory", path=source_path)
    _optional.require_extra("export", "to-onnx")
    out_path = check_output(out, force=force,
                            inputs=(source_path,) if source_path is not None else ())
    resolve_batch(batch)
    opset = resolve_opset(opset)
    if float16 and int8:
        raise ModelToolError("--float16 and --int8 exclude each other", hint="pick one")
    if calibration is not None and not int8:
        raise ModelToolError("--calibration is for --int8 (static quantization)")
    if not verify and (float16 or int8):
        raise ModelToolError("--float16 and --int8 are verified against the source",
                             hint="drop --no-verify")
    started = time.perf_counter()
    stage("loading the model")
    with quiet_tf(), custom_scope(custom_objects):
        source = load_source(path_or_model, weights, unsafe_lambda)
    check_fixed_batch(source, batch)
    load_seconds = time.perf_counter() - started
    atol, rtol = _dtype_checks(source, source_path, atol, rtol)
    shapes = signature_shapes(source, batch, input_shapes)
    from .inputs import check_ranges, load_sample_inputs

    check_ranges(input_ranges or {}, source.input_names)
    samples = load_sample_inputs(sample_inputs, source.input_names) \
        if sample_inputs is not None else None
    calibration_data = load_sample_inputs(calibration, source.input_names) \
        if calibration is not None else None

    started = time.perf_counter()
    stage("tracing and converting with tf2onnx")
    with quiet_tf():
        function = trace(source, shapes)
        model_proto, pending = convert_graph(source, function, shapes, opset)
    conversion_seconds = time.perf_counter() - started

    report = ConversionReport(
        source=source.label, source_kind=source.kind, output=os.fspath(out_path), opset=opset,
        inputs=[], outputs=[], op_histogram={}, node_count=0, file_size=0,
        load_seconds=load_seconds, conversion_seconds=conversion_seconds, verified=verify,
        atol=atol, rtol=rtol, optimized=bool(optimize), reference=source.reference,
        tf2onnx_version=_optional.require("tf2onnx", "ONNX export").__version__,
        notes=list(source.notes))
    failure: OutputCheck | None = None
    kept: VerificationError | None = None
    with atomic_path(out_path, suffix=".onnx") as tmp:
        write_onnx_model(model_proto, tmp, pending)
        del model_proto, pending
        try:
            stage("checking the ONNX model")
            describe_file(tmp, report)
            invalid = check_file(tmp, source)
            if invalid is not None:
                raise invalid
            runs: list[ReferenceRun] = []
            if verify:
                started = time.perf_counter()
                stage("verifying against " + source.reference)
                if reference is None:
                    live = reference_of(source, function)
                    predict, timed_call = live.predict, live.timed_call
                else:
                    predict, timed_call = reference, None
                failure, runs = verify_runs(tmp, source, predict, shapes, report, stage,
                                            samples, input_ranges, timed_call=timed_call)
                if failure is None and reference is None:
                    failure = verify_against_source(tmp, source, runs, report, source_path,
                                                    weights, verify_source)
                report.verification_seconds = time.perf_counter() - started
                if failure is not None:
                    raise verification_error(source, failure, report, kept=False)
            if optimize or float16 or int8:
                from . import variants

                report.variants = variants.ship(
                    tmp, source.label, source.input_names, source.output_names, runs,
                    optimize=("onnxslim" if optimize is True else optimize) or None,
                    float16=float16, int8=int8, calibration=calibration_data, stage=stage)
                report.optimized = bool(optimize)
                report.notes += [note for v in report.variants for note in v.notes]
                describe_file(tmp, report)
                bad = next((v for v in report.variants if not v.ok), None)
                if bad is not None:
                    raise variants.variant_error(bad, source.label)
        except VerificationError as err:
            if not keep_failed:
                raise
            kept = err
        report.file_size = tmp.stat().st_size
    if kept is not None:
        raise OnnxVerificationError(kept.problem, path=kept.path,
                                    hint=f"the ONNX file was kept at {report.output}",
                                    report=report) from kept.__cause__
    return report
