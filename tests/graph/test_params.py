"""The one rule for which weights train (``graph.params.never_trained``), against Keras' own
``Variable.trainable`` on freshly built layers, for the names each file layout gives weights."""

from __future__ import annotations

from typing import Any

import pytest

from modeltool.graph.params import never_trained

LAYERS = [
    ("BatchNormalization", {}),
    ("BatchNormalization", {"scale": False}),
    ("BatchNormalization", {"center": False, "scale": False}),
    ("LayerNormalization", {}),
    ("Dense", {"units": 3}),
    ("Normalization", {}),
]


def _keras_flags(class_name: str, config: dict[str, Any]) -> tuple[list[str], list[bool]]:
    """Weight names and ``not trainable`` of each weight of a Keras 3 layer built on (2, 4)."""
    import keras

    layer = getattr(keras.layers, class_name)(**config)
    layer.build((2, 4))
    return ([w.path.rsplit("/", 1)[-1] for w in layer.weights],
            [not w.trainable for w in layer.weights])


@pytest.mark.tf
@pytest.mark.parametrize(("class_name", "config"), LAYERS,
                         ids=[f"{c}{sorted(k)}" for c, k in LAYERS])
def test_never_trained_agrees_with_keras(class_name: str, config: dict[str, Any]) -> None:
    names, expected = _keras_flags(class_name, config)
    # By name (Keras 2 HDF5 weight_names), and numbered (Keras 3 .weights.h5 vars/0, vars/1...)
    # with and without the names the config implies.
    assert never_trained(class_name, names) == expected
    numbered = [str(i) for i in range(len(names))]
    assert never_trained(class_name, numbered, names) == expected
    assert never_trained(class_name, numbered) == expected
