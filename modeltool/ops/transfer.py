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
  RNN weights are migrated by ``formats._migrate``: by the reader when the source file has an
  architecture, here against the target layer when it has none (a Keras 2 weights-only file),
  and only when that makes the layer fit;
* Bidirectional weights are the forward layer's then the backward layer's; a
  GRU(reset_after=False) and a GRU(reset_after=True) do not fit each other (a shape mismatch
  whose message says so), as in Keras.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..artifact import ModelArtifact, WeightEntry, WeightStore
from ..errors import ModelToolError, UnsupportedError, WeightMismatchError
from ..formats._layout import (
    inner_model,
    layer_configs,
    layer_name,
    legacy_order,
    nested_trainable_flags,
)
from ..kinds import LEGACY_HDF5_KINDS, Kind
from ._custom import CustomObjects, custom_scope

if TYPE_CHECKING:  # pragma: no cover
    import keras

PathLike = str | os.PathLike[str]

LOADED = "loaded"
SHAPE_MISMATCH = "shape_mismatch"
COUNT_MISMATCH = "count_mismatch"
MISSING = "missing"
STATUSES = (LOADED, SHAPE_MISMATCH, COUNT_MISMATCH, MISSING)
_REGEX_PREFIX = "re:"
_LEGACY_KINDS = LEGACY_HDF5_KINDS


# ---------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightMismatch:
    """One weight whose shape differs: its position in the layer, the target's weight name,
    the shape the target expects and the shape the source holds."""

    index: int
    weight: str
    expected: tuple[int, ...]
    received: tuple[int, ...]


@dataclass
class LayerPlan:
    """What happens to one target layer.

    ``status`` is one of ``loaded``, ``shape_mismatch``, ``count_mismatch``, ``missing``
    (no source layer of that name). ``pairs`` holds (target weight, source weight) for a loaded
    layer; the source weight reads the stored array, cast to the target's dtype and migrated
    from a Keras 1 or cuDNN layout where needed (``TransferPlan.notes`` says so). ``note``
    explains a mismatch when the reason is known (GRU ``reset_after``).
    """

    target: str
    source: str | None
    status: str
    class_name: str | None
    expected_count: int
    received_count: int | None = None
    mismatches: list[WeightMismatch] = field(default_factory=list)
    pairs: list[tuple[WeightEntry, WeightEntry]] = field(default_factory=list, repr=False)
    note: str | None = None

    @property
    def tensors(self) -> int:
        return len(self.pairs) if self.status == LOADED else 0

    @property
    def bytes(self) -> int:
        return sum(t.nbytes for t, _ in self.pairs) if self.status == LOADED else 0

    @property
    def mismatched(self) -> bool:
        return self.status in (SHAPE_MISMATCH, COUNT_MISMATCH)

    def describe(self) -> str:
        """One phrase on why the layer is not loaded (empty for a loaded layer)."""
        if self.status == MISSING:
            return "missing in source"
        if self.status == COUNT_MISMATCH:
            return (f"weight count mismatch: target expects {self.expected_count}, "
                    f"source {self.source!r} has {self.received_count}")
        if self.status == SHAPE_MISMATCH:
            parts = [f"{m.weight} expects {_shape_text(m.expected)}, source has "
                     f"{_shape_text(m.received)}" for m in self.mismatches]
            text = "shape mismatch: " + "; ".join(parts)
            return f"{text} ({self.note})" if self.note else text
        return ""


@dataclass
class TransferPlan:
    """Which target layer takes weights from which source layer, and what does not fit.

    ``layers`` follows the target's layer order and holds every target layer that has weights
    (or that a same-named source layer with weights points at); ``unused`` lists the source
    layers with weights that no target layer takes; ``renamed`` is source -> target name for the
    layers ``mapping`` renamed; ``notes`` says what was converted on the way.
    """

    layers: list[LayerPlan]
    unused: list[str]
    renamed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> list[LayerPlan]:
        return [p for p in self.layers if p.status == LOADED]

    @property
    def mismatched(self) -> list[LayerPlan]:
        return [p for p in self.layers if p.mismatched]

    @property
    def missing(self) -> list[LayerPlan]:
        return [p for p in self.layers if p.status == MISSING]

    @property
    def tensors(self) -> int:
        return sum(p.tensors for p in self.layers)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.layers)

    def layer(self, name: str) -> LayerPlan:
        for plan in self.layers:
            if plan.target == name:
                return plan
        raise KeyError(name)


