"""``to_onnx``: a live Keras model -> tf.function with an input signature -> tf2onnx -> checks.

The route, and why each step is there:

* tf2onnx's ``from_keras`` fails on Keras 3 models and Keras' own ``export(format="onnx")`` fails
  on a model fresh from ``load_model``, so the model is traced here: a ``tf.function`` whose input
  signature is built from the Keras inputs (dtypes kept, so integer inputs stay integer) calls
  ``model(..., training=False)`` and returns the outputs as a *list* in Keras' output order (a
  dict would come out sorted by name).
* The weights are arguments of that function too (read through ``keras.StatelessScope``), so the
  traced graph holds no variables: freezing it is quick, and each weight is then either swapped
  in as a constant or, for the big tensors of Dense/Conv/Embedding-like layers, kept out of
  tf2onnx altogether and streamed into the file as an initializer afterwards (tf2onnx copies
  every constant some 25 to 50 times: VGG16 needed 14 to 24 GB that way).
* The graph is frozen here, not by ``tf2onnx.convert.from_function``: that one hands tf2onnx
  *every* non-resource placeholder as a graph input, so tensors a layer captured (EfficientNet's
  Normalization mean and variance) leaked in as extra inputs that onnx.checker does not notice.
  Here captures become constants, and the result is checked to have exactly the Keras inputs.
* tf2onnx names tensors after TF (``keras_tensor_3``, ``Identity:0``); inputs and outputs are
  renamed to the Keras input-layer and output-layer names, in Keras' order. Open dimensions get
  readable symbolic names (``batch``, ``tokens_dim1``).

A SavedModel is converted through its ``serving_default`` signature (names are the signature's).
Verification runs onnxruntime and the source on the same seeded inputs, at batch 1 and 3.

TensorFlow, Keras, tf2onnx, onnx and onnxruntime are imported inside functions only.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import statistics
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _optional
from ..errors import (
    InputNotFoundError,
    KerasError,
    ModelToolError,
    UnsupportedError,
    VerificationError,
)
from ..formats.onnx_file import OnnxTensor, op_histogram, tensor_info
from ..io import atomic_path, check_output
from ._custom import CustomObjects, custom_scope

PathLike = str | os.PathLike[str]
Dims = tuple[int | None, ...]

#: Batch sizes verification runs at (a fixed batch size runs only that one).
VERIFY_BATCHES = (1, 3)
#: The size verification gives a dimension the model leaves open (sequence length, image size).
OPEN_DIM = 32
#: Integer inputs are drawn from [0, DEFAULT_INT_HIGH) when no Embedding tells the vocabulary.
DEFAULT_INT_HIGH = 10
#: Seed of the verification inputs (one generator per batch size: ``[SEED, batch]``).
SEED = 0
#: ONNX files are protobufs: 2 GiB is a hard limit without external data.
_PROTOBUF_LIMIT = 2**31 - 1
_TIMING_RUNS = 20
_TIMING_BUDGET_S = 0.5
_INTERNAL_INPUT = "modeltool_input_{}"
_WEIGHT = "modeltool_weight_{}"
#: Layers whose weights stay graph inputs through tf2onnx and become ONNX initializers after
#: it (see ``_lifted``); their ops take a weight as an ordinary input.
_LIFTABLE_LAYERS = frozenset({
    "Dense", "EinsumDense", "Embedding", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose",
    "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D",
    "SeparableConv1D", "SeparableConv2D", "BatchNormalization", "LayerNormalization"})
#: ... from this many elements on (smaller ones are cheap as constants, and grappler folds
#: BatchNormalization's arithmetic on them).
_LIFT_MIN_ELEMENTS = 4096


@dataclass
class OutputCheck:
    """ONNX against the source model for one output at one batch size."""

    output: str
    batch: int
    max_abs: float
    max_rel: float
    ok: bool
    problem: str | None = None


@dataclass
class ConversionReport:
    """What ``to_onnx`` produced and how well it matches the source.

    Times are seconds; latencies are the median milliseconds of one call at ``latency_batch``
    (onnxruntime on the ONNX file against the source model traced by ``tf.function``).
    """

    source: str
    source_kind: str
    output: str
    opset: int
    inputs: list[OnnxTensor]
    outputs: list[OnnxTensor]
    op_histogram: dict[str, int]
    node_count: int
    file_size: int
    load_seconds: float
    conversion_seconds: float
    verified: bool
    atol: float
    rtol: float
    checks: list[OutputCheck] = field(default_factory=list)
    verification_seconds: float | None = None
    onnx_latency_ms: float | None = None
    keras_latency_ms: float | None = None
    latency_batch: int | None = None
    optimized: bool = False
    reference: str = "Keras"
    tf2onnx_version: str = ""
    notes: list[str] = field(default_factory=list)
    #: The check against the library that wrote the source file ("tf_keras 2.21.0 on the
    #: original file", numpy Keras 1 formulas, or "Keras 3 only"), and its rows.
    source_reference: str = ""
    source_checks: list[OutputCheck] = field(default_factory=list)
    #: The shipped variants (optimized, float16, int8), each verified against the source.
    variants: list[Any] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every output matched (vacuously true without verification)."""
        return all(check.ok for check in [*self.checks, *self.source_checks])

    @property
    def speedup(self) -> float | None:
        """Source latency over onnxruntime latency (above 1: onnxruntime is faster)."""
        if not self.onnx_latency_ms or self.keras_latency_ms is None:
            return None
        return self.keras_latency_ms / self.onnx_latency_ms


@dataclass
class _Source:
    """What the converter needs from a model, whatever it came from."""

    label: str
    kind: str
    name: str
    input_names: list[str]
    input_dtypes: list[str]
    input_shapes: list[Dims]
    output_names: list[str]
    output_batched: list[bool]
    call: Callable[[list[Any]], list[Any]]
    int_high: int = DEFAULT_INT_HIGH
    reference: str = "Keras"
    weight_bytes: int = 0
    variables: list[Any] = field(default_factory=list)
    liftable: set[int] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    policies: list[tuple[str, str]] = field(default_factory=list)
    #: The output shapes the source knows (None: unknown), for outputs tf2onnx leaves unranked.
    output_shapes: list[Dims | None] = field(default_factory=list)


