"""The graph built from canonical configs: chains, shared layers, nested models, and damaged
graphs raising CorruptFileError (never KeyError or RecursionError)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import modeltool
from modeltool.errors import CorruptFileError
from modeltool.graph import TensorRef, build_graph, infer_shapes
from tests.conftest import fixture_path


def _tensor(layer: str, node: int = 0, tensor: int = 0, shape: Any = None) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": "float32", "keras_history": [layer, node, tensor]}}


def _layer(class_name: str, name: str, nodes: list[Any] | None = None,
           **config: Any) -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": class_name,
            "config": {"name": name, **config}, "registered_name": None, "name": name,
            "inbound_nodes": [{"args": args, "kwargs": {}} for args in (nodes or [])]}


def _functional(layers: list[dict[str, Any]], inputs: Any, outputs: Any,
                name: str = "m") -> dict[str, Any]:
    return {"class_name": "Functional",
            "config": {"name": name, "layers": layers, "input_layers": inputs,
                       "output_layers": outputs}}


def _chain() -> dict[str, Any]:
    return _functional([
        _layer("InputLayer", "x", batch_shape=[None, 4]),
        _layer("Dense", "a", [[_tensor("x")]], units=3),
        _layer("Dense", "b", [[_tensor("a")]], units=2),
    ], [["x", 0, 0]], [["b", 0, 0]])


def test_functional_chain() -> None:
    graph = build_graph(_chain())
    assert [n.layer for n in graph.order] == ["x", "a", "b"]
    assert graph.layers["b"].nodes[0].inputs == [TensorRef("a", 0, 0)]
    assert str(graph.layers["b"].nodes[0].inputs[0]) == "a[0][0]"
    assert infer_shapes(graph).outputs() == [(None, 2)]


def test_shared_layer_has_one_node_per_call() -> None:
    config = _functional([
        _layer("InputLayer", "p", batch_shape=[None, 5, 3]),
        _layer("InputLayer", "q", batch_shape=[None, 7, 3]),
        _layer("LSTM", "shared", [[_tensor("p")], [_tensor("q")]], units=4,
               return_sequences=True),
        _layer("Concatenate", "cat", [[[_tensor("shared", 0), _tensor("shared", 1)]]], axis=1),
    ], [["p", 0, 0], ["q", 0, 0]], [["cat", 0, 0]])
    graph = build_graph(config)
    shared = graph.layers["shared"]
    assert [n.inputs for n in shared.nodes] == [[TensorRef("p", 0, 0)], [TensorRef("q", 0, 0)]]
    shapes = infer_shapes(graph)
    assert shapes.nodes[("shared", 0)].outputs == [(None, 5, 4)]
    assert shapes.nodes[("shared", 1)].outputs == [(None, 7, 4)]
    assert shapes.outputs() == [(None, 12, 4)]


def test_sequential_without_input_shape() -> None:
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "d", "units": 3}}]}}
    graph = build_graph(config)
    assert graph.visible_layers()[0].name == "d"
    assert infer_shapes(graph).outputs() == [None]
    assert infer_shapes(graph, [(None, 8)]).outputs() == [(None, 3)]


def test_nested_model_node_numbering() -> None:
    # The canonical dialect numbers a nested Sequential's first call 0 (a Functional's 1);
    # a Keras 2 config that still says 1 for the Sequential is understood too.
    inner = {"class_name": "Sequential", "name": "inner", "config": {"name": "inner", "layers": [
        {"class_name": "InputLayer", "config": {"name": "i", "batch_shape": [None, 4]}},
        {"class_name": "Dense", "config": {"name": "d", "units": 2}}]},
        "inbound_nodes": [{"args": [_tensor("x")], "kwargs": {}}]}
    for dialect, index in ((2, 1), (3, 0)):
        config = _functional([_layer("InputLayer", "x", batch_shape=[None, 4]),
                              copy.deepcopy(inner),
                              _layer("Dense", "out", [[_tensor("inner", index)]], units=1)],
                             [["x", 0, 0]], [["out", 0, 0]])
        graph = build_graph(config, dialect=dialect)
        assert graph.layers["out"].nodes[0].inputs == [TensorRef("inner", 0, 0)]
        assert infer_shapes(graph).outputs() == [(None, 1)]


@pytest.mark.parametrize("damage, problem", [
    (lambda c: c["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"]
     .__setitem__("keras_history", ["nope", 0, 0]), "missing layer 'nope'"),
    (lambda c: c["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"]
     .__setitem__("keras_history", ["a", 3, 0]), "node 3 of layer 'a'"),
    (lambda c: c["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"]
     .__setitem__("keras_history", ["a", "x", 0]), "malformed tensor reference"),
    (lambda c: c["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]
     .__setitem__("keras_history", ["b", 0, 0]), "cycle"),
    (lambda c: c["config"]["layers"][2].__setitem__("name", "a"), "two layers are named 'a'"),
    (lambda c: c["config"].__setitem__("output_layers", [["zz", 0, 0]]), "missing layer 'zz'"),
    (lambda c: c["config"]["layers"][1].__setitem__("inbound_nodes", ["junk"]), "malformed"),
])
def test_damaged_graphs_raise_corrupt_file_error(damage: Any, problem: str) -> None:
    config = _chain()
    damage(config)
    with pytest.raises(CorruptFileError, match=problem):
        build_graph(config, path="m.json")


def test_self_loop_is_a_cycle() -> None:
    config = _chain()
    config["config"]["layers"][1]["inbound_nodes"][0]["args"] = [_tensor("a")]
    with pytest.raises(CorruptFileError, match="cycle"):
        build_graph(config)


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    model: dict[str, Any] = {"class_name": "Sequential", "config": {"name": "m0", "layers": []}}
    for i in range(1, 200):
        model = {"class_name": "Sequential", "name": f"m{i}",
                 "config": {"name": f"m{i}", "layers": [model]}}
    with pytest.raises(CorruptFileError, match="nested more than"):
        build_graph(model)


def test_fixture_graphs() -> None:
    with modeltool.open(fixture_path("siamese_lstm", "k2.json")) as artifact:
        assert artifact.config is not None
        graph = build_graph(artifact.config, dialect=artifact.dialect)
    assert len(graph.layers["lstm"].nodes) == 2
    assert [str(r) for r in graph.inputs] == ["tweet_a[0][0]", "tweet_b[0][0]"]
    with modeltool.open(fixture_path("nested_vision", "k2.h5")) as artifact:
        assert artifact.config is not None
        graph = build_graph(artifact.config, dialect=artifact.dialect)
    inner = graph.layers["vision_model"].graph
    assert inner is not None and inner.is_sequential
    concat = graph.layers["concatenate"].nodes[0]
    assert TensorRef("vision_model", 0, 0) in concat.inputs


def test_keras2_keyword_tensor_reference() -> None:
    # tf.keras 2 TFOpLambda: tf.math.multiply(x, y=d) stores y as a bare [layer, node, tensor].
    config = _functional([
        _layer("InputLayer", "x", batch_shape=[None, 4]),
        _layer("Dense", "d", [[_tensor("x")]], units=4),
        {"module": "keras.layers", "class_name": "TFOpLambda", "name": "mul",
         "config": {"name": "mul", "function": "math.multiply"}, "registered_name": None,
         "inbound_nodes": [{"args": [_tensor("x")], "kwargs": {"y": ["d", 0, 0]}}]},
        {"module": "keras.layers", "class_name": "TFOpLambda", "name": "add",
         "config": {"name": "add", "function": "__operators__.add"}, "registered_name": None,
         "inbound_nodes": [{"args": [_tensor("mul")], "kwargs": {"y": 1.0, "name": None}}]},
    ], [["x", 0, 0]], [["add", 0, 0]])
    graph = build_graph(config, dialect=2)
    node = graph.layers["mul"].nodes[0]
    assert node.inbound == [TensorRef("x", 0, 0), TensorRef("d", 0, 0)]
    assert infer_shapes(graph).outputs() == [(None, 4)]
    # In a Keras 3 config such a list is just a value.
    assert build_graph(config, dialect=3).layers["mul"].nodes[0].extra == {}


def test_deeply_nested_call_arguments_are_refused() -> None:
    config = _chain()
    args: Any = [_tensor("a")]
    for _ in range(600):
        args = [args]
    config["config"]["layers"][2]["inbound_nodes"][0]["args"] = args
    with pytest.raises(CorruptFileError, match="nested too deep"):
        build_graph(config)
