"""``modeltool check``: integrity report of a model file."""

from __future__ import annotations

import click

from .. import api
from ..render.files import check_dict, check_table
from . import _console


@click.command("check")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def check_command(ctx: click.Context, file: str, as_json: bool) -> None:
    """Check FILE: weights present and fitting the architecture, no orphan weights, no NaN or
    Inf values. Exits 1 when something is wrong.

    \b
    Examples:
      modeltool check model.h5
      modeltool check model.keras --json
    """
    report = api.check(file)
    if as_json:
        _console.print_json(check_dict(report))
    else:
        _console.out.print(check_table(report))
    if not report.ok:
        ctx.exit(1)
