"""The table of layer-class facts (``modeltool.layer_classes``) against Keras 3 itself: the
classes it calls convolutions and recurrent layers are the ones Keras builds on its convolution
and RNN bases, with the spatial rank and gate count Keras gives them."""

from __future__ import annotations

import inspect

import pytest

from modeltool import layer_classes as lc

pytestmark = pytest.mark.tf


def _keras_subclasses(base: str) -> set[str]:
    """Names of the public ``keras.layers`` classes with a base class called ``base``."""
    import keras

    found = set()
    for name in dir(keras.layers):
        cls = getattr(keras.layers, name)
        if inspect.isclass(cls) and any(b.__name__ == base for b in cls.__mro__[1:]):
            found.add(cls.__name__)
    return found


def test_convolution_sets_are_keras_convolution_classes() -> None:
    assert set(lc.CONV_RANK) == _keras_subclasses("BaseConv") | _keras_subclasses(
        "BaseConvTranspose")
    assert lc.CONV_TRANSPOSE_CLASSES == _keras_subclasses("BaseConvTranspose")
    assert set(lc.DEPTHWISE_CONV_RANK) == _keras_subclasses("BaseDepthwiseConv")
    assert set(lc.SEPARABLE_CONV_RANK) == _keras_subclasses("BaseSeparableConv")
    assert set(lc.CONV_LSTM_RANK) == _keras_subclasses("ConvLSTM")


def test_ranks_are_keras_ranks() -> None:
    import keras

    for name, rank in lc.ANY_CONV_RANK.items():
        layer = getattr(keras.layers, name)(**({"filters": 1} if "Depthwise" not in name
                                               else {}), kernel_size=1)
        # A ConvLSTM keeps its rank on its cell.
        assert (layer.cell.rank if name in lc.CONV_LSTM_RANK else layer.rank) == rank, name


def test_recurrent_sets_are_keras_rnn_classes() -> None:
    import keras

    assert lc.RNN_CLASSES == _keras_subclasses("RNN")
    assert {name for name in dir(keras.layers) if name.endswith("Cell")} <= lc.CELL_CLASSES
    for name, gates in lc.RNN_GATES.items():
        layer = getattr(keras.layers, name)(units=2)
        layer.build((1, 3, 4))
        kernel = next(w for w in layer.weights if w.path.endswith("/kernel"))
        assert tuple(kernel.shape) == (4, 2 * gates), name


def test_wrappers_hold_a_layer_in_their_config() -> None:
    import keras

    dense = keras.layers.Dense(2)
    for name in lc.WRAPPER_CLASSES:
        inner = keras.layers.LSTM(2) if name == "Bidirectional" else dense
        config = getattr(keras.layers, name)(inner).get_config()
        assert config["layer"]["class_name"] == type(inner).__name__, name
