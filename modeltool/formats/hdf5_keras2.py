"""``k2-h5``: a legacy full-model HDF5 file in the Keras 2 (tf.keras / tf_keras) dialect.

For pipelines that still need Keras 2 (tfjs-converter, TF <= 2.15, tf_keras): the canonical
config is written the way tf.keras 2.x wrote it (no ``module``/``registered_name``, list-style
``inbound_nodes``, ``batch_input_shape``, dtype strings, Keras 2 argument names) and the
weights in the legacy layout Keras 2 loads by position. What Keras 2 cannot express with the
same meaning (a class or activation it lacks, a Keras 3 argument with a non-default value) is
refused in one line naming the layer.

The config is translated by ``dialects.keras2``; the file is read back by ``hdf5_legacy`` like
any tf.keras file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py

from ..artifact import ModelArtifact
from ..errors import UnsupportedError, UnsupportedLayerError
from ..io import atomic_path, check_output
from ..kinds import Kind
from .dialects.keras2 import keras2_config
from .hdf5_legacy import _write_weight_groups

KIND = Kind.K2_H5
#: The Keras 2 release whose format is written (what tf_keras 2.21 reads as its own).
WRITES_KERAS_VERSION = "2.21.0"

def write_hdf5_keras2(artifact: ModelArtifact, path: str | os.PathLike[str], *,
                      force: bool = False) -> Path:
    """Write a legacy full-model HDF5 file that tf_keras 2.x (and tf.keras) loads.

    Raises:
        UnsupportedError: no architecture.
        UnsupportedLayerError: a layer Keras 2 cannot express with the same meaning.
    """
    if artifact.config is None:
        raise UnsupportedError("a full-model .h5 needs an architecture and this model has none",
                               path=path, hint="write k2-weights instead")
    try:
        config = keras2_config(artifact.config)
    except UnsupportedLayerError as err:
        raise UnsupportedLayerError(err.problem, path=artifact.path or path,
                                    hint="the Keras 3 kinds (keras, h5) can hold it") from None
    out = check_output(path, force=force)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as handle:
        handle.attrs["backend"] = "tensorflow"
        handle.attrs["keras_version"] = WRITES_KERAS_VERSION
        handle.attrs["model_config"] = json.dumps(config)
        group = handle.create_group("model_weights")
        _write_weight_groups(group, artifact)
        group.attrs["keras_version"] = WRITES_KERAS_VERSION
    return out
