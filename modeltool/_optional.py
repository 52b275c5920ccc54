"""Lazy access to the heavy packages (TensorFlow, Keras, tf2onnx, onnx, onnxruntime).

Nothing here imports them at module level: call the function when the work needs it. A missing
package is reported in one line naming the extra that installs it (the version ranges live in
pyproject.toml only).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from types import ModuleType

from .errors import MissingDependencyError

#: The extra (``pip install 'modeltool[EXTRA]'``) that installs each optional module.
EXTRA_OF_MODULE = {
    "tensorflow": "keras",
    "keras": "keras",
    "tf_keras": "keras",
    "onnx": "onnx",
    "tf2onnx": "export",
    "onnxruntime": "export",
    "onnxslim": "export",
    "onnxconverter_common": "export",
    "safetensors": "safetensors",
    "cairosvg": "png",
}
#: What an extra must provide for the work it is named after (checked up front, so a command
#: names the one extra it needs instead of its first missing module).
MODULES_OF_EXTRA = {
    "keras": ("tensorflow", "keras"),
    "onnx": ("onnx",),
    "export": ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"),
}


def install_hint(module: str) -> str:
    """How to install ``module``: the modeltool extra that brings it (or the package itself)."""
    extra = EXTRA_OF_MODULE.get(module)
    return f"pip install 'modeltool[{extra}]'" if extra else f"pip install {module}"


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence what TensorFlow's C++ runtime writes to fd 2 while it loads (absl's pre-init
    "I0000 ... cudart_stub" lines ignore TF_CPP_MIN_LOG_LEVEL), so stderr keeps its promise of
    one line per problem."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def _no_collection_while_importing() -> Iterator[None]:
    """Keep the cyclic garbage collector out of TensorFlow's import.

    The import creates a few million long-lived objects, and every collection walks them again:
    that is a fifth of a small model's ``to-onnx`` time. Afterwards they are frozen (moved where
    the collector never looks) and collection resumes as it was.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError saying what to install."""
    heavy = module in ("tensorflow", "keras", "tf_keras", "tf2onnx")
    if heavy:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if module in sys.modules:
        return sys.modules[module]
    try:
        if heavy and "tensorflow" not in sys.modules:
            with _quiet_native_stderr(), _no_collection_while_importing():
                return importlib.import_module(module)
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{purpose} needs {module}, which is not installed", hint=install_hint(module),
        ) from err


def require_extra(extra: str, purpose: str) -> None:
    """Raise MissingDependencyError naming ``extra`` when any module it provides is missing
    (looked up without importing anything)."""
    missing = [name for name in MODULES_OF_EXTRA[extra]
               if name not in sys.modules and importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependencyError(
            f"{purpose} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'}"
            f" not installed", hint=f"pip install 'modeltool[{extra}]'")


def keras() -> ModuleType:
    """The Keras 3 module (with the TensorFlow backend)."""
    return require("keras", "this operation")


def tensorflow() -> ModuleType:
    """The tensorflow module."""
    return require("tensorflow", "this operation")