def _dtype_checks(source: _Source, source_path: Path | None, atol: float, rtol: float
                  ) -> tuple[float, float]:
    """Refuse dtypes ONNX cannot express (one line naming the layer); widen the default
    tolerance for float16 compute."""
    from .onnx_dtypes import FLOAT16_ATOL, FLOAT16_RTOL, computes_in_float16, unexportable

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
            onnxruntime cannot run it (exit 1). ``err.report`` holds the report.
        UnsupportedError: the model uses an op tf2onnx cannot convert, or has no weights.
        ModelToolError: unreadable input, a bad argument, or an existing output.

    Example:
        >>> report = modeltool.to_onnx("model.keras", "model.onnx")  # doctest: +SKIP
        >>> report.op_histogram, [c.max_abs for c in report.checks]  # doctest: +SKIP
    """
    stage = progress or (lambda _text: None)
    source_path = None if _is_model(path_or_model) else Path(os.fspath(path_or_model))
    if source_path is not None and not os.path.lexists(source_path):
        raise InputNotFoundError("no such file or directory", path=source_path)
    out_path = check_output(out, force=force,
                            inputs=(source_path,) if source_path is not None else ())
    _resolve_batch(batch)
    opset = _resolve_opset(opset)
    if float16 and int8:
        raise ModelToolError("--float16 and --int8 exclude each other", hint="pick one")
    if calibration is not None and not int8:
        raise ModelToolError("--calibration is for --int8 (static quantization)")
    if not verify and (float16 or int8):
        raise ModelToolError("--float16 and --int8 are verified against the source",
                             hint="drop --no-verify")
    started = time.perf_counter()
    stage("loading the model")
    with _quiet_tf(), custom_scope(custom_objects):
        source = _load(path_or_model, weights, unsafe_lambda)
    _check_fixed_batch(source, batch)
    load_seconds = time.perf_counter() - started
    atol, rtol = _dtype_checks(source, source_path, atol, rtol)
    shapes = _signature_shapes(source, batch, input_shapes)
    from .onnx_inputs import check_ranges, load_sample_inputs

    check_ranges(input_ranges or {}, source.input_names)
    samples = load_sample_inputs(sample_inputs, source.input_names) \
        if sample_inputs is not None else None
    calibration_data = load_sample_inputs(calibration, source.input_names) \
        if calibration is not None else None

    started = time.perf_counter()
    stage("tracing and converting with tf2onnx")
    with _quiet_tf():
        function = _trace(source, shapes)
        model_proto, pending = _convert(source, function, shapes, opset)
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
        _save(model_proto, tmp, pending)
        del model_proto, pending
        try:
            stage("checking the ONNX model")
            _describe_file(tmp, report)
            invalid = _check_file(tmp, source)
            if invalid is not None:
                raise invalid
            runs: list[ReferenceRun] = []
            if verify:
                started = time.perf_counter()
                stage("verifying against " + source.reference)
                failure, runs = _verify_runs(
                    tmp, source, reference or _reference_of(source, function), shapes, report,
                    stage, samples, input_ranges)
                if failure is None and reference is None:
                    failure = _verify_source(tmp, source, runs, report, source_path, weights,
                                             verify_source)
                report.verification_seconds = time.perf_counter() - started
                if failure is not None:
                    raise _verification_error(source, failure, report, kept=False)
            if optimize or float16 or int8:
                from . import onnx_variants

                report.variants = onnx_variants.ship(
                    tmp, source.label, source.input_names, source.output_names, runs,
                    optimize=("onnxslim" if optimize is True else optimize) or None,
                    float16=float16, int8=int8, calibration=calibration_data, stage=stage)
                report.optimized = bool(optimize)
                report.notes += [note for v in report.variants for note in v.notes]
                _describe_file(tmp, report)
                bad = next((v for v in report.variants if not v.ok), None)
                if bad is not None:
                    raise onnx_variants.variant_error(bad, source.label)
        except VerificationError as err:
            if not keep_failed:
                raise
            kept = err
        report.file_size = tmp.stat().st_size
    if kept is not None:
        error = VerificationError(kept.problem, path=kept.path,
                                  hint=f"the ONNX file was kept at {report.output}")
        error.report = report  # type: ignore[attr-defined]
        raise error from kept.__cause__
    return report


# -- loading -------------------------------------------------------------------------------

def _is_model(obj: Any) -> bool:
    return not isinstance(obj, (str, os.PathLike)) and hasattr(obj, "inputs")


def _load(path_or_model: PathLike | Any, weights: PathLike | None,
          unsafe_lambda: bool = False) -> _Source:
    if _is_model(path_or_model):
        if weights is not None:
            _keras_load_weights(path_or_model, weights)
        name = getattr(path_or_model, "name", "model")
        return _keras_source(path_or_model, label=f"<keras.Model {name!r}>", kind="keras.Model")
    if not isinstance(path_or_model, (str, os.PathLike)):
        raise ModelToolError(f"cannot convert a {type(path_or_model).__name__}",
                             hint="pass a model file path or a keras.Model")
    from .. import keras_bridge
    from ..formats import open_artifact

    path = Path(os.fspath(path_or_model))
    artifact = open_artifact(path)
    try:
        if artifact.kind == "savedmodel" and not (
                artifact.metadata.get("recorded_by_modeltool") and artifact.config is not None):
            return _savedmodel_source(artifact, path)
        if weights is not None:
            from .convert import attach_weights

            artifact = attach_weights(artifact, weights)
        if artifact.config is None:
            raise UnsupportedError("this file holds weights but no architecture", path=path,
                                   hint="pass the architecture file (.keras, .h5, .json, .yaml) "
                                        "and this one with --weights")
        artifact.weights.verify()  # damaged bytes are refused before TensorFlow loads
        model = keras_bridge.model_from_artifact(artifact, safe_mode=not unsafe_lambda)
        if not artifact.weights:
            from ..keras_bridge.completeness import refuse_missing_weights

            refuse_missing_weights(model, path)
        source = _keras_source(model, label=os.fspath(path), kind=artifact.kind)
        source.notes += [f"read: {note}" for note in artifact.notes]
        return source
    finally:
        artifact.close()


def _keras_load_weights(model: Any, weights: PathLike) -> None:
    try:
        model.load_weights(os.fspath(weights))
    except Exception as err:  # noqa: BLE001 - Keras raises anything here
        raise KerasError(f"Keras cannot load these weights into the model: {_first_line(err)}",
                         path=weights) from err


def _history_name(tensor: Any) -> str:
    """The name of the layer that made a Keras tensor (the InputLayer for an input)."""
    history = getattr(tensor, "_keras_history", None)
    if history is not None:
        operation = history[0]
        if getattr(operation, "name", None):
            return str(operation.name)
    return str(getattr(tensor, "name", "output")).split(":")[0]


def _unique(names: list[str]) -> list[str]:
    """Keras names a layer's several outputs alike; ONNX names must differ."""
    seen: Counter[str] = Counter()
    result = []
    for name in names:
        result.append(name if not seen[name] else f"{name}_{seen[name]}")
        seen[name] += 1
    return result


def _keras_source(model: Any, *, label: str, kind: str) -> _Source:
    from .onnx_dtypes import live_policies

    keras = _optional.require("keras", "ONNX export")
    try:
        inputs = list(model.inputs or [])
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError) as err:
        inputs, outputs = [], []
        problem = _first_line(err)
    else:
        problem = "it has no inputs yet"
    if not inputs or not outputs:
        raise UnsupportedError(f"the model has no defined inputs ({problem})", path=label,
                               hint="build it on keras.Input(...) or call it on data first")
    struct = getattr(model, "_inputs_struct", None)

    def call(tensors: list[Any]) -> list[Any]:
        if struct is not None:
            packed = keras.tree.pack_sequence_as(struct, list(tensors))
        else:
            packed = tensors[0] if len(tensors) == 1 else list(tensors)
        return list(keras.tree.flatten(model(packed, training=False)))

    shapes = [tuple(None if d is None else int(d) for d in t.shape) for t in inputs]
    dtypes = [_dtype_of(t) for t in inputs]
    variables = _unique_variables(model)
    batched = [bool(len(t.shape)) and t.shape[0] is None for t in outputs]
    return _Source(label=label, kind=kind, name=str(getattr(model, "name", "model")),
                   input_names=[_history_name(t) for t in inputs], input_dtypes=dtypes,
                   input_shapes=shapes, output_names=_unique([_history_name(t) for t in outputs]),
                   output_batched=batched, call=call, int_high=_vocabulary(model),
                   weight_bytes=_weight_bytes(model), variables=variables,
                   liftable=_liftable(model, variables), policies=live_policies(model),
                   output_shapes=[_known_dims(t) for t in outputs])