@dataclass
class TransferReport:
    """What ``load_weights_by_name`` did (or, with ``dry_run``, would do).

    ``output`` is None for a dry run or a live model; ``target`` is ``"<keras.Model NAME>"``
    for a live model.
    """

    target: str
    source: str
    target_kind: str
    source_kind: str
    output: str | None
    output_kind: str | None
    dry_run: bool
    skip_mismatch: bool
    plan: TransferPlan

    @property
    def layers(self) -> list[LayerPlan]:
        return self.plan.layers

    @property
    def failed(self) -> bool:
        """Mismatches without ``skip_mismatch``: nothing was (or would be) written."""
        return bool(self.plan.mismatched) and not self.skip_mismatch

    @property
    def loaded(self) -> int:
        return len(self.plan.loaded)

    @property
    def total(self) -> int:
        return len(self.plan.layers)

    @property
    def tensors(self) -> int:
        return self.plan.tensors

    @property
    def bytes(self) -> int:
        return self.plan.bytes

    @property
    def skipped(self) -> list[LayerPlan]:
        return [p for p in self.plan.layers if p.status != LOADED]

    @property
    def unused(self) -> list[str]:
        return self.plan.unused

    @property
    def notes(self) -> list[str]:
        return self.plan.notes


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# ---------------------------------------------------------------------------------------------
# --map rules
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    text: str
    old: str
    new: str
    regex: re.Pattern[str] | None


def parse_mapping(mapping: Mapping[str, str] | Iterable[str] | None) -> list[_Rule]:
    """``--map`` rules: ``OLD=NEW`` (source layer OLD feeds target layer NEW) or
    ``re:PATTERN=REPLACEMENT`` (the first match in a source name is replaced, as
    ``re.sub(PATTERN, REPLACEMENT, name, count=1)``; ``\\1`` works). Explicit rules win over
    patterns; the first pattern that matches a name applies.

    A dict ``{"OLD": "NEW"}`` is the same as ``["OLD=NEW"]``.

    Raises:
        ModelToolError: a rule without ``=`` or an invalid regular expression (exit 2).
    """
    if mapping is None:
        return []
    items = [f"{k}={v}" for k, v in mapping.items()] if isinstance(mapping, Mapping) \
        else list(mapping)
    rules = []
    for text in items:
        body = text.removeprefix(_REGEX_PREFIX)
        old, sep, new = body.rpartition("=")
        if not sep or not old:
            raise ModelToolError(f"--map {text!r} is not OLD=NEW or re:PATTERN=REPLACEMENT",
                                 hint="for example --map base_dense=dense_1 or "
                                      "--map 're:^base_(.*)=\\1'")
        regex = None
        if text.startswith(_REGEX_PREFIX):
            try:
                regex = re.compile(old)
            except re.error as err:
                raise ModelToolError(f"--map {text!r}: invalid regular expression ({err})") \
                    from err
        rules.append(_Rule(text, old, new, regex))
    return rules


def _rename(rules: list[_Rule], source_names: list[str], target_names: list[str],
            source_path: str | None, target_path: str | None) -> tuple[dict[str, str],
                                                                       list[str]]:
    """Source name -> target name for every source layer, and notes on unused regex rules."""
    explicit = {r.old: r for r in rules if r.regex is None}
    known_source = set(source_names)
    known_target = set(target_names)
    for rule in explicit.values():
        if rule.old not in known_source:
            raise ModelToolError(f"--map {rule.text}: the source has no layer {rule.old!r}",
                                 path=source_path, hint=_some("source layers", source_names))
        if rule.new not in known_target:
            raise ModelToolError(f"--map {rule.text}: the target has no layer {rule.new!r}",
                                 path=target_path, hint=_some("target layers", target_names))
    used: set[str] = set()
    result = {}
    for name in source_names:
        new = name
        if name in explicit:
            new = explicit[name].new
        else:
            for rule in rules:
                if rule.regex is not None and rule.regex.search(name):
                    new = rule.regex.sub(rule.new, name, count=1)
                    used.add(rule.text)
                    break
        result[name] = new
    notes = [f"--map {r.text} matched no source layer" for r in rules
             if r.regex is not None and r.text not in used]
    return result, notes


