"""``summary``: one row per layer call, with shapes, connections, params and MACs.

The fast engine reads the file as data: the graph from the config, shapes from the rules in
``graph.shapes`` (and shapes Keras recorded in the file), params from the weight shapes the
file lists (no weight bytes are read) or from the config. Only the ``keras`` engine, or the
``auto`` engine meeting a layer class it does not know, imports Keras.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ...artifact import ModelArtifact
from ...dtypes import notable_policy
from ...errors import ModelToolError, UnsupportedError
from ...graph.model import Graph, build_graph
from ...graph.params import Params
from ...graph.shapes import NodeShapes, ShapeMap, infer_shapes
from .._custom import CustomObjects, custom_scope
from ..weights import WeightRow
from .memory import activation_memory
from .report import Summary, SummaryRow, SummaryTotals
from .rows import RowBuilder, trainable_weights
from .weight_shapes import shapes_from_weights

if TYPE_CHECKING:
    from ...formats.onnx_file import OnnxSummary

SUMMARY_ENGINES = ("auto", "fast", "keras")


def summary(path: str | os.PathLike[str], *, expand_nested: bool = False,
            depth: int | None = None, engine: str | None = None,
            custom_objects: CustomObjects = None,
            batch_size: int | None = None,
            weights: str | os.PathLike[str] | None = None) -> Summary | OnnxSummary:
    """Summarize a model file: one row per layer call, with shapes, params and MACs.

    An ONNX file gets its own report (``formats.onnx_file.OnnxSummary``: interface, opsets,
    nodes); the other arguments do not apply to it.

    Args:
        path: any file kind ``modeltool.open`` reads, or an ``.onnx`` file.
        expand_nested: add rows for the layers inside nested models.
        depth: how many levels of nested models to expand (implies ``expand_nested`` when
            above 0); None for all.
        engine: ``fast`` (no TensorFlow), ``keras`` (build the model through Keras from the
            config alone), ``auto`` (default: fast, Keras only for unknown layer classes).
        custom_objects: a ``.py`` file (run on request) or ``{name: class}`` map with the
            custom layers the Keras engine needs, as Keras' ``custom_objects``.
        batch_size: the batch activation memory is estimated for (default 1).
        weights: the weights file an architecture-only ``path`` goes with: params and bytes
            come from its tensors instead of the config.

    Returns:
        A Summary (an OnnxSummary for an ONNX file); ``render.summary.summary_text``
        renders a Summary as the table.

    Raises:
        ModelToolError: unreadable input, a damaged graph, or a Keras failure with
            ``engine="keras"``.

    Example:
        >>> s = modeltool.summary("model.h5")  # doctest: +SKIP
        >>> s.totals.params, s.rows[0].output_shapes
    """
    from ...formats import open_artifact
    from ...formats.onnx_file import sniff_kind as sniff_onnx
    from ...formats.savedmodel import read_savedmodel_light
    from ...formats.savedmodel import sniff_kind as sniff_savedmodel

    if sniff_onnx(path):
        from ...formats.onnx_file import summarize_onnx

        return summarize_onnx(path)

    # A SavedModel is read from saved_model.pb without TensorFlow (signatures, variables).
    opener = read_savedmodel_light if sniff_savedmodel(path) else open_artifact
    with opener(path) as artifact, custom_scope(custom_objects):
        if weights is not None:
            from ..convert import attach_weights

            artifact = attach_weights(artifact, weights)
        report = summarize(artifact, expand_nested=expand_nested, depth=depth, engine=engine,
                           batch_size=batch_size)
        report.signatures = dict(artifact.signatures or {})
        return report


def summarize(artifact: ModelArtifact, *, expand_nested: bool = False, depth: int | None = None,
              engine: str | None = None, batch_size: int | None = None) -> Summary:
    """Summarize an opened artifact (see ``summary``). Never reads weight bytes."""
    engine = engine or "auto"
    batch_size = 1 if batch_size is None else batch_size
    if batch_size < 1:
        raise UnsupportedError("batch size must be 1 or more", hint="pass --batch-size 1, 32, ...")
    if engine not in SUMMARY_ENGINES:
        raise UnsupportedError(f"unknown engine {engine!r}", hint="use auto, fast or keras")
    if depth is not None and depth < 0:
        raise UnsupportedError("depth must be 0 or more", hint="pass --depth 0, 1, 2, ...")
    if expand_nested and depth == 0:
        raise UnsupportedError("--expand-nested with --depth 0 asks for nested rows and for "
                               "none", hint="pass one of them")
    max_depth = depth if depth is not None else (None if expand_nested else 0)
    if artifact.config is None:
        return _weights_only(artifact)
    display = os.fspath(artifact.path) if artifact.path is not None else None
    graph = build_graph(artifact.config, dialect=artifact.dialect, path=display)
    notes: list[str] = []
    keras_params: dict[str, Params] | None = None
    if engine == "keras":
        overrides, keras_params = _keras_engine(artifact)
        shapes = infer_shapes(graph, overrides=overrides, override_all=True)
        used = "keras"
    else:
        shapes = infer_shapes(graph)
        used = "fast"
        unknown = _unknown_classes(shapes)
        if unknown and engine == "auto":
            names = ", ".join(sorted({f"{path} ({cls})" for path, cls in unknown}))
            try:
                overrides, keras_params = _keras_engine(artifact)
            except ModelToolError as err:
                reason = err.problem.split(". ")[0][:160]
                notes.append(f"no shape rule answers for {names}; Keras could not help "
                             f"either ({reason}): shown as ?")
            else:
                shapes = infer_shapes(graph, overrides=overrides)
                used = "auto"
                notes.append(f"shapes of {names} came from Keras (no shape rule answers)")
        elif unknown:
            names = ", ".join(sorted({f"{path} ({cls})" for path, cls in unknown}))
            notes.append(f"no shape rule answers for {names}: shown as ?")
    if artifact.weights and engine != "keras":
        inferred = shapes_from_weights(graph, shapes, artifact)
        if inferred:
            shapes = infer_shapes(graph, overrides=inferred)
            names = ", ".join(key[0] for key in inferred)
            notes.append(f"output shapes marked * ({names}) were inferred from the stored "
                         "weights of the Dense layer each one feeds (no rule could say)")
    for ref in graph.inputs:
        if shapes.tensor(ref) is None:
            notes.append(f"the file does not record the shape of input {ref.layer!r}: "
                         "shapes that depend on it are shown as ?")
    builder = RowBuilder(artifact, keras_params)
    rows = builder.rows(graph, shapes, max_depth)
    totals = builder.totals(graph, shapes)
    activations, unknown_calls = activation_memory(graph, shapes, rows, batch_size)
    for path, (found, expected) in builder.mismatched.items():
        notes.append(f"the weights of {path!r} do not fit its config: the file holds "
                     f"{found:,} values, the config implies {expected:,}")
    return Summary(
        path=display, kind=artifact.kind, keras_version=artifact.keras_version,
        model_name=graph.name, model_class=graph.class_name, has_architecture=True,
        rows=rows, totals=totals, inputs=[str(r) for r in graph.inputs],
        outputs=[str(r) for r in graph.outputs], notes=notes,
        migration_notes=list(artifact.notes), engine=used,
        bytes_from_weights=bool(artifact.weights),
        weight_mismatches=[(path, found, expected)
                           for path, (found, expected) in builder.mismatched.items()],
        batch_size=batch_size, activation_bytes=activations, activation_unknown=unknown_calls,
        graph=graph,
        dtype_policies=_dtype_policies(graph))


def _keras_engine(artifact: ModelArtifact
                  ) -> tuple[dict[tuple[str, ...], NodeShapes], dict[str, Params]]:
    """Node shapes and layer params from a model Keras builds (imports Keras)."""
    from ...keras_bridge.introspect import layer_shapes_and_params

    return layer_shapes_and_params(artifact)


def _dtype_policies(graph: Graph, prefix: str = "") -> list[tuple[str, str]]:
    """(path, policy) of every layer, nested ones included, whose policy is not float32."""
    found: list[tuple[str, str]] = []
    for info in graph.layers.values():
        policy = notable_policy(info.config)
        if policy is not None and not info.is_input:
            found.append((f"{prefix}{info.name}", policy))
        if info.graph is not None:
            found.extend(_dtype_policies(info.graph, f"{prefix}{info.name}/"))
    return found


def _weights_only(artifact: ModelArtifact) -> Summary:
    weights = [WeightRow(e.layer, e.path, e.name, e.shape, e.dtype, e.nbytes)
               for e in artifact.weights]
    by_dtype: dict[str, int] = {}
    for entry in artifact.weights:
        by_dtype[entry.dtype] = by_dtype.get(entry.dtype, 0) + entry.nbytes
    problem = artifact.config_error
    note = ("this file holds no architecture (weights only): the weights are listed instead"
            if not problem else f"the architecture is not usable ({problem}): "
            "the weights are listed instead")
    total = artifact.weights.total_params
    return Summary(
        path=os.fspath(artifact.path) if artifact.path is not None else None,
        kind=artifact.kind, keras_version=artifact.keras_version, model_name=None,
        model_class=None, has_architecture=False, rows=[],
        totals=SummaryTotals(total, None, None, None, by_dtype), weights=weights,
        notes=[note], migration_notes=list(artifact.notes), engine="fast",
        bytes_from_weights=True)


def _unknown_classes(shapes: ShapeMap, prefix: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for (name, _), node in shapes.nodes.items():
        info = shapes.graph.layers[name]
        if not node.known_class and (node.outputs is None
                                     or any(s is None for s in node.outputs)):
            found.append((f"{prefix}{name}", info.class_name))
        if node.inner is not None:
            found.extend(_unknown_classes(node.inner, f"{prefix}{name}/"))
    return found


__all__ = ["SUMMARY_ENGINES", "Summary", "SummaryRow", "SummaryTotals", "summarize", "summary",
           "trainable_weights"]