def _known_dims(tensor: Any) -> Dims | None:
    try:
        return tuple(None if d is None else int(d) for d in tensor.shape)
    except (TypeError, ValueError):
        return None


def _dtype_of(tensor: Any) -> str:
    """A Keras tensor's dtype as a NumPy name, ``string`` for text inputs."""
    name = str(getattr(tensor.dtype, "name", tensor.dtype))
    return "string" if name in ("string", "str", "object") else np.dtype(name).name


def _vocabulary(model: Any) -> int:
    """The smallest Embedding vocabulary (or CategoryEncoding size) in the model, nested too."""
    layers = model._flatten_layers(include_self=False, recursive=True) \
        if hasattr(model, "_flatten_layers") else getattr(model, "layers", [])
    sizes = []
    for layer in layers:
        for attribute in ("input_dim", "num_tokens"):
            value = getattr(layer, attribute, None)
            if isinstance(value, int) and value > 0 and type(layer).__name__ in (
                    "Embedding", "CategoryEncoding"):
                sizes.append(value)
    return min(sizes) if sizes else DEFAULT_INT_HIGH


def _unique_variables(model: Any) -> list[Any]:
    """The model's weights (nested models and shared layers included), each once."""
    seen: set[int] = set()
    variables = []
    for variable in getattr(model, "weights", []):
        if id(variable) not in seen and hasattr(variable, "value"):
            seen.add(id(variable))
            variables.append(variable)
    return variables


def _liftable(model: Any, variables: list[Any]) -> set[int]:
    """Indices of the weights of ``_LIFTABLE_LAYERS`` layers with enough elements."""
    index = {id(variable): position for position, variable in enumerate(variables)}
    layers = model._flatten_layers(include_self=False, recursive=True) \
        if hasattr(model, "_flatten_layers") else getattr(model, "layers", [])
    chosen = set()
    for layer in layers:
        if type(layer).__name__ not in _LIFTABLE_LAYERS:
            continue
        for variable in getattr(layer, "weights", []):
            position = index.get(id(variable))
            if position is not None and _size(variable) >= _LIFT_MIN_ELEMENTS:
                chosen.add(position)
    return chosen


def _size(variable: Any) -> int:
    return int(np.prod(tuple(variable.shape), dtype=np.int64))


def _weight_bytes(model: Any) -> int:
    total = 0
    for variable in getattr(model, "weights", []):
        total += int(np.prod(variable.shape, dtype=np.int64)) * np.dtype(
            getattr(variable.dtype, "name", variable.dtype)).itemsize
    return total


def _layer_refs(refs: Any) -> list[str]:
    """Layer names in a config's ``input_layers``/``output_layers``: ``[[name, 0, 0], ...]``,
    or a single ``[name, 0, 0]``."""
    if not isinstance(refs, list) or not refs:
        return []
    if isinstance(refs[0], str):
        refs = [refs]
    return [str(ref[0]) for ref in refs if isinstance(ref, list) and ref]


def _savedmodel_source(artifact: Any, path: Path) -> _Source:
    """A SavedModel's ``serving_default`` signature as the model (names are the signature's)."""
    loaded = artifact.metadata.get("saved_model_object")
    signatures = getattr(loaded, "signatures", {}) if loaded is not None else {}
    if "serving_default" not in signatures:
        raise UnsupportedError("this SavedModel has no serving_default signature", path=path,
                               hint="export it with model.export(dir) or tf.saved_model.save "
                                    "with a signature")
    function = signatures["serving_default"]
    specs = function.structured_input_signature[1]
    outputs = function.structured_outputs
    input_names = list(specs)
    output_names = list(outputs)
    config = artifact.config or {}
    # A tf.keras SavedModel names the signature after the Keras layers: use Keras' order then.
    keras_inputs = _layer_refs(config.get("config", {}).get("input_layers"))
    keras_outputs = _layer_refs(config.get("config", {}).get("output_layers"))
    if sorted(keras_inputs) == sorted(input_names):
        input_names = keras_inputs
    if sorted(keras_outputs) == sorted(output_names):
        output_names = keras_outputs

    def call(tensors: list[Any], _keep_alive: Any = loaded) -> list[Any]:
        # The signature holds its variables weakly: the loaded object must outlive it.
        result = function(**dict(zip(input_names, tensors)))
        return [result[name] for name in output_names]

    variables = list(getattr(loaded, "variables", []))
    vocab = [int(v.shape[0]) for v in variables
             if v.name.split(":")[0].endswith("embeddings") and len(v.shape) == 2]
    return _Source(
        label=os.fspath(path), kind="savedmodel",
        name=str(config.get("config", {}).get("name") or path.name),
        input_names=input_names,
        input_dtypes=[specs[n].dtype.name for n in input_names],
        input_shapes=[tuple(specs[n].shape.as_list()) for n in input_names],
        output_names=output_names,
        output_batched=[bool(outputs[n].shape.rank) and outputs[n].shape[0] is None
                        for n in output_names],
        call=call, int_high=min(vocab) if vocab else DEFAULT_INT_HIGH, reference="TensorFlow",
        weight_bytes=sum(int(np.prod(v.shape, dtype=np.int64)) * v.dtype.size
                         for v in variables),
        notes=["converted through the SavedModel's serving_default signature"])


# -- shapes and opset ----------------------------------------------------------------------

def parse_input_shape(text: str) -> tuple[str, list[int | None]]:
    """``NAME=d1,d2,...`` (``?`` or ``-1`` keeps a dimension open) -> (name, dims).

    Example:
        >>> parse_input_shape("tokens=64")
        ('tokens', [64])
    """
    name, sep, dims = text.rpartition("=")
    if not sep or not name or not dims.strip():
        raise ModelToolError(f"--input-shape expects NAME=d1,d2,... and got {text!r}")
    parsed: list[int | None] = []
    for part in dims.split(","):
        part = part.strip()
        if part in ("?", "-1", "None", "none", "dynamic"):
            parsed.append(None)
            continue
        try:
            value = int(part)
        except ValueError:
            value = 0
        if value <= 0:
            raise ModelToolError(f"--input-shape {text!r}: {part!r} is not a positive size",
                                 hint="use ? or -1 for a dimension that stays open")
        parsed.append(value)
    return name, parsed


