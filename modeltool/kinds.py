"""The file kinds modeltool reads and writes, as one enum.

``Kind`` is a ``str`` enum: a member equals its id (``Kind.H5 == "h5"``), formats as it
(``f"{Kind.H5}"`` is ``h5``) and is written to JSON as it, so reports and ``--to`` values keep
their spelling.
"""

from __future__ import annotations

from enum import Enum


class Kind(str, Enum):
    """A file kind, by the id ``--to`` takes and ``--json`` reports."""

    KERAS = "keras"  #: Keras 3 ``.keras`` archive
    H5 = "h5"  #: legacy HDF5 full model
    K3_WEIGHTS = "k3-weights"  #: Keras 3 ``.weights.h5``
    K2_WEIGHTS = "k2-weights"  #: Keras 2 weights-only HDF5
    JSON = "json"  #: architecture JSON
    YAML = "yaml"  #: architecture YAML
    SAVEDMODEL = "savedmodel"  #: TensorFlow SavedModel directory
    K2_H5 = "k2-h5"  #: legacy HDF5 full model in the Keras 2 dialect
    SAFETENSORS = "safetensors"  #: weights only, Keras paths as keys
    NPZ = "npz"  #: weights only, Keras paths as keys
    ONNX = "onnx"  #: an ONNX model (read for summary, weights, check)
    KERAS_MODEL = "keras.Model"  #: a live model handed to the Python API (no file)

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


#: Kinds stored as HDF5 (a ``.h5`` name fits any of them).
HDF5_KINDS = frozenset({Kind.H5, Kind.K2_H5, Kind.K2_WEIGHTS, Kind.K3_WEIGHTS})
#: Kinds that hold an architecture and no weights.
CONFIG_KINDS = frozenset({Kind.JSON, Kind.YAML})
#: The legacy (Keras 1/2) HDF5 layouts, told apart only by whether a config is stored.
LEGACY_HDF5_KINDS = frozenset({Kind.H5, Kind.K2_WEIGHTS})
