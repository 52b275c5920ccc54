"""``diff``, architecture side: every layer of both configs (nested models included) matched by
path, and layers missing on one side and new on the other matched as renames when their
weights are identical (or, for layers without weights, when class, config and connections
agree)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..artifact import MODEL_CLASSES, ModelArtifact
from ..formats.dialects import layer_configs, layer_name, tensor_refs
from ._diff_tensors import digest
from .diff_report import DiffReport, LayerChange

#: Config keys that say nothing about what a layer computes (or are compared on their own).
#: Config keys that say nothing about what a layer computes (or are compared on their own).
_IGNORED_KEYS = frozenset({"name", "trainable", "build_config", "module", "registered_name",
                           "shared_object_id", "compile_config", "layers", "input_layers",
                           "output_layers"})



@dataclass
class _Layer:
    path: str
    class_name: str
    config: dict[str, Any]
    trainable: bool
    inbound: list[list[str]]



def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, _Layer]:
    """Every layer of a model config, nested models included, keyed by layer path."""
    found: dict[str, _Layer] = {}
    layers = layer_configs(config)
    sequential = config.get("class_name") == "Sequential"
    previous: str | None = None
    for layer in layers:
        name = layer_name(layer)
        path = f"{prefix}{name}"
        cfg = layer.get("config") or {}
        if sequential:
            inbound = [[previous]] if previous is not None else []
            previous = name
        else:
            inbound = [[ref[0] for ref in tensor_refs(node)]
                       for node in layer.get("inbound_nodes") or []]
        found[path] = _Layer(path, str(layer.get("class_name")), _comparable(cfg),
                             bool(cfg.get("trainable", True)), inbound)
        if layer.get("class_name") in MODEL_CLASSES:
            found.update(_flatten(layer, f"{path}/"))
    return found


def _comparable(value: Any) -> Any:
    """A config with what does not affect the computation removed, dtype policies as names."""
    if isinstance(value, dict):
        if value.get("class_name") in ("DTypePolicy", "Policy") and "config" in value:
            return str((value.get("config") or {}).get("name"))
        return {k: _comparable(v) for k, v in value.items() if k not in _IGNORED_KEYS}
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    return value


def _field_changes(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{prefix}{key}"
            if old.get(key) is None and new.get(key) is None:
                continue  # Keras reads an absent argument and a null one alike
            if key not in old:
                changes.append(f"{where}: (absent) -> {_short(new[key])}")
            elif key not in new:
                changes.append(f"{where}: {_short(old[key])} -> (absent)")
            else:
                changes += _field_changes(old[key], new[key], f"{where}.")
        return changes
    if old != new:
        return [f"{prefix.rstrip('.')}: {_short(old)} -> {_short(new)}"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


class Renames:
    """Old layer path -> new layer path for layers matched under another name."""

    def __init__(self, art_a: ModelArtifact, art_b: ModelArtifact) -> None:
        self.art_a, self.art_b = art_a, art_b
        self.mapping: dict[str, str] = {}
        self._hashes: dict[tuple[int, str], tuple[tuple[str, ...], ...]] = {}

    def weights_hash(self, side: int, path: str) -> tuple[tuple[str, ...], ...] | None:
        """The hashes of the weights stored under a layer path (None when it has none)."""
        key = (side, path)
        if key not in self._hashes:
            art = self.art_a if side == 0 else self.art_b
            entries = [e for e in art.weights
                       if e.path == path or e.path.startswith(f"{path}/")]
            self._hashes[key] = tuple((e.name, e.dtype, str(e.shape), digest(e))
                                      for e in entries)
        found = self._hashes[key]
        return found or None

    def from_weights(self) -> None:
        """Renames among top-level weight groups (for files compared by weights only)."""
        names_a = set(self.art_a.weights.layers)
        names_b = set(self.art_b.weights.layers)
        self.match(sorted(names_a - names_b), sorted(names_b - names_a), None, None)

    def match(self, removed: list[str], added: list[str], layers_a: dict[str, _Layer] | None,
              layers_b: dict[str, _Layer] | None) -> None:
        left = list(added)
        for old in removed:
            old_hash = self.weights_hash(0, old)
            for new in left:
                if layers_a is not None and layers_b is not None and \
                        layers_a[old].class_name != layers_b[new].class_name:
                    continue
                if old_hash is not None:
                    if self.weights_hash(1, new) != old_hash:
                        continue
                elif layers_a is None or layers_b is None or self.weights_hash(1, new) \
                        or layers_a[old].config != layers_b[new].config \
                        or self.inbound(layers_a[old]) != layers_b[new].inbound:
                    continue
                self.mapping[old] = new
                left.remove(new)
                break

    def path(self, old: str) -> str:
        """``old`` with renamed segments replaced (nested layers of a renamed model too)."""
        parts = old.split("/")
        for end in range(len(parts), 0, -1):
            head = "/".join(parts[:end])
            if head in self.mapping:
                return "/".join([self.mapping[head], *parts[end:]])
        return old

    def inbound(self, layer: _Layer) -> list[list[str]]:
        prefix = layer.path.rsplit("/", 1)[0] + "/" if "/" in layer.path else ""

        def renamed(name: str) -> str:
            return self.path(f"{prefix}{name}").removeprefix(prefix)

        return [[renamed(name) for name in node] for node in layer.inbound]


def diff_arch(report: DiffReport, art_a: ModelArtifact, art_b: ModelArtifact,
               renames: Renames) -> None:
    if art_a.config is None or art_b.config is None:
        return
    layers_a = _flatten(art_a.config)
    layers_b = _flatten(art_b.config)
    removed = [p for p in layers_a if p not in layers_b]
    added = [p for p in layers_b if p not in layers_a]
    renames.match(removed, added, layers_a, layers_b)
    changes = report.layers
    outer_a = art_a.config.get("class_name")
    outer_b = art_b.config.get("class_name")
    if outer_a != outer_b:
        changes.append(LayerChange("class", "(model)", f"{outer_a} -> {outer_b}"))
    for path, old in layers_a.items():
        if path in renames.mapping:
            changes.append(LayerChange("renamed", path, f"-> {renames.mapping[path]}"))
        new_path = renames.path(path)
        new = layers_b.get(new_path)
        if new is None:
            if path not in renames.mapping and not any(
                    path.startswith(f"{r}/") for r in renames.mapping):
                changes.append(LayerChange("removed", path, old.class_name))
            continue
        if old.class_name != new.class_name:
            changes.append(LayerChange("class", new_path, f"{old.class_name} -> "
                                                          f"{new.class_name}"))
            continue
        if old.trainable != new.trainable:
            changes.append(LayerChange("trainable", new_path, f"{old.trainable} -> "
                                                              f"{new.trainable}"))
        fields = _field_changes(old.config, new.config)
        if fields:
            changes.append(LayerChange("config", new_path, "; ".join(fields)))
        if renames.inbound(old) != new.inbound:
            changes.append(LayerChange("connections", new_path,
                                       f"{_nodes(renames.inbound(old))} -> "
                                       f"{_nodes(new.inbound)}"))
    mapped = {renames.path(p) for p in layers_a}
    for path, new in layers_b.items():
        if path not in mapped:
            changes.append(LayerChange("added", path, new.class_name))


def _nodes(inbound: list[list[str]]) -> str:
    return " | ".join(", ".join(node) or "-" for node in inbound) or "-"
