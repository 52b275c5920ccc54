"""``freeze``: set ``trainable`` in a model's architecture, without touching its weight bytes.

The new config is written by ``formats.config_replace``: a ``.keras`` archive member by member
(``config.json`` replaced, the weights copied as raw bytes), a legacy ``.h5`` file as a copy with
only attributes rewritten. Both go through a temporary file beside the output, so a failure
leaves nothing behind and the input is never modified (``--in-place`` replaces it atomically).

The flags are edited in the file's own config dialect (Keras 1, 2 or 3), as Keras' setter would
leave them: freezing a layer that holds a model freezes every layer inside it; unfreezing a layer
inside a frozen model makes the enclosing models trainable again and freezes their other layers,
so nothing else starts training. A frozen BatchNormalization runs in inference mode in Keras, so
the report flags those layers.

Modules: ``plan`` builds the layer tree and plans the flags; this module counts parameters,
reports and writes (a live model's flags are set by ``keras_bridge.trainable``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...artifact import ModelArtifact, WeightEntry
from ...errors import ModelToolError, UnsupportedError
from ...graph.params import Params, never_trained
from ...io import check_output, check_space
from ...kinds import Kind
from ...layer_classes import BATCHNORM_CLASSES
from .plan import LayerNode, config_tree, effective_flags, match_pattern, plan_flags, top_layers

PathLike = str | os.PathLike[str]
#: A live ``keras.Model``: ops never import Keras (``keras_bridge`` handles live objects).
LiveModel = Any

SUPPORTED_KINDS = (Kind.KERAS, Kind.H5)

__all__ = ["SUPPORTED_KINDS", "FreezeReport", "FreezeRow", "freeze", "match_pattern"]


@dataclass(frozen=True)
class FreezeRow:
    """One layer whose ``trainable`` flag changed (``trainable_*`` are effective: a layer
    inside a frozen model is frozen whatever its own flag says)."""

    path: str
    class_name: str
    trainable_before: bool
    trainable_after: bool
    params: int
    batchnorm: bool


@dataclass
class FreezeReport:
    """What ``freeze`` changed.

    Attributes:
        source: the input file (``<keras.Model NAME>`` for a live model).
        kind: the file kind (also the output's).
        output: the file written (the input itself with ``in_place``; None for a live model).
        rows: every layer whose own flag changed, in model order.
        before, after: parameter totals.
        notes: what else the user should know (BatchNormalization, unfrozen enclosing models).
    """

    source: str
    kind: str
    output: str | None
    in_place: bool
    rows: list[FreezeRow]
    before: Params
    after: Params
    notes: list[str] = field(default_factory=list)

    @property
    def frozen(self) -> list[str]:
        return [r.path for r in self.rows if r.trainable_before and not r.trainable_after]

    @property
    def unfrozen(self) -> list[str]:
        return [r.path for r in self.rows if r.trainable_after and not r.trainable_before]

    @property
    def batchnorm(self) -> list[str]:
        """BatchNormalization layers frozen by this run (they now run in inference mode)."""
        return [r.path for r in self.rows if r.batchnorm and not r.trainable_after]


# ---------------------------------------------------------------------------------------------
# Parameter counts from weight shapes
# ---------------------------------------------------------------------------------------------


def _owner(by_path: dict[str, LayerNode], entry: WeightEntry) -> LayerNode | None:
    path = entry.path
    while path:
        if path in by_path:
            return by_path[path]
        path = path.rpartition("/")[0]
    return by_path.get(entry.layer)


def _weights_by_node(root: LayerNode, artifact: ModelArtifact
                     ) -> dict[LayerNode, list[WeightEntry]]:
    by_path = {n.path: n for n in root.walk() if n is not root}
    grouped: dict[LayerNode, list[WeightEntry]] = {}
    for entry in artifact.weights:
        owner = _owner(by_path, entry) or root
        grouped.setdefault(owner, []).append(entry)
    return grouped


def _stat_flags(node: LayerNode, entries: list[WeightEntry]) -> list[bool]:
    """Which of a layer's weights Keras never trains (BatchNormalization statistics)."""
    return never_trained(node.weight_class, [e.short_name for e in entries])


def _count(grouped: dict[LayerNode, list[WeightEntry]], effective: dict[LayerNode, bool]
           ) -> Params:
    trainable = non_trainable = 0
    for node, entries in grouped.items():
        for entry, stat in zip(entries, _stat_flags(node, entries)):
            if effective[node] and not stat:
                trainable += entry.size
            else:
                non_trainable += entry.size
    return Params(trainable + non_trainable, trainable)


def _params_under(node: LayerNode, grouped: dict[LayerNode, list[WeightEntry]]) -> int:
    return sum(e.size for inner in node.walk() for e in grouped.get(inner, []))


def _rows(root: LayerNode, new: dict[LayerNode, bool], before: dict[LayerNode, bool],
          after: dict[LayerNode, bool], params: dict[LayerNode, int]) -> list[FreezeRow]:
    return [FreezeRow(n.path or "(model)", n.class_name, before[n], after[n], params.get(n, 0),
                      n.weight_class in BATCHNORM_CLASSES)
            for n in root.walk() if new[n] != n.own]


def _optimizer_note(artifact: ModelArtifact, rows: list[FreezeRow]) -> list[str]:
    """A compiled model's optimizer state is kept as bytes, but its variables follow the
    trainable weights: once those change, Keras does not restore it (it warns and starts the
    optimizer afresh). Say so rather than let it go quietly."""
    if not artifact.optimizer_weights or not rows:
        return []
    return ["the file holds optimizer state (a compiled model): with the trainable weights "
            "changed, Keras will not restore it on load and the optimizer starts afresh"]


def _batchnorm_note(rows: list[FreezeRow]) -> list[str]:
    frozen = [r.path for r in rows if r.batchnorm and not r.trainable_after]
    if not frozen:
        return []
    shown = ", ".join(frozen[:5]) + (", ..." if len(frozen) > 5 else "")
    note = (f"{len(frozen)} BatchNormalization layer(s) frozen ({shown}): in Keras a frozen "
            "BatchNormalization runs in inference mode (its moving statistics), even when "
            "called with training=True")
    return [note]


# ---------------------------------------------------------------------------------------------
# The verb
# ---------------------------------------------------------------------------------------------


def freeze(path_or_model: PathLike | LiveModel, layers: Iterable[str] = (),
           until: str | None = None, all_but_last: int | None = None,
           unfreeze: Iterable[str] = (), except_: Iterable[str] = (),
           output: PathLike | None = None, in_place: bool = False,
           force: bool = False) -> FreezeReport:
    """Freeze (and unfreeze) layers: set ``trainable`` in the architecture.

    Layers are chosen by the union of ``layers``, ``until`` and ``all_but_last``, minus
    ``except_``; then ``unfreeze`` makes layers trainable. Patterns are NAME, GLOB or
    ``re:REGEX`` against layer paths; nested models are reached as ``MODEL/LAYER``.

    Args:
        path_or_model: a ``.keras`` or legacy ``.h5`` file, or a live ``keras.Model`` (then the
            flags are set through Keras, in memory).
        layers: patterns of layers to freeze (a model: everything inside it).
        until: freeze every layer up to and including this one, in model order.
        all_but_last: freeze all top-level layers but the last N (``model.layers[:-N]``).
        unfreeze: patterns of layers to make trainable.
        except_: patterns of layers the freezing selection leaves alone.
        output: the file to write (a file input only).
        in_place: replace the input file (atomically) instead of writing ``output``.
        force: replace an existing ``output``.

    Returns:
        A FreezeReport: changed layers, trainable / non-trainable totals before and after,
        BatchNormalization layers flagged.

    Raises:
        ModelToolError: a pattern matching nothing, nothing selected, a file kind without an
            architecture, an existing output without ``force`` (exit 2).

    Example:
        >>> report = modeltool.freeze("model.keras", until="conv5_block3_out",  # doctest: +SKIP
        ...                           output="frozen.keras")
        >>> print(report.after.trainable)  # doctest: +SKIP
    """
    layers, unfreeze, except_ = list(layers), list(unfreeze), list(except_)
    if isinstance(path_or_model, (str, os.PathLike)):
        return _freeze_file(Path(path_or_model), layers, until, all_but_last, unfreeze,
                            except_, output, in_place, force)
    return _freeze_model(path_or_model, layers, until, all_but_last, unfreeze, except_)


def _freeze_file(path: Path, layers: list[str], until: str | None, all_but_last: int | None,
                 unfreeze: list[str], except_: list[str], output: PathLike | None,
                 in_place: bool, force: bool) -> FreezeReport:
    from ...formats import open_artifact
    from ...formats.config_replace import (
        legacy_weight_orders,
        replace_h5_config,
        replace_keras_config,
        verify_h5_checksums,
    )

    if in_place and output is not None and Path(output).resolve() != path.resolve():
        raise ModelToolError("pass either -o OUT or --in-place, not both", path=path)
    if not in_place and output is None:
        raise ModelToolError("no output given", path=path,
                             hint="pass -o OUT, or --in-place to replace the input")
    with open_artifact(path) as artifact:
        if artifact.kind not in SUPPORTED_KINDS:
            from ..hints import to_keras_archive

            raise UnsupportedError(f"freeze works on .keras and full-model .h5 files, not "
                                   f"{artifact.kind}", path=path,
                                   hint=to_keras_archive(artifact, path))
        raw = artifact.source_config
        if artifact.config is None or not isinstance(raw, dict):
            problem = artifact.config_error or "this file has no architecture"
            raise UnsupportedError(problem, path=path,
                                   hint="trainable flags live in the architecture")
        raw = copy.deepcopy(raw)
        root = config_tree(raw, "", None)
        top = top_layers(root, raw.get("class_name") == "Sequential")
        new, notes = plan_flags(root, top, layers, until, all_but_last, unfreeze, except_,
                                 os.fspath(path))
        before = effective_flags(root, {n: n.own for n in root.walk()})
        after = effective_flags(root, new)
        grouped = _weights_by_node(root, artifact)
        params = {n: _params_under(n, grouped) for n in root.walk()}
        rows = _rows(root, new, before, after, params)
        report = FreezeReport(
            source=os.fspath(path), kind=artifact.kind, output=None, in_place=in_place,
            rows=rows, before=_count(grouped, before), after=_count(grouped, after),
            notes=[*notes, *_batchnorm_note(rows), *_optimizer_note(artifact, rows)])
        for node, flag in new.items():
            if flag != node.own:
                for holder in node.holders:
                    holder["trainable"] = flag
        orders = legacy_weight_orders(artifact, raw) if artifact.kind == "h5" else {}
        if artifact.kind == "h5":
            verify_h5_checksums(path)
    target = path if in_place else Path(output)  # type: ignore[arg-type]
    out = check_output(target, force=force or in_place, inputs=() if in_place else (path,))
    check_space(out, path.stat().st_size + (64 << 10))
    if artifact.kind == "keras":
        replace_keras_config(path, out, raw)
    else:
        replace_h5_config(path, out, raw, orders)
    report.output = os.fspath(out)
    return report


def _freeze_model(model: Any, layers: list[str], until: str | None, all_but_last: int | None,
                  unfreeze: list[str], except_: list[str]) -> FreezeReport:
    if not hasattr(model, "layers"):
        raise UnsupportedError(f"expected a path or a Keras model, got {type(model).__name__}")
    from ...keras_bridge.trainable import live_counts, live_params, live_tree, set_live_flags

    root = live_tree(model)
    top = list(root.children)
    new, notes = plan_flags(root, top, layers, until, all_but_last, unfreeze, except_, None)
    before = effective_flags(root, {n: n.own for n in root.walk()})
    after = effective_flags(root, new)
    params = {node: live_params(node) for node in root.walk()}
    counts_before = live_counts(model)
    if any(new[n] != n.own for n in root.walk()):
        set_live_flags(root, new)
    rows = _rows(root, new, before, after, params)
    return FreezeReport(source=f"<keras.Model {getattr(model, 'name', '?')}>",
                        kind=Kind.KERAS_MODEL, output=None, in_place=True, rows=rows,
                        before=counts_before, after=live_counts(model),
                        notes=[*notes, *_batchnorm_note(rows)])
