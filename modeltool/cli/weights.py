"""``modeltool weights``: every weight tensor of a file."""

from __future__ import annotations

import click

from .. import api
from ..render.files import weights_dict, weights_table
from . import _console


@click.command("weights")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--stats", is_flag=True, help="Add min, max, mean, std and NaN/Inf counts.")
def weights_command(file: str, stats: bool) -> None:
    """List every weight tensor: layer, name, shape, dtype, bytes.

    \b
    Examples:
      modeltool weights model.h5
      modeltool weights model.keras --stats --json
    """
    with _console.progress(f"reading {file}"):
        report = api.weights(file, stats=stats)
    _console.emit(lambda: weights_dict(report), lambda: weights_table(report))
