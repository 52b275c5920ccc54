"""Keras 1/2/3 config dialects: the only place that knows how they differ.

Readers turn whatever config a file holds into one canonical (Keras 3) dialect here; writers that
hand a config to Keras take its loadable form from here. The public names below are what the rest
of the package uses; the modules hold the rules:

- ``canonical``: a stored config of any dialect -> the canonical one (``canonical_model_config``);
- ``keras1``: Keras 1/2 class and argument renames, arguments Keras 3 removed, Keras 1 weight
  layouts (``keras1_layout``);
- ``keras1_classes``, ``keras0``: Keras 1 classes without a Keras 3 twin, Keras 0 files;
- ``references``: tensor references in layer calls (list forms, node dicts, node numbering);
- ``node_states``: RNN initial states and calls recorded as operations;
- ``tf_ops``: tf.keras TensorFlow-op layers; ``fidelity``: meanings Keras 3 changed;
- ``keras_classes``, ``application_layers``: what Keras 3 ships;
- ``loadable``: the canonical config as Keras 3 loads it from a file; ``keras2``: the canonical
  config in the tf.keras 2.x dialect (for files Keras 2 loads);
- ``walk``: reading a canonical config (its layers, their names, the model a layer holds);
- ``trainable``: where a stored config of any dialect keeps each layer's trainable flag.
"""

from __future__ import annotations

from .canonical import attach_config, canonical_model_config, detect_dialect, foreign_layers
from .keras1 import keras1_layout
from .loadable import keras_loadable_config
from .references import (
    is_bare_reference,
    is_tensor_ref,
    nested_node_offset,
    tensor_refs,
    untuple,
)
from .walk import inner_model, is_operation, layer_configs, layer_name

__all__ = [
    "attach_config",
    "canonical_model_config",
    "detect_dialect",
    "foreign_layers",
    "inner_model",
    "is_bare_reference",
    "is_operation",
    "is_tensor_ref",
    "keras1_layout",
    "keras_loadable_config",
    "layer_configs",
    "layer_name",
    "nested_node_offset",
    "tensor_refs",
    "untuple",
]
