"""By-name weight transfer: a pure plan first, then applying it to a file or a live model.

``plan_by_name`` reads no weight bytes and imports no TensorFlow: it pairs each layer of the
target with the source layer of the same name (after ``--map`` renames) and compares the weight
lists the way Keras' own by-name loader does (count first, then every shape, matched by position
inside a layer: weight names differ across Keras generations). ``load_weights_by_name`` applies
the plan: into a new file of any kind (the transferred weights are read from the source one
tensor at a time while the writer writes), or into a live ``keras.Model`` through Keras.

Weight order inside a layer follows Keras across generations:

* a layer holding a model: Keras' legacy HDF5 files list its weights as all trainable weights
  of every inner layer, then all non-trainable ones (``_legacy_weights``); readers with the
  architecture at hand regroup them per inner layer, and a Keras 2 weights-only file (no
  architecture) is regrouped here from its weight names against the target's inner layers;
* Keras 1 layouts (one array per LSTM/GRU gate, channels-first or Theano kernels) and cuDNN
  RNN weights are migrated by ``formats.migrate``: by the reader when the source file has an
  architecture, here against the target layer when it has none (a Keras 2 weights-only file),
  and only when that makes the layer fit;
* Bidirectional weights are the forward layer's then the backward layer's; a
  GRU(reset_after=False) and a GRU(reset_after=True) do not fit each other (a shape mismatch
  whose message says so), as in Keras.

Modules: ``plan`` pairs layers and checks shapes, ``mapping`` parses ``--map``, ``report`` holds
the plan and report types and ``TransferMismatchError``; this module applies the plan (a live
model's variables are read and assigned by ``keras_bridge.live_weights``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ...artifact import ModelArtifact, WeightStore
from ...errors import ModelToolError, UnsupportedError
from ...kinds import LEGACY_HDF5_KINDS, Kind
from .._custom import CustomObjects, custom_scope
from .mapping import parse_mapping
from .plan import plan_by_name
from .report import (
    COUNT_MISMATCH,
    LOADED,
    MISSING,
    SHAPE_MISMATCH,
    STATUSES,
    LayerPlan,
    TransferMismatchError,
    TransferPlan,
    TransferReport,
    WeightMismatch,
)

PathLike = str | os.PathLike[str]
#: A live ``keras.Model``: ops never import Keras (``keras_bridge`` handles live objects).
LiveModel = Any

__all__ = [
    "COUNT_MISMATCH",
    "LOADED",
    "MISSING",
    "SHAPE_MISMATCH",
    "STATUSES",
    "LayerPlan",
    "TransferMismatchError",
    "TransferPlan",
    "TransferReport",
    "WeightMismatch",
    "load_weights_by_name",
    "mismatch_error",
    "parse_mapping",
    "plan_by_name",
    "transferred_artifact",
]




def mismatch_error(plan: TransferPlan, target: str, source: str,
                   report: TransferReport | None = None) -> TransferMismatchError:
    """The error listing every mismatched layer (it carries the plan and the report)."""
    parts = [f"{p.target}: {p.describe()}" for p in plan.mismatched]
    return TransferMismatchError(
        f"{len(parts)} layer(s) of the target do not fit the weights of {source}: "
        + " | ".join(parts), path=target,
        hint="pass --skip-mismatch (skip_mismatch=True) to load the layers that fit and keep "
             "the target's weights for the others", plan=plan, report=report)


def transferred_artifact(target: ModelArtifact, plan: TransferPlan) -> ModelArtifact:
    """``target`` with the loaded layers' weights read from the source (lazily) and every other
    weight unchanged."""
    replaced = {id(t): t_new for p in plan.loaded for t, t_new in p.pairs}
    layers = {name: [replaced.get(id(e), e) for e in entries]
              for name, entries in target.weights.layers.items()}
    return dataclasses.replace(target, weights=WeightStore(layers), notes=list(target.notes))


def _output_kind(target_kind: str, output: PathLike, kind: str | None) -> str:
    """``kind``, else the target's kind unless the output name clearly asks for another."""
    from ...formats import FORMATS, kind_from_extension

    if kind is not None:
        if kind not in FORMATS:
            raise UnsupportedError(f"unknown kind {kind!r}", path=output,
                                   hint=f"choose one of: {', '.join(FORMATS)}")
        from ..convert import refuse_kind_conflict

        refuse_kind_conflict(output, kind)
        return kind
    hinted = kind_from_extension(output)
    if hinted is None or hinted == target_kind or {hinted, target_kind} <= LEGACY_HDF5_KINDS:
        return target_kind
    return hinted


