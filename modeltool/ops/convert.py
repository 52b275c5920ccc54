"""``convert``: between Keras file kinds, through one ModelArtifact."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..artifact import ModelArtifact
from ..errors import (
    CorruptFileError,
    InputNotFoundError,
    ModelToolError,
    UnsupportedError,
    UnsupportedLayerError,
    VerificationError,
)
from ..formats import FORMATS, detect_kind, open_artifact, write_artifact
from ..formats.weight_layout import holds_no_weights
from ..io import check_output, scratch_writes
from ..kinds import CONFIG_KINDS, HDF5_KINDS, LEGACY_HDF5_KINDS, Kind
from ._custom import CustomObjects, custom_scope

PathLike = str | os.PathLike[str]


@dataclass
class ConvertReport:
    """What ``convert`` did."""

    source: str
    source_kind: str
    output: str
    output_kind: str
    notes: list[str] = field(default_factory=list)
    tensors: int = 0
    bytes: int = 0
    #: What the written model was checked against ("tf_keras 2.21.0 on the original file",
    #: "Keras 3 only", ...), and the largest difference found (None: not compared).
    reference: str = ""
    max_abs_diff: float | None = None
    dtype: str | None = None
    #: ``convert --dtype``: predictions of the cast model against the original (max_abs,
    #: max_rel), None when not verified.
    verification: dict[str, float] | None = None


def convert(source: PathLike, output: PathLike, kind: str | None = None, *,
            force: bool = False, init: bool = False, weights: PathLike | None = None,
            allow_missing_layers: bool = False, unsafe_lambda: bool = False,
            verify: bool = True, custom_objects: CustomObjects = None,
            dtype: str | None = None) -> ConvertReport:
    """Convert between kinds: legacy ``.h5``, ``.keras``, ``.weights.h5``, Keras 2 weights,
    JSON/YAML and SavedModel.

    Args:
        source: the input file.
        output: the output path; its name gives the kind unless ``kind`` is given.
        kind: ``keras``, ``h5``, ``k3-weights``, ``k2-weights``, ``json``, ``yaml``,
            ``savedmodel``, ``k2-h5`` (a legacy ``.h5`` in the Keras 2 dialect, for tf_keras).
        force: replace an existing output.
        init: for an architecture-only source, build fresh weights through Keras.
        weights: a weights file to pair with an architecture-only source.
        allow_missing_layers: write a Keras kind even when some layer classes do not exist in
            Keras 3 (their configs are kept as data; Keras then needs them as custom objects).
        unsafe_lambda: after writing a ``.keras``/``.h5``, have Keras rebuild its Lambda layers
            (``safe_mode=False``: unmarshals code from the file); the output is removed if it
            cannot.
        verify: compare the written model's predictions with the source: for a Keras 1/2
            source written as ``keras``/``h5``/``k2-h5``, against the library that wrote it
            (tf_keras, or modeltool's numpy Keras 1 reference; a difference removes the output
            and raises VerificationError); with ``dtype``, the cast model against the original
            through Keras (``report.verification``).
        custom_objects: a ``.py`` file (run on request) or ``{name: class}`` map providing
            the custom layers and functions the model uses, as Keras' ``custom_objects``.
        dtype: ``float16``, ``bfloat16`` or ``float32``: cast the float weights and set the
            matching Keras dtype policies (see ``ops.cast``).

    Example:
        >>> modeltool.convert("old.h5", "new.keras")  # doctest: +SKIP
        >>> modeltool.convert("model.keras", "half.keras", dtype="float16")  # doctest: +SKIP
        >>> modeltool.convert("custom.h5", "new.keras",  # doctest: +SKIP
        ...                   custom_objects="my_layers.py")
    """
    with custom_scope(custom_objects) as provided:
        return _convert(source, output, kind, force=force, init=init, weights=weights,
                        allow_missing_layers=allow_missing_layers, unsafe_lambda=unsafe_lambda,
                        verify=verify, dtype=dtype, provided=provided)


def _convert(source: PathLike, output: PathLike, kind: str | None, *, force: bool, init: bool,
             weights: PathLike | None, allow_missing_layers: bool, unsafe_lambda: bool,
             verify: bool, dtype: str | None, provided: set[str]) -> ConvertReport:
    from ..formats import kind_from_extension

    out_kind = kind or kind_from_extension(output)
    if out_kind is None or out_kind not in FORMATS:
        raise UnsupportedError("cannot tell the output kind", path=output,
                               hint=f"pass --to with one of: {', '.join(FORMATS)}")
    out_kind = Kind(out_kind)
    refuse_kind_conflict(output, kind)
    if init and weights is not None:
        raise UnsupportedError("--init (fresh weights) and --weights FILE contradict each other",
                               path=source, hint="pass one of them")
    with open_artifact(source) as artifact:
        if init and artifact.weights:
            raise UnsupportedError("--init asks for fresh weights but this file has weights",
                                   path=source, hint="leave --init out to keep them")
        if weights is not None:
            artifact = attach_weights(artifact, weights)
        _check_buildable(artifact, out_kind, allow_missing_layers, provided)
        _check_weights_fit(artifact, out_kind)
        needs_weights = FORMATS[out_kind].holds_weights
        if artifact.config is None and FORMATS[out_kind].holds_architecture:
            from .hints import weights_alone

            raise UnsupportedError(
                f"the source holds no architecture, and a {out_kind} file needs one",
                path=source, hint=weights_alone(source, pairable=artifact.kind != Kind.SAVEDMODEL))
        if needs_weights and not artifact.weights and artifact.config is not None \
                and not holds_no_weights(artifact.config):
            if not init:
                from .hints import command

                with_init = command("convert", os.fspath(source), "-o", os.fspath(output),
                                    "--init")
                raise UnsupportedError(
                    "the source has no weights", path=source,
                    hint=f"pass --init to build fresh weights through Keras ({with_init}), "
                         "or --weights FILE")
            artifact = _with_fresh_weights(artifact)
        original = artifact
        if dtype is not None:
            from .cast import cast_artifact

            artifact = cast_artifact(artifact, dtype)
        report = ConvertReport(source=os.fspath(source), source_kind=artifact.kind,
                               output=os.fspath(output), output_kind=out_kind,
                               notes=list(artifact.notes), dtype=dtype)
        if dtype is not None and verify and needs_weights and artifact.config is not None \
                and artifact.weights:
            from ..keras_bridge.verify import compare_predictions

            report.verification = compare_predictions(original, artifact)
        initialised = any(note == "weights freshly initialised by Keras"
                          for note in artifact.notes)
        if verify and dtype is None and out_kind in (Kind.KERAS, Kind.H5, Kind.K2_H5) \
                and not initialised:
            # checked on a scratch copy first: a model that predicts differently from its
            # source is never written, and never takes the place of a file
            check_output(output, force=force)
            scratch = Path(tempfile.mkdtemp(prefix="modeltool-check-"))
            try:
                suffix = ".keras" if out_kind == Kind.KERAS else ".h5"
                try:
                    with scratch_writes():
                        staged = write_artifact(artifact, scratch / f"model{suffix}", out_kind)
                except ModelToolError as err:
                    if err.path is None or not err.path.startswith(os.fspath(scratch)):
                        raise  # about the input: as it is
                    # about the scratch copy (no space, a file size limit): name the output
                    raise type(err)(err.problem, path=output, hint=err.hint) from err
                _check_against_source(artifact, staged, weights, report)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        written = write_artifact(artifact, output, out_kind, force=force)
        report.output = os.fspath(written)
        if unsafe_lambda and out_kind in (Kind.KERAS, Kind.H5) and _has_lambda(artifact):
            _rebuild_or_remove(written)
            report.notes.append("Lambda layers rebuilt by Keras (safe_mode=False)")
        if needs_weights:
            report.tensors = len(artifact.weights)
            report.bytes = artifact.weights.total_bytes
        lost = FORMATS[out_kind]
        if not lost.holds_weights and artifact.weights:
            report.notes.append(f"{out_kind} holds no weights: only the architecture was written")
        if not lost.holds_architecture and artifact.config is not None:
            report.notes.append(f"{out_kind} holds no architecture: only weights were written")
        if artifact.assets and out_kind != Kind.KERAS:
            report.notes.append(f"{len(artifact.assets)} asset file(s) (vocabularies) were not "
                                "carried over: only a .keras archive holds them")
        if artifact.optimizer_weights:
            report.notes.append("optimizer state was not carried over")
        if artifact.training_config:
            report.notes.append("training config (loss, metrics) was not carried over")
        return report


def refuse_kind_conflict(output: PathLike, kind: str | None) -> None:
    """Refuse ``--to KIND`` when the output's name says another kind (``-o x.keras --to h5``)."""
    from ..formats import kind_from_extension

    if kind is None or not Path(output).suffix:
        return
    named = kind_from_extension(output)
    if named is None or named == kind or {named, kind} <= HDF5_KINDS:
        return
    raise UnsupportedError(f"the name says {named} but --to says {kind}", path=output,
                           hint="rename the output or drop --to")