def _signature_shapes(source: _Source, batch: str | int | None,
                      input_shapes: Mapping[str, Sequence[int | str | None]] | None
                      ) -> list[Dims]:
    fixed_batch = _resolve_batch(batch)
    overrides = dict(input_shapes or {})
    unknown = sorted(set(overrides) - set(source.input_names))
    if unknown:
        raise ModelToolError(f"--input-shape names no input of the model: {', '.join(unknown)}",
                             hint=f"the inputs are: {', '.join(source.input_names)}")
    shapes = []
    for name, declared in zip(source.input_names, source.input_shapes):
        dims = list(declared)
        if dims and dims[0] is None and fixed_batch is not None:
            dims[0] = fixed_batch
        if name in overrides:
            given = [None if d is None or str(d) in ("?", "-1", "None") else int(d)
                     for d in overrides[name]]
            if len(given) == len(dims) - 1:
                given = [dims[0], *given]
            elif len(given) != len(dims):
                raise ModelToolError(
                    f"input {name!r} has shape {_dims_text(declared)} and --input-shape gave "
                    f"{len(given)} dims", hint="give the dims after the batch dim, or all of them")
            for index, (have, want) in enumerate(zip(dims, given)):
                if have is not None and want is not None and have != want:
                    raise ModelToolError(
                        f"input {name!r} has size {have} at dim {index} "
                        f"({_dims_text(declared)}) and --input-shape asks for {want}",
                        hint="only open (None) dims can be fixed")
                if want is not None:
                    dims[index] = want
        shapes.append(tuple(dims))
    return shapes


def _check_fixed_batch(source: _Source, batch: str | int | None) -> None:
    """A model built for a fixed batch size keeps it: ``--batch`` cannot change it."""
    wanted = _resolve_batch(batch)
    for name, dims in zip(source.input_names, source.input_shapes):
        if wanted is not None and dims and dims[0] is not None and dims[0] != wanted:
            raise ModelToolError(f"input {name!r} has a fixed batch size of {dims[0]} and "
                                 f"--batch asks for {wanted}", path=source.label,
                                 hint="leave --batch out: the model's own batch is kept")


def _resolve_batch(batch: str | int | None) -> int | None:
    if batch is None or (isinstance(batch, str) and batch.strip().lower() == "dynamic"):
        return None
    try:
        value = int(batch)
    except (TypeError, ValueError):
        value = 0
    if value <= 0:
        raise ModelToolError(f"--batch must be 'dynamic' or a positive size, not {batch!r}")
    return value


def _dims_text(dims: Sequence[int | None]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in dims) + \
        ("," if len(dims) == 1 else "") + ")"


def max_opset() -> int:
    """The highest opset this tf2onnx (and the installed onnx) support."""
    tf2onnx = _optional.require("tf2onnx", "ONNX export")
    onnx = _optional.require("onnx", "ONNX export")
    return min(max(tf2onnx.constants.OPSET_TO_IR_VERSION), onnx.defs.onnx_opset_version())


def _resolve_opset(opset: int | None) -> int:
    highest = max_opset()
    if opset is None:
        return highest
    if not 7 <= int(opset) <= highest:
        raise ModelToolError(f"opset {opset} is outside what tf2onnx supports (7 to {highest})")
    return int(opset)


# -- tracing and conversion ----------------------------------------------------------------

def _trace(source: _Source, shapes: list[Dims]) -> Any:
    """A tf.function over the source with an explicit input signature (already traced).

    The model's weights are arguments too, after the inputs: each layer reads them through a
    ``keras.StatelessScope``. The traced graph then holds no variables, so freezing is a
    placeholder-to-constant swap rather than ``convert_variables_to_constants_v2`` (which costs
    seconds per hundred variables), and a large weight can stay out of the TensorFlow graph.
    """
    tf = _optional.require("tensorflow", "ONNX export")
    # Placeholder names are ours (Keras names may hold characters TF refuses); the ONNX inputs
    # are renamed to the Keras names after conversion.
    specs = [tf.TensorSpec(shape, tf.as_dtype(dtype), name=_INTERNAL_INPUT.format(index))
             for index, (shape, dtype) in enumerate(zip(shapes, source.input_dtypes))]
    specs += [tf.TensorSpec(variable.shape, tf.as_dtype(_dtype_name(variable)),
                            name=_WEIGHT.format(index))
              for index, variable in enumerate(source.variables)]
    count = len(source.input_names)

    def forward(*tensors: Any) -> list[Any]:
        if not source.variables:
            return source.call(list(tensors))
        keras = _optional.require("keras", "ONNX export")
        with keras.StatelessScope(state_mapping=list(zip(source.variables, tensors[count:]))):
            return source.call(list(tensors[:count]))

    # autograph off: Keras 3 layers trace under JAX too, so they need no autograph.
    function = tf.function(forward, input_signature=specs, autograph=False)
    try:
        concrete = function.get_concrete_function()
    except Exception as err:  # noqa: BLE001 - tracing raises anything a layer raises
        raise KerasError(f"tracing the model failed: {_keras_problem(err)}",
                         path=source.label) from err
    if len(concrete.outputs) != len(source.output_names):
        raise UnsupportedError(
            f"the model returned {len(concrete.outputs)} tensors where it declares "
            f"{len(source.output_names)} outputs", path=source.label)
    return function


