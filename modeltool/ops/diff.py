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

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..artifact import MODEL_CLASSES, ModelArtifact, WeightEntry
from ..errors import ModelToolError, UnsupportedError
from ..formats import open_artifact
from ..formats.dialects import layer_configs, layer_name, tensor_refs
from ..kinds import Kind
from ._blocks import blocks, rows_per_block

PathLike = str | os.PathLike[str]

#: Elements per step of the statistics (keeps the temporaries small and in cache).
_STAT_ELEMENTS = 1 << 18
#: Elements per dot product: float32 BLAS within a chunk, float64 across chunks.
_DOT_ELEMENTS = 1 << 14
#: Config keys that say nothing about what a layer computes (or are compared on their own).
_IGNORED_KEYS = frozenset({"name", "trainable", "build_config", "module", "registered_name",
                           "shared_object_id", "compile_config", "layers", "input_layers",
                           "output_layers"})


@dataclass
class LayerChange:
    """One architecture difference: ``kind`` is added, removed, renamed, class, config,
    connections or trainable."""

    kind: str
    layer: str
    detail: str = ""


@dataclass
class TensorDiff:
    """One weight tensor compared: ``status`` is identical, close (within the tolerances),
    different, shape, dtype, added or removed."""

    layer: str
    name: str
    status: str
    shape_a: tuple[int, ...] | None = None
    shape_b: tuple[int, ...] | None = None
    dtype_a: str | None = None
    dtype_b: str | None = None
    max_abs: float | None = None
    max_rel: float | None = None
    cosine: float | None = None