def _check_against_source(artifact: ModelArtifact, written: Path, weights: PathLike | None,
                          report: ConvertReport) -> None:
    """Compare the written model with the library that wrote the source (Keras 1/2 sources)."""
    import importlib.util

    keras2 = report.output_kind == Kind.K2_H5
    if artifact.path is None or not artifact.weights or (
            artifact.dialect not in (1, 2) and not keras2):
        return  # a Keras 3 source written for Keras 3: nothing was migrated
    if importlib.util.find_spec("keras") is None:
        report.reference = "not checked"
        report.notes.append("not checked against the source: Keras is not installed")
        return
    from ..keras_bridge.reference import ATOL, RTOL, check_keras_file

    if keras2 and importlib.util.find_spec("tf_keras") is None:
        report.notes.append("not checked: tf_keras is not installed")
        return
    check = check_keras_file(artifact, written, weights=weights, keras2=keras2)
    report.reference, report.max_abs_diff = check.reference, check.max_abs
    if check.note and check.passed:
        report.notes.append(check.note)
    if not check.passed:
        problem = check.note if check.max_abs is None else (
            f"the converted model differs from {check.reference}: max abs diff "
            f"{check.max_abs:.3g} (atol {ATOL:g}, rtol {RTOL:g})")
        raise VerificationError(problem, path=artifact.path,
                                hint="nothing was written; --no-verify writes it anyway")