def _keras_problem(err: BaseException) -> str:
    """Keras wraps a layer's error as 'Exception encountered when calling X.call()' with the
    cause on a later line: the layer class and the cause, on one line."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    head = re.match(r"Exception encountered when calling (\S+?)\.call\(\)", lines[0])
    if head is None:
        return lines[0][:240]
    cause = next((line for line in lines[1:] if not line.startswith(
        ("Arguments received", "•", "Exception encountered"))), "")
    return f"in {head.group(1)}: {cause}"[:240]


def _dtype_name(variable: Any) -> str:
    return str(getattr(variable.dtype, "name", variable.dtype))


def _lifted(source: _Source) -> set[int]:
    """Which weights stay graph inputs through tf2onnx and become initializers afterwards.

    tf2onnx rewrites every Const node's proto after each of its optimizers (a dozen per pass,
    two passes or more) and by default deep-copies the whole graph before each, and protobuf
    keeps the replaced bytes: a model's weights were copied some 25 to 50 times, which is what
    made VGG16 need 14 to 24 GB and ResNet50 6.7 GB. Weights kept out of the TF graph cost
    nothing there and are written once, folded with the layout ops tf2onnx puts on them.
    Only layers whose ops take the weight as a plain input are lifted: tf2onnx turns an RNN
    into an ONNX LSTM/GRU only when its kernels are constants.
    """
    return set(source.liftable)


@contextlib.contextmanager
def _optimizer_guard(guarded: bool) -> Iterator[None]:
    """Whether tf2onnx deep-copies its graph before each optimizer (to skip one that raises).

    The copies are most of tf2onnx's time on a small model (37 copies for a GRU). Unguarded
    runs first; on an error the whole conversion runs again guarded. tf2onnx reads the choice
    from ``TF2ONNX_CATCH_ERRORS``; 1.17 compares the variable's name rather than its value, so
    any value means "off" and only its absence means "on" (the default): "FALSE" for off and
    no variable for on hold whether or not that gets fixed.
    """
    name = "TF2ONNX_CATCH_ERRORS"
    before = os.environ.get(name)
    if guarded:
        os.environ.pop(name, None)
    else:
        os.environ[name] = "FALSE"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _frozen_graph_def(source: _Source, function: Any, lifted: set[int]) -> Any:
    """The traced graph with every weight (except ``lifted`` ones) and capture as a constant."""
    from tensorflow.python.framework import tensor_util
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    # Freezing a function without variables is quick; it still inlines nested functions (an
    # RNN's loop) the way tf2onnx expects, turns captured tensors into constants (without this
    # EfficientNet's Normalization mean and variance became extra graph inputs), and freezes
    # any variable the model does not list among its weights.
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(),
                                               lower_control_flow=False,
                                               aggressive_inlining=True)
    graph_def = frozen.graph.as_graph_def(add_shapes=True)
    del frozen
    constants: dict[str, Callable[[], Any]] = {}
    for index, variable in enumerate(source.variables):
        if index not in lifted:
            constants[_WEIGHT.format(index)] = functools.partial(_numpy_of, variable)
    for node in graph_def.node:
        load = constants.get(node.name)
        if load is None or node.op != "Placeholder":
            continue
        value = np.asarray(load())
        node.op = "Const"
        for attribute in ("shape", "_user_specified_name"):
            if attribute in node.attr:
                del node.attr[attribute]
        node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(value))
        del value
    _inline_xla_calls(graph_def)
    return graph_def


def _convert(source: _Source, function: Any, shapes: list[Dims], opset: int
             ) -> tuple[Any, Pending]:
    tf2onnx = _optional.require("tf2onnx", "ONNX export")
    lifted = _lifted(source)
    kept_bytes = source.weight_bytes - sum(
        _size(source.variables[i]) * np.dtype(_dtype_name(source.variables[i])).itemsize
        for i in lifted)
    if kept_bytes >= _PROTOBUF_LIMIT:
        raise UnsupportedError(
            f"the model has {source.weight_bytes / 2**30:.1f} GiB of weights, over the 2 GiB "
            "limit of a TensorFlow graph and an ONNX protobuf", path=source.label,
            hint="models this large are not supported yet")
    concrete = function.get_concrete_function()
    count = len(source.input_names)
    input_tensors = [t.name for t in concrete.inputs[:count]]
    weight_tensors = [concrete.inputs[count + index].name for index in sorted(lifted)]
    output_tensors = [t.name for t in concrete.outputs]
    try:
        graph_def = _frozen_graph_def(source, function, lifted)
    except Exception as err:  # noqa: BLE001 - TensorFlow raises many types here
        raise UnsupportedError(f"freezing the traced model failed: {_first_line(err)}",
                               path=source.label) from err
    rename = dict(zip(input_tensors, source.input_names))
    rename.update(zip(output_tensors, source.output_names))
    rename.update({name: _WEIGHT.format(index)
                   for name, index in zip(weight_tensors, sorted(lifted))})
    errors = _LogCollector()
    from .onnx_lookups import ML_OPSET, lookup_handlers

    handlers = {**_custom_op_handlers(), **lookup_handlers(function)}
    extra_opset = [tf2onnx.utils.make_opsetid("ai.onnx.ml", ML_OPSET)] \
        if len(handlers) > len(_custom_op_handlers()) else None

    def convert(graph: Any, guarded: bool) -> Any:
        with errors.attached("tf2onnx"), _optimizer_guard(guarded):
            return tf2onnx.convert.from_graph_def(
                graph, name=source.name, input_names=input_tensors + weight_tensors,
                output_names=output_tensors, opset=opset, tensors_to_rename=rename,
                custom_op_handlers=handlers, extra_opset=extra_opset)[0]

    try:
        try:
            model_proto = convert(graph_def, guarded=False)
        except Exception:  # noqa: BLE001 - an optimizer failed: again, skipping failed ones
            errors.messages.clear()
            model_proto = convert(graph_def, guarded=True)
    except Exception as err:  # noqa: BLE001 - tf2onnx raises anything
        raise UnsupportedError(f"tf2onnx cannot convert this model: {_first_line(err)}",
                               path=source.label) from err
    del graph_def
    _reject_unconverted(model_proto, source, errors.messages)
    pending = _attach_weights(model_proto, {_WEIGHT.format(i): source.variables[i]
                                            for i in lifted}) if lifted else []
    _check_interface(model_proto, source)
    _declare_output_shapes(model_proto, source)
    _name_dims(model_proto, source, shapes)
    modeltool_version = _package_version()
    model_proto.producer_name = "modeltool"
    model_proto.producer_version = modeltool_version
    model_proto.doc_string = (f"converted from {source.label} by modeltool {modeltool_version} "
                              f"with tf2onnx {tf2onnx.__version__}")
    model_proto.graph.name = source.name
    return model_proto, pending


#: Ops computed ahead of time when every input is a weight or a constant (tf2onnx transposes a
#: Conv kernel that is a graph input at run time instead of in numpy; BatchNormalization's
#: arithmetic on its parameters would run at every call).
_FOLDABLE = frozenset({"Transpose", "Reshape", "Cast", "Identity", "Squeeze", "Unsqueeze",
                       "Add", "Sub", "Mul", "Div", "Sqrt", "Reciprocal", "Neg"})
_ELEMENTWISE = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
                "Sqrt": np.sqrt, "Reciprocal": np.reciprocal, "Neg": np.negative}


#: An initializer written when the file is (name, function computing its array).
Pending = list[tuple[str, Callable[[], Any]]]


def _attach_weights(model_proto: Any, weights: dict[str, Any]) -> Pending:
    """Plan the lifted weight inputs as initializers, folding the layout ops tf2onnx put on
    them (a Conv kernel's Transpose, BatchNormalization's arithmetic).

    Nothing is read here: each returned initializer is computed from its variable when the
    file is written, one tensor at a time. The weight inputs leave the graph.
    """
    from onnx import helper, numpy_helper

    graph = model_proto.graph
    uses: Counter[str] = Counter()
    for node in _all_nodes(graph):
        uses.update(name for name in node.input if name)
    uses.update(output.name for output in graph.output)
    constants = {init.name: init for init in graph.initializer}
    outputs = {output.name for output in graph.output}
    plans: dict[str, Callable[[], Any]] = {
        name: functools.partial(_numpy_of, variable) for name, variable in weights.items()}
    folded_constants: set[str] = set()
    kept = []
    for node in graph.node:
        inputs = [name for name in node.input if name]
        if (node.op_type in _FOLDABLE and any(name in plans for name in inputs)
                and all(name in plans or name in constants for name in inputs)
                and not any(name in outputs for name in node.output)):
            args: list[Callable[[], Any]] = []
            for name in node.input:
                if name in plans:
                    args.append(plans[name])
                elif name in constants:
                    array = numpy_helper.to_array(constants[name])  # small: a shape, a perm
                    args.append(functools.partial(_identity, array))
                    folded_constants.add(name)
                else:
                    args.append(functools.partial(_identity, None))
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            plans[node.output[0]] = functools.partial(_fold_planned, node.op_type, attrs,
                                                      args)
            for name in inputs:
                uses[name] -= 1
            continue
        kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    for value_info in [v for v in graph.input if v.name in weights]:
        graph.input.remove(value_info)
    for name in folded_constants:
        if uses[name] <= 0:
            graph.initializer.remove(constants[name])
    return [(name, plan) for name, plan in plans.items() if uses[name] > 0]


def _numpy_of(variable: Any) -> Any:
    return np.asarray(variable.numpy())


def _identity(value: Any) -> Any:
    return value


def _fold_planned(op: str, attrs: dict[str, Any], args: list[Callable[[], Any]]) -> Any:
    return _fold(op, attrs, [arg() for arg in args])


def _fold(op: str, attrs: dict[str, Any], args: list[Any]) -> Any:
    from onnx import helper

    data = args[0]
    if op in _ELEMENTWISE:
        result = _ELEMENTWISE[op](*args)
        return np.asarray(result, dtype=np.result_type(*args))
    if op == "Transpose":
        return np.transpose(data, attrs.get("perm"))
    if op == "Reshape":
        shape = [int(d) for d in args[1]]
        shape = [data.shape[i] if d == 0 and not attrs.get("allowzero") else d
                 for i, d in enumerate(shape)]
        return np.reshape(data, shape)
    if op == "Cast":
        return data.astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))
    if op == "Identity":
        return data
    axes = attrs.get("axes")
    if axes is None and len(args) > 1 and args[1] is not None:
        axes = [int(a) for a in args[1]]
    if op == "Squeeze":
        return np.squeeze(data, axis=tuple(axes)) if axes else np.squeeze(data)
    if axes is None:  # Unsqueeze always names its axes
        raise ValueError("Unsqueeze without axes")
    rank = data.ndim + len(axes)
    result = data
    for axis in sorted(a % rank for a in axes):
        result = np.expand_dims(result, axis)
    return result


def _inline_xla_calls(graph_def: Any) -> None:
    """Let grappler inline functions Keras wrapped in ``tf.function(jit_compile=True)``.

    Keras' TF backend compiles grouped convolutions (ConvNeXt) and channels-first 3D ones with
    XLA on CPU. Such a function is marked ``_XlaMustCompile`` and ``_noinline``, grappler leaves
    the call alone, and tf2onnx cannot convert a call; with the marks dropped the op inside is
    inlined and converts like any other.
    """
    for node in _graph_def_nodes(graph_def):
        if "_XlaMustCompile" in node.attr:
            del node.attr["_XlaMustCompile"]
    for function in graph_def.library.function:
        if "_XlaMustCompile" in function.attr:
            del function.attr["_XlaMustCompile"]
            if "_noinline" in function.attr:
                del function.attr["_noinline"]


def _graph_def_nodes(graph_def: Any) -> Iterator[Any]:
    yield from graph_def.node
    for function in graph_def.library.function:
        yield from function.node_def


def _custom_op_handlers() -> dict[str, Any]:
    """TF ops tf2onnx 1.17 leaves unconverted, rewritten into standard ONNX ops."""
    return {"Erfc": (_erfc_handler, []), "Bucketize": (_bucketize_handler, [])}


def _bucketize_handler(ctx: Any, node: Any, name: str, args: Any) -> None:
    # Keras' Discretization: the bucket of x is how many boundaries are <= x, computed as
    # ReduceSum(Cast(x[..., None] >= boundaries)) over the last axis.
    from onnx import TensorProto
    from tf2onnx import utils
    from tf2onnx.graph_builder import GraphBuilder

    boundaries = [float(b) for b in node.get_attr_value("boundaries") or []]
    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
    edges = ctx.make_const(utils.make_name(f"{node.name}_boundaries"),
                           np.array(boundaries, dtype=dtype))
    builder = GraphBuilder(ctx)
    expanded = builder.make_unsqueeze({"data": node.input[0], "axes": [-1]})
    below = ctx.make_node("Less", [expanded, edges.output[0]], op_name_scope=node.name)
    above = ctx.make_node("Not", [below.output[0]], op_name_scope=node.name)
    counts = ctx.make_node("Cast", [above.output[0]], attr={"to": TensorProto.INT32},
                           op_name_scope=node.name)
    total = builder.make_reduce_sum({"data": counts.output[0], "axes": [-1], "keepdims": 0,
                                     "noop_with_empty_axes": 1})
    node.type = "Identity"
    ctx.replace_inputs(node, [total])


def _erfc_handler(ctx: Any, node: Any, name: str, args: Any) -> None:
    # Keras' exact GELU computes 0.5 * x * erfc(-x / sqrt(2)); ONNX has Erf only:
    # erfc(x) = 1 - erf(x).
    from tf2onnx import utils

    dtype = ctx.get_dtype(node.input[0])
    one = ctx.make_const(utils.make_name(f"{node.name}_one"),
                         np.array(1, dtype=utils.map_onnx_to_numpy_type(dtype)))
    erf = ctx.make_node("Erf", [node.input[0]], op_name_scope=node.name)
    node.type = "Sub"
    ctx.replace_inputs(node, [one.output[0], erf.output[0]])


def _all_nodes(graph: Any) -> Iterator[Any]:
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.g.node:
                yield from _all_nodes(attribute.g)
            for sub in attribute.graphs:
                yield from _all_nodes(sub)


def _reject_unconverted(model_proto: Any, source: _Source, logged: list[str]) -> None:
    """tf2onnx keeps a TF op it cannot convert in the graph: name it, and the layer it is in."""
    onnx = _optional.require("onnx", "ONNX export")
    bad: dict[str, str] = {}
    for node in _all_nodes(model_proto.graph):
        domain = node.domain or ""
        if domain in ("", "ai.onnx", "ai.onnx.ml") and not onnx.defs.has(node.op_type, domain):
            bad.setdefault(node.op_type, node.name)
    if not bad:
        return
    op, node_name = next(iter(bad.items()))
    others = f" (and {', '.join(sorted(set(bad) - {op}))})" if len(bad) > 1 else ""
    said = logged[0].split(" 'OP=")[0].split("\\n")[0].split(" (fct=")[0] if logged else ""
    detail = f"; tf2onnx said: {said}" if said else ""
    raise UnsupportedError(
        f"tf2onnx has no ONNX conversion for the TensorFlow op {op}{others}, used by "
        f"{_layer_of(node_name)}{detail}", path=source.label,
        hint="try another --opset, or replace that layer")


def _layer_of(node_name: str) -> str:
    """A readable 'layer' from a TF node name such as ``model/block1_conv/Conv2D``."""
    parts = [p for p in node_name.split("/") if p and not p.startswith(
        ("StatefulPartitionedCall", "PartitionedCall"))]
    return f"node {'/'.join(parts[:-1]) or node_name!r}" if len(parts) > 1 else \
        f"node {node_name!r}"


def _check_interface(model_proto: Any, source: _Source) -> None:
    """The ONNX graph must have exactly the Keras inputs and outputs (an internal check)."""
    initializers = {init.name for init in model_proto.graph.initializer}
    inputs = [i.name for i in model_proto.graph.input if i.name not in initializers]
    outputs = [o.name for o in model_proto.graph.output]
    if inputs != source.input_names:
        extra = [name for name in inputs if name not in source.input_names]
        raise RuntimeError(f"converted graph inputs {inputs} are not the model inputs "
                           f"{source.input_names} (extra: {extra})")
    if outputs != source.output_names:
        raise RuntimeError(f"converted graph outputs {outputs} are not the model outputs "
                           f"{source.output_names}")


def _declare_output_shapes(model_proto: Any, source: _Source) -> None:
    """Give an output tf2onnx left without a rank (``tf.squeeze`` without axes) the shape the
    source knows, so onnx.checker's shape inference accepts the graph."""
    for value, dims in zip(model_proto.graph.output, source.output_shapes):
        tensor_type = value.type.tensor_type
        if dims is None or (tensor_type.HasField("shape") and (
                len(tensor_type.shape.dim) or not dims)):
            continue  # a rank-0 shape where the source knows a rank: a tf2onnx guess (where)
        shape = tensor_type.shape
        shape.SetInParent()
        del shape.dim[:]
        for size in dims:
            dim = shape.dim.add()
            if size is not None:
                dim.dim_value = size


