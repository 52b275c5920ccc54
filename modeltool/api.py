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
    from .keras_bridge.custom_objects import CustomObjects

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


def summary(path: PathLike, *, expand_nested: bool = False, depth: int | None = None,
            engine: str | None = None, custom_objects: CustomObjects = None,
            batch_size: int | None = None,
            weights: PathLike | None = None) -> Summary | OnnxSummary:
    """Summarize a model file: one row per layer call (shapes, params, MACs), or, for an
    ``.onnx`` file, its interface, opsets and nodes with inferred shapes.

    Args:
        path: any file kind ``modeltool.open`` reads, or an ``.onnx`` file.
        expand_nested, depth, engine, custom_objects, batch_size, weights: as
            ``modeltool summary`` (see ``modeltool.ops.summary.summary``); an ONNX file
            takes none of them.

    Returns:
        A Summary, or an OnnxSummary for an ONNX file.

    Raises:
        ModelToolError: unreadable input, a damaged graph, or a Keras failure with
            ``engine="keras"``.

    Example:
        >>> s = modeltool.summary("model.h5")  # doctest: +SKIP
        >>> s.totals.params, s.rows[0].output_shapes
        >>> modeltool.summary("model.onnx").opsets  # doctest: +SKIP
    """
    from .formats.onnx_file import sniff_kind as sniff_onnx

    if sniff_onnx(path):
        from .formats.onnx_file import summarize_onnx

        return summarize_onnx(path)
    from .ops.summary import summary as summarize_file

    return summarize_file(path, expand_nested=expand_nested, depth=depth, engine=engine,
                          custom_objects=custom_objects, batch_size=batch_size,
                          weights=weights)


# The verbs implemented in ops/, re-exported here so the API is one module. They load on first
# use (PEP 562), so a command that needs one verb does not pay for importing every other one.
_LAZY: dict[str, str] = {
    "CheckReport": "ops.check", "check": "ops.check",
    "DiffReport": "ops.diff", "diff": "ops.diff",
    "ConvertReport": "ops.convert", "attach_weights": "ops.convert", "convert": "ops.convert",
    "FreezeReport": "ops.freeze", "freeze": "ops.freeze",
    "ConversionReport": "ops.onnx_export", "to_onnx": "ops.onnx_export",
    "Summary": "ops.summary", "OnnxSummary": "formats.onnx_file",
    "TransferPlan": "ops.transfer", "TransferReport": "ops.transfer",
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
    from .ops.plot import PlotReport, layout, plot
    from .ops.report import ModelReport, report
    from .ops.summary import Summary
    from .ops.transfer import TransferPlan, TransferReport, load_weights_by_name, plan_by_name
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
