"""modeltool: read, inspect, transfer, freeze and convert Keras model files.

The package imports no TensorFlow, Keras, tf2onnx or onnxruntime at import time: those are
loaded inside the functions that need a live model.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import (
        CheckReport,
        ConversionReport,
        ConvertReport,
        DiffReport,
        FreezeReport,
        Layout,
        ModelReport,
        PlotReport,
        Summary,
        TransferPlan,
        TransferReport,
        WeightsReport,
        check,
        config,
        convert,
        diff,
        freeze,
        layout,
        load_weights_by_name,
        open,
        plan_by_name,
        plot,
        report,
        save,
        summary,
        to_onnx,
        weights,
    )
    from .artifact import ModelArtifact, WeightEntry, WeightStore
    from .errors import ModelToolError

def __getattr__(name: str) -> Any:
    """The public names load on first use (from ``api``, itself lazy), so ``import modeltool``
    and the CLI start fast."""
    if name not in __all__ or name == "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import api

    return getattr(api, name)


__all__ = [
    "CheckReport",
    "ConversionReport",
    "ConvertReport",
    "DiffReport",
    "FreezeReport",
    "Layout",
    "ModelReport",
    "PlotReport",
    "Summary",
    "TransferPlan",
    "TransferReport",
    "freeze",
    "load_weights_by_name",
    "plan_by_name",
    "ModelArtifact",
    "ModelToolError",
    "WeightEntry",
    "WeightStore",
    "WeightsReport",
    "__version__",
    "check",
    "config",
    "convert",
    "diff",
    "layout",
    "open",
    "plot",
    "report",
    "save",
    "summary",
    "to_onnx",
    "weights",
]
