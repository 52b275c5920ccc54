"""``modeltool check``: integrity report of a model file."""

from __future__ import annotations

import click

from .. import api
from ..render.files import check_dict, check_table
from . import _console


@click.command("check")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--weights", type=click.Path(path_type=str), default=None,
              help="The weights file that goes with an architecture-only FILE (.json, .yaml).")
@click.pass_context
def check_command(ctx: click.Context, file: str, weights: str | None) -> None:
    """Check FILE: weights present and fitting the architecture, no orphan weights, no NaN or
    Inf values. Exits 1 when something is wrong. Content that is a risk but not damage
    (Lambda bytecode, TF-op layers, classes Keras 3 lacks) is listed as findings.

    \b
    Examples:
      modeltool check model.h5
      modeltool check model.keras --json
      modeltool check arch.json --weights weights.h5
    """
    with _console.progress(f"checking {file}"):
        report = api.check(file, weights=weights)
    _console.emit(lambda: check_dict(report), lambda: check_table(report))
    if not report.ok:
        ctx.exit(1)
