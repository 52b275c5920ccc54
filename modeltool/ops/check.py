"""``check``: an integrity report of one model file.

Every layer the architecture gives weights has them, in the amount its config implies; no
weights belong to layers the architecture lacks; no tensor holds NaN or Inf; the graph parses;
every member of a ``.keras`` archive matches its CRC-32.
Tensors are read one at a time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..artifact import ModelArtifact, WeightEntry
from ..errors import IntegrityError, ModelToolError
from ..kinds import CONFIG_KINDS, Kind

PathLike = str | os.PathLike[str]


@dataclass
class Problem:
    """One finding: what kind of problem, where, and the detail."""

    kind: str      # graph | config | mismatch | missing | orphan | nan | inf | read | crc
    where: str
    detail: str


@dataclass
class CheckReport:
    """What ``modeltool check`` found."""

    path: str
    kind: str
    keras_version: str | None
    has_architecture: bool
    tensors: int = 0
    params: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Risky content that is not damage (the verdict stays OK): code in the file, layers
    #: Keras 3 cannot build (kind: lambda | tf-op | unknown-class).
    findings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(path: PathLike, *, weights: PathLike | None = None) -> CheckReport:
    """Check a model file's integrity (the file itself must be readable); with ``weights``,
    an architecture file and the weights file it goes with, checked as one model.

    Returns:
        A CheckReport; ``report.ok`` is False when something is wrong.

    Raises:
        ModelToolError: the file cannot be read at all.

    Example:
        >>> report = modeltool.check("model.h5")  # doctest: +SKIP
        >>> [p.detail for p in report.problems]
    """
    from ..formats import open_artifact
    from ..formats.onnx_file import sniff_kind as sniff_onnx

    if weights is None and sniff_onnx(path):
        from .onnx_inspect import onnx_check

        return onnx_check(path)
    with open_artifact(path) as artifact:
        if weights is not None:
            from .convert import attach_weights

            artifact = attach_weights(artifact, weights)
        report = CheckReport(os.fspath(path), artifact.kind, artifact.keras_version,
                             artifact.has_architecture, notes=list(artifact.notes))
        _risky_content(artifact, report)
        if artifact.config_error:
            report.problems.append(Problem("config", "architecture",
                                           str(artifact.config_error)))
        if artifact.config is not None:
            _check_against_architecture(artifact, report)
        _check_values(artifact, report)
        if artifact.kind == Kind.KERAS:
            # The weights member's CRC-32 was computed while its tensors were read.
            _check_archive(path, report, skip=("model.weights.h5",)
                           if artifact.weights.checksummed else ())
        return report


def _risky_content(artifact: ModelArtifact, report: CheckReport) -> None:
    """Findings about what the architecture holds: Python code (Lambda), TF-op layers and
    classes Keras 3 lacks. Nothing is run; the file is not damaged by holding them."""
    from ..formats.dialects import foreign_layers
    from ..formats.dialects.tf_ops import TF_OP_CLASSES

    for where, class_name, reason in foreign_layers(artifact.config):
        if class_name == "Lambda":
            report.findings.append(Problem(
                "lambda", where, "a Lambda layer whose function is Python code (bytecode) in "
                "the file: modeltool never runs it; Keras does only with safe_mode=False"))
        elif class_name in TF_OP_CLASSES:
            report.findings.append(Problem(
                "tf-op", where, f"a {class_name} (a TensorFlow op recorded by tf.keras): "
                "no Keras 3 equivalent is known for its op"))
        else:
            report.findings.append(Problem("unknown-class", where, reason))


def _check_archive(path: PathLike, report: CheckReport, skip: tuple[str, ...]) -> None:
    from ..formats.keras_archive import crc_failures

    for member, problem in crc_failures(path, skip):
        report.problems.append(Problem("crc", member, problem))


def _check_against_architecture(artifact: ModelArtifact, report: CheckReport) -> None:
    from .summary import summarize

    try:
        summary = summarize(artifact, engine="fast", expand_nested=True)
    except ModelToolError as err:
        report.problems.append(Problem("graph", "architecture", err.problem))
        return
    from ..formats.weight_layout import holding_later_shared

    shared_later = holding_later_shared(artifact.config) if artifact.config else set()
    for where, found, expected in summary.weight_mismatches:
        if where in shared_later and found < expected:
            continue  # a shared nested model's weights are stored at its first occurrence
        report.problems.append(Problem(
            "mismatch", where, f"the file holds {found:,} values, the config implies "
            f"{expected:,}"))
    if not artifact.weights or artifact.kind in CONFIG_KINDS:
        return
    top_level = {row.path: row for row in summary.rows if row.depth == 0}
    for name, row in top_level.items():
        if row.params and not artifact.weights.layer(name) and not row.shared:
            report.problems.append(Problem("missing", name, f"the config implies "
                                                            f"{row.params:,} values, the file "
                                                            "has none"))
    for name in artifact.weights.layers:
        if name not in top_level and artifact.weights.layer(name):
            report.problems.append(Problem("orphan", name,
                                           "weights for a layer the architecture lacks"))


def _check_values(artifact: ModelArtifact, report: CheckReport) -> None:
    for entry in artifact.weights:
        report.tensors += 1
        report.params += entry.size
        try:
            counts = _non_finite(entry)
        except IntegrityError as err:
            report.problems.append(Problem("crc", _damaged_member(err, entry.key), err.problem))
            continue
        except ModelToolError as err:
            report.problems.append(Problem("read", entry.key, err.problem))
            continue
        report.problems += _count_problems(entry.key, *counts)
    try:
        artifact.weights.verify()
    except IntegrityError as err:
        if not any(p.kind == "crc" for p in report.problems):
            report.problems.append(Problem("crc", _damaged_member(err, "weights"), err.problem))


def _damaged_member(err: IntegrityError, fallback: str) -> str:
    return "model.weights.h5" if "model.weights.h5" in err.problem else fallback


def _non_finite(entry: WeightEntry) -> tuple[int, int]:
    """NaN and infinite values of a tensor, counted in bounded blocks."""
    from .tensor_stats import Moments, entry_blocks, finite_values

    counts = Moments()
    try:
        for block in entry_blocks(entry):
            finite_values(block, counts)
    except ValueError:  # values that are not numbers: nothing to count
        return 0, 0
    return counts.nan, counts.inf


def value_problems(where: str, array: np.ndarray) -> list[Problem]:
    """NaN and infinite values of a float tensor, as problems named ``where``."""
    if array.dtype.kind not in "fc":
        return []
    return _count_problems(where, int(np.isnan(array).sum()), int(np.isinf(array).sum()))


def _count_problems(where: str, nan: int, inf: int) -> list[Problem]:
    found = []
    if nan:
        found.append(Problem("nan", where, f"{nan:,} NaN values"))
    if inf:
        found.append(Problem("inf", where, f"{inf:,} infinite values"))
    return found
