"""``summary``: one row per layer call, with shapes, connections, params and MACs.

The fast engine reads the file as data: the graph from the config, shapes from the rules in
``graph.shapes`` (and shapes Keras recorded in the file), params from the weight shapes the
file lists (no weight bytes are read) or from the config. Only the ``keras`` engine, or the
``auto`` engine meeting a layer class it does not know, imports Keras.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..artifact import ModelArtifact, WeightEntry
from ..dtypes import is_quantized, notable_policy
from ..errors import KerasError, ModelToolError, UnsupportedError
from ..formats._layout import NON_TRAINABLE_CLASSES, NON_TRAINABLE_WEIGHT_NAMES, weight_names
from ..graph.attributes import activation_bytes, compute_itemsize, layer_attributes
from ..graph.model import Graph, LayerInfo, Node, Shape, build_graph
from ..graph.shapes import (
    SOURCE_KERAS,
    SOURCE_UNKNOWN,
    ZERO,
    NodeShapes,
    Params,
    ShapeMap,
    compute_unknowable,
    config_macs,
    config_params,
    infer_shapes,
    macs_defined,
)
from ._custom import CustomObjects, custom_scope
from .weights import WeightRow

ENGINES = ("auto", "fast", "keras")



@dataclass
class SummaryRow:
    """One call of one layer (one row of the table).

    ``params``/``trainable_params`` count the layer's weights on its first node only; the
    other nodes of a shared layer carry 0 and ``shared=True``. None means unknown.
    """

    layer: str
    path: str
    class_name: str
    node: int | None
    depth: int
    input_shapes: list[Shape | None]
    output_shapes: list[Shape | None] | None
    params: int | None
    trainable_params: int | None
    trainable: bool
    inbound: list[str]
    macs: int | None
    shape_source: str
    shared: bool = False
    #: Settings worth a glance (``graph.attributes.layer_attributes``).
    attributes: dict[str, str] = field(default_factory=dict)
    #: Bytes of this call's outputs for ``Summary.batch_size`` samples; None when unknown.
    activation_bytes: int | None = None
    #: Whether MACs are counted for this layer's class (``macs`` None then means unknown).
    has_macs: bool = False

    @property
    def non_trainable_params(self) -> int | None:
        if self.params is None or self.trainable_params is None:
            return None
        return self.params - self.trainable_params


@dataclass
class SummaryTotals:
    """Whole-model numbers. ``params`` is None when some layer's count is unknown, ``macs``
    when some layer that has MACs has unknown ones."""

    params: int | None
    trainable_params: int | None
    non_trainable_params: int | None
    macs: int | None
    bytes: dict[str, int] = field(default_factory=dict)
    #: Layers the MACs total leaves out because nobody can say what they compute without
    #: running them (classes modeltool does not know, Lambda and TF-op layers).
    macs_unmeasured: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())


@dataclass
class Summary:
    """What ``modeltool summary`` reports about one file."""

    path: str | None
    kind: str
    keras_version: str | None
    model_name: str | None
    model_class: str | None
    has_architecture: bool
    rows: list[SummaryRow]
    totals: SummaryTotals
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    weights: list[WeightRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    migration_notes: list[str] = field(default_factory=list)
    engine: str = "fast"
    bytes_from_weights: bool = False
    #: Layers whose stored weights do not fit their config: (path, values found, expected).
    weight_mismatches: list[tuple[str, int, int]] = field(default_factory=list)
    #: Layers whose dtype policy is not float32: (path, policy), in model order.
    dtype_policies: list[tuple[str, str]] = field(default_factory=list)
    #: The batch size activation memory is estimated for.
    batch_size: int = 1
    #: Estimated bytes of every layer call's outputs (nested models' layers included, inputs
    #: included) for ``batch_size`` samples, counting only the calls whose shapes are known;
    #: ``activation_unknown`` is how many were not.
    activation_bytes: int = 0
    activation_unknown: int = 0
    #: The layer graph the rows were read from (None for weights-only files).
    graph: Graph | None = field(default=None, repr=False, compare=False)
    #: A SavedModel's signatures: name -> {"inputs"|"outputs": {key: {"shape", "dtype"}}}.
    signatures: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        from ..render.summary import summary_text

        return summary_text(self)

    @property
    def unknown_shapes(self) -> list[str]:
        """Paths of the rows whose output shape is not (fully) known."""
        return [row.path for row in self.rows
                if row.output_shapes is None or any(s is None for s in row.output_shapes)]


def summary(path: str | os.PathLike[str], *, expand_nested: bool = False,
            depth: int | None = None, engine: str | None = None,
            custom_objects: CustomObjects = None,
            batch_size: int | None = None,
            weights: str | os.PathLike[str] | None = None) -> Summary:
    """Summarize a model file: one row per layer call, with shapes, params and MACs.

    Args:
        path: any file kind ``modeltool.open`` reads.
        expand_nested: add rows for the layers inside nested models.
        depth: how many levels of nested models to expand (implies ``expand_nested`` when
            above 0); None for all.
        engine: ``fast`` (no TensorFlow), ``keras`` (build the model through Keras from the
            config alone), ``auto`` (default: fast, Keras only for unknown layer classes).
        custom_objects: a ``.py`` file (run on request) or ``{name: class}`` map with the
            custom layers the Keras engine needs, as Keras' ``custom_objects``.
        batch_size: the batch activation memory is estimated for (default 1).
        weights: the weights file an architecture-only ``path`` goes with: params and bytes
            come from its tensors instead of the config.

    Returns:
        A Summary; ``str(summary)`` is the rendered table.

    Raises:
        ModelToolError: unreadable input, a damaged graph, or a Keras failure with
            ``engine="keras"``.

    Example:
        >>> s = modeltool.summary("model.h5")  # doctest: +SKIP
        >>> s.totals.params, s.rows[0].output_shapes
    """
    from ..formats import open_artifact
    from ..formats.savedmodel import read_savedmodel_light
    from ..formats.savedmodel import sniff_kind as sniff_savedmodel

    # A SavedModel is read from saved_model.pb without TensorFlow (signatures, variables).
    opener = read_savedmodel_light if sniff_savedmodel(path) else open_artifact
    with opener(path) as artifact, custom_scope(custom_objects):
        if weights is not None:
            from .convert import attach_weights

            artifact = attach_weights(artifact, weights)
        report = summarize(artifact, expand_nested=expand_nested, depth=depth, engine=engine,
                           batch_size=batch_size)
        report.signatures = dict(artifact.signatures or {})
        return report


def summarize(artifact: ModelArtifact, *, expand_nested: bool = False, depth: int | None = None,
              engine: str | None = None, batch_size: int | None = None) -> Summary:
    """Summarize an opened artifact (see ``summary``). Never reads weight bytes."""
    engine = engine or "auto"
    batch_size = 1 if batch_size is None else batch_size
    if batch_size < 1:
        raise UnsupportedError("batch size must be 1 or more", hint="pass --batch-size 1, 32, ...")
    if engine not in ENGINES:
        raise UnsupportedError(f"unknown engine {engine!r}", hint="use auto, fast or keras")
    if depth is not None and depth < 0:
        raise UnsupportedError("depth must be 0 or more", hint="pass --depth 0, 1, 2, ...")
    if expand_nested and depth == 0:
        raise UnsupportedError("--expand-nested with --depth 0 asks for nested rows and for "
                               "none", hint="pass one of them")
    max_depth = depth if depth is not None else (None if expand_nested else 0)
    if artifact.config is None:
        return _weights_only(artifact)
    display = os.fspath(artifact.path) if artifact.path is not None else None
    graph = build_graph(artifact.config, dialect=artifact.dialect, path=display)
    notes: list[str] = []
    keras_params: dict[str, Params] | None = None
    if engine == "keras":
        overrides, keras_params = _keras_overrides(artifact)
        shapes = infer_shapes(graph, overrides=overrides, override_all=True)
        used = "keras"
    else:
        shapes = infer_shapes(graph)
        used = "fast"
        unknown = _unknown_classes(shapes)
        if unknown and engine == "auto":
            names = ", ".join(sorted({f"{path} ({cls})" for path, cls in unknown}))
            try:
                overrides, keras_params = _keras_overrides(artifact)
            except ModelToolError as err:
                reason = err.problem.split(". ")[0][:160]
                notes.append(f"no shape rule answers for {names}; Keras could not help "
                             f"either ({reason}): shown as ?")
            else:
                shapes = infer_shapes(graph, overrides=overrides)
                used = "auto"
                notes.append(f"shapes of {names} came from Keras (no shape rule answers)")
        elif unknown:
            names = ", ".join(sorted({f"{path} ({cls})" for path, cls in unknown}))
            notes.append(f"no shape rule answers for {names}: shown as ?")
    if artifact.weights and engine != "keras":
        inferred = _weight_overrides(graph, shapes, artifact)
        if inferred:
            shapes = infer_shapes(graph, overrides=inferred)
            names = ", ".join(key[0] for key in inferred)
            notes.append(f"output shapes marked * ({names}) were inferred from the stored "
                         "weights of the Dense layer each one feeds (no rule could say)")
    for ref in graph.inputs:
        if shapes.tensor(ref) is None:
            notes.append(f"the file does not record the shape of input {ref.layer!r}: "
                         "shapes that depend on it are shown as ?")
    builder = _RowBuilder(artifact, keras_params)
    rows = builder.rows(graph, shapes, max_depth)
    totals = builder.totals(graph, shapes)
    activations, unknown_calls = _activation_memory(graph, shapes, rows, batch_size)
    for path, (found, expected) in builder.mismatched.items():
        notes.append(f"the weights of {path!r} do not fit its config: the file holds "
                     f"{found:,} values, the config implies {expected:,}")
    return Summary(
        path=display, kind=artifact.kind, keras_version=artifact.keras_version,
        model_name=graph.name, model_class=graph.class_name, has_architecture=True,
        rows=rows, totals=totals, inputs=[str(r) for r in graph.inputs],
        outputs=[str(r) for r in graph.outputs], notes=notes,
        migration_notes=list(artifact.notes), engine=used,
        bytes_from_weights=bool(artifact.weights),
        weight_mismatches=[(path, found, expected)
                           for path, (found, expected) in builder.mismatched.items()],
        batch_size=batch_size, activation_bytes=activations, activation_unknown=unknown_calls,
        graph=graph,
        dtype_policies=_dtype_policies(graph))


def _dtype_policies(graph: Graph, prefix: str = "") -> list[tuple[str, str]]:
    """(path, policy) of every layer, nested ones included, whose policy is not float32."""
    found: list[tuple[str, str]] = []
    for info in graph.layers.values():
        policy = notable_policy(info.config)
        if policy is not None and not info.is_input:
            found.append((f"{prefix}{info.name}", policy))
        if info.graph is not None:
            found.extend(_dtype_policies(info.graph, f"{prefix}{info.name}/"))
    return found


def _weights_only(artifact: ModelArtifact) -> Summary:
    weights = [WeightRow(e.layer, e.path, e.name, e.shape, e.dtype, e.nbytes)
               for e in artifact.weights]
    by_dtype: dict[str, int] = {}
    for entry in artifact.weights:
        by_dtype[entry.dtype] = by_dtype.get(entry.dtype, 0) + entry.nbytes
    problem = artifact.config_error
    note = ("this file holds no architecture (weights only): the weights are listed instead"
            if not problem else f"the architecture is not usable ({problem}): "
            "the weights are listed instead")
    total = artifact.weights.total_params
    return Summary(
        path=os.fspath(artifact.path) if artifact.path is not None else None,
        kind=artifact.kind, keras_version=artifact.keras_version, model_name=None,
        model_class=None, has_architecture=False, rows=[],
        totals=SummaryTotals(total, None, None, None, by_dtype), weights=weights,
        notes=[note], migration_notes=list(artifact.notes), engine="fast",
        bytes_from_weights=True)


def _activation_memory(graph: Graph, shapes: ShapeMap, rows: list[SummaryRow],
                       batch_size: int) -> tuple[int, int]:
    """Fill each row's attributes and output bytes; total the output bytes of every layer
    call, inside nested models too (a nested model's own outputs are its last layers')."""
    for row in rows:
        row.attributes = layer_attributes(row.class_name, _config_at(graph, row.path))
    by_key = {(row.path, row.node): row for row in rows}
    total = unknown = 0

    def walk(g: Graph, sm: ShapeMap | None, prefix: str) -> None:
        nonlocal total, unknown
        for info in g.layers.values():
            path = f"{prefix}{info.name}"
            if info.synthetic:
                continue
            for node in info.nodes:
                ns = sm.nodes.get(node.key) if sm is not None else None
                if info.graph is not None:
                    walk(info.graph, ns.inner if ns is not None else None, f"{path}/")
                    continue
                size = activation_bytes(ns.outputs if ns is not None else None,
                                        compute_itemsize(info.config), batch_size)
                row = by_key.get((path, node.index))
                if row is not None:
                    row.activation_bytes = size
                if size is None:
                    unknown += 1
                else:
                    total += size

    walk(graph, shapes, "")
    for row in rows:  # a nested model's row: the bytes of its own outputs
        if row.activation_bytes is None and row.output_shapes is not None:
            info = _layer_at(graph, row.path)
            if info is not None and info.graph is not None:
                row.activation_bytes = activation_bytes(row.output_shapes,
                                                        compute_itemsize(info.config), batch_size)
    return total, unknown


def _layer_at(graph: Graph, path: str) -> LayerInfo | None:
    info: LayerInfo | None = None
    current: Graph | None = graph
    for part in path.split("/"):
        if current is None or part not in current.layers:
            return None
        info = current.layers[part]
        current = info.graph
    return info


def _config_at(graph: Graph, path: str) -> dict[str, Any]:
    info = _layer_at(graph, path)
    return info.config if info is not None else {}


#: Shape source of a node whose output was inferred from the weights of its consumer.
SOURCE_WEIGHTS = "weights"
#: Layers whose output is (batch, features) whatever their input: a Dense fed by one of them
#: tells its output size through the first dimension of its stored kernel.
_RANK2_OUTPUT = frozenset({"Flatten", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
                           "GlobalAveragePooling3D", "GlobalMaxPooling1D",
                           "GlobalMaxPooling2D", "GlobalMaxPooling3D"})


def _weight_overrides(graph: Graph, shapes: ShapeMap, artifact: ModelArtifact
                      ) -> dict[tuple[str, ...], NodeShapes]:
    """Output shapes the rules could not tell but the stored weights can: a Flatten or global
    pooling layer (always (batch, n)) feeding a Dense whose stored kernel is (n, units)."""
    found: dict[tuple[str, ...], NodeShapes] = {}
    for node in graph.order:
        consumer = graph.layers[node.layer]
        if consumer.class_name != "Dense" or len(node.inputs) != 1:
            continue
        ref = node.inputs[0]
        producer = graph.layers.get(ref.layer)
        if producer is None or producer.class_name not in _RANK2_OUTPUT \
                or shapes.tensor(ref) is not None:
            continue
        kernels = [e for e in artifact.weights.layer(consumer.name) if len(e.shape) == 2]
        if not kernels:
            continue
        known = shapes.nodes.get((ref.layer, ref.node))
        found[(ref.layer, str(ref.node))] = NodeShapes(
            known.inputs if known else [], [(None, int(kernels[0].shape[0]))], SOURCE_WEIGHTS)
    return found


def trainable_weights(artifact: ModelArtifact) -> dict[str, bool] | None:
    """Whether each weight (by ``WeightEntry.key``) trains, by the rule ``summary`` counts
    trainable params with (the layer's and its parents' flags, the non-trainable weight names
    such as ``moving_mean``); None for a file without an architecture."""
    if artifact.config is None:
        return None
    display = os.fspath(artifact.path) if artifact.path is not None else None
    graph = build_graph(artifact.config, dialect=artifact.dialect, path=display)
    builder = _RowBuilder(artifact, None)
    builder._index(graph, "")
    return {entry.key: builder._entry_trainable(entry) for entry in artifact.weights}


def _unknown_classes(shapes: ShapeMap, prefix: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for (name, _), node in shapes.nodes.items():
        info = shapes.graph.layers[name]
        if not node.known_class and (node.outputs is None
                                     or any(s is None for s in node.outputs)):
            found.append((f"{prefix}{name}", info.class_name))
        if node.inner is not None:
            found.extend(_unknown_classes(node.inner, f"{prefix}{name}/"))
    return found


class _RowBuilder:
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
                    shared=position > 0, has_macs=_has_macs(info)))
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
            return _graph_params(info.graph, node_shapes.inner)
        return _config_params_of(info, node_shapes)

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
        owner = self.classes.get(entry.path)
        name = entry.name.rsplit("/", 1)[-1]
        if owner is not None:
            if owner.class_name in NON_TRAINABLE_CLASSES:
                return False
            if name.isdigit():
                names = weight_names(owner.raw) if owner.raw else None
                if names and int(name) < len(names):
                    name = names[int(name)]
        return name not in NON_TRAINABLE_WEIGHT_NAMES

    # -- macs ---------------------------------------------------------------------------------

    def node_macs(self, info: LayerInfo, node_shapes: NodeShapes | None) -> int | None:
        return _node_macs(info, node_shapes)

    # -- totals -------------------------------------------------------------------------------

    def totals(self, graph: Graph, shapes: ShapeMap) -> SummaryTotals:
        params: Params | None = ZERO
        for info in graph.visible_layers():
            p = self.layer_params(info, info.name, shapes, info.trainable)
            params = None if p is None or params is None else params + p
        macs: int | None = 0
        unmeasured = _unmeasured(graph)
        for info in graph.visible_layers():
            if not _has_macs(info):
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


def _config_params_of(info: LayerInfo, node_shapes: NodeShapes | None) -> Params | None:
    if node_shapes is None:
        return config_params(info.class_name, info.config, [], info.module)
    return config_params(info.class_name, info.config, list(node_shapes.inputs), info.module,
                         node_shapes.extra)


def _graph_params(graph: Graph, shapes: ShapeMap) -> Params | None:
    total = ZERO
    for info in graph.visible_layers():
        if info.is_input:
            continue
        node = info.nodes[0] if info.nodes else None
        node_shapes = shapes.nodes.get(node.key) if node is not None else None
        if info.graph is not None:
            if node_shapes is None or node_shapes.inner is None:
                return None
            p = _graph_params(info.graph, node_shapes.inner)
        else:
            p = _config_params_of(info, node_shapes)
        if p is None:
            return None
        total = total + (p if info.trainable else Params(p.total, 0))
    return total


def _node_macs(info: LayerInfo, node_shapes: NodeShapes | None) -> int | None:
    """MACs per sample of one call; None where not defined or not known."""
    if node_shapes is None:
        return None
    if info.graph is None:
        return config_macs(info.class_name, info.config, node_shapes.inputs,
                           node_shapes.outputs)
    if node_shapes.inner is None:
        return None
    inner = _graph_macs(info.graph, node_shapes.inner)
    if inner is None or info.class_name != "TimeDistributed":
        return inner
    x = node_shapes.inputs[0] if node_shapes.inputs else None
    if x is None or len(x) < 2 or x[1] is None:
        return None
    return inner * int(x[1])


def _graph_macs(graph: Graph, shapes: ShapeMap) -> int | None:
    """MACs of one call of a nested model; None when a layer that has MACs has unknown ones
    (or when no layer inside has any)."""
    total = 0
    defined = False
    for info in graph.visible_layers():
        if not _has_macs(info):
            continue
        for node in info.nodes:
            m = _node_macs(info, shapes.nodes.get(node.key))
            if m is None:
                return None
            total += m
            defined = True
    return total if defined else None


def _unmeasured(graph: Graph, prefix: str = "") -> list[str]:
    """Paths of the layers whose compute modeltool cannot know from the file (a Lambda, a
    TF-op layer, a class it has no rule for), nested models included."""
    found: list[str] = []
    for info in graph.visible_layers():
        path = f"{prefix}{info.name}"
        if info.graph is not None:
            found += _unmeasured(info.graph, f"{path}/")
        elif not info.is_input and compute_unknowable(info.class_name, info.config,
                                                      info.module):
            found.append(path)
    return found


def _has_macs(info: LayerInfo) -> bool:
    """Whether a layer (or any layer inside it) is one whose MACs are counted."""
    if info.graph is None:
        return macs_defined(info.class_name, info.config)
    return any(_has_macs(inner) for inner in info.graph.layers.values())


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
            p = _config_params_of(info, ns)
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


# ---------------------------------------------------------------------------------------------
# The Keras engine (imports Keras; only on request or for unknown layer classes)
# ---------------------------------------------------------------------------------------------


def _keras_overrides(artifact: ModelArtifact) -> tuple[dict[tuple[str, ...], NodeShapes],
                                                        dict[str, Params]]:
    """Shapes of every node and params of every layer, from a model Keras builds from the
    config alone (``safe_mode`` on, no weight data read)."""
    from .. import keras_bridge

    model = keras_bridge.model_from_artifact(artifact, with_weights=False)
    shapes: dict[tuple[str, ...], NodeShapes] = {}
    params: dict[str, Params] = {}
    try:
        _walk_keras(model, (), shapes, params)
    except Exception as err:
        raise KerasError(f"cannot read shapes from the Keras model: {err}",
                         path=artifact.path) from err
    return shapes, params


def _own_nodes(model: Any) -> set[Any] | None:
    functional = getattr(model, "_functional", None) or model
    nodes = getattr(functional, "_nodes", None)
    return set(nodes) if nodes is not None else None


def _walk_keras(model: Any, prefix: tuple[str, ...], shapes: dict[tuple[str, ...], NodeShapes],
                params: dict[str, Params]) -> None:
    from keras.src.ops.function import make_node_key

    own = _own_nodes(model)
    for layer in _keras_layers(model):
        path = (*prefix, layer.name)
        index = 0
        for i, node in enumerate(layer._inbound_nodes):
            if own is not None and make_node_key(layer, i) not in own:
                continue
            ins = [_keras_shape(t) for t in _positional_tensors(node)]
            outs = [_keras_shape(t) for t in node.output_tensors]
            shapes[(*path, str(index))] = NodeShapes(ins, outs, SOURCE_KERAS)
            index += 1
        weights = list(getattr(layer, "weights", []))
        trainable = list(getattr(layer, "trainable_weights", []))
        params["/".join(path)] = Params(sum(_size(w) for w in weights),
                                        sum(_size(w) for w in trainable))
        inner = getattr(layer, "layer", None)
        if hasattr(layer, "_inbound_nodes") and hasattr(layer, "layers") \
                and hasattr(layer, "inputs"):
            _walk_keras(layer, path, shapes, params)
        elif inner is not None and hasattr(inner, "layers") and hasattr(inner, "inputs"):
            _walk_keras(inner, path, shapes, params)


def _keras_layers(model: Any) -> Iterable[Any]:
    functional = getattr(model, "_functional", None)
    layers = list(getattr(functional or model, "operations", None) or model.layers)
    return layers


def _positional_tensors(node: Any) -> list[Any]:
    from keras.src import tree
    from keras.src.backend import KerasTensor

    return [t for t in tree.flatten(node.arguments.args) if isinstance(t, KerasTensor)]


def _keras_shape(tensor: Any) -> Shape | None:
    shape = getattr(tensor, "shape", None)
    if shape is None:
        return None
    return tuple(None if d is None else int(d) for d in shape)


def _size(weight: Any) -> int:
    return int(np.prod(weight.shape, dtype=np.int64)) if len(weight.shape) else 1


__all__ = ["ENGINES", "Summary", "SummaryRow", "SummaryTotals", "summarize",
           "summary"]
