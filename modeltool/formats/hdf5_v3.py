"""Keras 3 ``.weights.h5``: variables under generated paths (``layers/<name>/vars/<i>``).

Keras 3 names each layer's group after its class (``dense``, ``dense_1``, ...), puts an RNN's
weights under ``cell``, a Bidirectional's under ``forward_layer``/``backward_layer``, a
TimeDistributed's under ``layer`` and a nested model's under ``layers``. Since Keras 3.10 or so
each ``vars`` group also carries the real name in a ``name`` attribute. With the architecture at
hand both directions are exact; without it, the reader falls back to a generic walk.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import h5py

from ..artifact import ModelArtifact, WeightEntry, WeightStore
from ..errors import CorruptFileError, UnsupportedError
from ..io import atomic_path, check_output, check_space, wrote
from ..kinds import Kind
from ..layer_classes import RNN_CLASSES, weight_names
from . import _h5
from .dialects.keras_classes import KERAS3_LAYER_CLASSES
from .dialects.walk import inner_model, layer_name
from .weight_layout import (
    SUBLAYER_CLASSES,
    SUBLAYERS,
    direction_name,
    generated_names,
    rnn_cell,
    saveable_layers,
    shared_id,
    stacked_cells,
    to_snake_case,
)

KIND = Kind.K3_WEIGHTS
EXTENSIONS = (".weights.h5",)


def sniff_kind(path: str | os.PathLike[str]) -> str | None:
    """``k3-weights`` when the HDF5 file has the Keras 3 ``layers/.../vars`` layout."""
    if not _h5.is_hdf5(path):
        return None
    try:
        with h5py.File(path, "r") as handle:
            if "model_config" in handle.attrs or "layer_names" in handle.attrs:
                return None
            if isinstance(handle.get("layers", getlink=True), h5py.HardLink) \
                    or "vars" in handle or "_layer_checkpoint_dependencies" in handle:
                return KIND
    except Exception:  # noqa: BLE001 - sniffing never raises
        return None
    return None


def read_weights_h5(path: str | os.PathLike[str],
                    config: dict[str, Any] | None = None) -> ModelArtifact:
    """Read a Keras 3 ``.weights.h5`` file (lazily).

    Args:
        path: the file.
        config: the model architecture, when known (maps generated paths exactly).

    Example:
        >>> art = read_weights_h5("model.weights.h5")  # doctest: +SKIP
    """
    display = os.fspath(path)
    handle = _h5.open_h5(path, display)
    layers = _h5.read_or_close(handle, display, lambda: read_v3_layers(handle, config, display))
    artifact = ModelArtifact(kind=KIND, path=Path(path), config=config,
                             weights=WeightStore(layers, closer=handle.close), dialect=3)
    if "optimizer" in handle:
        artifact.optimizer_weights = True
    return artifact


def read_v3_layers(root: h5py.Group, config: dict[str, Any] | None,
                   display: str) -> dict[str, list[WeightEntry]]:
    """Weights of a Keras 3 layout, keyed by real top-level layer name."""
    # tf.keras 2.13 wrote "_layer_checkpoint_dependencies" for what Keras 3 calls "layers".
    key = "layers" if "layers" in root else "_layer_checkpoint_dependencies"
    if key not in root:
        return {}
    reader = _Reader(display, key)
    if config is not None:
        layers = reader.model_with_config(root, config, ())
        if layers is not None:
            return layers
    return _walk_model(reader, root, None, "", key=key)


@dataclass
class _Reader:
    display: str
    key: str = "layers"
    #: shared_object_ids met so far: Keras stores a shared object's weights once, at its first
    #: occurrence in its depth-first walk, and writes no group for the later ones.
    shared: set[Any] = field(default_factory=set)

    def entries(self, vars_group: h5py.Group, top: str, path: str, prefix: str,
                names: list[str] | None) -> list[WeightEntry]:
        keys = sorted((k for k in vars_group.keys()), key=_numeric)
        if names is not None and len(names) != len(keys):
            names = None
        found = []
        for i, key in enumerate(keys):
            ds = _h5.dataset(vars_group, key, self.display, path)
            short = names[i] if names is not None else key
            found.append(WeightEntry(
                layer=top, path=path, name=f"{prefix}{short}",
                shape=tuple(int(d) for d in ds.shape), dtype=str(_h5.value_dtype(ds)),
                location=ds.name, loader=partial(_h5.read_array, ds, self.display, path)))
        return found

    def model_with_config(self, root: h5py.Group, model: dict[str, Any],
                          path: tuple[str, ...]) -> dict[str, list[WeightEntry]] | None:
        layers_group = _h5.group(root, self.key, self.display) if self.key in root else None
        if layers_group is None:
            return None
        result: dict[str, list[WeightEntry]] = {}
        saveable = saveable_layers(model)
        by_attr = {_attr_name(layers_group, g, self.display): g for g in layers_group.keys()}
        by_attr.pop(None, None)
        ordinal = _ordinal_names(saveable, list(layers_group.keys()))
        for layer, generated in zip(saveable, generated_names(saveable)):
            name = layer_name(layer)
            if _seen_before(self.shared, layer):
                result.setdefault(name, [])
                continue
            group_name = by_attr.get(name) or (generated if generated in layers_group else None)
            if ordinal is not None:
                group_name = by_attr.get(name) or ordinal.get(name)
            if group_name is None:
                return None  # the file does not follow this architecture: walk it instead
            group = _h5.group(layers_group, group_name, self.display)
            top = path[0] if path else name
            full = "/".join((*path, name))
            result[name] = self.layer(group, layer, top, full, "")
        return result

    def layer(self, group: h5py.Group, layer: dict[str, Any], top: str, path: str,
              prefix: str) -> list[WeightEntry]:
        class_name = layer.get("class_name")
        config = layer.get("config") or {}
        found: list[WeightEntry] = []
        if "vars" in group:
            found += self.entries(_h5.group(group, "vars", self.display), top, path, prefix,
                                  weight_names(layer) if class_name not in RNN_CLASSES else None)
        model = inner_model(layer)
        cell_config = rnn_cell(layer)
        if class_name in RNN_CLASSES and "cell" in group:
            cell = _h5.group(group, "cell", self.display)
            found += self.entries(_h5.group(cell, "vars", self.display), top, path,
                                  f"{prefix}{to_snake_case(class_name)}_cell/",
                                  weight_names(layer))
        elif cell_config is not None and "cell" in group:
            found += self.cell(_h5.group(group, "cell", self.display), cell_config, top, path,
                               f"{prefix}{layer_name(cell_config)}/")
        elif class_name == "Bidirectional":
            inner = config.get("layer") or {}
            backward = config.get("backward_layer") or inner
            for attr, sub in (("forward_layer", inner), ("backward_layer", backward)):
                if attr in group:
                    direction = attr.split("_")[0]
                    found += self.layer(_h5.group(group, attr, self.display), sub, top, path,
                                        f"{prefix}{direction_name(direction, sub)}/")
        elif model is not None:
            model_group = group if model is layer else _h5.group(group, "layer", self.display)
            nested = self.model_with_config(model_group, model, tuple(path.split("/")))
            if nested is None:
                raise CorruptFileError(f"weights of nested model {path!r} do not follow its "
                                       "architecture", path=self.display)
            for entries in nested.values():
                found += entries
        elif class_name == "TimeDistributed" and "layer" in group:
            found += self.layer(_h5.group(group, "layer", self.display),
                                config.get("layer") or {}, top, path, prefix)
        else:
            found += self.sublayers(group, str(class_name), top, path, prefix)
        return found

    def sublayers(self, group: h5py.Group, class_name: str, top: str, path: str,
                  prefix: str) -> list[WeightEntry]:
        """Weights a layer keeps in inner layers (MultiHeadAttention's query/key/value/output
        EinsumDense), named ``<inner name>/<weight>``, in Keras' order where it is known."""
        children = [c for c in group.keys() if c != "vars" and isinstance(group[c], h5py.Group)]
        order = {attr: i for i, (attr, _name) in enumerate(SUBLAYERS.get(class_name, []))}
        found: list[WeightEntry] = []
        for child in sorted(children, key=lambda c: (order.get(c, len(order)), _natural(c))):
            label = _vars_name(group, child, self.display)
            found += _walk_layer(self, _h5.group(group, child, self.display), top, path,
                                 f"{prefix}{label}/",
                                 SUBLAYER_CLASSES.get(class_name) or class_of_group(label))
        return found


    def cell(self, group: h5py.Group, cell: dict[str, Any], top: str, path: str,
             prefix: str) -> list[WeightEntry]:
        """A generic RNN's cell (``layers/rnn/cell/vars``); a StackedRNNCells keeps its cells
        under ``cell/cells/<generated name>``, in order."""
        found: list[WeightEntry] = []
        if "vars" in group:
            found += self.entries(_h5.group(group, "vars", self.display), top, path, prefix,
                                  weight_names(cell))
        cells = stacked_cells(cell)
        if cells and "cells" in group:
            cells_group = _h5.group(group, "cells", self.display)
            for sub, generated in zip(cells, generated_names(cells)):
                if generated not in cells_group:
                    raise CorruptFileError(f"weights of cell {layer_name(sub)!r} of layer "
                                           f"{path!r} are missing", path=self.display)
                found += self.cell(_h5.group(cells_group, generated, self.display), sub, top,
                                   path, f"{prefix}{layer_name(sub)}/")
        return found


