"""The only module that handles live Keras/TensorFlow objects. Imports happen inside functions.

A live model and a ModelArtifact meet through the one writer of each kind: an artifact becomes
a model by writing a temporary ``.keras`` and loading it with ``safe_mode`` on; a model becomes an
artifact by saving it the same way and reading it back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .. import _optional
from ..artifact import ModelArtifact
from ..errors import KerasError, ModelToolError, UnsupportedError, UnsupportedLayerError


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:240]


def model_from_artifact(artifact: ModelArtifact, *, with_weights: bool = True,
                        safe_mode: bool = True) -> Any:
    """Build a live ``keras.Model`` (``safe_mode`` on: no Lambda bytecode is run; off only on
    the user's explicit request, ``--unsafe-lambda``).

    With ``with_weights`` and a weightless artifact the model keeps fresh initial weights.
    """
    keras = _optional.require("keras", "building the model with Keras")
    from .legacy_layers import register

    register()  # migrated configs name modeltool>legacy_hard_sigmoid, modeltool>Highway, ...
    if artifact.config is None:
        raise UnsupportedError("this file has no architecture to build a model from",
                               path=artifact.path)
    from ..formats.dialects import keras_loadable_config
    from ..formats.keras_archive import write_keras_archive

    if not (with_weights and artifact.weights):
        try:
            return keras.saving.deserialize_keras_object(
                keras_loadable_config(artifact.config), safe_mode=safe_mode)
        except Exception as err:  # noqa: BLE001 - Keras raises anything here
            _raise_if_missing_class(artifact, err)
            raise KerasError(f"Keras cannot build this architecture: {_first_line(err)}",
                             path=artifact.path) from err
    scratch = Path(tempfile.mkdtemp(prefix="modeltool-"))
    try:
        tmp = scratch / "model.keras"
        try:
            write_keras_archive(artifact, tmp)
        except ModelToolError as err:
            if err.path != os.fspath(tmp):
                raise
            reason = err.problem.removeprefix("cannot write the output (").rstrip(")")
            raise ModelToolError(f"cannot stage the model for Keras in the temporary folder "
                                 f"{scratch.parent} ({reason})", path=artifact.path) from err
        try:
            return keras.models.load_model(tmp, compile=False, safe_mode=safe_mode)
        except Exception as err:  # noqa: BLE001
            _raise_if_missing_class(artifact, err)
            raise KerasError(f"Keras cannot load this model: {_first_line(err)}",
                             path=artifact.path) from err
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _raise_if_missing_class(artifact: ModelArtifact, err: BaseException) -> None:
    """When Keras failed on a layer class it cannot find (not in Keras 3, not among the custom
    objects in scope), say so in one line instead of Keras' generic message."""
    keras = _optional.require("keras", "building the model with Keras")
    from ..formats.dialects import foreign_layers

    for path, class_name, reason in foreign_layers(artifact.config):
        if class_name == "Lambda" or keras.saving.get_registered_object(class_name) is not None:
            continue
        raise UnsupportedLayerError(
            f"layer {path!r}: {reason}", path=artifact.path,
            hint="pass the file defining it with --custom-objects FILE.py "
                 "(custom_objects= in Python)") from err


def rebuild_lambdas(path: str | os.PathLike[str]) -> None:
    """Load a written model with ``safe_mode`` off, so Keras unmarshals its Lambda layers.

    This runs code from the file (defining its functions, not calling them): only on the user's
    explicit request (``--unsafe-lambda``).
    """
    keras = _optional.require("keras", "rebuilding Lambda layers")
    from .legacy_layers import register

    register()
    try:
        keras.models.load_model(path, compile=False, safe_mode=False)
    except Exception as err:  # noqa: BLE001
        raise KerasError(f"Keras cannot rebuild this model's Lambda layers: {_first_line(err)}",
                         path=path, hint="the bytecode may come from another Python "
                                         "version") from err


def artifact_from_model(model: Any) -> ModelArtifact:
    """A ModelArtifact from a live ``keras.Model`` (saved once to a private temporary file)."""
    from ..formats.keras_archive import read_keras_archive

    scratch = Path(tempfile.mkdtemp(prefix="modeltool-"))
    path = scratch / "model.keras"
    try:
        model.save(path)
    except Exception as err:  # noqa: BLE001
        shutil.rmtree(scratch, ignore_errors=True)
        raise KerasError(f"Keras cannot save this model: {_first_line(err)}") from err
    artifact = read_keras_archive(path)
    artifact.path = None
    closer = artifact.weights._closer

    def close() -> None:
        if closer is not None:
            closer()
        shutil.rmtree(scratch, ignore_errors=True)

    artifact.weights._closer = close
    return artifact


def model_config(model: Any) -> dict[str, Any]:
    """``{"class_name", "config", "keras_version"}`` of a live model, as a .keras archive holds
    it, plus ``variables``: for each of ``model.variables`` in order, where it belongs as
    ``[layer, path, name, shape]`` (the WeightEntry fields), or None for a variable that is not a
    weight (a Dropout's seed state)."""
    keras = _optional.require("keras", "reading the model's config")
    where: dict[int, list[Any]] = {}

    def walk(layer: Any, top: str, path: str) -> None:
        if isinstance(layer, keras.Model):  # a nested model: its layers carry the weights
            for child in layer.layers:
                walk(child, top, f"{path}/{child.name}")
            return
        prefix = f"{getattr(layer, 'path', None) or layer.name}/"
        for weight in layer.weights:
            name = weight.path.removeprefix(prefix)
            where.setdefault(id(weight), [top, path, name, list(weight.shape)])

    for layer in model.layers:
        walk(layer, layer.name, layer.name)
    return {"class_name": type(model).__name__, "config": model.get_config(),
            "keras_version": keras.__version__,
            "variables": [where.get(id(variable)) for variable in model.variables]}


def export_savedmodel(model: Any, directory: str | os.PathLike[str]) -> None:
    """Write ``model`` as a SavedModel into an existing empty directory."""
    try:
        model.export(os.fspath(directory), format="tf_saved_model", verbose=False)
    except TypeError:
        model.export(os.fspath(directory), format="tf_saved_model")
    except Exception as err:  # noqa: BLE001
        raise KerasError(f"Keras cannot export a SavedModel: {_first_line(err)}") from err