def _some(what: str, names: list[str]) -> str:
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f"{what}: {shown}" if names else f"there are no {what}"


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------


def plan_by_name(target: ModelArtifact, source: ModelArtifact,
                 mapping: Mapping[str, str] | Iterable[str] | None = None) -> TransferPlan:
    """Pair target layers with source layers by name and check every weight's shape.

    Pure: no TensorFlow, no weight bytes read (shapes come from the file's metadata).

    Args:
        target: the model that receives weights (its architecture gives layer classes).
        source: any artifact holding weights.
        mapping: ``--map`` rules (see ``parse_mapping``).

    Returns:
        A TransferPlan: per target layer loaded / shape mismatch / count mismatch / missing,
        and the unused source layers.

    Raises:
        ModelToolError: a ``--map`` rule names a layer that does not exist, or two source
            layers would feed the same target layer (exit 2).

    Example:
        >>> with modeltool.open("new.keras") as t, modeltool.open("old.h5") as s:  # doctest: +SKIP
        ...     plan = plan_by_name(t, s)
        ...     print([p.target for p in plan.loaded], plan.unused)
    """
    rules = parse_mapping(mapping)
    target_path = os.fspath(target.path) if target.path else None
    source_path = os.fspath(source.path) if source.path else None
    configs = {layer_name(c): c for c in layer_configs(target.config)} if target.config else {}
    target_names = _target_names(target, configs)
    source_names = list(source.weights.layers)
    renames, notes = _rename(rules, source_names, target_names, source_path, target_path)
    feeds: dict[str, str] = {}  # target name -> source name
    for old, new in renames.items():
        if not source.weights.layer(old) and new in feeds:
            continue  # a weightless source layer never competes with one that has weights
        if new in feeds and source.weights.layer(feeds[new]):
            raise ModelToolError(
                f"source layers {feeds[new]!r} and {old!r} both map to target layer {new!r}",
                path=source_path, hint="make the --map rules pick one of them")
        feeds[new] = old
    keras1 = _is_keras1(source)
    theano = _source_theano(source, target, keras1, notes)
    layers: list[LayerPlan] = []
    used: set[str] = set()
    for name in target_names:
        t_entries = list(target.weights.layer(name))
        source_name = feeds.get(name)
        s_entries = list(source.weights.layer(source_name)) if source_name is not None else []
        if not t_entries and not s_entries:
            if source_name is not None:
                used.add(source_name)
            continue
        cfg = configs.get(name)
        class_name = str(cfg.get("class_name")) if cfg else None
        if source_name is None:
            layers.append(LayerPlan(name, None, MISSING, class_name, len(t_entries)))
            continue
        used.add(source_name)
        layers.append(_plan_layer(name, source_name, cfg, class_name, t_entries, s_entries,
                                  source, keras1, notes, theano))
    unused = [n for n in source_names if n not in used and source.weights.layer(n)]
    renamed = {old: new for old, new in renames.items() if old != new}
    return TransferPlan(layers, unused, renamed, notes)


def _target_names(target: ModelArtifact, configs: dict[str, dict[str, Any]]) -> list[str]:
    names = list(configs)
    names += [n for n in target.weights.layers if n not in configs]
    return names


def _is_keras1(source: ModelArtifact) -> bool:
    """Keras 1 layouts: what the file says, or a legacy HDF5 file saying nothing (as Keras)."""
    version = source.keras_version or ""
    if version.startswith("1"):
        return True
    if source.dialect == 1:
        return True
    return not version and source.kind in _LEGACY_KINDS


