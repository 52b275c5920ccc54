"""The model to export, from a file of any kind or a live ``keras.Model``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ModelToolError, UnsupportedError
from ...kinds import Kind

if TYPE_CHECKING:
    from ...keras_bridge.onnx_source import ExportSource

PathLike = str | os.PathLike[str]


def is_live_model(obj: Any) -> bool:
    """True for a live ``keras.Model`` (anything with ``inputs`` that is not a path)."""
    return not isinstance(obj, (str, os.PathLike)) and hasattr(obj, "inputs")


def load_source(path_or_model: PathLike | Any, weights: PathLike | None,
                unsafe_lambda: bool = False) -> ExportSource:
    """The ExportSource of a model file (``weights`` for an architecture-only one) or a live
    model; a SavedModel not written by modeltool goes through its serving signature."""
    from ... import keras_bridge
    from ...keras_bridge.onnx_source import (
        load_weights_into,
        source_from_model,
        source_from_savedmodel,
    )

    if is_live_model(path_or_model):
        if weights is not None:
            load_weights_into(path_or_model, weights)
        name = getattr(path_or_model, "name", "model")
        return source_from_model(path_or_model, label=f"<keras.Model {name!r}>",
                                 kind="keras.Model")
    if not isinstance(path_or_model, (str, os.PathLike)):
        raise ModelToolError(f"cannot convert a {type(path_or_model).__name__}",
                             hint="pass a model file path or a keras.Model")
    from ...formats import open_artifact

    path = Path(os.fspath(path_or_model))
    artifact = open_artifact(path)
    try:
        if artifact.kind == Kind.SAVEDMODEL and not (
                artifact.recorded_by_modeltool and artifact.config is not None):
            return source_from_savedmodel(artifact, path)
        if weights is not None:
            from ..convert import attach_weights

            artifact = attach_weights(artifact, weights)
        if artifact.config is None:
            raise UnsupportedError("this file holds weights but no architecture", path=path,
                                   hint="pass the architecture file (.keras, .h5, .json, .yaml) "
                                        "and this one with --weights")
        artifact.weights.verify()  # damaged bytes are refused before TensorFlow loads
        model = keras_bridge.model_from_artifact(artifact, safe_mode=not unsafe_lambda)
        if not artifact.weights:
            from ...keras_bridge.completeness import refuse_missing_weights

            refuse_missing_weights(model, path)
        source = source_from_model(model, label=os.fspath(path), kind=artifact.kind)
        source.notes += [f"read: {note}" for note in artifact.notes]
        return source
    finally:
        artifact.close()
