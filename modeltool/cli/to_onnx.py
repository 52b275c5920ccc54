"""``modeltool to-onnx``: convert a Keras model file to ONNX and prove it computes the same."""

from __future__ import annotations

import click

from ..ops import onnx_export
from ..render.onnx import conversion_dict, conversion_table
from . import _console


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
@click.option("--atol", type=float, default=1e-4, show_default=True,
              help="Absolute tolerance of the check.")
@click.option("--rtol", type=float, default=1e-3, show_default=True,
              help="Relative tolerance of the check.")
@click.option("--optimize", is_flag=True,
              help="Also apply onnxruntime's basic (portable) graph optimizations.")
@click.option("--keep-failed", is_flag=True, help="Keep the ONNX file when the check fails.")
@click.option("--weights", type=click.Path(path_type=str), default=None,
              help="Weights file for an architecture-only FILE (.json, .yaml).")
@click.option("--force", is_flag=True, help="Replace an existing output.")
def to_onnx_command(file: str, output: str, opset: int | None, batch: str,
                    input_shapes: tuple[str, ...], no_verify: bool, atol: float, rtol: float,
                    optimize: bool, keep_failed: bool, weights: str | None,
                    force: bool) -> None:
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
    """
    shapes = dict(onnx_export.parse_input_shape(text) for text in input_shapes)
    with _console.progress("converting") as progress:
        report = onnx_export.to_onnx(
            file, output, opset=opset, batch=_batch(batch), input_shapes=shapes or None,
            verify=not no_verify, atol=atol, rtol=rtol, optimize=optimize,
            keep_failed=keep_failed, weights=weights, force=force, progress=progress)
    _console.emit(lambda: conversion_dict(report), lambda: conversion_table(report),
                  written=report.output)