def load_weights_by_name(target: PathLike | LiveModel, source: PathLike | ModelArtifact,
                         skip_mismatch: bool = False,
                         mapping: Mapping[str, str] | Iterable[str] | None = None,
                         output: PathLike | None = None, kind: str | None = None,
                         dry_run: bool = False, force: bool = False,
                         custom_objects: CustomObjects = None) -> TransferReport:
    """Load weights into ``target`` from the same-named layers of ``source``.

    Any kind holding weights can feed any kind holding an architecture: a tf.keras ``.h5``
    into a Keras 3 ``.keras``, a ``.weights.h5`` into a legacy ``.h5``, Keras 1/2 weights-only
    files included.

    Args:
        target: a model file (then ``output`` receives the result: the transferred weights and
            every other weight of the target unchanged; the target file is not modified), or a
            live ``keras.Model`` (its weights are assigned in memory through Keras).
        source: the file (or open artifact) holding the weights to load.
        skip_mismatch: load the layers that fit and skip the others; without it any shape or
            count mismatch raises and nothing is written or assigned.
        mapping: renames, ``{"old_name": "new_name"}`` or ``["OLD=NEW", "re:PAT=REPL"]``,
            from source layer names to target layer names.
        output: where to write (a file target only; not needed with ``dry_run``).
        kind: output kind; default: the target's kind, unless ``output``'s name asks for
            another (``.keras``, ``.weights.h5``, ...).
        dry_run: plan and report only.
        force: replace an existing ``output`` (even the target or source itself).
        custom_objects: a ``.py`` file (run on request) or ``{name: class}`` map with the
            custom layers Keras needs when it builds the target (a SavedModel output).

    Returns:
        A TransferReport: per target layer what happened, unused source layers, totals.

    Raises:
        WeightMismatchError: mismatches without ``skip_mismatch`` (exit 1); the error's
            ``.report`` holds the report (a TransferMismatchError).
        ModelToolError: unreadable inputs, a source without weights, bad ``mapping``, an
            existing output without ``force`` (exit 2).

    Example:
        >>> report = modeltool.load_weights_by_name("new.keras", "pretrained.h5",  # doctest: +SKIP
        ...                                         skip_mismatch=True, output="out.keras")
        >>> model = keras.models.load_model("new.keras")  # doctest: +SKIP
        >>> modeltool.load_weights_by_name(  # doctest: +SKIP
        ...     model, "pretrained.h5", skip_mismatch=True)
    """
    from ...formats import open_artifact

    own_source = not isinstance(source, ModelArtifact)
    source_art = source if isinstance(source, ModelArtifact) else open_artifact(source)
    try:
        with custom_scope(custom_objects):
            source_name = os.fspath(source_art.path) if source_art.path else "<source>"
            if not source_art.weights:
                raise UnsupportedError(
                    "holds no weights to load", path=source_name,
                    hint="give a .keras, .h5 or .weights.h5 file as SOURCE")
            if isinstance(target, (str, os.PathLike)):
                return _into_file(Path(target), source_art, source_name, skip_mismatch,
                                  mapping, output, kind, dry_run, force)
            return _into_model(target, source_art, source_name, skip_mismatch, mapping,
                               dry_run)
    finally:
        if own_source:
            source_art.close()


def _into_file(target: Path, source: ModelArtifact, source_name: str, skip_mismatch: bool,
               mapping: Mapping[str, str] | Iterable[str] | None, output: PathLike | None,
               kind: str | None, dry_run: bool, force: bool) -> TransferReport:
    from ...formats import open_artifact, write_artifact
    from ...io import check_output

    if not dry_run and output is None:
        raise ModelToolError("no output given", path=target,
                             hint="pass -o OUT (the target file itself is never modified)")
    with open_artifact(target) as target_art:
        if not target_art.weights:
            from ..hints import beside, command

            fresh = command("convert", os.fspath(target), "--init", "-o",
                            beside(target, ".keras"))
            raise UnsupportedError(
                "holds no weights: a by-name transfer keeps the target's other weights",
                path=target, hint=f"give a model file with weights ({fresh} builds fresh "
                                  "ones, then load into that file)")
        out_kind = _output_kind(target_art.kind, output, kind) if output is not None else None
        plan = plan_by_name(target_art, source, mapping)
        report = TransferReport(
            target=os.fspath(target), source=source_name, target_kind=target_art.kind,
            source_kind=source.kind, output=None, output_kind=out_kind, dry_run=dry_run,
            skip_mismatch=skip_mismatch, plan=plan)
        if plan.mismatched and not skip_mismatch:
            raise mismatch_error(plan, os.fspath(target), source_name, report)
        if dry_run:
            return report
        if not plan.loaded:
            skipped = f", {len(plan.mismatched)} skipped as mismatched" if plan.mismatched else ""
            raise TransferMismatchError(
                f"no layer of {source_name} was loaded (no name matched{skipped}); "
                "nothing was written", path=target,
                hint="check the layer names (modeltool weights FILE), or map them with "
                     "--map OLD=NEW", plan=plan, report=report)
        assert output is not None  # noqa: S101 - checked above
        check_output(output, force=force, inputs=(target, *(
            (source.path,) if source.path is not None else ())))
        # A transfer reads only some tensors: the checksums are completed first, so a damaged
        # input is refused whatever part of it is damaged.
        target_art.weights.verify()
        source.weights.verify()
        written = write_artifact(transferred_artifact(target_art, plan), output, out_kind,
                                 force=force)
        report.output = os.fspath(written)
        return report


def _into_model(model: Any, source: ModelArtifact, source_name: str, skip_mismatch: bool,
                mapping: Mapping[str, str] | Iterable[str] | None,
                dry_run: bool) -> TransferReport:
    if not hasattr(model, "layers") or not hasattr(model, "weights"):
        raise UnsupportedError(f"target is neither a path nor a Keras model "
                               f"({type(model).__name__})")
    from ...keras_bridge.live_weights import assign_values, live_weights_view

    target_art, variables = live_weights_view(model)
    plan = plan_by_name(target_art, source, mapping)
    label = f"<keras.Model {getattr(model, 'name', '?')}>"
    report = TransferReport(target=label, source=source_name, target_kind=Kind.KERAS_MODEL,
                            source_kind=source.kind, output=None, output_kind=None,
                            dry_run=dry_run, skip_mismatch=skip_mismatch, plan=plan)
    if plan.mismatched and not skip_mismatch:
        raise mismatch_error(plan, label, source_name, report)
    if dry_run:
        return report
    # Read everything first: a damaged source then leaves the model untouched.
    assignments = []
    for layer_plan in plan.loaded:
        targets = variables[layer_plan.target]
        index = {id(e): i for i, e in enumerate(target_art.weights.layer(layer_plan.target))}
        for t, s in layer_plan.pairs:
            assignments.append((targets[index[id(t)]], s.read()))
    source.weights.verify()
    assign_values(assignments)
    return report