def _check_buildable(artifact: ModelArtifact, kind: str, allow_missing: bool,
                     provided: set[str] | None = None) -> None:
    """Refuse to write a Keras model file Keras 3 could not build, unless asked to."""
    from ..formats.dialects import foreign_layers
    from ..formats.dialects.tf_ops import TF_OP_CLASSES

    if kind not in (Kind.KERAS, Kind.H5, Kind.SAVEDMODEL):
        return
    found = [(path, cls, reason) for path, cls, reason in foreign_layers(artifact.config)
             if cls != "Lambda" and cls not in (provided or set())]
    missing = [(path, cls) for path, cls, _ in found]
    if not missing:
        return
    if allow_missing and kind != Kind.SAVEDMODEL:
        artifact.notes.append("written with layers Keras 3 lacks (load with custom_objects): "
                              + ", ".join(f"{p} ({c})" for p, c in missing))
        return
    path, cls, reason = found[0]
    more = f" ({len(missing) - 1} more layers like it)" if len(missing) > 1 else ""
    problem = f"layer {path!r}: {reason}" if cls in TF_OP_CLASSES else \
        f"layer {path!r} has class {cls}, which does not exist in Keras 3"
    raise UnsupportedLayerError(
        f"{problem}{more}",
        path=artifact.path,
        hint="its config is kept as data; pass --allow-missing-layers to write the rest anyway")


def _has_lambda(artifact: ModelArtifact) -> bool:
    from ..formats.dialects import foreign_layers

    return any(cls == "Lambda" for _, cls, _ in foreign_layers(artifact.config))


def _rebuild_or_remove(written: Path) -> None:
    from .. import keras_bridge

    try:
        keras_bridge.rebuild_lambdas(written)
    except BaseException:
        written.unlink(missing_ok=True)
        raise


def _check_weights_fit(artifact: ModelArtifact, kind: str) -> None:
    """Refuse to write a model whose graph is broken or whose weights do not fit it."""
    from .summary import summarize

    if artifact.config is None or kind in CONFIG_KINDS:
        return
    report = summarize(artifact, engine="fast")
    if report.weight_mismatches:
        path, found, expected = report.weight_mismatches[0]
        more = len(report.weight_mismatches) - 1
        raise CorruptFileError(
            f"the weights of layer {path!r} do not fit its architecture: the file holds "
            f"{found:,} values, the config implies {expected:,}"
            + (f" ({more} more layers like it)" if more else ""), path=artifact.path,
            hint="run `modeltool check` for the full list")


def _with_fresh_weights(artifact: ModelArtifact) -> ModelArtifact:
    from .. import keras_bridge

    model = keras_bridge.model_from_artifact(artifact, with_weights=False)
    fresh = keras_bridge.artifact_from_model(model)
    fresh.notes = [*artifact.notes, "weights freshly initialised by Keras"]
    fresh.kind = artifact.kind
    fresh.path = artifact.path
    return fresh


def attach_weights(artifact: ModelArtifact, weights: PathLike) -> ModelArtifact:
    """Pair an architecture with the weights of another file (matched by layer name)."""
    from ..formats.hdf5_v3 import read_weights_h5

    if not Path(weights).exists():
        raise InputNotFoundError("no such file or directory", path=weights)
    from ..formats.hdf5_legacy import read_hdf5_legacy
    from ..formats.migrate import migrate_weights

    kind = detect_kind(weights)
    if kind == Kind.K3_WEIGHTS:
        source = read_weights_h5(weights, artifact.config)
    elif kind in LEGACY_HDF5_KINDS:
        # a weights-only file is read against the architecture (nested names, migration)
        source = read_hdf5_legacy(weights, artifact if kind == Kind.K2_WEIGHTS else None)
    else:
        source = open_artifact(weights)
    artifact.weights = source.weights
    if kind == Kind.K2_WEIGHTS:
        artifact.notes.extend(note for note in source.notes if note not in artifact.notes)
    elif source.kind != Kind.K3_WEIGHTS:
        migrate_weights(artifact, weights_version=source.keras_version,
                        weights_backend=source.backend)
    return artifact