def _name_dims(model_proto: Any, source: _Source, shapes: list[Dims]) -> None:
    """``batch`` for the batch dimension, ``<input>_dim<i>`` for other open ones."""
    for value, dims in zip(model_proto.graph.input, shapes):
        proto_dims = value.type.tensor_type.shape.dim
        for index, (dim, size) in enumerate(zip(proto_dims, dims)):
            if size is None:
                dim.Clear()
                dim.dim_param = "batch" if index == 0 else f"{value.name}_dim{index}"
            else:
                dim.Clear()
                dim.dim_value = size
    dynamic_batch = any(dims and dims[0] is None for dims in shapes)
    for value, batched in zip(model_proto.graph.output, source.output_batched):
        if not value.type.tensor_type.HasField("shape"):
            continue
        for index, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.HasField("dim_value"):
                continue
            dim.Clear()
            if index == 0 and batched and dynamic_batch:
                dim.dim_param = "batch"
            else:
                dim.dim_param = f"{value.name}_dim{index}"


def _package_version() -> str:
    from .. import __version__

    return __version__


# -- writing and checking ------------------------------------------------------------------

def _save(model_proto: Any, path: Path, pending: Pending | None = None) -> None:
    """Write the model, streaming ``pending`` initializers in one tensor at a time.

    The graph's own part is serialized as usual; each pending initializer is computed,
    encoded as a TensorProto straight from its array's buffer into an anonymous scratch file,
    and released. The file is then ModelProto-without-graph + the graph field, whose payload is
    the serialized graph followed by the initializer records (protobuf concatenates repeated
    fields), so the whole model is never held in memory twice.
    """
    onnx = _optional.require("onnx", "ONNX export")
    if not pending:
        if model_proto.ByteSize() >= _PROTOBUF_LIMIT:
            raise UnsupportedError("the ONNX model is over the 2 GiB protobuf limit",
                                   path=path, hint="models this large are not supported yet")
        onnx.save_model(model_proto, os.fspath(path))
        return
    graph_bytes = model_proto.graph.SerializeToString()
    model_proto.ClearField("graph")
    head = model_proto.SerializeToString()
    with tempfile.TemporaryFile(dir=path.parent) as scratch:
        size = len(graph_bytes)
        for name, compute in pending or ():
            size += _write_initializer(scratch, name, compute())
            if len(head) + size >= _PROTOBUF_LIMIT:
                raise UnsupportedError("the ONNX model is over the 2 GiB protobuf limit",
                                       path=path, hint="models this large are not supported yet")
        scratch.seek(0)
        with open(path, "wb") as handle:
            handle.write(head)
            handle.write(_key(_MODEL_GRAPH) + _varint(size))
            handle.write(graph_bytes)
            shutil.copyfileobj(scratch, handle, 16 << 20)


