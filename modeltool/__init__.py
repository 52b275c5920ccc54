"""modeltool: read, inspect, transfer, freeze and convert Keras model files.

The package imports no TensorFlow, Keras, tf2onnx or onnxruntime at import time: those are
loaded inside the functions that need a live model.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import (  # noqa: E402
    CheckReport,
    ConversionReport,
    ConvertReport,
    FreezeReport,
    Summary,
    TransferPlan,
    TransferReport,
    WeightsReport,
    check,
    config,
    convert,
    freeze,
    load_weights_by_name,
    open,
    plan_by_name,
    save,
    summary,
    to_onnx,
    weights,
)
from .artifact import ModelArtifact, WeightEntry, WeightStore  # noqa: E402
from .errors import ModelToolError  # noqa: E402

__all__ = [
    "CheckReport",
    "ConversionReport",
    "ConvertReport",
    "FreezeReport",
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
    "open",
    "save",
    "summary",
    "to_onnx",
    "weights",
]