def _plan_layer(name: str, source_name: str, cfg: dict[str, Any] | None,
                class_name: str | None, t_entries: list[WeightEntry],
                s_entries: list[WeightEntry], source: ModelArtifact, keras1: bool,
                notes: list[str], theano: bool = False) -> LayerPlan:
    if cfg is not None and inner_model(cfg) is not None:
        s_entries, t_entries = _nested_order(cfg, name, t_entries, s_entries, source)
    note = None
    if cfg is not None:
        # Legacy weights go through the same migration whatever the route (convert --weights
        # reads them with formats._migrate too); a layout that already fits is kept only when
        # the migrated one does not (a Keras 2 file that recorded no version).
        migrated, how = _migrated(cfg, s_entries, source, keras1, theano)
        if how and _fits(t_entries, migrated):
            s_entries = migrated
            notes.extend(how)
        elif not _fits(t_entries, s_entries):
            note = _gru_hint(cfg, t_entries, s_entries)
    plan = LayerPlan(name, source_name, LOADED, class_name, len(t_entries), len(s_entries),
                     note=note)
    if len(t_entries) != len(s_entries):
        plan.status = COUNT_MISMATCH
        return plan
    for index, (t, s) in enumerate(zip(t_entries, s_entries)):
        if tuple(t.shape) != tuple(s.shape):
            plan.mismatches.append(WeightMismatch(index, _label(t), tuple(t.shape),
                                                  tuple(s.shape)))
    if plan.mismatches:
        plan.status = SHAPE_MISMATCH
        return plan
    plan.pairs = [(t, _cast(s, t)) for t, s in zip(t_entries, s_entries)]
    casts = {(s.dtype, t.dtype) for t, s in zip(t_entries, s_entries) if s.dtype != t.dtype}
    for src_dtype, dst_dtype in sorted(casts):
        notes.append(f"layer {name!r}: {src_dtype} weights cast to {dst_dtype}")
    return plan


def _label(entry: WeightEntry) -> str:
    prefix = entry.path.removeprefix(f"{entry.layer}/") if entry.path != entry.layer else ""
    return f"{prefix}/{entry.name}" if prefix else entry.name


def _fits(t_entries: Sequence[WeightEntry], s_entries: Sequence[WeightEntry]) -> bool:
    return len(t_entries) == len(s_entries) and all(
        tuple(t.shape) == tuple(s.shape) for t, s in zip(t_entries, s_entries))


def _nested_order(cfg: dict[str, Any], name: str, t_entries: list[WeightEntry],
                  s_entries: list[WeightEntry], source: ModelArtifact
                  ) -> tuple[list[WeightEntry], list[WeightEntry]]:
    """Both sides of a layer holding a model in one order.

    Readers that had an architecture already give every inner layer's weights together. A
    legacy file without one lists all trainable weights first; its weight names say which inner
    layer each belongs to, so they are regrouped against the target's inner layers. If the
    names do not say, Keras' own rule applies: the target's weights in legacy order.
    """
    if source.config is not None or source.kind not in _LEGACY_KINDS:
        return s_entries, t_entries
    order = {path: i for i, path in enumerate(nested_trainable_flags(cfg))}
    # nested_trainable_flags keys start with the config's name, which is the target's name.
    keys: list[int] = []
    for entry in s_entries:
        parts = entry.name.split("/")
        found = None
        for cut in range(len(parts) - 1, 0, -1):
            candidate = "/".join([name, *parts[:cut]])
            if candidate in order:
                found = order[candidate]
                break
        if found is None:
            return s_entries, legacy_order(cfg, t_entries)
        keys.append(found)
    ranked = sorted(range(len(s_entries)), key=lambda i: keys[i])
    return [s_entries[i] for i in ranked], t_entries


def _source_theano(source: ModelArtifact, target: ModelArtifact, keras1: bool,
                   notes: list[str]) -> bool:
    """Whether a weights-only legacy source was trained with Theano (``formats._migrate``'s
    rule, applied to the target's architecture since the source has none)."""
    if source.config is not None or source.kind not in _LEGACY_KINDS:
        return False
    from ..formats._migrate import THEANO_ASSUMED, assume_theano

    theano = assume_theano(keras1, source.backend, target.source_config or target.config)
    if theano and not source.backend:
        notes.append(THEANO_ASSUMED)
    return theano


def _migrated(cfg: dict[str, Any], entries: list[WeightEntry], source: ModelArtifact,
              keras1: bool, theano: bool = False) -> tuple[list[WeightEntry], list[str]]:
    """A weights-only legacy source's layer in the Keras 2/3 layout, read as if it belonged to
    the target layer (``formats._migrate``: Keras 1 per-gate RNN weights, channels-first and
    Theano kernels, cuDNN RNNs). Files with an architecture were migrated by their reader."""
    if source.config is not None or source.kind not in _LEGACY_KINDS:
        return entries, []
    from ..formats._migrate import migrate_layer

    return migrate_layer(cfg, list(entries), keras1=keras1, theano=theano)


