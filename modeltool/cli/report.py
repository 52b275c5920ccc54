"""``modeltool report``: one self-contained HTML page about a model file."""

from __future__ import annotations

import click
from rich.text import Text

from .. import api
from . import _console


@click.command("report")
@click.argument("file", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str),
              help="The .html file to write.")
@click.option("--rankdir", type=click.Choice(["TB", "LR"], case_sensitive=False), default="TB",
              show_default=True, help="Graph direction: top to bottom, or left to right.")
@click.option("--force", is_flag=True, help="Replace an existing output.")
def report_command(file: str, output: str, rankdir: str, force: bool) -> None:
    """Write one HTML file (no CDN, no requests; opens from disk) about a model: the summary,
    the graph (pan, zoom, search, open nested models, click a box for its config, shapes,
    params, MACs and weight statistics), the migration log and the check findings.

    Every weight tensor is read once for its statistics (one at a time).

    \b
    Examples:
      modeltool report model.h5 -o report.html
      modeltool report model.keras -o report.html --rankdir LR
    """
    result = api.report(file, output, force=force, rankdir=rankdir)
    tensors, boxes = len(result.tensors), 0 if result.graph is None else len(result.graph.walk())
    _console.emit(lambda: {"path": file, "output": output, "tensors": tensors, "boxes": boxes},
                  lambda: Text(f"wrote {output} ({tensors} tensors, {boxes} boxes)"),
                  written=output)
