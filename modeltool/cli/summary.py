"""``modeltool summary``: the layers of a model, one row per call, with shapes and params."""

from __future__ import annotations

import click

from .. import api
from ..ops.summary import ENGINES
from ..render.summary import summary_dict, summary_table
from . import _console
from ._options import custom_objects_option


@click.command("summary")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--expand-nested", is_flag=True, help="Add rows for layers inside nested models.")
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Expand nested models this many levels deep (0: none).")
@click.option("--no-shapes", is_flag=True, help="Leave the input/output shape columns out.")
@click.option("--engine", type=click.Choice(ENGINES), default="auto", show_default=True,
              help="fast: no TensorFlow; keras: shapes from a model Keras builds from the "
                   "config; auto: fast, Keras only for layer classes modeltool does not know.")
@click.option("--weights", type=click.Path(path_type=str), default=None,
              help="The weights file that goes with an architecture-only FILE: params and "
                   "bytes come from its tensors.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Batch size the activation memory is estimated for.")
@custom_objects_option
def summary(file: str, weights: str | None, expand_nested: bool, depth: int | None,
            no_shapes: bool, engine: str, batch_size: int, custom_objects: str | None) -> None:
    """Show a model's layers: shapes, params, connections and MACs of every layer call.

    Reads the file as data: no TensorFlow import and no weight bytes read (except with
    --engine keras, or --engine auto on a layer class modeltool does not know).

    \b
    Examples:
      modeltool summary model.h5
      modeltool summary model.keras --expand-nested
      modeltool summary model.h5 --batch-size 32
      modeltool summary model.json --json | jq '.totals'
      modeltool summary model.onnx
      modeltool summary custom.keras --engine keras --custom-objects my_layers.py
      modeltool summary arch.json --weights weights.h5
    """
    with _console.progress(f"reading {file}"):
        report = api.summary(file, expand_nested=expand_nested, depth=depth, engine=engine,
                             weights=weights, batch_size=batch_size,
                             custom_objects=custom_objects)
    if isinstance(report, api.OnnxSummary):
        from ..render.onnx import onnx_summary_dict, onnx_summary_table

        onnx_summary = report
        _console.emit(lambda: onnx_summary_dict(onnx_summary),
                      lambda: onnx_summary_table(onnx_summary, show_shapes=not no_shapes))
        return
    keras_summary = report
    _console.emit(lambda: summary_dict(keras_summary),
                  lambda: summary_table(keras_summary, show_shapes=not no_shapes))
