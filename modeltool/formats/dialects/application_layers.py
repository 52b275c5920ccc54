"""Layer classes keras.applications defines outside ``keras.layers``.

Keras 3 writes their module into a ``.keras`` config, but its own legacy ``.h5`` writer leaves
the module out, so Keras 3.15 cannot load the ``.h5`` it wrote for a ConvNeXt. modeltool puts
the module back; Keras then finds the class where it lives.
"""

from __future__ import annotations

#: class -> the Keras 3 module defining it (Keras 3.15).
APPLICATION_LAYER_MODULES = {
    "LayerScale": "keras.src.applications.convnext",
    "StochasticDepth": "keras.src.applications.convnext",
    "CustomScaleLayer": "keras.src.applications.inception_resnet_v2",
}


def is_application_layer(class_name: str, module: str | None) -> bool:
    """True for one of these classes with its Keras module."""
    return APPLICATION_LAYER_MODULES.get(class_name) == module