@dataclass
class DiffReport:
    """What ``diff`` found. ``same`` is the verdict the exit code follows."""

    a: str
    b: str
    kind_a: str
    kind_b: str
    keras_version_a: str | None
    keras_version_b: str | None
    compared: list[str]
    atol: float
    rtol: float
    layers: list[LayerChange] = field(default_factory=list)
    tensors: list[TensorDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed_tensors(self) -> list[TensorDiff]:
        return [t for t in self.tensors if t.status not in ("identical", "close")]

    @property
    def same(self) -> bool:
        return not self.layers and not self.changed_tensors

    @property
    def verdict(self) -> str:
        parts = []
        if "arch" in self.compared:
            parts.append("same architecture" if not self.layers else
                         f"architecture differs ({len(self.layers)} change"
                         f"{'s' if len(self.layers) != 1 else ''})")
        if "weights" in self.compared:
            total = len(self.tensors)
            changed = len(self.changed_tensors)
            close = sum(t.status == "close" for t in self.tensors)
            if not changed:
                parts.append(f"same weights ({total} tensors"
                             + (f", {close} within tolerance" if close else "") + ")")
            else:
                parts.append(f"weights differ ({changed} of {total} tensors)")
        head = "same" if self.same else "different"
        return f"{head}: " + ", ".join(parts)


@dataclass
class _Layer:
    path: str
    class_name: str
    config: dict[str, Any]
    trainable: bool
    inbound: list[list[str]]


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
            renames = _Renames(art_a, art_b)
            if compare_arch:
                _diff_arch(report, art_a, art_b, renames)
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


# ---------------------------------------------------------------------------- architecture


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


class _Renames:
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
            self._hashes[key] = tuple((e.name, e.dtype, str(e.shape), _digest(e))
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


def _diff_arch(report: DiffReport, art_a: ModelArtifact, art_b: ModelArtifact,
               renames: _Renames) -> None:
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


# ---------------------------------------------------------------------------- weights


def _same_head(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the first bytes agree: blocks that differ there need no hash to tell."""
    head_a = np.ascontiguousarray(a).reshape(-1).view(np.uint8)[:4096]
    head_b = np.ascontiguousarray(b).reshape(-1).view(np.uint8)[:4096]
    return head_a.shape == head_b.shape and bool(np.array_equal(head_a, head_b))


def _block_digest(block: np.ndarray) -> bytes:
    return hashlib.sha1(np.ascontiguousarray(block).view(np.uint8).data,
                        usedforsecurity=False).digest()


def _digest(entry: WeightEntry) -> str:
    hasher = hashlib.sha1(usedforsecurity=False)
    for block in blocks(entry, rows_per_block(entry)):
        hasher.update(np.ascontiguousarray(block).view(np.uint8).data)
    return hasher.hexdigest()


_BUFFERS: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _buffers(work: np.dtype[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three scratch arrays of _STAT_ELEMENTS, made once per dtype and reused."""
    if work.name not in _BUFFERS:
        _BUFFERS[work.name] = (np.empty(_STAT_ELEMENTS, work), np.empty(_STAT_ELEMENTS, work),
                               np.empty(_STAT_ELEMENTS, work))
    return _BUFFERS[work.name]


@dataclass
class _Stats:
    max_abs: float = 0.0
    max_rel: float = 0.0
    dot: float = 0.0
    norm_a: float = 0.0
    norm_b: float = 0.0
    outside: int = 0
    nan: bool = False

    def add(self, a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> None:
        """Fold one pair of blocks in: float32 arithmetic where the data is float32 or
        narrower (float64 otherwise), dot products per chunk summed in float64. The
        temporaries are three reused buffers (fresh ones would cost page faults per chunk)."""
        flat_a = a.reshape(-1)
        flat_b = b.reshape(-1)
        wide = a.dtype.itemsize > 4 or b.dtype.itemsize > 4 or a.dtype.kind not in "fV" \
            or b.dtype.kind not in "fV"
        work = np.dtype(np.float64 if wide else np.float32)
        tiny = np.finfo(np.float64).tiny if wide else np.finfo(np.float32).tiny
        delta_buf, scale_buf, spare_buf = _buffers(work)
        for start in range(0, flat_a.size, _STAT_ELEMENTS):
            x = flat_a[start:start + _STAT_ELEMENTS].astype(work, copy=False)
            y = flat_b[start:start + _STAT_ELEMENTS].astype(work, copy=False)
            count = x.size
            delta, scale, spare = delta_buf[:count], scale_buf[:count], spare_buf[:count]
            np.subtract(x, y, out=delta)
            np.abs(delta, out=delta)
            peak = float(delta.max()) if count else 0.0
            if math.isnan(peak):
                self._add_nonfinite(x, y, delta.copy(), atol, rtol)
                continue
            self.max_abs = max(self.max_abs, peak)
            np.abs(y, out=spare)
            if atol == 0.0 and rtol == 0.0:
                self.outside += int(np.count_nonzero(delta))
            else:
                np.multiply(spare, rtol, out=scale)
                scale += atol
                self.outside += int(np.count_nonzero(np.greater(delta, scale, out=scale)))
            # where both values are 0 the difference is 0 too: tiny keeps 0/0 out
            np.abs(x, out=scale)
            np.maximum(scale, spare, out=scale)
            scale += tiny
            np.divide(delta, scale, out=delta)
            self.max_rel = max(self.max_rel, float(delta.max()) if count else 0.0)
            self._dots(x, y)

    def _dots(self, x: np.ndarray, y: np.ndarray) -> None:
        for start in range(0, x.size, _DOT_ELEMENTS):
            u = x[start:start + _DOT_ELEMENTS]
            v = y[start:start + _DOT_ELEMENTS]
            self.dot += float(np.dot(u, v))
            self.norm_a += float(np.dot(u, u))
            self.norm_b += float(np.dot(v, v))

    def _add_nonfinite(self, x: np.ndarray, y: np.ndarray, delta: np.ndarray, atol: float,
                       rtol: float) -> None:
        """The slow path for blocks holding NaN: NaN counts as outside any tolerance."""
        self.nan = True
        self.outside += int(np.count_nonzero(~(delta <= atol + rtol * np.abs(y))))
        finite = np.isfinite(x) & np.isfinite(y)
        x, y, delta = x[finite], y[finite], delta[finite]
        if delta.size:
            self.max_abs = max(self.max_abs, float(delta.max()))
            scale = np.maximum(np.abs(x), np.abs(y)) + np.finfo(x.dtype).tiny
            self.max_rel = max(self.max_rel, float((delta / scale).max()))
        self._dots(x, y)

    @property
    def cosine(self) -> float:
        if self.norm_a == 0.0 and self.norm_b == 0.0:
            return 1.0
        if self.norm_a == 0.0 or self.norm_b == 0.0:
            return 0.0
        return self.dot / math.sqrt(self.norm_a * self.norm_b)


def _compare(layer: str, ea: WeightEntry, eb: WeightEntry, atol: float,
             rtol: float) -> TensorDiff:
    result = TensorDiff(layer, ea.name, "identical", ea.shape, eb.shape, ea.dtype, eb.dtype)
    if ea.shape != eb.shape:
        result.status = "shape"
        return result
    stats = _Stats()
    numeric = True
    identical = ea.dtype == eb.dtype
    rows = rows_per_block(ea, eb)
    for block_a, block_b in zip(blocks(ea, rows), blocks(eb, rows)):
        if ea.dtype == eb.dtype and _same_head(block_a, block_b) \
                and _block_digest(block_a) == _block_digest(block_b):
            _accumulate_norms(stats, block_a)  # an identical block: no float comparison
            continue
        identical = False
        try:
            stats.add(block_a, block_b, atol, rtol)
        except (TypeError, ValueError):
            numeric = False
    if identical:
        return result
    if numeric:
        result.max_abs, result.max_rel, result.cosine = \
            stats.max_abs, stats.max_rel, stats.cosine
    if ea.dtype != eb.dtype:
        result.status = "close" if numeric and not stats.outside and not stats.nan \
            and (atol or rtol) else "dtype"
    else:
        result.status = "close" if numeric and not stats.outside and not stats.nan \
            else "different"
    return result


def _accumulate_norms(stats: _Stats, block: np.ndarray) -> None:
    """An identical block adds to both norms and to the dot product equally."""
    flat = block.reshape(-1)
    if flat.dtype.kind not in "fiubV" or flat.dtype.kind == "V" and flat.dtype.name != "bfloat16":
        return
    work = np.float32 if flat.dtype.kind in "fV" and flat.dtype.itemsize <= 4 else np.float64
    for start in range(0, flat.size, _STAT_ELEMENTS):
        x = flat[start:start + _STAT_ELEMENTS].astype(work, copy=False)
        if not np.isfinite(x).all():
            x = x[np.isfinite(x)]
        for part in range(0, x.size, _DOT_ELEMENTS):
            u = x[part:part + _DOT_ELEMENTS]
            value = float(np.dot(u, u))
            stats.dot += value
            stats.norm_a += value
            stats.norm_b += value


def _diff_weights(report: DiffReport, art_a: ModelArtifact, art_b: ModelArtifact,
                  renames: _Renames) -> None:
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
        report.tensors.append(_compare(eb.path, ea, eb, report.atol, report.rtol))
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
