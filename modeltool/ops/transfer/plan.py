"""Planning a by-name transfer: pair layers by name, compare weight counts and shapes.

Pure: no TensorFlow, no weight bytes read (shapes come from the file's metadata).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ...artifact import ModelArtifact, WeightEntry
from ...errors import ModelToolError
from ...formats.dialects import inner_model, keras1_layout, layer_configs, layer_name
from ...formats.weight_layout import legacy_order, nested_trainable_flags
from ...kinds import LEGACY_HDF5_KINDS
from ...layer_classes import WRAPPER_CLASSES
from .mapping import parse_mapping, rename_layers
from .report import (
    COUNT_MISMATCH,
    LOADED,
    MISSING,
    SHAPE_MISMATCH,
    LayerPlan,
    TransferPlan,
    WeightMismatch,
)

_LEGACY_KINDS = LEGACY_HDF5_KINDS


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
    renames, notes = rename_layers(rules, source_names, target_names, source_path, target_path)
    feeds: dict[str, str] = {}  # target name -> source name
    for old, new in renames.items():
        if not source.weights.layer(old) and new in feeds:
            continue  # a weightless source layer never competes with one that has weights
        if new in feeds and source.weights.layer(feeds[new]):
            raise ModelToolError(
                f"source layers {feeds[new]!r} and {old!r} both map to target layer {new!r}",
                path=source_path, hint="make the --map rules pick one of them")
        feeds[new] = old
    keras1 = keras1_layout(source)
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


def _plan_layer(name: str, source_name: str, cfg: dict[str, Any] | None,
                class_name: str | None, t_entries: list[WeightEntry],
                s_entries: list[WeightEntry], source: ModelArtifact, keras1: bool,
                notes: list[str], theano: bool = False) -> LayerPlan:
    if cfg is not None and inner_model(cfg) is not None:
        s_entries, t_entries = _nested_order(cfg, name, t_entries, s_entries, source)
    note = None
    if cfg is not None:
        # Legacy weights go through the same migration whatever the route (convert --weights
        # reads them with formats.migrate too); a layout that already fits is kept only when
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
    """Whether a weights-only legacy source was trained with Theano (``formats.migrate``'s
    rule, applied to the target's architecture since the source has none)."""
    if source.config is not None or source.kind not in _LEGACY_KINDS:
        return False
    from ...formats.migrate import THEANO_ASSUMED, assume_theano

    theano = assume_theano(keras1, source.backend, target.source_config or target.config)
    if theano and not source.backend:
        notes.append(THEANO_ASSUMED)
    return theano


def _migrated(cfg: dict[str, Any], entries: list[WeightEntry], source: ModelArtifact,
              keras1: bool, theano: bool = False) -> tuple[list[WeightEntry], list[str]]:
    """A weights-only legacy source's layer in the Keras 2/3 layout, read as if it belonged to
    the target layer (``formats.migrate``: Keras 1 per-gate RNN weights, channels-first and
    Theano kernels, cuDNN RNNs). Files with an architecture were migrated by their reader."""
    if source.config is not None or source.kind not in _LEGACY_KINDS:
        return entries, []
    from ...formats.migrate import migrate_layer

    return migrate_layer(cfg, list(entries), keras1=keras1, theano=theano)


def _gru_hint(cfg: dict[str, Any], t_entries: list[WeightEntry],
              s_entries: list[WeightEntry]) -> str | None:
    """Name the GRU ``reset_after`` difference behind a bias shape mismatch."""
    config = cfg.get("config") or {}
    inner = cfg
    if cfg.get("class_name") in WRAPPER_CLASSES:
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
