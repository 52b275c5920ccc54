"""``modeltool to-onnx``: convert a Keras model file to ONNX and prove it computes the same."""

from __future__ import annotations

import click

from .. import api
from ..render.onnx import conversion_dict, conversion_table
from . import _console
from ._options import custom_objects_option


def _batch(value: str) -> str | int:
    if value.strip().lower() == "dynamic":
        return "dynamic"
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size <= 0:
        raise click.BadParameter("expected 'dynamic' or a positive size", param_hint="--batch")
    return size


@click.command("to-onnx")
@click.argument("file", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str),
              help="The .onnx file to write.")
@click.option("--opset", type=click.IntRange(min=1), default=None,
              help="ONNX opset (default: the highest tf2onnx supports).")
@click.option("--batch", "batch", default="dynamic", show_default=True,
              help="'dynamic' for a symbolic batch dimension, or a fixed size.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME=d1,d2,...",
              help="Fix open dims of an input: the dims after the batch dim (or all of them); "
                   "? keeps one open. Repeatable.")
@click.option("--no-verify", is_flag=True, help="Skip the onnxruntime-against-Keras check.")
@click.option("--no-source-check", is_flag=True,
              help="Check against Keras 3 only, not against the library that wrote a Keras 1/2 "
                   "FILE (tf_keras, or the numpy Keras 1 reference).")
@click.option("--atol", type=float, default=1e-4, show_default=True,
              help="Absolute tolerance of the check.")
@click.option("--rtol", type=float, default=1e-3, show_default=True,
              help="Relative tolerance of the check.")
@click.option("--optimize", "optimize", is_flag=False, flag_value="onnxslim", default=None,
              type=click.Choice(["onnxslim", "ort"]),
              help="Optimize the graph, verified: onnxslim (`--optimize`; standard ONNX, "
                   "never slower than plain in bench/onnx.py) or onnxruntime's offline "
                   "optimizations (`--optimize ort`).")
@click.option("--float16", is_flag=True,
              help="Ship weights and compute in float16 (inputs/outputs stay float32), verified.")
@click.option("--int8", is_flag=True,
              help="Ship onnxruntime's int8 quantization (dynamic; static with --calibration), "
                   "verified.")
@click.option("--calibration", type=click.Path(path_type=str), default=None,
              metavar="FILE.npz", help="Calibration inputs by input name: static int8.")
@click.option("--sample-inputs", type=click.Path(path_type=str), default=None,
              metavar="FILE.npz", help="Verify on these inputs (arrays by input name).")
@click.option("--input-range", "input_ranges", multiple=True, metavar="NAME=lo,hi",
              help="Value range of an input's random verification data. Repeatable.")
@click.option("--unsafe-lambda", is_flag=True,
              help="Let Keras rebuild Lambda layers from their bytecode (runs code from FILE).")
@click.option("--keep-failed", is_flag=True, help="Keep the ONNX file when the check fails.")
@click.option("--weights", type=click.Path(path_type=str), default=None,
              help="Weights file for an architecture-only FILE (.json, .yaml).")
@click.option("--force", is_flag=True, help="Replace an existing output.")
@custom_objects_option
def to_onnx_command(file: str, output: str, opset: int | None, batch: str,
                    input_shapes: tuple[str, ...], no_verify: bool, no_source_check: bool,
                    atol: float, rtol: float,
                    optimize: str | None, float16: bool, int8: bool, calibration: str | None,
                    sample_inputs: str | None, input_ranges: tuple[str, ...],
                    unsafe_lambda: bool, keep_failed: bool, weights: str | None, force: bool,
                    custom_objects: str | None) -> None:
    """Convert FILE (.keras, .h5 of any Keras generation, SavedModel, or JSON/YAML with
    --weights) to ONNX, keeping the Keras input and output names, their order and dtypes, and
    verify it: onnxruntime and Keras run the same seeded inputs at batch 1 and 3, and the largest
    difference of every output is reported. Beyond tolerance the command exits 1 and writes
    nothing (unless --keep-failed).

    \b
    Examples:
      modeltool to-onnx model.keras -o model.onnx
      modeltool to-onnx old.h5 -o model.onnx --batch 1 --opset 17
      modeltool to-onnx arch.json --weights w.h5 -o model.onnx
      modeltool to-onnx text.keras -o text.onnx --input-shape tokens=64
      modeltool to-onnx model.keras -o model.onnx --json | jq '.verification'
      modeltool to-onnx custom.h5 -o model.onnx --custom-objects my_layers.py
      modeltool to-onnx model.keras -o model.onnx --optimize --int8 --calibration calib.npz
      modeltool to-onnx text.keras -o text.onnx --input-range tokens=1,500
    """
    shapes = dict(api.parse_input_shape(text) for text in input_shapes)
    ranges = dict(api.parse_input_range(text) for text in input_ranges)
    with _console.progress("converting") as progress:
        report = api.to_onnx(
            file, output, opset=opset, batch=_batch(batch), input_shapes=shapes or None,
            verify=not no_verify, atol=atol, rtol=rtol, optimize=optimize or False,
            keep_failed=keep_failed, weights=weights, force=force, progress=progress,
            unsafe_lambda=unsafe_lambda, sample_inputs=sample_inputs,
            input_ranges=ranges or None, float16=float16, int8=int8, calibration=calibration,
            verify_source=not no_source_check, custom_objects=custom_objects)
    _console.emit(lambda: conversion_dict(report), lambda: conversion_table(report),
                  written=report.output)
