"""``modeltool weights``: every weight tensor of a file."""

from __future__ import annotations

import click

from .. import api
from ..render.files import weights_dict, weights_table
from . import _console


@click.command("weights")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--stats", is_flag=True, help="Add min, max, mean, std and NaN/Inf counts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def weights_command(file: str, stats: bool, as_json: bool) -> None:
    """List every weight tensor: layer, name, shape, dtype, bytes.

    \b
    Examples:
      modeltool weights model.h5
      modeltool weights model.keras --stats --json
    """
    report = api.weights(file, stats=stats)
    if as_json:
        _console.print_json(weights_dict(report))
    else:
        _console.out.print(weights_table(report))
