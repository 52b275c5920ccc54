"""``modeltool check``: integrity report of a model file."""

from __future__ import annotations

import click

from .. import api
from ..render.files import check_dict, check_table
from . import _console


@click.command("check")
@click.argument("file", type=click.Path(path_type=str))
@click.pass_context
def check_command(ctx: click.Context, file: str) -> None:
    """Check FILE: weights present and fitting the architecture, no orphan weights, no NaN or
    Inf values. Exits 1 when something is wrong.

    \b
    Examples:
      modeltool check model.h5
      modeltool check model.keras --json
    """
    with _console.progress(f"checking {file}"):
        report = api.check(file)
    _console.emit(lambda: check_dict(report), lambda: check_table(report))
    if not report.ok:
        ctx.exit(1)
