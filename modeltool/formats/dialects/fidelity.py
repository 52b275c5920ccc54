"""Rules that keep a Keras 1/2 layer computing what it computed, once Keras 3 reads its config.

``keras1`` renames classes and arguments; the rules here are about meaning: a name or an
omitted default that Keras 3 reads differently. Each rule writes the exact Keras 3 equivalent
when there is one, and says what it did in ``notes``. The audit behind them (every activation
name and every default checked against tf_keras and Keras 3) is ``docs/migration.md``.
"""

from __future__ import annotations

from typing import Any

#: The registered function that keeps the Keras 1/2 ``hard_sigmoid`` (see
#: ``keras_bridge.legacy_activations``), as Keras 3 serializes a registered function.
LEGACY_HARD_SIGMOID = "modeltool>legacy_hard_sigmoid"
LEGACY_HARD_SIGMOID_CONFIG = {"module": "builtins", "class_name": "function",
                              "config": LEGACY_HARD_SIGMOID, "registered_name": "function"}

#: Largest difference between Keras 3's ``hard_sigmoid`` (``relu6(x + 3) / 6``) and the Keras
#: 1/2 one (``clip(0.2x + 0.5, 0, 1)``): at x = +-2.5 one is 1 or 0, the other 1/2 +- 5/12.
HARD_SIGMOID_GAP = 1 / 12

_ACTIVATION_KEYS = ("activation", "recurrent_activation", "inner_activation")

#: Layers that flatten or reshape in memory order: Keras 1/2 (before ``data_format`` existed on
#: them) used the raw order; Keras 3 without a ``data_format`` uses the user's keras.json.
_FLATTENS = ("Flatten",)


#: Keras 3 classes whose constructor takes no ``**kwargs``, with the Keras 1/2 arguments it
#: lacks and the value that makes dropping one harmless (None: any value; these layers have no
#: weights and are identities at inference).
_FIXED_SIGNATURE: dict[str, dict[str, Any]] = {
    f"SpatialDropout{n}D": {"trainable": None, "noise_shape": None} for n in (1, 2, 3)}


def is_legacy_hard_sigmoid(value: Any) -> bool:
    """True for a config value that names the Keras 1/2 ``hard_sigmoid``."""
    if value == "hard_sigmoid":
        return True
    return (isinstance(value, dict) and value.get("config") == "hard_sigmoid"
            and str(value.get("module") or "keras.activations").startswith(
                ("keras.activations", "keras.src.activations", "tf_keras")))


def keep_meaning(class_name: str, config: dict[str, Any], name: Any, notes: list[str]) -> None:
    """Rewrite one Keras 1/2 layer config (in place) so Keras 3 computes what the original did.

    Called by ``canonical`` for every layer of a Keras 1/2 config, after its class and argument
    names were made Keras 3 names.
    """
    for key in _ACTIVATION_KEYS:
        if is_legacy_hard_sigmoid(config.get(key)):
            config[key] = dict(LEGACY_HARD_SIGMOID_CONFIG)
            notes.append(f"layer {name!r}: {key} hard_sigmoid is the Keras 1/2 one, "
                         "clip(0.2x + 0.5, 0, 1); kept as modeltool>legacy_hard_sigmoid "
                         f"(Keras 3's hard_sigmoid, relu6(x + 3) / 6, differs by up to "
                         f"{HARD_SIGMOID_GAP:.3f})")
    if class_name in _FIXED_SIGNATURE:
        # Keras 3 spells out these constructors (no **kwargs): tf.keras's base arguments fail.
        for key, harmless in _FIXED_SIGNATURE[class_name].items():
            if key in config and (harmless is None or config[key] in (harmless, None)):
                config.pop(key)
    if class_name in _FLATTENS and not config.get("data_format"):
        # Keras 1 and Keras 2.0 flattened in memory order; Keras 3 would follow keras.json.
        config["data_format"] = "channels_last"
