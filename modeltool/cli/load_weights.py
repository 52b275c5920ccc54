"""``modeltool load-weights``: by-name weight transfer between any two file kinds."""

from __future__ import annotations

import click

from .. import api
from ..formats import FORMATS
from ..render.transfer import transfer_dict, transfer_table
from . import _console
from ._options import custom_objects_option


@click.command("load-weights")
@click.argument("target", type=click.Path(path_type=str))
@click.argument("source", type=click.Path(path_type=str))
@click.option("--by-name", is_flag=True,
              help="Match layers by name (the default and only mode; accepted for clarity).")
@click.option("--skip-mismatch", is_flag=True,
              help="Load the layers that fit; keep TARGET's weights for the others.")
@click.option("--map", "mapping", multiple=True, metavar="OLD=NEW",
              help="Source layer OLD feeds target layer NEW; 're:PATTERN=REPLACEMENT' renames "
                   "source layers with a regular expression. Repeatable.")
@click.option("--dry-run", is_flag=True, help="Report what would be loaded; write nothing.")
@click.option("-o", "--output", type=click.Path(path_type=str), default=None,
              help="Output file (required unless --dry-run).")
@click.option("--to", "kind", type=click.Choice([str(kind) for kind in FORMATS]), default=None,
              help="Output kind (default: TARGET's kind unless OUT's name says otherwise).")
@click.option("--force", is_flag=True, help="Replace an existing output.")
@custom_objects_option
def load_weights_command(target: str, source: str, by_name: bool, skip_mismatch: bool,
                         mapping: tuple[str, ...], dry_run: bool, output: str | None,
                         kind: str | None, force: bool, custom_objects: str | None) -> None:
    """Copy weights from SOURCE into TARGET's layers of the same name, writing OUT.

    Any kind holding weights (.keras, .h5 from Keras 1/2/3 or tf.keras, .weights.h5, Keras 2
    weights-only .h5) feeds any kind holding an architecture. OUT holds the transferred
    weights and every other weight of TARGET unchanged; TARGET and SOURCE are left as they are
    (OUT may replace one of them only with --force). A layer whose weights do not fit (count or
    shape) is an error (exit 1, nothing written) unless --skip-mismatch.

    \b
    Examples:
      modeltool load-weights new.keras pretrained.h5 --by-name -o out.keras
      modeltool load-weights new.keras base.keras --by-name --skip-mismatch -o out.keras
      modeltool load-weights new.h5 old.weights.h5 --by-name --map dense_2=head -o out.h5
      modeltool load-weights new.keras old.h5 --by-name --map 're:^base_(.*)=\\1' --dry-run
    """
    if output is None and not dry_run:
        raise click.UsageError("pass -o OUT (or --dry-run)")
    try:
        with _console.progress(f"loading weights from {source}"):
            report = api.load_weights_by_name(target, source, skip_mismatch=skip_mismatch,
                                              mapping=list(mapping), output=output, kind=kind,
                                              dry_run=dry_run, force=force,
                                              custom_objects=custom_objects)
    except api.TransferMismatchError as error:
        failed = error.report
        if failed is not None:
            # The report of what does not fit is data: stdout, like any report.
            _console.emit(lambda: transfer_dict(failed), lambda: transfer_table(failed))
        raise
    _console.emit(lambda: transfer_dict(report), lambda: transfer_table(report),
                  written=report.output)
