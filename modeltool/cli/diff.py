"""``modeltool diff``: what differs between two model files."""

from __future__ import annotations

import click

from .. import api
from ..render.diff import diff_dict, diff_table
from . import _console


@click.command("diff")
@click.argument("a", type=click.Path(path_type=str))
@click.argument("b", type=click.Path(path_type=str))
@click.option("--atol", type=float, default=None,
              help="Absolute tolerance: tensors within it (and --rtol) count as the same.")
@click.option("--rtol", type=float, default=None, help="Relative tolerance (of B's values).")
@click.option("--only", type=click.Choice(["arch", "weights"]), default=None,
              help="Compare the architecture or the weights only.")
@click.pass_context
def diff_command(ctx: click.Context, a: str, b: str, atol: float | None, rtol: float | None,
                 only: str | None) -> None:
    """Compare two model files, any kinds and Keras generations: layers added, removed,
    renamed, changed config, connections and trainable flags; per weight tensor the shape,
    dtype, max abs/rel difference and cosine similarity. Exit 0 same, 1 different, 2 unreadable.

    \b
    Examples:
      modeltool diff epoch10.keras epoch11.keras
      modeltool diff old_tf_keras.h5 converted.keras
      modeltool diff model.keras model.fp16.keras --atol 1e-3 --only weights
      modeltool diff a.keras b.safetensors --json
    """
    with _console.progress(f"comparing {a} and {b}"):
        report = api.diff(a, b, atol=atol, rtol=rtol, only=only)
    _console.emit(lambda: diff_dict(report), lambda: diff_table(report, _console.out.width))
    if not report.same:
        ctx.exit(1)
