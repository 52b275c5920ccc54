"""The layer graph of a canonical (Keras 3 dialect) model config.

A Graph holds one LayerInfo per layer and one Node per call of a layer: a layer shared by two
branches has two nodes, each with its own inbound tensors. Node indices are positions in the
layer's ``inbound_nodes`` list of *this* model (Keras numbers the nodes of a nested model from 1
because of the model's own built-in node; references are translated here, once). A layer that
holds a model (a nested Sequential/Functional, or a TimeDistributed/Bidirectional wrapping one)
keeps that model's Graph in ``LayerInfo.graph``.

Nothing here executes anything from the config; malformed graphs raise CorruptFileError.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from ..artifact import MODEL_CLASSES
from ..errors import CorruptFileError
from ..formats.dialects import (
    inner_model,
    is_bare_reference,
    is_tensor_ref,
    layer_configs,
    layer_name,
    nested_node_offset,
    untuple,
)

#: A tensor shape, batch dimension included; None entries are unknown dimensions.
Shape = tuple[int | None, ...]

#: How deep nested models may go before the config is considered hostile.
MAX_NESTING = 64


@dataclass(frozen=True)
class TensorRef:
    """One output tensor of one call of a layer: ``layer[node][tensor]``."""

    layer: str
    node: int
    tensor: int

    def __str__(self) -> str:
        return f"{self.layer}[{self.node}][{self.tensor}]"


@dataclass
class Node:
    """One call of a layer.

    ``inputs`` are the tensors in the call's positional arguments (the data the layer
    transforms), ``extra`` those passed by keyword (``mask``, ``initial_state``, ``key``...).
    ``recorded`` maps each inbound TensorRef to the shape the file recorded for it (Keras 3
    files only).
    """

    layer: str
    index: int
    inputs: list[TensorRef] = field(default_factory=list)
    extra: dict[str, list[TensorRef]] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: list[Any] = field(default_factory=list)
    recorded: dict[TensorRef, Shape | None] = field(default_factory=dict)

    @property
    def inbound(self) -> list[TensorRef]:
        """Every tensor this call reads, positional first."""
        refs = list(self.inputs)
        for more in self.extra.values():
            refs.extend(more)
        return refs

    @property
    def key(self) -> tuple[str, int]:
        return (self.layer, self.index)


@dataclass
class LayerInfo:
    """One layer of a Graph: its config and its calls."""

    name: str
    class_name: str
    config: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)
    nodes: list[Node] = field(default_factory=list)
    graph: Graph | None = None
    synthetic: bool = False

    @property
    def trainable(self) -> bool:
        return bool(self.config.get("trainable", True))

    @property
    def is_input(self) -> bool:
        return self.class_name == "InputLayer"

    @property
    def module(self) -> str | None:
        module = self.raw.get("module")
        return module if isinstance(module, str) else None


@dataclass
class Graph:
    """A model as a graph of layer calls."""

    name: str
    class_name: str
    layers: dict[str, LayerInfo]
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    order: list[Node]

    @property
    def is_sequential(self) -> bool:
        return self.class_name == "Sequential"

    def node(self, ref: TensorRef) -> Node:
        """The node that produced ``ref`` (references are validated when the graph is built)."""
        return self.layers[ref.layer].nodes[ref.node]

    def visible_layers(self) -> list[LayerInfo]:
        """The layers Keras lists in ``model.layers`` (a Sequential hides its InputLayer)."""
        return [layer for layer in self.layers.values()
                if not layer.synthetic and not (self.is_sequential and layer.is_input)]


def build_graph(config: dict[str, Any], *, dialect: int | None = None,
                path: str | None = None) -> Graph:
    """Build the Graph of a canonical model config.

    Args:
        config: ``{"class_name": "Functional"|"Sequential", "config": {...}}``.
        dialect: the Keras generation the file was written in (decides how references to
            nested models are numbered); None when unknown.
        path: the file, for error messages.

    Returns:
        The Graph, with nodes in a topological order.

    Raises:
        CorruptFileError: a reference to a missing layer or node, a duplicate layer name, a
            cycle, or a config that is not a model.
    """
    try:
        return _Builder(dialect, path).model(untuple(config, limit=4 * MAX_NESTING), 0)
    except CorruptFileError as err:
        if err.path is None and path is not None:
            raise CorruptFileError(err.problem, path=path, hint=err.hint) from err
        raise


class _Builder:
    def __init__(self, dialect: int | None, path: str | None) -> None:
        self.dialect = dialect
        self.path = path

    def fail(self, problem: str) -> CorruptFileError:
        return CorruptFileError(problem, path=self.path,
                                hint="the model config is damaged or inconsistent")

    def model(self, config: dict[str, Any], level: int) -> Graph:
        if level > MAX_NESTING:
            raise self.fail(f"models nested more than {MAX_NESTING} deep")
        if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
            raise self.fail("model config is not a dict")
        class_name = str(config.get("class_name"))
        name = str(config["config"].get("name") or config.get("name") or class_name.lower())
        if class_name == "Sequential":
            return self.sequential(config, name, level)
        if class_name in MODEL_CLASSES:
            return self.functional(config, name, level)
        raise self.fail(f"class {class_name!r} is not a model")

    def layer(self, raw: Any, level: int) -> LayerInfo:
        if not isinstance(raw, dict) or not isinstance(raw.get("class_name"), str):
            raise self.fail("a layer entry has no class_name")
        config = raw.get("config")
        if not isinstance(config, dict):
            raise self.fail(f"layer {raw.get('name')!r} has no config dict")
        name = layer_name(raw)
        if not name:
            raise self.fail(f"a {raw['class_name']} layer has no name")
        info = LayerInfo(name=name, class_name=raw["class_name"], config=config, raw=raw)
        if info.is_input:
            for key in ("batch_shape", "batch_input_shape", "shape"):
                dims = config.get(key)
                if isinstance(dims, list) and any(isinstance(d, int) and d < 0 for d in dims):
                    raise self.fail(f"input {name!r} declares a negative dimension "
                                    f"({key}={dims})")
        held = inner_model(raw)
        if held is not None:
            info.graph = self.model(held, level + 1)
        return info

    def add(self, layers: dict[str, LayerInfo], info: LayerInfo) -> None:
        if info.name in layers:
            raise self.fail(f"two layers are named {info.name!r}")
        layers[info.name] = info

    def sequential(self, config: dict[str, Any], name: str, level: int) -> Graph:
        layers: dict[str, LayerInfo] = {}
        for raw in layer_configs(config):
            self.add(layers, self.layer(raw, level))
        chain = list(layers.values())
        if not chain:
            return Graph(name, "Sequential", layers, [], [], [])
        if not chain[0].is_input:
            # No input shape was ever given: Keras 2 builds the model on its first call. A
            # synthetic input keeps the chain uniform; it is never shown.
            first = chain[0].name
            synthetic = LayerInfo(name=f"{first}_input", class_name="InputLayer",
                                  config={"batch_shape": None, "name": f"{first}_input"},
                                  raw={}, synthetic=True)
            while synthetic.name in layers:
                synthetic.name += "_"
            layers = {synthetic.name: synthetic, **layers}
            chain = [synthetic, *chain]
        order: list[Node] = []
        previous: TensorRef | None = None
        for info in chain:
            if info.is_input and previous is None:
                info.nodes = [Node(info.name, 0)]
            else:
                if info.is_input:
                    raise self.fail(f"InputLayer {info.name!r} in the middle of a Sequential")
                node = Node(info.name, 0, inputs=[previous] if previous else [])
                recorded = _build_input_shape(info.raw)
                if previous is not None and recorded is not None:
                    node.recorded[previous] = recorded
                info.nodes = [node]
            order.append(info.nodes[0])
            previous = TensorRef(info.name, 0, 0)
        return Graph(name, "Sequential", layers, [TensorRef(chain[0].name, 0, 0)],
                     [previous] if previous else [], order)

    def functional(self, config: dict[str, Any], name: str, level: int) -> Graph:
        layers: dict[str, LayerInfo] = {}
        raw_nodes: dict[str, list[Any]] = {}
        for raw in layer_configs(config):
            info = self.layer(raw, level)
            self.add(layers, info)
            nodes = raw.get("inbound_nodes") or []
            if not isinstance(nodes, list):
                raise self.fail(f"inbound_nodes of layer {info.name!r} is not a list")
            raw_nodes[info.name] = nodes
        # Every node exists before references are resolved (a node may refer to a layer
        # listed after it in a damaged file; that is caught as a cycle or a bad reference).
        for info in layers.values():
            if info.is_input:
                info.nodes = [Node(info.name, 0)]
            else:
                info.nodes = [Node(info.name, i) for i in range(len(raw_nodes[info.name]))]
        offsets = self.offsets(layers, raw_nodes, config)
        for info in layers.values():
            for node, raw in zip(info.nodes, raw_nodes[info.name]):
                self.fill_node(node, raw, layers, offsets)
        inputs = [self.resolve(ref, layers, offsets, "input_layers")
                  for ref in _ref_list(config["config"].get("input_layers"))]
        outputs = [self.resolve(ref, layers, offsets, "output_layers")
                   for ref in _ref_list(config["config"].get("output_layers"))]
        order = self.toposort(layers)
        return Graph(name, str(config.get("class_name")), layers, inputs, outputs, order)

    def fill_node(self, node: Node, raw: Any, layers: dict[str, LayerInfo],
                  offsets: dict[str, int]) -> None:
        where = f"node {node.index} of layer {node.layer!r}"
        if not isinstance(raw, dict):
            raise self.fail(f"{where} is malformed")
        args = raw.get("args") or []
        kwargs = raw.get("kwargs") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise self.fail(f"{where} is malformed")
        node.args, node.kwargs = args, kwargs
        for value in _tensor_objects(args):
            ref = self.resolve(_history(value), layers, offsets, where)
            node.inputs.append(ref)
            node.recorded[ref] = _shape(value.get("config", {}).get("shape"))
        for key, value in kwargs.items():
            found = []
            for obj in _tensor_objects(value):
                ref = self.resolve(_history(obj), layers, offsets, where)
                found.append(ref)
                node.recorded[ref] = _shape(obj.get("config", {}).get("shape"))
            if not found and self.dialect != 3 and is_bare_reference(value, layers):
                found.append(self.resolve(value, layers, offsets, where))
            if found:
                node.extra[key] = found

    def offsets(self, layers: dict[str, LayerInfo], raw_nodes: dict[str, list[Any]],
                config: dict[str, Any]) -> dict[str, int]:
        """How the config numbers the calls of each nested model (``nested_node_offset``)."""
        used: dict[str, list[int]] = {}
        refs = [_history(obj) for nodes in raw_nodes.values()
                for obj in _tensor_objects(nodes)]
        refs += _ref_list(config["config"].get("input_layers"))
        refs += _ref_list(config["config"].get("output_layers"))
        for ref in refs:
            if isinstance(ref, (list, tuple)) and len(ref) >= 3 and isinstance(ref[0], str) \
                    and isinstance(ref[1], int):
                used.setdefault(ref[0], []).append(ref[1])
        return {name: nested_node_offset(info.class_name, len(info.nodes), used[name])
                for name, info in layers.items()
                if info.class_name in MODEL_CLASSES and name in used}

    def resolve(self, ref: tuple[str, int, int] | Any, layers: dict[str, LayerInfo],
                offsets: dict[str, int], where: str) -> TensorRef:
        if not (isinstance(ref, (list, tuple)) and len(ref) >= 3):
            raise self.fail(f"{where}: malformed tensor reference {ref!r}")
        name, index, tensor = ref[0], ref[1], ref[2]
        if not isinstance(name, str) or not isinstance(index, int) \
                or not isinstance(tensor, int) or isinstance(index, bool):
            raise self.fail(f"{where}: malformed tensor reference {list(ref)!r}")
        if name not in layers:
            raise self.fail(f"{where} refers to missing layer {name!r}")
        real = index - offsets.get(name, 0)
        if not 0 <= real < len(layers[name].nodes) or tensor < 0:
            raise self.fail(f"{where} refers to node {index} of layer {name!r}, "
                            f"which has {len(layers[name].nodes)}")
        return TensorRef(name, real, tensor)

    def toposort(self, layers: dict[str, LayerInfo]) -> list[Node]:
        """Nodes in dependency order, config order among ready nodes (Kahn's algorithm)."""
        nodes = [node for info in layers.values() for node in info.nodes]
        waiting = {node.key: len({(r.layer, r.node) for r in node.inbound}) for node in nodes}
        users: dict[tuple[str, int], list[Node]] = {}
        for node in nodes:
            for source in {(r.layer, r.node) for r in node.inbound}:
                users.setdefault(source, []).append(node)
        position = {node.key: i for i, node in enumerate(nodes)}
        ready = [node for node in nodes if waiting[node.key] == 0]
        order: list[Node] = []
        heap = [(position[n.key], n.key) for n in ready]
        heapq.heapify(heap)
        by_key = {node.key: node for node in nodes}
        while heap:
            _, key = heapq.heappop(heap)
            node = by_key[key]
            order.append(node)
            for user in users.get(key, []):
                waiting[user.key] -= 1
                if waiting[user.key] == 0:
                    heapq.heappush(heap, (position[user.key], user.key))
        if len(order) != len(nodes):
            stuck = sorted({key[0] for key, count in waiting.items() if count > 0})
            raise self.fail("the layer graph has a cycle through "
                            + ", ".join(repr(s) for s in stuck[:5]))
        return order


def _tensor_objects(value: Any, depth: int = 0) -> list[dict[str, Any]]:
    """Every ``__keras_tensor__`` object in an argument structure, in order."""
    if depth > 4 * MAX_NESTING:
        raise CorruptFileError("a layer call's arguments are nested too deep",
                               hint="the model config is damaged or hostile")
    if is_tensor_ref(value):
        return [value]
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        for item in value.values():
            found.extend(_tensor_objects(item, depth + 1))
    elif isinstance(value, (list, tuple)):
        for item in value:
            found.extend(_tensor_objects(item, depth + 1))
    return found


def _history(value: dict[str, Any]) -> Any:
    return (value.get("config") or {}).get("keras_history")


def _ref_list(value: Any) -> list[Any]:
    """``input_layers``/``output_layers``: one ``[name, node, tensor]`` or a list of them."""
    if not value:
        return []
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [value]
    return list(value) if isinstance(value, list) else [value]


def _shape(value: Any) -> Shape | None:
    if not isinstance(value, (list, tuple)):
        return None
    if not all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in value):
        return None
    return tuple(value)


def _build_input_shape(raw: dict[str, Any]) -> Shape | None:
    build = raw.get("build_config")
    if isinstance(build, dict):
        return _shape(build.get("input_shape"))
    return None
