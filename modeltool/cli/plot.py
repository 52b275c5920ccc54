"""``modeltool plot``: the model as a picture (SVG, HTML, PNG or DOT), no graphviz needed."""

from __future__ import annotations

import click
from rich.text import Text

from .. import api
from . import _console


@click.command("plot")
@click.argument("file", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str),
              help="The picture: .svg, .html, .png or .dot (the extension picks the format).")
@click.option("--format", "fmt", type=click.Choice(["svg", "html", "png", "dot"]), default=None,
              help="Format, when the output's extension does not say.")
@click.option("--shapes", is_flag=True, help="Show input and output shapes.")
@click.option("--dtype", is_flag=True, help="Show each layer's dtype.")
@click.option("--trainable", is_flag=True, help="Show whether each layer trains.")
@click.option("--activations", is_flag=True, help="Show each layer's activation.")
@click.option("--params", is_flag=True, help="Show each layer's parameter count.")
@click.option("--macs", is_flag=True, help="Show each call's multiply-accumulates.")
@click.option("--expand-nested", is_flag=True, help="Draw nested models open.")
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Open nested models this many levels deep (0: none).")
@click.option("--rankdir", type=click.Choice(["TB", "LR"], case_sensitive=False), default="TB",
              show_default=True, help="Top to bottom, or left to right.")
@click.option("--force", is_flag=True, help="Replace an existing output.")
def plot_command(file: str, output: str, fmt: str | None, shapes: bool, dtype: bool,
                 trainable: bool, activations: bool, params: bool, macs: bool,
                 expand_nested: bool, depth: int | None, rankdir: str, force: bool) -> None:
    """Draw a model: one box per layer call, one arrow per connection.

    Reads any file modeltool reads (legacy .h5, .keras, JSON/YAML, SavedModel, .onnx);
    no TensorFlow, no graphviz, no network. PNG needs cairosvg (pip install cairosvg).

    \b
    Examples:
      modeltool plot model.h5 -o model.svg --shapes
      modeltool plot model.keras -o model.html --expand-nested
      modeltool plot model.onnx -o model.png --rankdir LR
      modeltool plot model.json -o model.dot
    """
    report = api.plot(file, output, shapes=shapes, dtype=dtype, trainable=trainable,
                      activations=activations, params=params, macs=macs,
                      expand_nested=expand_nested, depth=depth, rankdir=rankdir, fmt=fmt,
                      force=force)
    for note in report.notes:
        _console.info(f"note: {note}")
    counts = {"boxes": len(report.graph.nodes), "edges": len(report.graph.edges),
              "crossings": report.layout.crossings}
    _console.emit(lambda: {"path": file, "output": output, **counts, "notes": report.notes},
                  lambda: Text(f"wrote {output} ({counts['boxes']} boxes, {counts['edges']} "
                               f"edges, {counts['crossings']} crossings)"),
                  written=output)
