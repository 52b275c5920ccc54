"""Keras 3 layers that keep their weights in sublayers, and how each layout names them.

A ``.keras``/``.weights.h5`` file stores such a layer's weights under one group per sublayer
attribute (``multi_head_attention/query_dense/vars/0``); a legacy ``.h5`` names them by the
sublayer's own name (``query/kernel``), in the order Keras creates them, which is also the
order Keras loads a legacy file by.
"""

from __future__ import annotations

#: class -> [(group in a Keras 3 weights file, weight-name prefix of a legacy file,
#: weight names in order)]; sublayers without weights are listed so a written file has them.
SUBLAYER_WEIGHTS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "MultiHeadAttention": [("query_dense", "query", ("kernel", "bias")),
                           ("key_dense", "key", ("kernel", "bias")),
                           ("value_dense", "value", ("kernel", "bias")),
                           ("output_dense", "attention_output", ("kernel", "bias")),
                           ("_softmax", "", ()), ("_dropout_layer", "", ())],
}
