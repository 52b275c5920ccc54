"""Every real-world file and every legacy fixture with an architecture: the library that wrote it
(tf_keras for Keras 2 / tf.keras files, Keras 3 for Keras 3 files, the Keras 1 formulas for Keras
1 files) on the original file, Keras 3 on the converted ``.keras`` and onnxruntime on the
``to-onnx`` output agree within 1e-5 (float32, max abs).

The sweep is the ``fidelity`` marker (``make test-fidelity``); the headline cases (the Keras 2.2
Bidirectional GRU with hard_sigmoid, the Keras 1 Theano CNN) also run in the default suite.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml

from tests.conftest import FIXTURES, REALWORLD, as_outputs, fixture_files, realworld_rows

ATOL = 1e-5
ITEM4 = "issue 16 item 4"


@dataclass
class Case:
    """One source: the file, the weights paired with it, how its reference is built."""

    id: str
    source: Path
    weights: Path | None
    family: str  # tf_keras | tf_keras_config | keras1 | keras3
    xfail: str | None = None
    default_suite: bool = False


def _realworld_cases() -> list[Case]:
    rows = {row["local_name"]: row for row in realworld_rows()}
    r = REALWORLD

    def have(*names: str) -> bool:
        return all(name in rows for name in names)

    cases = []
    for name, row in rows.items():
        if row["kind"] != "full-h5":
            continue
        version = row["keras_version"]
        if version.startswith("2"):
            cases.append(Case(name, r / name, None, "tf_keras",
                              default_suite=name.startswith("anushree1001")))
        elif version.startswith("3"):
            cases.append(Case(name, r / name, None, "keras3"))
        elif version.startswith("1"):
            cases.append(Case(name, r / name, None, "keras1"))
    for name, row in rows.items():
        if row["kind"] == "keras-zip":
            if row["keras_version"].startswith("3"):
                cases.append(Case(name, r / name, None, "keras3"))
            else:
                cases.append(Case(name, r / name, None, "tf_keras_zip"))
    pairs = [("pplonski__keras2cpp__my_nn_arch.json", "pplonski__keras2cpp__my_nn_weights.h5",
              None, True),
             ("tsudalab__ChemTS__model.json", "tsudalab__ChemTS__model.h5", None, False),
             ("dventimiglia__CarND-Behavioral-Cloning__k1_model.json",
              "dventimiglia__CarND-Behavioral-Cloning__k1_model.h5",
              f"Lambda layers with Python 3.5 bytecode ({ITEM4} / --custom-objects)", False)]
    for arch, weights, xfail, default in pairs:
        if have(arch, weights):
            cases.append(Case(arch, r / arch, r / weights, "keras1", xfail=xfail,
                              default_suite=default))
    if have("malfaro2__dl4j-test-resources__mlp_fapi_multiloss_config.json"):
        name = "malfaro2__dl4j-test-resources__mlp_fapi_multiloss_config.json"
        cases.append(Case(name, r / name, None, "keras1_random"))
    if have("HackBinghamtonArchives__CNN-Demo__model.yaml"):
        name = "HackBinghamtonArchives__CNN-Demo__model.yaml"
        cases.append(Case(name, r / name, None, "tf_keras_config"))
    if have("Adeel-Intizar__Cats-VS-Dogs__model.json"):
        name = "Adeel-Intizar__Cats-VS-Dogs__model.json"
        cases.append(Case(name, r / name, None, "tf_keras_config"))
    return cases


def _fixture_cases() -> list[Case]:
    cases = []
    weights = {e["model"]: e["path"] for e in fixture_files(kind="k2-weights")}
    for entry in fixture_files(writer="tf_keras"):
        if entry["kind"] == "h5":
            cases.append(Case(entry["file"], entry["path"], None, "tf_keras"))
        elif entry["kind"] in ("json", "yaml") and entry["model"] in weights:
            cases.append(Case(entry["file"], entry["path"], weights[entry["model"]],
                              "tf_keras_json"))
    return cases


CASES = _realworld_cases() + _fixture_cases()


def _param(case: Case) -> Any:
    marks = [] if case.default_suite else [pytest.mark.fidelity]
    if case.xfail:
        marks.append(pytest.mark.xfail(reason=case.xfail, strict=True))
    return pytest.param(case, id=case.id, marks=marks)


# -- references --------------------------------------------------------------------------------

Predict = Callable[[list[np.ndarray]], list[np.ndarray]]


def _live(model: Any) -> Predict:
    return lambda xs: as_outputs(model(xs[0] if len(xs) == 1 else list(xs), training=False))


class _TupleLoader(yaml.SafeLoader):
    """Test-only: reads the data-only ``!!python/tuple`` tag of Keras 2.1 YAML as a list."""


_TupleLoader.add_constructor("tag:yaml.org,2002:python/tuple",
                             lambda loader, node: loader.construct_sequence(node))


def _reference(case: Case, tmp_path: Path) -> tuple[Predict, Path | None]:
    """(the original library's predict, the weights file to convert with)."""
    import tf_keras

    if case.family == "tf_keras":
        return _live(tf_keras.models.load_model(case.source, compile=False)), None
    if case.family == "tf_keras_json":
        text = case.source.read_text()
        if case.source.suffix == ".yaml":
            model = tf_keras.models.model_from_config(yaml.load(text, _TupleLoader))
        else:
            model = tf_keras.models.model_from_json(text)
        model.load_weights(case.weights)
        return _live(model), case.weights
    if case.family == "tf_keras_config":  # an architecture only: seeded weights, saved by tf_keras
        text = case.source.read_text()
        data = yaml.load(text, _TupleLoader) if case.source.suffix == ".yaml" else json.loads(text)
        model = tf_keras.models.model_from_config(data)
        rng = np.random.default_rng(16)
        model.set_weights([rng.normal(0, 0.3, size=w.shape).astype(w.dtype)
                           for w in model.get_weights()])
        weights = tmp_path / "weights.h5"
        model.save_weights(weights)
        return _live(model), weights
    if case.family == "tf_keras_zip":
        return _live(_tf_keras_213_archive(case.source)), None
    if case.family == "keras3":
        import keras

        return _live(keras.models.load_model(case.source, compile=False)), None
    from modeltool.keras_bridge.keras1_reference import keras1_model

    if case.family == "keras1_random":
        config = json.loads(case.source.read_text())
        weights = _random_keras1_weights(config, tmp_path / "k1_weights.h5")
        return keras1_model(config, weights, theano=False).predict, weights
    if case.weights is not None:
        config_text = case.source.read_text()
        weights_path = case.weights
    else:
        with h5py.File(case.source, "r") as handle:
            config_text = handle.attrs["model_config"]
        weights_path = case.source
    # Keras 1 files record no backend; 'th' ordering means Theano (keras2cpp says so in its
    # README, and computes a true convolution in keras_model.cc).
    theano = '"dim_ordering": "th"' in str(config_text)
    return keras1_model(config_text, weights_path, theano=theano).predict, case.weights


def _tf_keras_213_archive(path: Path) -> Any:
    """tf_keras on a tf.keras 2.13 ``.keras`` archive, which tf_keras 2.21's loader refuses:
    the model built from its ``config.json``, each layer's variables read from
    ``model.weights.h5`` where tf.keras 2.13 put them. Its saver named a layer's group after
    its class (snake case) with a counter that advanced twice per layer with weights (each is
    listed as ``layer_with_weights-k`` and ``layer-i``): the k-th Conv2D is ``conv2d_{2k}``."""
    import io
    import re
    import zipfile

    import tf_keras

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        data = archive.read("model.weights.h5")
    model = tf_keras.models.model_from_config({"class_name": config["class_name"],
                                               "config": config["config"]})
    with h5py.File(io.BytesIO(data), "r") as handle:
        root = handle["_layer_checkpoint_dependencies"]
        counts: dict[str, int] = {}
        for layer in model.layers:
            if not layer.weights:
                continue
            snake = re.sub(r"([a-z])([A-Z])", r"\1_\2", re.sub(
                r"(.)([A-Z][a-z0-9]+)", r"\1_\2", type(layer).__name__)).lower()
            k = counts.get(snake, 0)
            counts[snake] = k + 1
            group = root[snake if k == 0 else f"{snake}_{2 * k}"]["vars"]
            layer.set_weights([np.asarray(group[str(i)]) for i in range(len(group))])
    return model


def _random_keras1_weights(config: dict[str, Any], path: Path) -> Path:
    """Keras 1 weights (``<layer>_W``, ``<layer>_b``) for the Dense layers of a Keras 1 config
    whose shapes follow from its inputs (Merge concat, Dense, Dropout, Activation)."""
    rng = np.random.default_rng(17)
    layers = config["config"]["layers"]
    width = {}
    for layer in layers:
        cfg = layer["config"]
        if layer["class_name"] == "InputLayer":
            width[layer["name"]] = cfg["batch_input_shape"][-1]
            continue
        inbound = [ref[0] for ref in layer["inbound_nodes"][0]]
        if layer["class_name"] == "Merge":
            width[layer["name"]] = sum(width[n] for n in inbound)
        elif layer["class_name"] == "Dense":
            width[layer["name"]] = cfg["output_dim"]
        else:
            width[layer["name"]] = width[inbound[0]]
    with h5py.File(path, "w") as handle:
        names = [layer["name"] for layer in layers]
        handle.attrs["layer_names"] = [n.encode() for n in names]
        for layer in layers:
            group = handle.create_group(layer["name"])
            stored: list[tuple[str, np.ndarray]] = []
            if layer["class_name"] == "Dense":
                source = width[layer["inbound_nodes"][0][0][0]]
                stored = [(f"{layer['name']}_W", rng.normal(size=(source, width[layer["name"]]))),
                          (f"{layer['name']}_b", rng.normal(size=(width[layer["name"]],)))]
            group.attrs["weight_names"] = [n.encode() for n, _ in stored]
            for n, array in stored:
                group.create_dataset(n, data=array.astype("float32"))
    return path


def _inputs(model: Any, *, keras1: bool, vocab: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1616)
    values = []
    for tensor in model.inputs:
        shape = [3, *[d if d is not None else 24 for d in tensor.shape[1:]]]
        dtype = np.dtype(getattr(tensor.dtype, "name", tensor.dtype))
        if dtype.kind in "iu":
            values.append(rng.integers(1 if keras1 else 0, vocab, size=shape).astype(dtype))
        else:
            values.append(rng.random(shape, dtype=np.float32))
    return values


def _max_diff(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    assert len(got) == len(want)
    worst = 0.0
    for g, w in zip(got, want):
        assert g.shape == w.shape
        worst = max(worst, float(np.abs(g.astype(np.float64) - w).max()))
    return worst


@pytest.mark.tf
@pytest.mark.realworld
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_original_converted_and_onnx_agree(case: Case, tmp_path: Path) -> None:
    import keras
    import onnxruntime

    import modeltool.keras_bridge.legacy_activations  # noqa: F401 - registers it
    from modeltool.keras_bridge.reference import vocabulary

    if not case.source.exists():
        pytest.skip(f"{case.source} not found")
    if case.family == "none":
        pytest.fail("no reference")
    predict, weights = _reference(case, tmp_path)
    converted = tmp_path / "converted.keras"
    modeltool.convert(case.source, converted, weights=weights, verify=False)
    model = keras.models.load_model(converted, compile=False)
    with modeltool.open(converted) as artifact:
        vocab = vocabulary(artifact.config)
    inputs = _inputs(model, keras1=case.family.startswith("keras1"), vocab=vocab)
    want = predict(inputs)
    got = as_outputs(model(inputs[0] if len(inputs) == 1 else inputs, training=False))
    assert _max_diff(got, want) <= ATOL, "Keras 3 on the converted .keras"
    onnx_path = tmp_path / "converted.onnx"
    modeltool.to_onnx(case.source, onnx_path, weights=weights, verify=False)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    got_onnx = [np.asarray(o) for o in session.run(None, dict(zip(names, inputs)))]
    assert _max_diff(got_onnx, want) <= ATOL, "onnxruntime on the to-onnx output"


def test_every_source_is_covered() -> None:
    """Nothing in the real-world folder with an architecture is left out of the sweep."""
    covered = {c.source.name for c in CASES} | {c.weights.name for c in CASES if c.weights}
    for row in realworld_rows():
        if row["kind"] in ("full-h5", "keras-zip", "json-config", "yaml-config"):
            assert row["local_name"] in covered, row["local_name"]
    assert any(c.source.parent == FIXTURES / "models" for c in CASES) or not CASES
