"""``diff``: what differs between two model files, architecture and weights, any kinds.

Layers are matched by name; a layer missing on one side and a new one on the other are a
rename when their weights are identical (or, for layers without weights, when class, config and
connections agree). Tensors are compared one pair at a time, in blocks of bounded size:
identical tensors are told by a hash of their bytes (no float comparison, NaN-safe); the others
get max abs / max rel difference and cosine similarity, accumulated block by block in float64.
Both files are read through the same readers as everything else, so a Keras 2 ``.h5`` and the
``.keras`` converted from it compare as one model (the migration is noted, not listed as
differences).
"""

from __future__ import annotations

import os

from ..artifact import ModelArtifact, WeightEntry
from ..errors import ModelToolError, UnsupportedError
from ..formats import open_artifact
from ..kinds import Kind
from ._diff_arch import Renames, diff_arch
from ._diff_tensors import compare_tensors
from .diff_report import DiffReport, LayerChange, TensorDiff

__all__ = ["DiffReport", "LayerChange", "TensorDiff", "diff"]

PathLike = str | os.PathLike[str]


def diff(a: PathLike, b: PathLike, *, atol: float | None = None, rtol: float | None = None,
         only: str | None = None) -> DiffReport:
    """Compare two model files: architecture (layers added, removed, renamed, config,
    connections, trainable flags) and weights (per tensor), across kinds and Keras generations.

    Args:
        a: the first file (any kind modeltool reads, safetensors and npz included).
        b: the second file.
        atol: absolute tolerance; with ``rtol``, tensors within ``|a-b| <= atol + rtol*|b|``
            everywhere count as the same (default 0: only identical tensors do).
        rtol: relative tolerance (default 0).
        only: ``"arch"`` or ``"weights"`` to compare one side only.

    Returns:
        A DiffReport; ``report.same`` is the verdict.

    Raises:
        ModelToolError: an unreadable input or a bad ``only``.

    Example:
        >>> report = modeltool.diff("epoch10.keras", "epoch11.keras")  # doctest: +SKIP
        >>> report.verdict  # doctest: +SKIP
        'different: same architecture, weights differ (4 of 6 tensors)'
    """
    if only not in (None, "arch", "weights"):
        raise UnsupportedError(f"unknown --only {only!r}", hint="choose arch or weights")
    atol = float(atol or 0.0)
    rtol = float(rtol or 0.0)
    with open_artifact(a) as art_a, open_artifact(b) as art_b:
        report = DiffReport(os.fspath(a), os.fspath(b), art_a.kind, art_b.kind,
                            art_a.keras_version, art_b.keras_version, [], atol, rtol)
        _migration_notes(report, art_a, os.fspath(a))
        _migration_notes(report, art_b, os.fspath(b))
        compare_arch = only in (None, "arch")
        compare_weights = only in (None, "weights")
        if compare_arch and (art_a.config is None or art_b.config is None):
            missing = os.fspath(a) if art_a.config is None else os.fspath(b)
            report.notes.append(f"{missing} holds no architecture: architecture not compared")
            if only == "arch":
                raise UnsupportedError("holds no architecture to compare", path=missing)
            compare_arch = False
        if compare_weights and (not art_a.weights or not art_b.weights):
            missing = os.fspath(a) if not art_a.weights else os.fspath(b)
            if only == "weights":
                raise UnsupportedError("holds no weights to compare", path=missing)
            report.notes.append(f"{missing} holds no weights: weights not compared")
            compare_weights = False
        report.compared = [side for side, on in (("arch", compare_arch),
                                                 ("weights", compare_weights)) if on]
        art_a = _against_architecture(art_a, art_b)
        art_b = _against_architecture(art_b, art_a)
        try:
            renames = Renames(art_a, art_b)
            if compare_arch:
                diff_arch(report, art_a, art_b, renames)
            else:
                renames.from_weights()
            if compare_weights:
                _diff_weights(report, art_a, art_b, renames)
        finally:
            art_a.close()  # closing twice is harmless; these may be re-read artifacts
            art_b.close()
        return report



def _migration_notes(report: DiffReport, artifact: ModelArtifact, path: str) -> None:
    if artifact.dialect is not None and artifact.dialect < 3 and artifact.config is not None:
        version = f" {artifact.keras_version}" if artifact.keras_version else ""
        report.notes.append(f"{path}: a Keras{version} (generation {artifact.dialect}) file, "
                            "compared after migration to Keras 3")
    report.notes += [f"{path}: migrated: {note}" for note in artifact.notes]



def _diff_weights(report: DiffReport, art_a: ModelArtifact, art_b: ModelArtifact,
                  renames: Renames) -> None:
    """Tensors are paired by their full Keras path (layer path and weight name joined, so two
    readers that split a nested path differently still agree); within a top-level layer the
    tensors left unpaired are paired by position when both sides have as many (Keras
    generations name some weights differently)."""
    keyed_b = {e.key: e for e in art_b.weights}
    unpaired_a: dict[str, list[WeightEntry]] = {}
    pairs: list[tuple[WeightEntry, WeightEntry]] = []
    for entry in art_a.weights:
        match = keyed_b.pop(renames.path(entry.key), None)
        if match is None:
            unpaired_a.setdefault(renames.path(entry.layer), []).append(entry)
        else:
            pairs.append((entry, match))
    unpaired_b: dict[str, list[WeightEntry]] = {}
    for entry in keyed_b.values():
        unpaired_b.setdefault(entry.layer, []).append(entry)
    for layer, left in unpaired_a.items():
        right = unpaired_b.get(layer, [])
        if len(left) == len(right):
            pairs += list(zip(left, right))
            unpaired_b.pop(layer)
        else:
            report.tensors += [TensorDiff(e.path, e.name, "removed", e.shape, None, e.dtype,
                                          None) for e in left]
    for ea, eb in pairs:
        report.tensors.append(compare_tensors(eb.path, ea, eb, report.atol, report.rtol))
        report.tensors[-1].name = eb.name
    for entries in unpaired_b.values():
        report.tensors += [TensorDiff(e.path, e.name, "added", None, e.shape, None, e.dtype)
                           for e in entries]



def _against_architecture(weights_only: ModelArtifact, other: ModelArtifact) -> ModelArtifact:
    """A weights-only HDF5 file read against the other file's architecture (real nested names,
    old layouts migrated), as Keras reads it when loading it into that model."""
    import dataclasses

    from ..artifact import WeightStore
    from .convert import attach_weights

    if weights_only.kind not in (Kind.K2_WEIGHTS, Kind.K3_WEIGHTS) or other.config is None \
            or weights_only.path is None:
        return weights_only
    shell = dataclasses.replace(other, weights=WeightStore(), notes=[])
    try:
        paired = attach_weights(shell, weights_only.path)
    except ModelToolError:
        return weights_only  # it does not fit that architecture: compare it as it is
    paired.kind = weights_only.kind
    paired.path = weights_only.path
    paired.config = None
    paired.keras_version = weights_only.keras_version
    weights_only.close()
    return paired