_MODEL_GRAPH = 7  # ModelProto.graph
_GRAPH_INITIALIZER = 5  # GraphProto.initializer
_TENSOR_RAW_DATA = 9  # TensorProto.raw_data


def _key(field_number: int) -> bytes:
    return _varint(field_number << 3 | 2)  # length-delimited


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _write_initializer(handle: Any, name: str, array: Any) -> int:
    """One GraphProto.initializer record, the data written from the array's own buffer."""
    from onnx import TensorProto, helper

    array = np.ascontiguousarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    header = TensorProto(name=name, dims=list(array.shape),
                         data_type=helper.np_dtype_to_tensor_dtype(array.dtype))
    head = header.SerializeToString()
    data = memoryview(array).cast("B")
    body = len(head) + len(_key(_TENSOR_RAW_DATA)) + len(_varint(data.nbytes)) + data.nbytes
    prefix = _key(_GRAPH_INITIALIZER) + _varint(body)
    handle.write(prefix)
    handle.write(head)
    handle.write(_key(_TENSOR_RAW_DATA) + _varint(data.nbytes))
    handle.write(data)
    return len(prefix) + body


def _optimize_file(path: Path) -> str:
    """Rewrite ``path`` with onnxruntime's basic optimizations (standard ONNX ops only)."""
    ort = _optional.require("onnxruntime", "ONNX optimization")
    onnx = _optional.require("onnx", "ONNX optimization")
    before = sum(1 for _ in _all_nodes(onnx.load_model(os.fspath(path)).graph))
    optimized = path.with_name(path.name + ".opt")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = os.fspath(optimized)
    try:
        ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
        os.replace(optimized, path)
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types
        raise VerificationError(f"onnxruntime cannot optimize the converted model: "
                                f"{_first_line(err)}") from err
    finally:
        with contextlib.suppress(OSError):
            optimized.unlink()
    after = sum(1 for _ in _all_nodes(onnx.load_model(os.fspath(path)).graph))
    return f"optimized with onnxruntime's basic graph optimizations: {before} -> {after} nodes"


def _check_file(path: Path, source: _Source) -> VerificationError | None:
    """onnx.checker with the full check (shape inference too); the error, or None if valid."""
    onnx = _optional.require("onnx", "ONNX export")
    try:
        onnx.checker.check_model(os.fspath(path), full_check=True)
    except Exception as err:  # noqa: BLE001 - checker and shape inference errors
        error = VerificationError(f"the converted ONNX model is invalid: {_first_line(err)}",
                                  path=source.label,
                                  hint="no ONNX file was written; --keep-failed keeps it")
        error.report = None  # type: ignore[attr-defined]
        error.__cause__ = err
        return error
    return None


def _describe_file(path: Path, report: ConversionReport) -> None:
    onnx = _optional.require("onnx", "ONNX export")
    model_proto = onnx.load_model(os.fspath(path), load_external_data=False)
    report.op_histogram = op_histogram(model_proto.graph)
    report.node_count = sum(report.op_histogram.values())
    report.opset = next((o.version for o in model_proto.opset_import
                         if o.domain in ("", "ai.onnx")), report.opset)
    report.inputs = [tensor_info(v) for v in model_proto.graph.input]
    report.outputs = [tensor_info(v) for v in model_proto.graph.output]
    report.file_size = path.stat().st_size


# -- verification --------------------------------------------------------------------------

def _batches(shapes: list[Dims]) -> tuple[int, ...]:
    """Batch sizes to try, in order: a fixed batch alone; else 1 and 3, then 2 and 4 for a
    model that refuses those (verification stops after two that run)."""
    fixed = {dims[0] for dims in shapes if dims and dims[0] is not None}
    if shapes and all(dims and dims[0] is not None for dims in shapes):
        return tuple(sorted(fixed))[:1]
    return (*VERIFY_BATCHES, 2, 4)


