"""Lazy access to the heavy packages (TensorFlow, Keras, tf2onnx, onnx, onnxruntime).

Nothing here imports them at module level: call the function when the work needs it.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from .errors import MissingDependencyError

_PIP_NAMES = {
    "tensorflow": "tensorflow-cpu==2.21.0",
    "keras": "tensorflow-cpu==2.21.0",
    "tf_keras": "tf-keras==2.21.0",
    "tf2onnx": "tf2onnx==1.17.0",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError saying what to install."""
    if module in ("tensorflow", "keras", "tf_keras"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{purpose} needs {module}, which is not installed",
            hint=f"pip install '{_PIP_NAMES.get(module, module)}'",
        ) from err


def keras() -> ModuleType:
    """The Keras 3 module (with the TensorFlow backend)."""
    return require("keras", "this operation")


def tensorflow() -> ModuleType:
    """The tensorflow module."""
    return require("tensorflow", "this operation")
