"""Rows and totals of a summary: params from the file's weight shapes or the config, MACs,
which weights train, and the bytes the weights would take."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ...artifact import ModelArtifact, WeightEntry
from ...dtypes import is_quantized
from ...graph.macs import has_macs, node_macs, unmeasured_layers
from ...graph.model import Graph, LayerInfo, Node, build_graph
from ...graph.params import ZERO, Params, graph_params, layer_config_params, never_trained
from ...graph.shapes import SOURCE_UNKNOWN, NodeShapes, ShapeMap
from ...layer_classes import weight_names
from .report import SummaryRow, SummaryTotals


def trainable_weights(artifact: ModelArtifact) -> dict[str, bool] | None:
    """Whether each weight (by ``WeightEntry.key``) trains, by the rule ``summary`` counts
    trainable params with (the layer's and its parents' flags, the non-trainable weight names
    such as ``moving_mean``); None for a file without an architecture."""
    if artifact.config is None:
        return None
    display = os.fspath(artifact.path) if artifact.path is not None else None
    graph = build_graph(artifact.config, dialect=artifact.dialect, path=display)
    builder = RowBuilder(artifact, None)
    builder._index(graph, "")
    return {entry.key: builder._entry_trainable(entry) for entry in artifact.weights}


class RowBuilder:
    """Turns a Graph and its ShapeMap into rows and totals."""

    def __init__(self, artifact: ModelArtifact, keras_params: dict[str, Params] | None) -> None:
        self.weights = artifact.weights
        self.has_weights = bool(artifact.weights)
        self.keras_params = keras_params or {}
        # Entries under each layer path and each of its ancestors (nested models).
        self.entries: dict[str, list[WeightEntry]] = {}
        for entry in artifact.weights:
            parts = entry.path.split("/")
            for i in range(1, len(parts) + 1):
                self.entries.setdefault("/".join(parts[:i]), []).append(entry)
        self.classes: dict[str, LayerInfo] = {}
        self.flags: dict[str, bool] = {}
        #: Layers whose file weights disagree with their config: path -> (file, config).
        self.mismatched: dict[str, tuple[int, int]] = {}
        self.never_trained: dict[str, bool] | None = None

    # -- rows ---------------------------------------------------------------------------------

    def rows(self, graph: Graph, shapes: ShapeMap, max_depth: int | None) -> list[SummaryRow]:
        self._index(graph, "")
        out: list[SummaryRow] = []
        self._graph_rows(graph, shapes, "", 0, True, max_depth, out)
        return out

    def _index(self, graph: Graph, prefix: str) -> None:
        for info in graph.layers.values():
            path = f"{prefix}{info.name}"
            self.classes[path] = info
            self.flags[path] = info.trainable
            if info.graph is not None:
                self._index(info.graph, f"{path}/")

    def _graph_rows(self, graph: Graph, shapes: ShapeMap, prefix: str, depth: int,
                    trainable: bool, max_depth: int | None, out: list[SummaryRow]) -> None:
        for info in graph.visible_layers():
            path = f"{prefix}{info.name}"
            layer_trainable = trainable and info.trainable
            nodes: list[Node | None] = list(info.nodes) or [None]
            for position, node in enumerate(nodes):
                node_shapes = shapes.nodes.get(node.key) if node is not None else None
                ins = node_shapes.inputs if node_shapes else []
                outs = node_shapes.outputs if node_shapes else None
                params = self.layer_params(info, path, shapes, layer_trainable) \
                    if position == 0 else ZERO
                out.append(SummaryRow(
                    layer=info.name, path=path, class_name=info.class_name,
                    node=node.index if node is not None else None, depth=depth,
                    input_shapes=list(ins), output_shapes=None if outs is None else list(outs),
                    params=None if params is None else params.total,
                    trainable_params=None if params is None else params.trainable,
                    trainable=layer_trainable,
                    inbound=[str(ref) for ref in node.inbound] if node is not None else [],
                    macs=self.node_macs(info, node_shapes),
                    shape_source=node_shapes.source if node_shapes else SOURCE_UNKNOWN,
                    shared=position > 0, has_macs=has_macs(info)))
                expand = max_depth is None or depth < max_depth
                if position == 0 and expand and info.graph is not None and node_shapes \
                        and node_shapes.inner is not None:
                    self._graph_rows(info.graph, node_shapes.inner, f"{path}/", depth + 1,
                                     layer_trainable, max_depth, out)

    # -- params -------------------------------------------------------------------------------

    def layer_params(self, info: LayerInfo, path: str, shapes: ShapeMap,
                     trainable: bool) -> Params | None:
        """Params of one layer: file weights first, then Keras (engine keras), then config."""
        if info.is_input:
            return ZERO
        entries = self.entries.get(path)
        if entries:
            found = self._from_weights(entries, trainable)
            # A quantized layer stores its kernel packed, with scale variables: the count
            # its float config implies does not apply.
            expected = None if is_quantized(info.config) else self._from_config(info, shapes)
            if expected is not None and expected.total != found.total \
                    and path not in self.mismatched:
                self.mismatched[path] = (found.total, expected.total)
            return found
        counted = self.keras_params.get(path) or self._from_config(info, shapes)
        if counted is None:
            return None
        return counted if trainable else Params(counted.total, 0)

    def _from_config(self, info: LayerInfo, shapes: ShapeMap) -> Params | None:
        node = info.nodes[0] if info.nodes else None
        node_shapes = shapes.nodes.get(node.key) if node is not None else None
        if info.graph is not None:
            if node_shapes is None or node_shapes.inner is None:
                return None
            return graph_params(info.graph, node_shapes.inner)
        return layer_config_params(info, node_shapes)

    def _from_weights(self, entries: list[WeightEntry], trainable: bool) -> Params:
        total = trainable_count = 0
        for entry in entries:
            size = entry.size
            total += size
            if trainable and self._entry_trainable(entry):
                trainable_count += size
        return Params(total, trainable_count)

    def _entry_trainable(self, entry: WeightEntry) -> bool:
        parts = entry.path.split("/")
        for i in range(1, len(parts) + 1):
            if not self.flags.get("/".join(parts[:i]), True):
                return False
        if self.never_trained is None:
            self.never_trained = self._never_trained()
        return not self.never_trained[entry.key]

    def _never_trained(self) -> dict[str, bool]:
        """Each weight's ``never_trained`` flag, by ``WeightEntry.key``, layer by layer."""
        by_owner: dict[str, list[WeightEntry]] = {}
        for entry in self.weights:
            by_owner.setdefault(entry.path, []).append(entry)
        found: dict[str, bool] = {}
        for path, entries in by_owner.items():
            owner = self.classes.get(path)
            config_names = weight_names(owner.raw) if owner is not None and owner.raw else None
            flags = never_trained(owner.class_name if owner is not None else None,
                                  [e.short_name for e in entries], config_names)
            found.update((e.key, flag) for e, flag in zip(entries, flags))
        return found

    # -- macs ---------------------------------------------------------------------------------

    def node_macs(self, info: LayerInfo, node_shapes: NodeShapes | None) -> int | None:
        return node_macs(info, node_shapes)

    # -- totals -------------------------------------------------------------------------------

    def totals(self, graph: Graph, shapes: ShapeMap) -> SummaryTotals:
        params: Params | None = ZERO
        for info in graph.visible_layers():
            p = self.layer_params(info, info.name, shapes, info.trainable)
            params = None if p is None or params is None else params + p
        macs: int | None = 0
        unmeasured = unmeasured_layers(graph)
        for info in graph.visible_layers():
            if not has_macs(info):
                continue
            for node in info.nodes:
                m = self.node_macs(info, shapes.nodes.get(node.key))
                macs = None if m is None or macs is None else macs + m
        if self.has_weights:
            by_dtype: dict[str, int] = {}
            for entry in self.weights:
                by_dtype[entry.dtype] = by_dtype.get(entry.dtype, 0) + entry.nbytes
        else:
            by_dtype = _config_bytes(graph, shapes) if params is not None else {}
        if params is None:
            return SummaryTotals(None, None, None, macs, by_dtype, unmeasured)
        return SummaryTotals(params.total, params.trainable, params.non_trainable, macs,
                             by_dtype, unmeasured)