def _sample_feeds(source: _Source, shapes: list[Dims], batch: int,
                  ranges: Mapping[str, tuple[float, float]] | None = None) -> list[np.ndarray]:
    """Seeded inputs: floats in [0, 1), integers inside the smallest Embedding vocabulary, or
    the ``--input-range`` of an input."""
    from .onnx_inputs import random_feeds

    return random_feeds(shapes, source.input_dtypes, source.input_names, batch, seed=SEED,
                        int_high=source.int_high, ranges=ranges)


@dataclass
class ReferenceRun:
    """One batch of verification inputs and what the reference computed for them."""

    batch: int
    feeds: list[np.ndarray]
    outputs: list[np.ndarray]


#: A reference: the verification inputs in, the source's outputs out (Keras on the built
#: model by default; another can be plugged in, such as tf_keras on the original file).
Reference = Callable[[list[np.ndarray]], list[np.ndarray]]


def _reference_of(source: _Source, function: Any) -> Reference:
    tf = _optional.require("tensorflow", "verifying the ONNX model")
    with _quiet_tf():
        plain = _plain_function(source, function)

    def run(feeds: list[np.ndarray]) -> list[np.ndarray]:
        with _quiet_tf():
            return [np.asarray(t) for t in plain(*[tf.constant(f) for f in feeds])]

    run.timed = plain  # type: ignore[attr-defined]
    return run


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
                        and "defined at" not in line), _first_line(err))
    where = ""
    if nodes:
        parts = [p for p in nodes[-1].split("/") if p and not p.startswith(
            ("StatefulPartitionedCall", "PartitionedCall", "functional", "sequential"))]
        op = parts[-1] if parts else nodes[-1]
        layer = parts[-2] if len(parts) > 1 else None
        where = f" in op {op}" + (f" of layer {layer!r}" if layer else "")
    return f"{type(err).__name__}{where}: {problem[:200]}"


def _verify_runs(path: Path, source: _Source, reference: Reference, shapes: list[Dims],
                 report: ConversionReport, stage: Callable[[str], None],
                 samples: Mapping[str, np.ndarray] | None,
                 ranges: Mapping[str, tuple[float, float]] | None
                 ) -> tuple[OutputCheck | None, list[ReferenceRun]]:
    """Compare onnxruntime with the reference at the batch sizes the model accepts."""
    ort = _optional.require("onnxruntime", "verifying the ONNX model")
    try:
        session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types
        raise VerificationError(f"onnxruntime cannot load the converted model: "
                                f"{_first_line(err)}", path=source.label) from err
    failure = None
    runs: list[ReferenceRun] = []
    refused: list[str] = []
    if samples is not None:
        from .onnx_inputs import sample_feeds

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
                                    f"{batch}: {_first_line(err)}", path=source.label) from err
        runs.append(ReferenceRun(batch, feeds, want))
        for name, onnx_value, source_value in zip(source.output_names, got, want):
            check = _compare(name, batch, np.asarray(onnx_value), source_value, report.atol,
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
        tf = _optional.require("tensorflow", "timing")
        first = runs[0]
        from .onnx_variants import interleaved_median_ms, timing_session

        named = dict(zip(source.input_names, first.feeds))
        report.latency_batch = first.batch
        session = timing_session(path)
        runners: dict[str, Callable[[], Any]] = {"onnx": lambda: session.run(None, named)}
        timed = getattr(reference, "timed", None)
        if timed is not None:
            tensors = [tf.constant(feed) for feed in first.feeds]
            runners["keras"] = lambda: timed(*tensors)
        with _quiet_tf():
            medians = interleaved_median_ms(runners, rounds=_TIMING_RUNS,
                                            budget_s=2 * _TIMING_BUDGET_S)
        report.onnx_latency_ms = medians["onnx"]
        report.keras_latency_ms = medians.get("keras")
    return failure, runs


def _compare(name: str, batch: int, got: np.ndarray, want: np.ndarray, atol: float,
             rtol: float) -> OutputCheck:
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


def _verify_source(path: Path, source: _Source, runs: list[ReferenceRun],
                   report: ConversionReport,
                   source_path: Path | None, weights: PathLike | None,
                   enabled: bool) -> OutputCheck | None:
    """onnxruntime against the library that wrote the source file (``keras_bridge.reference``),
    on the inputs the Keras 3 check ran; its rows go to ``report.source_checks``."""
    from ..keras_bridge.reference import reference_for_file

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
        with _quiet_tf():
            want = reference.predict(feeds)
        for name, onnx_value, source_value in zip(source.output_names, got, want):
            check = _compare(name, batch, np.asarray(onnx_value), np.asarray(source_value),
                             report.atol, report.rtol)
            report.source_checks.append(check)
            if not check.ok and failure is None:
                failure = check
    return failure


def _plain_function(source: _Source, function: Any) -> Any:
    """The reference: the model under tf.function as Keras' ``predict`` runs it, weights read
    from its variables (a trace of its own, apart from the converted one, which takes the
    weights as arguments). Used for the comparison and for the latency."""
    if not source.variables:
        return function
    tf = _optional.require("tensorflow", "timing")
    count = len(source.input_names)
    return tf.function(lambda *tensors: source.call(list(tensors)),
                       input_signature=function.input_signature[:count], autograph=False)


def _median_ms(run: Callable[[], Any]) -> float:
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


def _verification_error(source: _Source, failure: OutputCheck, report: ConversionReport, *,
                        kept: bool) -> VerificationError:
    if failure.problem:
        problem = f"output {failure.output!r} {failure.problem} at batch {failure.batch}"
    else:
        problem = (f"output {failure.output!r} differs from {source.reference} at batch "
                   f"{failure.batch}: max abs diff {failure.max_abs:.3g} (atol {report.atol:g}), "
                   f"max rel diff {failure.max_rel:.3g} (rtol {report.rtol:g})")
    hint = (f"the ONNX file was kept at {report.output}" if kept else
            "no ONNX file was written; --keep-failed keeps it, --atol/--rtol loosen the check")
    error = VerificationError(problem, path=source.label, hint=hint)
    error.report = report  # type: ignore[attr-defined]
    return error


# -- quiet TensorFlow and tf2onnx ----------------------------------------------------------

class _LogCollector(logging.Handler):
    """Keeps tf2onnx's error messages (for the error we raise) instead of printing them."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.messages.append(" ".join(record.getMessage().split())[:300])

    @contextlib.contextmanager
    def attached(self, name: str) -> Iterator[None]:
        logger = logging.getLogger(name)
        logger.addHandler(self)
        try:
            yield
        finally:
            logger.removeHandler(self)


@contextlib.contextmanager
def _quiet_tf() -> Iterator[None]:
    """TensorFlow, absl and tf2onnx log to stderr freely: silence them (and their warnings)."""
    loggers = {name: logging.getLogger(name) for name in ("tensorflow", "tf2onnx", "absl")}
    saved = {name: (lg.level, lg.propagate, list(lg.handlers)) for name, lg in loggers.items()}
    for logger in loggers.values():
        logger.setLevel(logging.ERROR)
        logger.propagate = False
        for handler in list(logger.handlers):
            if not isinstance(handler, _LogCollector):
                logger.removeHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, logger in loggers.items():
            level, propagate, handlers = saved[name]
            logger.setLevel(level)
            logger.propagate = propagate
            for handler in handlers:
                if handler not in logger.handlers:
                    logger.addHandler(handler)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:240]
