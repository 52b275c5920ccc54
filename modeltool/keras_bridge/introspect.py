"""What a live Keras model says about its own layers: every node's input and output shapes and
every layer's weights, for ``summary``'s Keras engine. Walks Keras internals (``_inbound_nodes``,
``keras.src.ops.function.make_node_key``, ``keras.src.tree``, ``KerasTensor``), so it lives here;
the caller gets plain data (``NodeShapes``, ``Params``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..artifact import ModelArtifact
from ..errors import KerasError
from ..graph.model import Shape
from ..graph.params import Params
from ..graph.shapes import SOURCE_KERAS, NodeShapes
from . import model_from_artifact


def layer_shapes_and_params(artifact: ModelArtifact
                            ) -> tuple[dict[tuple[str, ...], NodeShapes], dict[str, Params]]:
    """Shapes of every node and params of every layer, from a model Keras builds from the
    config alone (``safe_mode`` on, no weight data read): what ``summary --engine keras``
    shows.

    Returns:
        Node shapes keyed by ``(*layer path, node index)`` strings (``infer_shapes``'
        ``overrides``), and params keyed by ``/``-joined layer path.

    Raises:
        KerasError: Keras cannot build the model, or its graph cannot be walked.

    Example:
        >>> shapes, params = layer_shapes_and_params(artifact)  # doctest: +SKIP
    """
    model = model_from_artifact(artifact, with_weights=False)
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
