"""What ``to_onnx`` reports: the conversion report, its per-output checks, and the error that
carries the report when the check fails."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import VerificationError
from ...formats.onnx_file import OnnxTensor


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
class ReferenceRun:
    """One batch of verification inputs and what the reference computed for them."""

    batch: int
    feeds: list[np.ndarray]
    outputs: list[np.ndarray]


#: A reference: the verification inputs in, the source's outputs out (Keras on the built
#: model by default; another can be plugged in, such as tf_keras on the original file).
Reference = Callable[[list[np.ndarray]], list[np.ndarray]]


class OnnxVerificationError(VerificationError):
    """The converted model does not compute what the source does, or is invalid (exit 1).

    ``report`` is the ConversionReport with the comparisons made so far (None when onnx.checker
    refused the file before any comparison).
    """

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None,
                 hint: str | None = None, report: ConversionReport | None = None) -> None:
        super().__init__(message, path=path, hint=hint)
        self.report = report


def first_line(err: BaseException) -> str:
    """An error's first line (at most 240 characters), for one-line messages."""
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:240]
