"""One transformation whatever the route: ``convert ARCH --weights W``, ``load-weights`` and
``to-onnx --weights`` migrate the same legacy weights the same way, and the result computes
what the original computed (Theano: a true convolution)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import modeltool
from tests.conftest import REALWORLD

pytestmark = pytest.mark.tf

ARCH = REALWORLD / "pplonski__keras2cpp__my_nn_arch.json"
WEIGHTS = REALWORLD / "pplonski__keras2cpp__my_nn_weights.h5"


def _theano_forward(x: np.ndarray) -> np.ndarray:
    """keras2cpp's MNIST CNN as Keras 1 + Theano computed it, from the stored arrays: true
    convolutions ('same', th ordering), relu, 2x2 max pooling, flatten (C, H, W), dense layers."""
    with h5py.File(WEIGHTS, "r") as handle:
        w = {name: np.asarray(handle[layer][name], np.float64)
             for layer in handle for name in handle[layer]}

    def conv_same(inp: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
        padded = np.pad(inp, ((0, 0), (0, 0), (1, 1), (1, 1)))
        out = np.zeros((inp.shape[0], kernel.shape[0], inp.shape[2], inp.shape[3]))
        flipped = kernel[:, :, ::-1, ::-1]
        for r in range(inp.shape[2]):
            for c in range(inp.shape[3]):
                patch = padded[:, :, r:r + 3, c:c + 3]
                out[:, :, r, c] = np.einsum("bikl,oikl->bo", patch, flipped)
        return out + bias[None, :, None, None]

    h = np.maximum(conv_same(x, w["convolution2d_1_W"], w["convolution2d_1_b"]), 0)
    h = np.maximum(conv_same(h, w["convolution2d_2_W"], w["convolution2d_2_b"]), 0)
    b, ch, rows, cols = h.shape
    h = h.reshape(b, ch, rows // 2, 2, cols // 2, 2).max(axis=(3, 5))
    h = np.maximum(h.reshape(b, -1) @ w["dense_1_W"] + w["dense_1_b"], 0)
    logits = h @ w["dense_2_W"] + w["dense_2_b"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _keras3(path: Path) -> Any:
    import keras

    return keras.models.load_model(path, compile=False)


@pytest.mark.realworld
def test_keras1_theano_pair_every_route(tmp_path: Path) -> None:
    import onnxruntime

    if not ARCH.exists():
        pytest.skip("real-world files not found")
    by_convert = tmp_path / "convert.keras"
    modeltool.convert(ARCH, by_convert, weights=WEIGHTS)
    target = tmp_path / "target.keras"
    modeltool.convert(ARCH, target, init=True)
    by_load = tmp_path / "load.keras"
    modeltool.load_weights_by_name(target, WEIGHTS, output=by_load)
    a, b = _keras3(by_convert), _keras3(by_load)
    for x, y in zip(a.weights, b.weights):
        assert np.array_equal(np.asarray(x), np.asarray(y)), x.path
    inputs = np.random.default_rng(3).random((2, 1, 28, 28), dtype=np.float32)
    want = _theano_forward(inputs.astype(np.float64))
    assert np.abs(np.asarray(a(inputs)) - want).max() <= 1e-5
    onnx_path = tmp_path / "m.onnx"
    report = modeltool.to_onnx(ARCH, onnx_path, weights=WEIGHTS)
    assert report.source_reference.startswith("numpy Keras 1 formulas (Theano")
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: inputs})[0]
    assert np.abs(got - want).max() <= 1e-5


def test_keras2_theano_weights_flipped_by_every_route(tmp_path: Path) -> None:
    """A Keras 2 file that records backend=theano: kernels already in the Keras 2 layout (so
    load-weights used to take them as they were) are flipped by both routes."""
    import tf_keras

    inp = tf_keras.layers.Input((6, 6, 2))
    model = tf_keras.Model(inp, tf_keras.layers.Conv2D(3, (3, 2), name="conv")(inp))
    arch = tmp_path / "arch.json"
    arch.write_text(model.to_json())
    weights = tmp_path / "theano.h5"
    model.save_weights(weights)
    with h5py.File(weights, "r+") as handle:
        handle.attrs["backend"] = "theano"
    stored = model.get_weights()[0]
    by_convert = tmp_path / "convert.keras"
    modeltool.convert(arch, by_convert, weights=weights)
    target = tmp_path / "target.keras"
    modeltool.convert(arch, target, init=True)
    by_load = tmp_path / "load.keras"
    modeltool.load_weights_by_name(target, weights, output=by_load)
    for path in (by_convert, by_load):
        kernel = np.asarray(_keras3(path).get_layer("conv").kernel)
        assert np.array_equal(kernel, stored[::-1, ::-1]), path.name
