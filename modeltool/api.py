"""The public Python API. The CLI is a thin layer over these functions; none of them prints."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UnsupportedError

if TYPE_CHECKING:
    from .artifact import ModelArtifact, WeightEntry, WeightStore
    from .errors import ModelToolError
    from .formats.onnx_file import OnnxSummary

PathLike = str | os.PathLike[str]


def open(path: PathLike) -> ModelArtifact:  # noqa: A001 - mirrors builtins.open on purpose
    """Read any Keras model file without reading weight bytes.

    Args:
        path: a ``.keras``, ``.h5``, ``.weights.h5``, JSON, YAML file or SavedModel directory.

    Returns:
        A ModelArtifact; close it (or use ``with``) to release the file.

    Raises:
        ModelToolError: missing, unknown or damaged input.

    Example:
        >>> with modeltool.open("model.h5") as art:  # doctest: +SKIP
        ...     print([w.key for w in art.weights])
    """
    from .formats import open_artifact

    return open_artifact(path)


def save(artifact: ModelArtifact, path: PathLike, kind: str | None = None, *,
         force: bool = False) -> Path:
    """Write ``artifact`` as ``kind`` (default: from the output's name), atomically.

    Example:
        >>> with modeltool.open("old.h5") as art:  # doctest: +SKIP
        ...     modeltool.save(art, "new.keras")
    """
    from .formats import write_artifact

    return write_artifact(artifact, path, kind, force=force)


def config(path: PathLike) -> dict[str, Any]:
    """The architecture of any file that holds one, in the canonical Keras 3 dialect."""
    from .formats.config_json import config_for_file

    with open(path) as artifact:
        if artifact.config is None:
            problem = artifact.config_error or "this file holds no architecture"
            raise UnsupportedError(problem, path=path,
                                   hint="weights-only files carry no architecture")
        return config_for_file(artifact)


# The verbs implemented in ops/, re-exported here so the API is one module. They load on first
# use (PEP 562), so a command that needs one verb does not pay for importing every other one.
_LAZY: dict[str, str] = {
    "CheckReport": "ops.check", "check": "ops.check",
    "DiffReport": "ops.diff", "diff": "ops.diff",
    "ConvertReport": "ops.convert", "attach_weights": "ops.convert", "convert": "ops.convert",
    "FreezeReport": "ops.freeze", "freeze": "ops.freeze",
    "ConversionReport": "ops.onnx_export", "to_onnx": "ops.onnx_export",
    "SUMMARY_ENGINES": "ops.summary", "Summary": "ops.summary", "summary": "ops.summary",
    "OnnxSummary": "formats.onnx_file",
    # the CLI's option syntax for to_onnx (NAME=d1,d2 and NAME=lo,hi), not in __all__
    "parse_input_shape": "ops.onnx_export", "parse_input_range": "ops.onnx_export.inputs",
    "TransferPlan": "ops.transfer", "TransferReport": "ops.transfer",
    "TransferMismatchError": "ops.transfer",
    "load_weights_by_name": "ops.transfer", "plan_by_name": "ops.transfer",
    "WeightRow": "ops.weights", "WeightsReport": "ops.weights", "tensor_stats": "ops.weights",
    "weights": "ops.weights",
    "ModelArtifact": "artifact", "WeightEntry": "artifact", "WeightStore": "artifact",
    "ModelToolError": "errors",
    "PlotReport": "ops.plot", "plot": "ops.plot",
    "ModelReport": "ops.report", "report": "ops.report",
    "Layout": "graph.layout", "layout": "ops.plot",
}

if TYPE_CHECKING:
    from .graph.layout import Layout
    from .ops.check import CheckReport, check
    from .ops.convert import ConvertReport, attach_weights, convert
    from .ops.diff import DiffReport, diff
    from .ops.freeze import FreezeReport, freeze
    from .ops.onnx_export import ConversionReport, to_onnx
    from .ops.onnx_export import parse_input_shape as parse_input_shape
    from .ops.onnx_export.inputs import parse_input_range as parse_input_range
    from .ops.plot import PlotReport, layout, plot
    from .ops.report import ModelReport, report
    from .ops.summary import Summary, summary
    from .ops.transfer import (
        TransferMismatchError,
        TransferPlan,
        TransferReport,
        load_weights_by_name,
        plan_by_name,
    )
    from .ops.weights import WeightRow, WeightsReport, tensor_stats, weights


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __package__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CheckReport",
    "ModelArtifact",
    "ModelToolError",
    "WeightEntry",
    "WeightStore",
    "ConversionReport",
    "ConvertReport",
    "DiffReport",
    "FreezeReport",
    "Summary",
    "TransferMismatchError",
    "TransferPlan",
    "TransferReport",
    "WeightRow",
    "WeightsReport",
    "Layout",
    "ModelReport",
    "OnnxSummary",
    "PlotReport",
    "attach_weights",
    "check",
    "config",
    "convert",
    "diff",
    "freeze",
    "layout",
    "load_weights_by_name",
    "open",
    "plot",
    "plan_by_name",
    "report",
    "save",
    "summary",
    "tensor_stats",
    "to_onnx",
    "weights",
]