def _seen_before(shared: set[Any], layer: dict[str, Any]) -> bool:
    """True for a later occurrence of a shared object (its weights are stored at the first)."""
    key = shared_id(layer)
    if key is None:
        return False
    if key in shared:
        return True
    shared.add(key)
    return False


def _ordinal_names(layers: list[dict[str, Any]], groups: list[str]) -> dict[str, str] | None:
    """Layer name -> group when generated names are not consecutive (tf.keras 2.13 skipped
    numbers): the k-th layer of a class takes the k-th group of that class's base name."""
    generated = generated_names(layers)
    if all(g in groups for g in generated):
        return None
    by_base: dict[str, list[str]] = {}
    for group in sorted(groups, key=_natural):
        by_base.setdefault(re.sub(r"_\d+$", "", group), []).append(group)
    result: dict[str, str] = {}
    seen: dict[str, int] = {}
    for layer, name in zip(layers, generated):
        base = re.sub(r"_\d+$", "", name)
        index = seen.get(base, 0)
        seen[base] = index + 1
        candidates = by_base.get(base, [])
        if index < len(candidates):
            result[layer_name(layer)] = candidates[index]
    return result


def _numeric(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 62, key)


def _natural(key: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def _attr_name(parent: h5py.Group, child: str, display: str) -> str | None:
    """The real name Keras records on ``<child>/vars`` (Keras 3.10+), if any."""
    group = parent.get(child)
    if isinstance(group, h5py.Group) and isinstance(group.get("vars"), h5py.Group):
        return _h5.attr_str(group["vars"], "name", display) or None
    return None


def _vars_name(parent: h5py.Group, child: str, display: str) -> str:
    return _attr_name(parent, child, display) or child


def _walk_model(reader: _Reader, root: h5py.Group, top: str | None, path: str,
                key: str = "layers") -> dict[str, list[WeightEntry]]:
    """The architecture-free reading: real names from ``name`` attributes where Keras wrote
    them, generated names otherwise; sub-objects in Keras' weight order."""
    layers_group = _h5.group(root, key, reader.display) if key else root
    result: dict[str, list[WeightEntry]] = {}
    for child in sorted(layers_group.keys(), key=_natural):
        obj = layers_group[child]
        if not isinstance(obj, h5py.Group):
            continue
        name = _vars_name(layers_group, child, reader.display)
        layer_top = top or name
        layer_path = f"{path}/{name}" if path else name
        result[name] = _walk_layer(reader, obj, layer_top, layer_path, "", class_of_group(child))
    return result


def class_of_group(key: str) -> str | None:
    """The Keras class a generated group name stands for (``conv2d_3`` -> ``Conv2D``)."""
    if not _SNAKE_TO_CLASS:
        _SNAKE_TO_CLASS.update({to_snake_case(c): c for c in sorted(KERAS3_LAYER_CLASSES)})
    return _SNAKE_TO_CLASS.get(re.sub(r"_\d+$", "", key))


_SNAKE_TO_CLASS: dict[str, str] = {}


def _walk_layer(reader: _Reader, group: h5py.Group, top: str, path: str,
                prefix: str, class_name: str | None = None) -> list[WeightEntry]:
    found: list[WeightEntry] = []
    # Without the architecture, the generated group name still tells the class, hence the
    # weights' names (kept only when their count fits).
    names = weight_names({"class_name": class_name, "config": {}}) \
        if class_name and class_name not in RNN_CLASSES else None
    if "vars" in group:
        found += reader.entries(_h5.group(group, "vars", reader.display), top, path, prefix,
                                names)
    children = [c for c in group.keys() if c != "vars" and isinstance(group[c], h5py.Group)]
    order = {"forward_layer": 0, "backward_layer": 1}
    for child in sorted(children, key=lambda c: (order.get(c, 2), _natural(c))):
        if child == reader.key:
            for entries in _walk_model(reader, group, top, path, key=child).values():
                found += entries
        else:
            sub = _h5.group(group, child, reader.display)
            label = _vars_name(group, child, reader.display)
            if child == "cell":
                inner = class_name if class_name in RNN_CLASSES else None
                found += reader.entries(_h5.group(sub, "vars", reader.display), top, path,
                                        f"{prefix}{label}/",
                                        weight_names({"class_name": inner, "config": {}})
                                        if inner else None) if "vars" in sub else []
                continue
            direction = child.removesuffix("_layer") if child in order else None
            inner = class_of_group(label.removeprefix(f"{direction}_")) if direction else None
            found += _walk_layer(reader, sub, top, path, f"{prefix}{label}/", inner)
    return found


def write_weights_h5(artifact: ModelArtifact, path: str | os.PathLike[str], *,
                     force: bool = False) -> Path:
    """Write a Keras 3 ``.weights.h5`` file that ``model.load_weights`` accepts.

    Raises:
        UnsupportedError: the artifact has no architecture (the generated paths need it).
    """
    out = check_output(path, force=force)
    check_space(out, _h5.estimated_size(artifact.weights.total_bytes, len(artifact.weights)))
    with atomic_path(out, suffix=".weights.h5") as tmp, h5py.File(tmp, "w") as handle:
        write_v3_layers(handle, artifact)
    return out


def write_v3_layers(root: h5py.Group, artifact: ModelArtifact) -> None:
    """The Keras 3 layout of ``artifact``'s weights into an open HDF5 group."""
    if artifact.config is None:
        raise UnsupportedError("a Keras 3 weights file needs the model architecture to name "
                               "its paths, and this file has none", path=artifact.path,
                               hint="convert from a file with an architecture, or give one")
    writer = _Writer(artifact)
    root.create_group("vars").attrs["name"] = artifact.name or "model"
    writer.model(root, artifact.config, None)
    left = [name for name, entries in artifact.weights.layers.items()
            if entries and name not in writer.written]
    if left:
        raise UnsupportedError(f"weights for layers not in the architecture: {', '.join(left)}",
                               path=artifact.path)
    for name, entries in artifact.weights.layers.items():
        if len(entries) != writer.stored.get(name, 0):
            raise UnsupportedError(
                f"the weights of layer {name!r} do not fit its architecture "
                f"({len(entries)} tensors, {writer.stored.get(name, 0)} placed)",
                path=artifact.path)


@dataclass
class _Writer:
    artifact: ModelArtifact
    written: set[str] = field(default_factory=set)
    stored: dict[str, int] = field(default_factory=dict)
    shared: set[Any] = field(default_factory=set)

    def model(self, root: h5py.Group, model: dict[str, Any],
              entries: list[WeightEntry] | None, path: str = "") -> None:
        layers_group = root.create_group("layers")
        saveable = saveable_layers(model)
        for layer, generated in zip(saveable, generated_names(saveable)):
            name = layer_name(layer)
            if _seen_before(self.shared, layer):
                if entries is None:
                    self.written.add(name)
                continue  # Keras writes a shared object once, where it first meets it
            group = layers_group.create_group(generated)
            if entries is None:  # top level
                self.written.add(name)
                own = list(self.artifact.weights.layer(name))
                self.layer(group, layer, own, name)
            else:
                full = f"{path}/{name}"
                own = [e for e in entries if e.path == full or e.path.startswith(f"{full}/")]
                self.layer(group, layer, own, full)

    def layer(self, group: h5py.Group, layer: dict[str, Any], entries: list[WeightEntry],
              path: str) -> None:
        class_name = layer.get("class_name")
        config = layer.get("config") or {}
        own_vars = group.create_group("vars")
        own_vars.attrs["name"] = layer_name(layer)
        model = inner_model(layer)
        cell_config = rnn_cell(layer)
        if class_name in RNN_CLASSES:
            cell = group.create_group("cell").create_group("vars")
            cell.attrs["name"] = f"{to_snake_case(class_name)}_cell"
            self.vars(cell, entries)
        elif cell_config is not None:
            self.cell(group.create_group("cell"), cell_config, entries, path)
        elif class_name == "Bidirectional":
            half = len(entries) // 2
            inner = config.get("layer") or {}
            backward = config.get("backward_layer") or inner
            self.layer(group.create_group("forward_layer"),
                       _named(inner, direction_name("forward", inner)), entries[:half], path)
            self.layer(group.create_group("backward_layer"),
                       _named(backward, direction_name("backward", backward)), entries[half:],
                       path)
        elif model is not None:
            if model is layer:
                self.model(group, model, entries, path)
            else:
                inner_group = group.create_group("layer")
                inner_group.create_group("vars").attrs["name"] = layer_name(model)
                self.model(inner_group, model, entries, path)
        elif class_name == "TimeDistributed":
            self.layer(group.create_group("layer"), config.get("layer") or {}, entries, path)
        else:
            inner = [e for e in entries if _in_sublayer(e, str(class_name))]
            self.vars(own_vars, [e for e in entries if e not in inner])
            self.sublayers(group, str(class_name), inner)

    def sublayers(self, group: h5py.Group, class_name: str, entries: list[WeightEntry]) -> None:
        """Entries named ``<inner name>/<weight>`` into ``<attribute>/vars`` groups."""
        attributes = {name: attr for attr, name in SUBLAYERS.get(class_name, [])}
        inner: dict[str, list[WeightEntry]] = {}
        for entry in entries:
            parts = entry.name.split("/")[:-1]
            label = next((part for part in parts if part in attributes), parts[0])
            inner.setdefault(label, []).append(entry)
        for label, mine in inner.items():
            attribute = attributes.get(label) or _stored_attribute(mine[0]) or label
            sub = group.create_group(attribute).create_group("vars")
            sub.attrs["name"] = label
            self.vars(sub, mine)

    def cell(self, group: h5py.Group, cell: dict[str, Any], entries: list[WeightEntry],
             path: str) -> None:
        own_vars = group.create_group("vars")
        own_vars.attrs["name"] = layer_name(cell)
        cells = stacked_cells(cell)
        if cells is None:
            self.vars(own_vars, entries)
            return
        cells_group = group.create_group("cells")
        rest = list(entries)
        for sub, generated in zip(cells, generated_names(cells)):
            prefix = f"{layer_name(sub)}/"
            mine = [e for e in rest if f"/{prefix}" in f"/{e.name}"]
            if not mine:  # names that do not tell the cell: by the count the cell's class has
                count = len(weight_names(sub) or [])
                mine = rest[:count]
            rest = [e for e in rest if e not in mine]
            self.cell(cells_group.create_group(generated), sub, mine, path)
        if rest:
            raise UnsupportedError(f"the weights of layer {path!r} do not fit its cells "
                                   f"({len(rest)} left over)", path=self.artifact.path)

    def vars(self, group: h5py.Group, entries: list[WeightEntry]) -> None:
        for index, entry in enumerate(entries):
            wrote(_h5.write_entry(group, str(index), entry, self.artifact.path))
            self.stored[entry.layer] = self.stored.get(entry.layer, 0) + 1


def _in_sublayer(entry: WeightEntry, class_name: str) -> bool:
    """Whether an entry belongs to an inner layer: ``<inner name>/<weight>`` of a class known
    to have inner layers, or read from an inner layer's group of a ``.weights.h5``. A legacy
    ``.h5`` name such as ``sequential/dense/kernel`` is the layer's own weight."""
    return "/" in entry.name and (class_name in SUBLAYERS or _stored_attribute(entry) is not None)


def _stored_attribute(entry: WeightEntry) -> str | None:
    """The inner layer's group where a ``.weights.h5`` stored an entry (``<attr>/vars/0``)."""
    parts = entry.location.split("/")
    if len(parts) >= 3 and parts[-2] == "vars":
        return parts[-3] or None
    return None


def _named(layer: dict[str, Any], name: str) -> dict[str, Any]:
    return {**layer, "name": name, "config": {**(layer.get("config") or {}), "name": name}}
