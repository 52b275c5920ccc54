"""modeltool: read, inspect, transfer, freeze and convert Keras model files.

The package imports no TensorFlow, Keras, tf2onnx or onnxruntime at import time: those are
loaded inside the functions that need a live model.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from .api import __all__ as _API_NAMES

if TYPE_CHECKING:
    from .api import *  # noqa: F403 - the public names are exactly api.__all__


def __getattr__(name: str) -> Any:
    """The public names load on first use (from ``api``, itself lazy), so ``import modeltool``
    and the CLI start fast."""
    if name not in _API_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import api

    return getattr(api, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API_NAMES))


__all__ = ["__version__", *_API_NAMES]
