"""``modeltool freeze``: set ``trainable`` in a model file without rewriting its weights."""

from __future__ import annotations

import click

from .. import api
from ..render.transfer import freeze_dict, freeze_table
from . import _console


@click.command("freeze")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--layers", multiple=True, metavar="PATTERN",
              help="Layers to freeze: NAME, GLOB or re:REGEX; MODEL/LAYER reaches into a "
                   "nested model. Repeatable.")
@click.option("--until", metavar="LAYER", default=None,
              help="Freeze every layer up to and including LAYER.")
@click.option("--all-but-last", type=click.IntRange(min=0), default=None, metavar="N",
              help="Freeze all top-level layers but the last N (model.layers[:-N]).")
@click.option("--unfreeze", multiple=True, metavar="PATTERN",
              help="Layers to make trainable. Repeatable.")
@click.option("--except", "except_", multiple=True, metavar="PATTERN",
              help="Layers the freezing selection leaves alone. Repeatable.")
@click.option("-o", "--output", type=click.Path(path_type=str), default=None,
              help="Output file (same kind as FILE).")
@click.option("--in-place", is_flag=True, help="Replace FILE itself (atomically).")
@click.option("--force", is_flag=True, help="Replace an existing output.")
def freeze_command(file: str, layers: tuple[str, ...], until: str | None,
                   all_but_last: int | None, unfreeze: tuple[str, ...],
                   except_: tuple[str, ...], output: str | None, in_place: bool,
                   force: bool) -> None:
    """Freeze layers of a .keras or legacy .h5 FILE: only the architecture's trainable flags
    change, the weight bytes are copied as they are. Prints the changed layers and the
    trainable / non-trainable params before and after; frozen BatchNormalization layers are
    flagged (Keras runs them in inference mode).

    \b
    Examples:
      modeltool freeze model.keras --all-but-last 2 -o frozen.keras
      modeltool freeze model.h5 --until conv5_block3_out -o frozen.h5
      modeltool freeze m.keras --layers vision_model --unfreeze vision_model/conv2d_6 -o ft.keras
      modeltool freeze model.keras --layers 're:block[1-3]_.*' --except '*_bn' --in-place
    """
    if in_place == (output is not None):
        raise click.UsageError("pass either -o OUT or --in-place")
    with _console.progress(f"freezing {file}"):
        report = api.freeze(file, layers=layers, until=until, all_but_last=all_but_last,
                            unfreeze=unfreeze, except_=except_, output=output,
                            in_place=in_place, force=force)
    _console.emit(lambda: freeze_dict(report), lambda: freeze_table(report),
                  written=report.output)
