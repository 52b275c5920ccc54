"""Activations whose meaning Keras 3 changed, kept with their Keras 1/2 numbers.

Keras 1, Keras 2 and tf.keras computed ``hard_sigmoid(x)`` as ``clip(0.2 * x + 0.5, 0, 1)``;
Keras 3 redefined the name as ``relu6(x + 3) / 6`` (a slope of 1/6 instead of 0.2). A model
migrated by modeltool refers to ``modeltool>legacy_hard_sigmoid`` instead, so it keeps the
numbers it was trained with. Importing this module registers the function with Keras::

    import modeltool.keras_bridge.legacy_activations  # noqa: F401  (registers it)
    model = keras.models.load_model("migrated.keras")

modeltool itself registers it before it builds a model.
"""

from __future__ import annotations

from typing import Any

#: The name a migrated config refers to (``package>name``, as Keras registers it).
LEGACY_HARD_SIGMOID = "modeltool>legacy_hard_sigmoid"


def legacy_hard_sigmoid(x: Any) -> Any:
    """``clip(0.2 * x + 0.5, 0, 1)``: the ``hard_sigmoid`` of Keras 1, Keras 2 and tf.keras,
    computed in the same order (multiply, add, clip) so float32 results are bit-identical."""
    from keras import ops

    x = ops.convert_to_tensor(x)
    return ops.clip(ops.add(ops.multiply(x, ops.cast(0.2, x.dtype)), ops.cast(0.5, x.dtype)),
                    0.0, 1.0)


def register() -> None:
    """Register the legacy activations with Keras (idempotent)."""
    import keras

    if keras.saving.get_registered_object(LEGACY_HARD_SIGMOID) is legacy_hard_sigmoid:
        return
    keras.saving.register_keras_serializable(package="modeltool",
                                             name="legacy_hard_sigmoid")(legacy_hard_sigmoid)


register()