def _config_bytes(graph: Graph, shapes: ShapeMap) -> dict[str, int]:
    """Bytes the weights would take, by dtype, for a file without weights (float32 unless the
    layer's dtype policy says otherwise)."""
    out: dict[str, int] = {}

    def walk(g: Graph, sm: ShapeMap) -> None:
        for info in g.visible_layers():
            node = info.nodes[0] if info.nodes else None
            ns = sm.nodes.get(node.key) if node is not None else None
            if info.graph is not None:
                if ns is not None and ns.inner is not None:
                    walk(info.graph, ns.inner)
                continue
            p = layer_config_params(info, ns)
            if not p or p.total == 0:
                continue
            dtype = _variable_dtype(info.config.get("dtype"))
            out[dtype] = out.get(dtype, 0) + p.total * np.dtype(dtype).itemsize

    walk(graph, shapes)
    return out


def _variable_dtype(policy: Any) -> str:
    # Variables are floats: a "mixed_*" policy keeps float32 variables, and an integer dtype
    # on a layer is a Keras 1 input dtype, not the dtype of its weights.
    if isinstance(policy, dict):
        policy = (policy.get("config") or {}).get("name")
    if isinstance(policy, str) and not policy.startswith("mixed"):
        try:
            dtype = np.dtype(policy)
        except TypeError:
            return "float32"
        if dtype.kind == "f":
            return dtype.name
    return "float32"
