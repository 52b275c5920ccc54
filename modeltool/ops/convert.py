"""``convert``: between Keras file kinds, through one ModelArtifact."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..artifact import ModelArtifact
from ..errors import CorruptFileError, InputNotFoundError, UnsupportedError, UnsupportedLayerError
from ..formats import FORMATS, detect_kind, open_artifact, write_artifact

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


def convert(source: PathLike, output: PathLike, kind: str | None = None, *,
            force: bool = False, init: bool = False, weights: PathLike | None = None,
            allow_missing_layers: bool = False, unsafe_lambda: bool = False) -> ConvertReport:
    """Convert between kinds: legacy ``.h5``, ``.keras``, ``.weights.h5``, Keras 2 weights,
    JSON/YAML and SavedModel.

    Args:
        source: the input file.
        output: the output path; its name gives the kind unless ``kind`` is given.
        kind: ``keras``, ``h5``, ``k3-weights``, ``k2-weights``, ``json``, ``yaml``,
            ``savedmodel``.
        force: replace an existing output.
        init: for an architecture-only source, build fresh weights through Keras.
        weights: a weights file to pair with an architecture-only source.
        allow_missing_layers: write a Keras kind even when some layer classes do not exist in
            Keras 3 (their configs are kept as data; Keras then needs them as custom objects).
        unsafe_lambda: after writing a ``.keras``/``.h5``, have Keras rebuild its Lambda layers
            (``safe_mode=False``: unmarshals code from the file); the output is removed if it
            cannot.

    Example:
        >>> modeltool.convert("old.h5", "new.keras")  # doctest: +SKIP
    """
    from ..formats import kind_from_extension

    out_kind = kind or kind_from_extension(output)
    if out_kind is None or out_kind not in FORMATS:
        raise UnsupportedError("cannot tell the output kind", path=output,
                               hint=f"pass --to with one of: {', '.join(FORMATS)}")
    with open_artifact(source) as artifact:
        if weights is not None:
            artifact = attach_weights(artifact, weights)
        _check_buildable(artifact, out_kind, allow_missing_layers)
        _check_weights_fit(artifact, out_kind)
        needs_weights = FORMATS[out_kind].holds_weights
        if artifact.config is None and FORMATS[out_kind].holds_architecture:
            from .hints import weights_alone

            raise UnsupportedError(
                f"the source holds no architecture, and a {out_kind} file needs one",
                path=source, hint=weights_alone(source, pairable=artifact.kind != "savedmodel"))
        if needs_weights and not artifact.weights and artifact.config is not None:
            if not init:
                from .hints import command

                fresh = command("convert", os.fspath(source), "-o", os.fspath(output), "--init")
                raise UnsupportedError(
                    "the source has no weights", path=source,
                    hint=f"pass --init to build fresh weights through Keras ({fresh}), "
                         "or --weights FILE")
            artifact = _with_fresh_weights(artifact)
        report = ConvertReport(source=os.fspath(source), source_kind=artifact.kind,
                               output=os.fspath(output), output_kind=out_kind,
                               notes=list(artifact.notes))
        written = write_artifact(artifact, output, out_kind, force=force)
        report.output = os.fspath(written)
        if unsafe_lambda and out_kind in ("keras", "h5") and _has_lambda(artifact):
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
        if artifact.metadata.get("optimizer_weights"):
            report.notes.append("optimizer state was not carried over")
        if artifact.training_config:
            report.notes.append("training config (loss, metrics) was not carried over")
        return report


def _check_buildable(artifact: ModelArtifact, kind: str, allow_missing: bool) -> None:
    """Refuse to write a Keras model file Keras 3 could not build, unless asked to."""
    from ..formats._dialects import foreign_layers

    if kind not in ("keras", "h5", "savedmodel"):
        return
    missing = [(path, cls) for path, cls, _ in foreign_layers(artifact.config) if cls != "Lambda"]
    if not missing:
        return
    if allow_missing and kind != "savedmodel":
        artifact.notes.append("written with layers Keras 3 lacks (load with custom_objects): "
                              + ", ".join(f"{p} ({c})" for p, c in missing))
        return
    path, cls = missing[0]
    more = f" ({len(missing) - 1} more layers like it)" if len(missing) > 1 else ""
    raise UnsupportedLayerError(
        f"layer {path!r} has class {cls}, which does not exist in Keras 3{more}",
        path=artifact.path,
        hint="its config is kept as data; pass --allow-missing-layers to write the rest anyway")


def _has_lambda(artifact: ModelArtifact) -> bool:
    from ..formats._dialects import foreign_layers

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

    if artifact.config is None or kind in ("json", "yaml"):
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
    from ..formats._migrate import migrate_weights
    from ..formats.hdf5_legacy import read_hdf5_legacy

    kind = detect_kind(weights)
    if kind == "k3-weights":
        source = read_weights_h5(weights, artifact.config)
    elif kind in ("h5", "k2-weights"):
        # a weights-only file is read against the architecture (nested names, migration)
        source = read_hdf5_legacy(weights, artifact if kind == "k2-weights" else None)
    else:
        source = open_artifact(weights)
    artifact.weights = source.weights
    if kind == "k2-weights":
        artifact.notes.extend(note for note in source.notes if note not in artifact.notes)
    elif source.kind != "k3-weights":
        migrate_weights(artifact, weights_version=source.keras_version,
                        weights_backend=source.backend)
    return artifact