def _gru_hint(cfg: dict[str, Any], t_entries: list[WeightEntry],
              s_entries: list[WeightEntry]) -> str | None:
    """Name the GRU ``reset_after`` difference behind a bias shape mismatch."""
    config = cfg.get("config") or {}
    inner = cfg
    if cfg.get("class_name") in ("Bidirectional", "TimeDistributed"):
        inner = config.get("layer") or {}
    if inner.get("class_name") != "GRU" or len(t_entries) != len(s_entries):
        return None
    for t, s in zip(t_entries, s_entries):
        if t.shape != s.shape and len(t.shape) + len(s.shape) == 3 and \
                int(np.prod(t.shape)) in (int(np.prod(s.shape)), 2 * int(np.prod(s.shape)),
                                          int(np.prod(s.shape)) // 2):
            if len(t.shape) == 2:
                return ("GRU(reset_after=False) weights do not fit a GRU with "
                        "reset_after=True; set reset_after=False in the target")
            return ("GRU(reset_after=True) weights do not fit a GRU with reset_after=False; "
                    "set reset_after=True in the target")
    return None


def _cast(source: WeightEntry, target: WeightEntry) -> WeightEntry:
    """The source weight as the target stores it (same dtype, target's name and path)."""
    if source.dtype == target.dtype:
        return dataclasses.replace(target, location=source.location, loader=source.loader)
    read, dtype = source.loader, np.dtype(target.dtype)

    def load() -> np.ndarray:
        return np.asarray(read(), dtype=dtype)

    return dataclasses.replace(target, location=source.location, loader=load)


# ---------------------------------------------------------------------------------------------
# Applying the plan
# ---------------------------------------------------------------------------------------------


def mismatch_error(plan: TransferPlan, target: str, source: str) -> WeightMismatchError:
    """The WeightMismatchError listing every mismatched layer (``.plan`` holds the plan)."""
    parts = [f"{p.target}: {p.describe()}" for p in plan.mismatched]
    error = WeightMismatchError(
        f"{len(parts)} layer(s) of the target do not fit the weights of {source}: "
        + " | ".join(parts), path=target,
        hint="pass --skip-mismatch (skip_mismatch=True) to load the layers that fit and keep "
             "the target's weights for the others")
    error.plan = plan  # type: ignore[attr-defined]
    return error


def transferred_artifact(target: ModelArtifact, plan: TransferPlan) -> ModelArtifact:
    """``target`` with the loaded layers' weights read from the source (lazily) and every other
    weight unchanged."""
    replaced = {id(t): t_new for p in plan.loaded for t, t_new in p.pairs}
    layers = {name: [replaced.get(id(e), e) for e in entries]
              for name, entries in target.weights.layers.items()}
    return dataclasses.replace(target, weights=WeightStore(layers), notes=list(target.notes))


def _output_kind(target_kind: str, output: PathLike, kind: str | None) -> str:
    """``kind``, else the target's kind unless the output name clearly asks for another."""
    from ..formats import FORMATS, kind_from_extension

    if kind is not None:
        if kind not in FORMATS:
            raise UnsupportedError(f"unknown kind {kind!r}", path=output,
                                   hint=f"choose one of: {', '.join(FORMATS)}")
        from .convert import refuse_kind_conflict

        refuse_kind_conflict(output, kind)
        return kind
    hinted = kind_from_extension(output)
    if hinted is None or hinted == target_kind or {hinted, target_kind} <= LEGACY_HDF5_KINDS:
        return target_kind
    return hinted


def load_weights_by_name(target: PathLike | keras.Model, source: PathLike | ModelArtifact,
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
            ``.report`` holds the report.
        ModelToolError: unreadable inputs, a source without weights, bad ``mapping``, an
            existing output without ``force`` (exit 2).

    Example:
        >>> report = modeltool.load_weights_by_name("new.keras", "pretrained.h5",  # doctest: +SKIP
        ...                                         skip_mismatch=True, output="out.keras")
        >>> model = keras.models.load_model("new.keras")  # doctest: +SKIP
        >>> modeltool.load_weights_by_name(  # doctest: +SKIP
        ...     model, "pretrained.h5", skip_mismatch=True)
    """
    from ..formats import open_artifact

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
    from ..formats import open_artifact, write_artifact
    from ..io import check_output

    if not dry_run and output is None:
        raise ModelToolError("no output given", path=target,
                             hint="pass -o OUT (the target file itself is never modified)")
    with open_artifact(target) as target_art:
        if not target_art.weights:
            from .hints import beside, command

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
            error = mismatch_error(plan, os.fspath(target), source_name)
            error.report = report  # type: ignore[attr-defined]
            raise error
        if dry_run:
            return report
        if not plan.loaded:
            skipped = f", {len(plan.mismatched)} skipped as mismatched" if plan.mismatched else ""
            error = WeightMismatchError(
                f"no layer of {source_name} was loaded (no name matched{skipped}); "
                "nothing was written", path=target,
                hint="check the layer names (modeltool weights FILE), or map them with "
                     "--map OLD=NEW")
            error.report = report  # type: ignore[attr-defined]
            raise error
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


# ---------------------------------------------------------------------------------------------
# Live models (the only part that touches Keras objects; no module-level import)
# ---------------------------------------------------------------------------------------------


def _artifact_from_live(model: Any) -> tuple[ModelArtifact, dict[str, list[Any]]]:
    """A weights-and-config view of a live model without saving it, and its variables.

    The WeightStore lists each top-level layer's ``layer.weights`` in order (Keras' per-layer
    order); the second value maps the layer name to those variables, position for position.
    Entries read the variable's current value.
    """
    from ..formats._dialects import canonical_model_config

    config = None
    try:
        raw = {"class_name": type(model).__name__, "config": model.get_config()}
        if raw["class_name"] not in ("Sequential", "Functional", "Model"):
            raw["class_name"] = "Functional"
        config, _, _ = canonical_model_config(raw)
    except Exception:  # noqa: BLE001 - subclassed models have no usable config
        config = None
    layers: dict[str, list[WeightEntry]] = {}
    variables: dict[str, list[Any]] = {}
    for layer in model.layers:
        paths = _variable_paths(layer, layer.name)
        entries = []
        for variable in layer.weights:
            short = str(getattr(variable, "path", None) or variable.name).split(":")[0]
            entries.append(WeightEntry(
                layer=layer.name, path=paths.get(id(variable), layer.name),
                name=short.rsplit("/", 1)[-1], shape=tuple(int(d) for d in variable.shape),
                dtype=np.dtype(getattr(variable.dtype, "name", variable.dtype)).name,
                location=short, loader=_variable_reader(variable)))
        layers[layer.name] = entries
        variables[layer.name] = list(layer.weights)
    artifact = ModelArtifact(kind=Kind.KERAS_MODEL, path=None, config=config,
                             weights=WeightStore(layers), dialect=3)
    return artifact, variables


def _variable_reader(variable: Any) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)

    return read


def _variable_paths(layer: Any, path: str) -> dict[int, str]:
    """id(variable) -> layer path for the layers inside a model (``vision_model/conv2d``)."""
    inner = getattr(layer, "layers", None)
    wrapped = getattr(layer, "layer", None)
    if inner is None and wrapped is not None and hasattr(wrapped, "layers"):
        inner = wrapped.layers
    if inner is None:
        return {}
    found: dict[int, str] = {}
    for sub in inner:
        sub_path = f"{path}/{sub.name}"
        for variable in sub.weights:
            found.setdefault(id(variable), sub_path)
        found.update(_variable_paths(sub, sub_path))
    return found


def _into_model(model: Any, source: ModelArtifact, source_name: str, skip_mismatch: bool,
                mapping: Mapping[str, str] | Iterable[str] | None,
                dry_run: bool) -> TransferReport:
    if not hasattr(model, "layers") or not hasattr(model, "weights"):
        raise UnsupportedError(f"target is neither a path nor a Keras model "
                               f"({type(model).__name__})")
    target_art, variables = _artifact_from_live(model)
    plan = plan_by_name(target_art, source, mapping)
    label = f"<keras.Model {getattr(model, 'name', '?')}>"
    report = TransferReport(target=label, source=source_name, target_kind=Kind.KERAS_MODEL,
                            source_kind=source.kind, output=None, output_kind=None,
                            dry_run=dry_run, skip_mismatch=skip_mismatch, plan=plan)
    if plan.mismatched and not skip_mismatch:
        error = mismatch_error(plan, label, source_name)
        error.report = report  # type: ignore[attr-defined]
        raise error
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
    for variable, value in assignments:
        variable.assign(value)
    return report
